"""Fixtures of the contract suite (the integration suite's conftest is not visible here)."""
import shutil
import subprocess

import pytest


@pytest.fixture(scope='session')
def docker_swarm():
    docker = shutil.which('docker')
    state = subprocess.run([docker, 'info', '--format', '{{.Swarm.LocalNodeState}}'], capture_output=True, text=True,
                           check=False).stdout.strip() if docker else ''
    if state != 'active':
        pytest.skip('needs a Docker daemon that is an active swarm manager')
