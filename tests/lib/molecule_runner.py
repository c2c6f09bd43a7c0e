"""Run one molecule scenario (molecule/<name>) for real: create, converge, idempotence, verify, destroy."""
import os
import subprocess
import sys

from tests.lib.ansible_runner import REPO, ansible_env


def run_scenario(scenario, timeout=2400):
    env = ansible_env()
    env.pop('ANSIBLE_PYTHON_INTERPRETER', None)   # scenarios set the interpreter per host themselves
    env['DFF_PYTHON'] = sys.executable
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'molecule'), 'test', '-s', scenario],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-12000:]
    assert 'idempotence' in out.lower()
    return out
