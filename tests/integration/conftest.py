"""Generic fixtures of the integration suites. Suites add their own fixtures in their own test files.

func_env(stack, **kwargs) -> a running FuncEnv (tests/lib/funcenv.py), created once per session and stack
name and torn down at session end. Set DFFT_KEEP=1 to leave the stacks running for debugging.
"""
import os
import shutil
import subprocess

import pytest

from tests.lib.funcenv import FuncEnv


def _docker_ok():
    docker = shutil.which('docker')
    if not docker:
        return False
    return subprocess.run([docker, 'info', '--format', '{{.Swarm.LocalNodeState}}'], capture_output=True,
                          text=True, check=False).stdout.strip() == 'active'


@pytest.fixture(scope='session')
def docker_swarm():
    if not _docker_ok():
        pytest.skip('needs a Docker daemon that is an active swarm manager')


@pytest.fixture(scope='session')
def func_env(docker_swarm):
    """Factory: func_env('dfft-x', port=18081, install_dir='/tmp/dfft/x', version='5.1.7', ...)."""
    envs = {}

    def factory(stack, **kwargs):
        env = envs.get(stack)
        if env is None:
            env = FuncEnv(stack=stack, **kwargs)
            envs[stack] = env
            env.up()
        return env

    yield factory
    if os.environ.get('DFFT_KEEP') == '1':
        return
    for env in envs.values():
        try:
            env.down()
        except Exception as e:  # report, keep tearing down the others
            print('teardown of %s failed: %s' % (env.stack, e))
