"""Bad inputs, generated (hypothesis), against a real installation (func double stack, MariaDB, Redis, swarm):
every module and role entry point, one bad value at a time: wrong types, empty, huge, newlines, NUL, shell and SQL
metacharacters, relative and traversal paths, unicode. For each case: it fails, with a message that names the
option (or the key), no traceback, and nothing changed: the install dir's files (hashed), the database
(CHECKSUM TABLE over every table), the Redis keys and queue lengths, and the stack's service specs.

The workers and beat are scaled to 0 first, so the product itself writes nothing while the cases run (the server
keeps answering). The number of cases per entry point is printed at the end of the session and written to
.cache/logs/badinput.json.
"""
import hashlib
import json
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.lib.ansible_runner import CACHE, REPO, run_module, run_playbook
from tests.lib.funcenv import FuncEnv, docker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK, PORT, DIR = 'dfft-badin', 18097, '/tmp/dfft/badin'
MARKER = '/tmp/dfft/badin.marker'
COUNTS = {}
EXAMPLES = int(os.environ.get('DFF_BADINPUT_EXAMPLES', '8'))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

# --- generated values --------------------------------------------------------------------------------------
NASTY = st.sampled_from(['', ' ', '\n', '\0', '$(id)', '`id`', "'; DROP TABLE wat_main_user; --", '" OR 1=1 --',
                         '../../../etc', '..', '~', '多字节😀', 'a' * 5000, '\\', '%s', '-rf'])
# Jinja ({{ }}, {% %}) is left out: Ansible templates task arguments before any module sees them (a value such as
# '{{ 7*7 }}' reaches the module as '49'); what a module receives is what is tested here.
_NO_JINJA = re.compile(r'\{[{%#]')
TEXT = st.one_of(NASTY, st.text(min_size=1, max_size=40), NASTY.map(lambda s: 'x' + s + 'y')).filter(
    lambda s: not _NO_JINJA.search(s))
RELATIVE = st.one_of(st.sampled_from(['relative', './x', '../x', 'a/b', 'dataflux-func']),
                     st.text(alphabet='abc./-_ ', min_size=1, max_size=20).filter(lambda s: not s.startswith('/')))
BAD_PATH = st.one_of(RELATIVE, st.sampled_from(['/', '/usr', '/etc', '/root', '/tmp', '/var', '/home', '//',
                                                '/usr/../usr', '/srv/x\n', '/srv/\0x']))
NOT_INT = st.one_of(st.sampled_from(['abc', '1.5', '', '9' * 30, [], {}]), st.text(alphabet='xyz$;', min_size=1))


def _count(name):
    COUNTS[name] = COUNTS.get(name, 0) + 1


# --- the installation and its state --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def env():
    e = FuncEnv(stack=STACK, port=PORT, install_dir=DIR, version='5.1.7', admin_password='badin-Admin-pw-1')
    e.up()
    for svc in docker('service', 'ls', '--format', '{{.Name}}', '--filter',
                      'label=com.docker.stack.namespace=%s' % STACK).stdout.split():
        if re.search(r'_(worker.*|beat)$', svc):
            docker('service', 'scale', '-d', '%s=0' % svc)

    def quiet():
        names = docker('ps', '--format', '{{.Names}}', '--filter', 'label=com.docker.stack.namespace=%s' % STACK).stdout
        return not re.search(r'_(worker[^.]*|beat)\.', names)
    wait_for(quiet, 120, what='workers and beat stopped')
    e.mysql('CREATE TABLE IF NOT EXISTS biz_badin_probe (id INT PRIMARY KEY, v TEXT); '
            "REPLACE INTO biz_badin_probe VALUES (1, 'keep me');")
    e.redis('RPUSH', 'DataFluxFunc-worker#workerQueue@3', 'badin-task')
    with open(MARKER, 'w') as handle:
        handle.write('INSTALLED_DIR=%s\n' % DIR)
    yield e
    os.unlink(MARKER)
    e.down()


def _files():
    out = {}
    live = {os.path.join(DIR, 'mysql'), os.path.join(DIR, 'redis'), os.path.join(DIR, 'data', 'logs')}
    for root, dirs, files in os.walk(DIR):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in live]
        for name in files:
            path = os.path.join(root, name)
            with open(path, 'rb') as handle:
                out[path] = (hashlib.sha256(handle.read()).hexdigest(), os.stat(path).st_mode)
    return out


def _database(e):
    tables = [row[0] for row in e.mysql_rows('SHOW TABLES')]
    return e.mysql_rows('CHECKSUM TABLE %s EXTENDED' % ', '.join('`%s`' % t for t in tables))


def _redis(e):
    # monitor/heartbeat keys are the server's own bookkeeping; locks expire by themselves (TTL)
    keys = sorted(k for k in e.redis('KEYS', '*').split() if not re.search(r'monitor|heartbeat|token|#lock', k))
    return keys, [e.redis('LLEN', k) for k in keys if 'Queue@' in k and 'workerQueue' in k]


def _specs():
    ids = docker('service', 'ls', '-q', '--filter', 'label=com.docker.stack.namespace=%s' % STACK).stdout.split()
    out = json.loads(docker('service', 'inspect', *ids).stdout)
    return sorted(json.dumps(s['Spec'], sort_keys=True) for s in out)


def snapshot(e):
    return {'files': _files(), 'db': _database(e), 'redis': _redis(e), 'specs': _specs()}


@pytest.fixture(scope='module')
def baseline(env):
    return snapshot(env)


def refused(result, names, text):
    """result failed with a message naming one of names, and no traceback."""
    blob = json.dumps(result)
    msg = str(result.get('msg', ''))
    assert result.get('failed'), 'accepted: %s' % msg[:500]
    assert 'Traceback' not in blob and 'MODULE FAILURE' not in msg, blob[:2000]
    assert 'Unsupported parameters' not in msg, msg[:600]           # a broken case, not a refusal of the value
    assert any(n in msg for n in names), 'the message does not name %s: %s' % (names, msg[:600])
    return text


def unchanged(env, baseline):
    assert snapshot(env) == baseline


# --- modules ---------------------------------------------------------------------------------------------------
BASE = {'install_dir': DIR, 'stack_name': STACK}


@SETTINGS
@given(key=st.one_of(TEXT.filter(lambda k: not re.match(r'\A[A-Za-z_][A-Za-z0-9_]*\Z', k)),
                     st.sampled_from(['LOG_LEVLE', 'MSYQL_HOST', 'SECRET_KEY_X'])),
       value=TEXT)
def test_func_config_settings(env, baseline, key, value):
    _count('func_config')
    refused(run_module('func_config', {'install_dir': DIR, 'settings': {key: value}}),
            ['settings', 'configuration key'], key)
    unchanged(env, baseline)


@SETTINGS
@given(value=st.one_of(TEXT, st.integers(), st.booleans()))
def test_func_config_log_level(env, baseline, value):
    _count('func_config')
    refused(run_module('func_config', {'install_dir': DIR, 'settings': {'LOG_LEVEL': value}}), ['LOG_LEVEL'], value)
    unchanged(env, baseline)


@SETTINGS
@given(path=st.one_of(BAD_PATH, TEXT.map(lambda s: '/nonexistent/' + s), st.sampled_from(['/etc/hostname',
                                                                                          '/dev/null', DIR])))
def test_func_backup_restore_src(env, baseline, path):
    _count('func_backup')
    refused(run_module('func_backup', dict(BASE, state='restore', src=path, confirm=True)), ['src'], path)
    unchanged(env, baseline)


@SETTINGS
@given(path=RELATIVE, state=st.sampled_from(['dump', 'prune', 'inventory']))
def test_func_backup_backup_dir(env, baseline, path, state):
    _count('func_backup')
    refused(run_module('func_backup', dict(BASE, state=state, backup_dir=path)), ['backup_dir'], path)
    unchanged(env, baseline)


@SETTINGS
@given(count=NOT_INT)
def test_func_backup_keep_count(env, baseline, count):
    _count('func_backup')
    refused(run_module('func_backup', dict(BASE, state='prune', keep_count=count)), ['keep_count'], count)
    unchanged(env, baseline)


@SETTINGS
@given(name=st.one_of(st.text(min_size=31, max_size=80).filter(lambda s: s.strip()), st.sampled_from(
    ['', ' ', '\n', 'ad\nmin', 'ad\0min', 'a' * 31, '\t'])))
def test_func_admin_username(env, baseline, name):
    _count('func_admin')
    refused(run_module('func_admin', dict(BASE, action='reset_admin', admin_username=name,
                                          admin_password='badin-New-pw-9', confirm=True)), ['admin_username'], name)
    unchanged(env, baseline)


@SETTINGS
@given(path=BAD_PATH)
def test_func_info_install_dir(env, baseline, path):
    _count('func_info')
    refused(run_module('func_info', {'install_dir': path, 'stack_name': STACK}), ['install_dir'], path)
    unchanged(env, baseline)


@SETTINGS
@given(name=TEXT.filter(lambda s: not re.match(r'\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z', s)))
def test_func_stack_stack_name(env, baseline, name):
    _count('func_stack')
    refused(run_module('func_stack', {'install_dir': DIR, 'stack_name': name, 'state': 'restarted'}),
            ['stack_name'], name)
    unchanged(env, baseline)


@SETTINGS
@given(queue=st.one_of(TEXT.filter(lambda s: s.strip() not in ('all',) and not re.match(r'\A\s*\d\s*\Z', s)),
                       st.integers(min_value=10), st.integers(max_value=-1)))
def test_func_queue_queues(env, baseline, queue):
    _count('func_queue')
    refused(run_module('func_queue', dict(BASE, state='cleared', queues=[queue])), ['queue'], queue)
    unchanged(env, baseline)


# --- role entry points -------------------------------------------------------------------------------------------
ROLE_VARS = {'func_install_dir': DIR, 'func_stack_name': STACK, 'func_port': PORT, 'func_marker_file': MARKER,
             'func_image': 'dff-test/dataflux-func', 'func_version': '5.1.7', 'func_image_source': 'present',
             'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host', 'func_min_free_disk_gb': 1,
             'func_logrotate_file': '/etc/logrotate.d/dfft-badin', 'func_hosts': 'localhost'}


def _play(name, extra):
    data = dict(ROLE_VARS, **extra)
    return run_playbook(os.path.join(REPO, 'playbooks', name), data, json_output=False)


def _role_refused(res, names):
    out = res.stdout + res.stderr
    assert res.rc != 0, 'accepted:\n' + out[-2000:]
    assert 'Traceback' not in out
    assert any(n in out for n in names), 'no %s in:\n%s' % (names, out[-3000:])


@settings(max_examples=max(2, EXAMPLES // 2), deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(extra=st.one_of(
    BAD_PATH.map(lambda p: {'func_install_dir': p}),
    st.one_of(st.integers(max_value=0), st.integers(min_value=65536), st.sampled_from(['80x', '8088\n']))
    .map(lambda p: {'func_port': p}),
    st.tuples(TEXT, st.sampled_from(['1.2.3.4\n', '300.1.1.1', 'localhost', '', '::1::'])).map(
        lambda kv: {'func_extra_hosts': {'h' + kv[0]: kv[1]}})))
def test_install_role_variables(env, baseline, extra):
    _count('role install')
    _role_refused(_play('install.yml', extra), list(extra))
    unchanged(env, baseline)


@settings(max_examples=max(2, EXAMPLES // 2), deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(key=st.one_of(st.sampled_from(['LOG_LEVLE', 'WOKRER_CONCURRENCY']), TEXT))
def test_tune_role_settings(env, baseline, key):
    _count('role tune')
    _role_refused(_play('tune.yml', {'func_tune_settings': {key: 'x'}}), ['configuration key', 'LOG_LEVEL', key])
    unchanged(env, baseline)


@settings(max_examples=max(2, EXAMPLES // 2), deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(path=BAD_PATH)
def test_uninstall_role_install_dir(env, baseline, path):
    _count('role uninstall')
    _role_refused(_play('uninstall.yml', {'func_install_dir': path, 'func_uninstall_confirm': True}),
                  ['func_install_dir'])
    unchanged(env, baseline)


def test_zz_report_counts():
    """Runs last in this file: the number of generated cases per entry point (also in .cache/logs)."""
    assert sum(COUNTS.values()) > 0, COUNTS
    os.makedirs(os.path.join(CACHE, 'logs'), mode=0o700, exist_ok=True)
    with open(os.path.join(CACHE, 'logs', 'badinput.json'), 'w') as handle:
        json.dump(COUNTS, handle, indent=1, sort_keys=True)
    print('\nbad-input cases per entry point: %s (total %d)'
          % (', '.join('%s=%d' % kv for kv in sorted(COUNTS.items())), sum(COUNTS.values())))
