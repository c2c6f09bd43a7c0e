"""The ansible-core 2.15 lane (scripts/test-lane215): where its tools live and the environment they run with.

Tests here run under .venv-215's interpreter, so tests.lib.ansible_runner works as is (run_playbook,
run_module: the ansible-* commands of this interpreter, DFF_COLLECTIONS which the lane runner points at
.cache/collections-215). For commands of your own use the `lane215` fixture: lane215.bin('ansible-doc'),
lane215.ansible_playbook, lane215.env() (ansible_env() for this lane), lane215.run(argv).
The end-to-end smoke on managed hosts lives in this folder too; test files are spread over the workers
(--dist loadfile), each file owning its hosts, networks and ports.
"""
import os
import subprocess
import sys

import pytest

from tests.lib.ansible_runner import CACHE, REPO, ansible_env

VENV = os.environ.get('DFF_VENV215', os.path.join(REPO, '.venv-215'))
BIN = os.path.join(VENV, 'bin')
PYTHON = os.path.join(BIN, 'python')
COLLECTIONS = os.environ.get('DFF_COLLECTIONS215', os.path.join(CACHE, 'collections-215'))
ANSIBLE_PLAYBOOK = os.path.join(BIN, 'ansible-playbook')

if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
    raise pytest.UsageError('tests/lane215 runs under %s (scripts/test-lane215), not %s' % (VENV, sys.prefix))


def lane_env(extra=None):
    """ansible_env() of the 2.15 lane: its collections, its interpreter, a core/collection mismatch is an error."""
    env = {
        'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
        'ANSIBLE_COLLECTIONS_ON_ANSIBLE_VERSION_MISMATCH': 'error',
        'ANSIBLE_PYTHON_INTERPRETER': PYTHON,
        'PATH': BIN + os.pathsep + os.environ.get('PATH', ''),
    }
    env.update(extra or {})
    return ansible_env(env)


class Lane215(object):
    venv = VENV
    python = PYTHON
    collections = COLLECTIONS
    ansible_playbook = ANSIBLE_PLAYBOOK

    @staticmethod
    def bin(tool):
        return os.path.join(BIN, tool)

    @staticmethod
    def env(extra=None):
        return lane_env(extra)

    @staticmethod
    def run(argv, cwd=REPO, timeout=600, env=None):
        """Run argv with the lane's environment; return (rc, stdout + stderr)."""
        proc = subprocess.run(argv, cwd=cwd, env=lane_env(env), capture_output=True, text=True, timeout=timeout,
                              check=False)
        return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope='session')
def lane215():
    return Lane215()
