"""Run one molecule scenario (molecule/<name>) for real: create, converge, idempotence, verify, destroy."""
import os
import subprocess
import sys

from ansible_collections.dataflux.func.plugins.module_utils._func_common import atomic_write
from tests.lib.ansible_runner import CACHE, REPO, ansible_env


def run_scenario(scenario, timeout=2400):
    env = ansible_env()
    env.pop('ANSIBLE_PYTHON_INTERPRETER', None)   # scenarios set the interpreter per host themselves
    env['DFF_PYTHON'] = sys.executable
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'molecule'), 'test', '-s', scenario],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    out = proc.stdout + proc.stderr
    # the whole output stays readable after the run (numbers such as the HA clients' summaries), owner only
    logdir = os.path.join(CACHE, 'logs')
    os.makedirs(logdir, mode=0o700, exist_ok=True)
    atomic_write(os.path.join(logdir, 'molecule-%s.log' % scenario), out, mode=0o600)
    assert proc.returncode == 0, out[-12000:]
    assert 'idempotence' in out.lower()
    return out
