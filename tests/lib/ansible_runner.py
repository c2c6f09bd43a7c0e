"""Run dataflux.func modules and playbooks for real from pytest and return their JSON results.

Modules run as the single task of a generated playbook with the json stdout callback, so the result is exactly
what a playbook would see (changed, diff, failed, msg, ...). Module arguments and extra variables travel in 0600
files, never on a command line: the secrets audit samples every process's argv while tests run.
"""
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CACHE = os.environ.get('DFF_CACHE', os.path.join(REPO, '.cache'))
COLLECTIONS = os.environ.get('DFF_COLLECTIONS', os.path.join(CACHE, 'collections'))
PYTHON = sys.executable


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
        'ANSIBLE_LOCALHOST_WARNING': 'false',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_DEPRECATION_WARNINGS': 'false',
        'ANSIBLE_PYTHON_INTERPRETER': PYTHON,
        'PATH': os.path.dirname(PYTHON) + os.pathsep + env.get('PATH', ''),
    })
    env.update(extra or {})
    return env


def _json_callback_env(extra=None):
    env = ansible_env(extra)
    env.update({'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json', 'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
                'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json'})
    return env


def _private_file(suffix, content):
    """A 0600 temporary file holding content (arguments and variables may hold secrets: never put them on argv)."""
    fd, path = tempfile.mkstemp(prefix='dfft-ansible-', suffix=suffix)
    with os.fdopen(fd, 'w') as handle:
        handle.write(content)
    return path


def run_module(name, args=None, check=False, diff=False, env=None, timeout=900):
    """Run dataflux.func.<name> on localhost; return the module result dict (with 'failed' when it failed).

    The module runs as the only task of a generated playbook, so its arguments (passwords included) travel in a
    0600 file, never on a command line that `ps` would show.
    """
    fqcn = name if '.' in name else 'dataflux.func.%s' % name
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': [{'name': fqcn, fqcn: args or {}}]}]
    path = _private_file('.yml', json.dumps(play))
    argv = [os.path.join(os.path.dirname(PYTHON), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', path]
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    try:
        proc = subprocess.run(argv, check=False, capture_output=True, text=True, env=_json_callback_env(env),
                              timeout=timeout, cwd=REPO)
    finally:
        os.unlink(path)
    try:
        data = json.loads(proc.stdout)
        result = data['plays'][0]['tasks'][0]['hosts']['localhost']
    except (ValueError, KeyError, IndexError):
        raise AssertionError('ansible produced no JSON result (rc=%s)\nstdout:\n%s\nstderr:\n%s'
                             % (proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
    result['_rc'] = proc.returncode
    return result


class PlaybookResult(object):
    def __init__(self, proc, data):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.data = data

    @property
    def stats(self):
        return (self.data or {}).get('stats', {})

    def changed(self, host='localhost'):
        return self.stats.get(host, {}).get('changed')

    def failed(self, host='localhost'):
        st = self.stats.get(host, {})
        return st.get('failures', 0) + st.get('unreachable', 0)

    def task_results(self, host='localhost'):
        out = []
        for play in (self.data or {}).get('plays', []):
            for task in play.get('tasks', []):
                res = task.get('hosts', {}).get(host)
                if res is not None:
                    out.append((task['task']['name'], res))
        return out


LOCAL_INVENTORY = os.path.join(REPO, 'scripts', 'localhost.ini')


def run_playbook(playbook, extra_vars=None, check=False, diff=False, inventory=LOCAL_INVENTORY, limit=None,
                 env=None, json_output=True, verbosity=0, timeout=1800, extra_args=()):
    argv = [os.path.join(os.path.dirname(PYTHON), 'ansible-playbook'), '-i', inventory, playbook]
    if inventory in ('localhost,', LOCAL_INVENTORY):
        argv += ['-c', 'local']
    vars_file = _private_file('.json', json.dumps(extra_vars)) if extra_vars else None
    if vars_file:
        argv += ['-e', '@' + vars_file]
    if check:
        argv.append('--check')
    if diff:
        argv.append('--diff')
    if limit:
        argv += ['--limit', limit]
    if verbosity:
        argv.append('-' + 'v' * verbosity)
    argv += list(extra_args)
    penv = _json_callback_env(env) if json_output else ansible_env(env)
    try:
        proc = subprocess.run(argv, check=False, capture_output=True, text=True, env=penv, timeout=timeout,
                              cwd=REPO)
    finally:
        if vars_file:
            os.unlink(vars_file)
    data = None
    if json_output:
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            data = None
    return PlaybookResult(proc, data)
