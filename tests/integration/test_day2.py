"""Day-2 operations against the real DataFlux Func 5.1.7 (tuning, status, logs, uninstall).

One test installation (stack dfft-day2, port 18084) is shared by the tests in this file, in order; the last test
uninstalls it.
"""
import hashlib
import json
import os
import shutil
import time

import pytest

from tests.lib.ansible_runner import REPO, run_module, run_playbook
from tests.lib.funcenv import FuncEnv, docker, wait_for
from tests.lib.realimages import require_real

pytestmark = [pytest.mark.integration, pytest.mark.real]

STACK = 'dfft-day2'
PORT = 18084
DIR = '/tmp/dfft/day2'
EXPORT_DIR = '/tmp/dfft/day2-export'
MARKER = '/tmp/dfft/day2-marker'
PLAYBOOKS = os.path.join(REPO, 'playbooks')


@pytest.fixture(scope='module')
def env():
    require_real('5.1.7')
    e = FuncEnv(stack=STACK, port=PORT, install_dir=DIR, version='5.1.7', real=True)
    e.down()
    shutil.rmtree(EXPORT_DIR, ignore_errors=True)       # exports of an earlier run must not be mistaken for ours
    e.up()
    with open(MARKER, 'w') as handle:
        handle.write('INSTALLED_DIR=%s\n' % DIR)
    yield e
    e.down()


def containers(service):
    out = docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=%s_%s' % (STACK, service),
                 '--filter', 'status=running').stdout.split()
    return sorted(out)


def all_containers(env):
    return {name[len(STACK) + 1:]: containers(name[len(STACK) + 1:]) for name in env.services()}


def md5(path):
    with open(path, 'rb') as handle:
        return hashlib.md5(handle.read()).hexdigest()


def tune(extra, check=False, diff=False):
    base = {'func_install_dir': DIR, 'func_stack_name': STACK, 'func_port': PORT}
    base.update(extra)
    return run_playbook(os.path.join(PLAYBOOKS, 'tune.yml'), base, check=check, diff=diff)


def test_tune_log_level_restarts_func_services_only(env):
    before = all_containers(env)
    checked = tune({'func_log_level': 'ERROR'}, check=True, diff=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert checked.changed() >= 1                       # check mode predicts the change ...
    assert all_containers(env) == before                # ... and changes nothing
    assert 'LOG_LEVEL: ERROR' not in open(env.user_config_path).read()

    res = tune({'func_log_level': 'ERROR'})
    assert res.rc == 0, res.stdout[-3000:]
    assert res.changed() >= 1
    after = all_containers(env)
    assert after['mysql'] == before['mysql'] and after['redis'] == before['redis']
    for svc in ('server', 'beat', 'worker-0', 'worker-1'):
        assert after[svc] and after[svc] != before[svc], svc
    assert env.ping()
    assert env.config('LOG_LEVEL') == 'ERROR'
    assert oct(os.stat(env.user_config_path).st_mode & 0o777) == '0o600'

    again = tune({'func_log_level': 'ERROR'})
    assert again.rc == 0 and again.changed() == 0
    assert all_containers(env) == after


def server_log_since(since):
    return docker('service', 'logs', '--raw', '--since', since, '%s_server' % STACK).stdout


def test_tune_log_level_is_what_the_product_logs(env):
    """The level the tune role writes is the level the real server logs at (its `[L…] [D|I|W|E]` lines)."""
    res = tune({'func_log_level': 'DEBUG'})
    assert res.rc == 0 and res.changed() >= 1, res.stdout[-3000:]
    since = str(int(time.time()))   # the role returns after the restart: later lines are the new server's
    env.wait_ping(120)
    env.captcha()                   # server/utils/captcha.js logs the code at debug level
    wait_for(lambda: '] [D] ' in server_log_since(since), 60, what='debug lines in the server log')

    res = tune({'func_log_level': 'ERROR'})
    assert res.rc == 0 and res.changed() >= 1, res.stdout[-3000:]
    since = str(int(time.time()))   # the role returns after the restart: later lines are the new server's
    env.wait_ping(120)
    env.captcha()
    assert env.sign_in_ok() is True
    time.sleep(2)
    leveled = [line for line in server_log_since(since).splitlines() if line.startswith('[SVR]')]
    assert not [line for line in leveled if '] [D] ' in line or '] [I] ' in line], leveled[:5]


def test_tune_worker_key_restarts_workers_only(env):
    before = all_containers(env)
    res = tune({'func_worker_concurrency': 3})
    assert res.rc == 0, res.stdout[-3000:]
    after = all_containers(env)
    assert after['server'] == before['server'] and after['beat'] == before['beat']
    assert after['worker-1'] != before['worker-1']
    assert env.config('_WORKER_CONCURRENCY', service='worker-1') == '3'


@pytest.mark.parametrize('extra,needle', [
    ({'func_tune_settings': {'LOG_LEVEL': 'LOUD'}}, 'LOG_LEVEL must be one of'),
    ({'func_tune_settings': {'_WORKER_CONCURRENCY': 0}}, 'positive integer'),
    ({'func_tune_settings': {'LOG_LEVLE': 'INFO'}}, 'LOG_LEVLE (did you mean LOG_LEVEL?)'),
])
def test_tune_bad_values_leave_file_identical(env, extra, needle):
    digest = md5(env.user_config_path)
    before = all_containers(env)
    res = tune(extra)
    assert res.rc != 0
    assert needle in res.stdout
    assert md5(env.user_config_path) == digest
    assert all_containers(env) == before


def test_tune_bad_log_level_rejected_by_argument_spec(env):
    digest = md5(env.user_config_path)
    res = tune({'func_log_level': 'LOUD'})
    assert res.rc != 0 and 'func_log_level' in res.stdout
    assert md5(env.user_config_path) == digest


def test_info_reports_version_services_queues_backups_and_log(env):
    # stop the consumers of queue 1 so the backlog stays put, then restore them with func_stack
    docker('service', 'scale', '--detach', '%s_worker-1=0' % STACK)
    wait_for(lambda: not containers('worker-1'), 60, what='worker-1 stopped')
    key = 'DataFluxFunc-worker#workerQueue@1'
    env.redis('DEL', key)
    for i in range(7):
        env.redis('LPUSH', key, json.dumps({'name': 'test.echo', 'kwargs': {'i': i}}))
    env.redis('ZADD', 'DataFluxFunc-worker#delayQueue@3', '9999999999', 'later-1', '9999999999', 'later-2')
    os.makedirs(os.path.join(DIR, 'data', 'logs'), exist_ok=True)

    info = run_module('func_info', {'install_dir': DIR, 'stack_name': STACK, 'log_lines': 5})
    assert not info.get('failed'), info
    assert info['changed'] is False
    assert info['version']['running'] == '5.1.7'
    assert info['paths']['config_file']['path'] == os.path.join(DIR, 'data', 'user-config.yaml')
    assert info['paths']['sqldump_dir']['exists'] is True
    services = {s['short_name']: s for s in info['services']}
    assert services['worker-1']['desired'] == 0
    assert services['server']['running'] == services['server']['desired'] == 1
    assert info['queues']['work']['1'] == 7 == int(env.redis('LLEN', key))
    assert info['queues']['delay']['3'] == 2
    assert info['config']['SECRET'] == '********' and info['config']['MYSQL_PASSWORD'] == '********'
    assert env.secret not in json.dumps(info) and env.mysql_password not in json.dumps(info)
    assert 1 <= len(info['log_tail']) <= 5

    # func_stack notices the drifted replica count and puts it back
    fixed = run_module('func_stack', {'install_dir': DIR, 'stack_name': STACK})
    assert not fixed.get('failed'), fixed
    assert fixed['changed'] is True
    wait_for(lambda: containers('worker-1'), 60, what='worker-1 back')
    wait_for(lambda: int(env.redis('LLEN', key)) == 0, 60, what='queue 1 drained')
    env.redis('DEL', 'DataFluxFunc-worker#delayQueue@3')


def test_info_playbook_and_logs_playbook(env, tmp_path):
    res = run_playbook(os.path.join(PLAYBOOKS, 'info.yml'), {'func_install_dir': DIR, 'func_stack_name': STACK})
    assert res.rc == 0 and res.changed() == 0, res.stdout[-3000:]
    dest = tmp_path / 'logs'
    res = run_playbook(os.path.join(PLAYBOOKS, 'logs.yml'), {'func_install_dir': DIR, 'func_logs_dest': str(dest)})
    assert res.rc == 0, res.stdout[-3000:]
    fetched = dest / 'localhost' / 'dataflux-func.log'
    assert fetched.exists() and fetched.stat().st_size > 0
    res = run_playbook(os.path.join(PLAYBOOKS, 'logs.yml'), {'func_install_dir': DIR, 'func_logs_dest': str(dest)})
    assert res.rc == 0 and res.changed() == 0
    res = run_playbook(os.path.join(PLAYBOOKS, 'logs.yml'),
                       {'func_install_dir': DIR, 'func_logs_dest': str(dest), 'func_logs_lines': 3})
    tail = (dest / 'localhost' / 'dataflux-func.tail.log').read_text().splitlines()
    assert res.rc == 0 and len(tail) == 3


def uninstall(confirm):
    return run_playbook(os.path.join(PLAYBOOKS, 'uninstall.yml'), {
        'func_install_dir': DIR, 'func_stack_name': STACK, 'func_marker_file': MARKER,
        'func_logrotate_file': '/tmp/dfft/day2-logrotate', 'func_uninstall_confirm': confirm,
        'func_uninstall_export_dir': EXPORT_DIR})


def test_uninstall_needs_confirmation_then_keeps_export(env):
    before = all_containers(env)
    res = uninstall(False)
    assert res.rc != 0 and 'func_uninstall_confirm=true' in res.stdout
    assert os.path.isdir(DIR) and os.path.exists(MARKER) and all_containers(env) == before

    res = uninstall(True)
    assert res.rc == 0, res.stdout[-4000:]
    assert not docker('ps', '-aq', '--filter', 'label=com.docker.stack.namespace=%s' % STACK).stdout.strip()
    assert not os.path.exists(DIR) and not os.path.exists(MARKER)
    exported = os.listdir(EXPORT_DIR)
    dumps = [f for f in exported if f.startswith('dataflux-func-sqldump-') and f.endswith('.sql.zst')]
    configs = [f for f in exported if f.startswith('user-config-')]
    assert dumps and configs, exported
    for name in dumps + configs:
        assert os.stat(os.path.join(EXPORT_DIR, name)).st_mode & 0o077 == 0, name
    assert env.secret in open(os.path.join(EXPORT_DIR, configs[0])).read()

    again = uninstall(True)
    assert again.rc == 0 and again.changed() == 0, again.stdout[-3000:]
