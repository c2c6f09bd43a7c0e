"""Run one molecule scenario (molecule/<name>) for real: create, converge, idempotence, verify, destroy."""
import os
import subprocess
import sys

from ansible_collections.dataflux.func.plugins.module_utils._func_common import atomic_write
from tests.lib.ansible_runner import CACHE, REPO, ansible_env


def failure_digest(out, limit=6000):
    """The failed tasks of a molecule output first (task header and its fatal/failed block, up to the next
    task), so the cause is at the head of an assertion message that is shown cut in the middle."""
    lines = out.splitlines()
    blocks, task = [], None
    for i, line in enumerate(lines):
        if line.startswith('TASK [') or line.startswith('PLAY ['):
            task = line
        elif line.startswith('fatal:') or (line.startswith('failed:') and 'FAILED!' in line):
            end = i + 1
            while end < len(lines) and not lines[end].startswith(('TASK [', 'PLAY [', 'RUNNING HANDLER')):
                end += 1
            if not any(row.strip() == '...ignoring' for row in lines[i + 1:end]):
                blocks.append('\n'.join([task or '', line] + lines[i + 1:end]))
    if not blocks:
        return '(no failed task in the output)'
    text = '\n'.join('==== failed: ' + block for block in blocks)
    return text[:limit] + ('\n[... %d characters more]' % (len(text) - limit) if len(text) > limit else '')


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
    assert proc.returncode == 0, failure_digest(out) + '\n---- the end of the output ----\n' + out[-6000:]
    assert 'idempotence' in out.lower()
    return out
