"""Run every molecule scenario (molecule/<name>) for real: create, converge, idempotence, verify, destroy."""
import os
import subprocess
import sys

import pytest

from tests.lib.ansible_runner import REPO, ansible_env

SCENARIOS = sorted(d for d in os.listdir(os.path.join(REPO, 'molecule'))
                   if os.path.isfile(os.path.join(REPO, 'molecule', d, 'molecule.yml')))


@pytest.mark.molecule
@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize('scenario', SCENARIOS)
def test_molecule_scenario(scenario):
    env = ansible_env()
    env.pop('ANSIBLE_PYTHON_INTERPRETER', None)   # scenarios set the interpreter per host themselves
    env['DFF_PYTHON'] = sys.executable
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'molecule'), 'test', '-s', scenario],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=2400, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-12000:]
    assert 'idempotence' in out.lower()
