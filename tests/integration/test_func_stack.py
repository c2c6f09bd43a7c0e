"""Integration tests of dataflux.func.func_stack against the real single-node swarm.

A small stack (python http.server as "server", a sleeping "worker-1-6" in the old layout) in /tmp/dfft/stack
keeps most tests fast; one test runs a rolling restart on the func double (FuncEnv, legacy worker layout).
Only docker objects named dfft-stack* are touched.
"""
import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest
import yaml

from tests.lib.ansible_runner import run_module

pytestmark = pytest.mark.integration

STACK = 'dfft-stack'
PORT = 18081
DIR = '/tmp/dfft/stack/simple'
LABEL = 'label=com.docker.stack.namespace=%s' % STACK


def docker(*args):
    return subprocess.run(['docker'] + list(args), capture_output=True, text=True, check=False)


def stack_file(env_value='one', password='s3cr3t-value', worker_extra=None):
    svc = {'image': 'dff-test/debian:bookworm', 'init': True, 'stop_grace_period': '2s',
           'deploy': {'endpoint_mode': 'dnsrr'}}
    return {
        'version': '3.8',
        'services': {
            'server': dict(svc, command='python3 -m http.server 8088 --directory /data', labels=['server'],
                           volumes=['./data:/data:ro'],
                           environment={'GREETING': env_value, 'MYSQL_PASSWORD': password},
                           extra_hosts=['mysql-ext:10.9.8.7'],
                           ports=[{'target': 8088, 'published': PORT, 'mode': 'host'}]),
            'worker-1-6': dict(svc, command=['sleep', 'infinity'], labels=['worker-1-6', 'queue-1'],
                               environment=['HOST_HOSTNAME={{.Node.Hostname}}'], **(worker_extra or {})),
        },
    }


def write_stack(**kwargs):
    os.makedirs(os.path.join(DIR, 'data'), exist_ok=True)
    with open(os.path.join(DIR, 'data', 'index.html'), 'w') as f:
        f.write('ok')
    with open(os.path.join(DIR, 'docker-stack.yaml'), 'w') as f:
        yaml.safe_dump(stack_file(**kwargs), f, sort_keys=False)


def args(**extra):
    base = {'install_dir': DIR, 'stack_name': STACK, 'timeout': 120}
    base.update(extra)
    return base


def service_spec(name):
    out = docker('service', 'inspect', '%s_%s' % (STACK, name), '--format', '{{json .Spec}}')
    return json.loads(out.stdout) if out.returncode == 0 else None


def service_env(name):
    spec = service_spec(name)
    return spec['TaskTemplate']['ContainerSpec'].get('Env') if spec else None


def task_ids(name):
    return set(docker('service', 'ps', '-q', '--filter', 'desired-state=running',
                      '%s_%s' % (STACK, name)).stdout.split())


def containers():
    return docker('ps', '-aq', '--filter', LABEL).stdout.split()


def networks():
    return docker('network', 'ls', '-q', '--filter', LABEL).stdout.split()


def http_ok(port=PORT, path='/', within=15):
    """The server answers 200 (the task is running; the process may need a moment to listen)."""
    deadline = time.time() + within
    while True:
        try:
            with urllib.request.urlopen('http://127.0.0.1:%s%s' % (port, path), timeout=1) as resp:
                return resp.status == 200
        except OSError:
            if time.time() >= deadline:
                return False
            time.sleep(0.2)


def assert_ok(result):
    assert not result.get('failed'), result.get('msg', result)


@pytest.fixture(scope='module')
def simple_stack():
    run_module('func_stack', args(state='absent'))
    shutil.rmtree(DIR, ignore_errors=True)
    write_stack()
    yield
    run_module('func_stack', args(state='absent'))
    shutil.rmtree(DIR, ignore_errors=True)


def test_01_check_mode_on_missing_stack_changes_nothing(simple_stack):
    res = run_module('func_stack', args(), check=True, diff=True)
    assert_ok(res)
    assert res['changed'] is True
    assert {p['service']: p['action'] for p in res['plan']} == {'server': 'create', 'worker-1-6': 'create'}
    assert res['commands'] == []
    assert docker('service', 'ls', '-q', '--filter', LABEL).stdout.strip() == ''
    assert 's3cr3t-value' not in json.dumps(res)


def test_02_deploy_waits_for_convergence(simple_stack):
    res = run_module('func_stack', args())
    assert_ok(res)
    assert res['changed'] is True
    assert any(c.startswith('docker stack deploy -c %s/docker-stack.yaml --resolve-image never' % DIR)
               for c in res['commands'])
    byname = {s['short_name']: s for s in res['services']}
    assert set(byname) == {'server', 'worker-1-6'}
    assert byname['server']['running'] == byname['server']['desired'] == 1
    assert http_ok()


def test_03_reapply_is_unchanged(simple_stack):
    res = run_module('func_stack', args(), diff=True)
    assert_ok(res)
    assert res['changed'] is False, res['plan']
    assert res['commands'] == []


def test_04_env_update_check_diff_then_apply(simple_stack):
    write_stack(env_value='two', password='other-s3cr3t')
    before_tasks = task_ids('server')
    worker_tasks = task_ids('worker-1-6')
    res = run_module('func_stack', args(), check=True, diff=True)
    assert_ok(res)
    assert res['changed'] is True
    changes = [p for p in res['plan'] if p['action'] != 'unchanged']
    assert changes == [{'service': 'server', 'action': 'update', 'fields': ['env']}]
    assert list(res['diff']['after']) == ['server']
    dump = json.dumps(res)
    assert 'other-s3cr3t' not in dump and 's3cr3t-value' not in dump
    assert 'MYSQL_PASSWORD=********' in res['diff']['after']['server']['env']
    assert 'GREETING=one' in service_env('server')          # check mode changed nothing
    assert task_ids('server') == before_tasks

    res = run_module('func_stack', args())
    assert_ok(res)
    assert res['changed'] is True
    assert 'GREETING=two' in service_env('server')
    assert task_ids('server') != before_tasks                # the server was redeployed and is running again
    assert task_ids('worker-1-6') == worker_tasks            # the unchanged service was left alone
    assert http_ok()
    assert run_module('func_stack', args())['changed'] is False


def test_04b_healthcheck_and_resources_are_compared(simple_stack):
    extra = {'healthcheck': {'test': ['CMD', 'true'], 'interval': '5s', 'retries': 2},
             'deploy': {'endpoint_mode': 'dnsrr', 'resources': {'limits': {'memory': '64M', 'cpus': '0.5'}}}}
    write_stack(env_value='two', password='other-s3cr3t', worker_extra=extra)
    server_tasks = task_ids('server')
    res = run_module('func_stack', args(), check=True, diff=True)
    assert_ok(res)
    assert res['changed'] is True and not res.get('warnings'), res.get('warnings')
    assert [p for p in res['plan'] if p['action'] != 'unchanged'] == [
        {'service': 'worker-1-6', 'action': 'update', 'fields': ['healthcheck', 'resources']}]
    assert res['diff']['after']['worker-1-6']['resources']['limits']['memory_bytes'] == 64 * 1024 ** 2
    spec = service_spec('worker-1-6')
    assert 'Healthcheck' not in spec['TaskTemplate']['ContainerSpec']        # check mode changed nothing

    res = run_module('func_stack', args())
    assert_ok(res)
    assert res['changed'] is True
    spec = service_spec('worker-1-6')
    check = spec['TaskTemplate']['ContainerSpec']['Healthcheck']
    assert check == {'Test': ['CMD', 'true'], 'Interval': 5 * 10 ** 9, 'Retries': 2}
    assert spec['TaskTemplate']['Resources']['Limits'] == {'NanoCPUs': 5 * 10 ** 8, 'MemoryBytes': 64 * 1024 ** 2}
    assert task_ids('server') == server_tasks
    again = run_module('func_stack', args(), check=True)
    assert again['changed'] is False, again['plan']


def test_05_restart_rolling_keeps_names_and_restarts_in_place(simple_stack):
    before = {name: task_ids(name) for name in ('server', 'worker-1-6')}
    res = run_module('func_stack', args(state='restarted', restart_mode='rolling'), check=True)
    assert_ok(res)
    assert res['changed'] is True and res['commands'] == []
    assert {name: task_ids(name) for name in before} == before

    res = run_module('func_stack', args(state='restarted', restart_mode='rolling'))
    assert_ok(res)
    plan = {p['service']: p for p in res['plan']}
    assert plan['worker-1-6']['order'] == 'start-first'
    assert plan['server']['order'] == 'stop-first'           # host-mode port: start-first cannot bind twice
    assert any('host mode' in w for w in res.get('warnings', []))
    for name in before:
        assert task_ids(name) and task_ids(name).isdisjoint(before[name])
    assert http_ok()


def test_06_restart_full_removes_and_redeploys(simple_stack):
    nets_before = set(networks())
    res = run_module('func_stack', args(state='restarted', restart_mode='full'))
    assert_ok(res)
    assert [c.split()[1:3] for c in res['commands']] == [['stack', 'rm'], ['stack', 'deploy']]
    assert any(a.startswith('wait until containers and networks are gone') for a in res['actions'])
    assert set(networks()).isdisjoint(nets_before)            # the network really was removed and re-created
    assert http_ok()
    assert run_module('func_stack', args())['changed'] is False


def test_07_unknown_service_fails_with_names(simple_stack):
    res = run_module('func_stack', args(state='restarted', services=['worker-7']))
    assert res.get('failed')
    assert 'worker-7' in res['msg'] and 'worker-1-6' in res['msg']


def test_08_absent_waits_until_gone_and_is_idempotent(simple_stack):
    res = run_module('func_stack', args(state='absent'), check=True)
    assert res['changed'] is True and containers()
    res = run_module('func_stack', args(state='absent'))
    assert_ok(res)
    assert res['changed'] is True
    assert containers() == [] and networks() == []            # no polling needed: the module waited
    res = run_module('func_stack', args(state='absent'))
    assert res['changed'] is False


def test_09_timeout_names_the_stuck_service(simple_stack):
    data = stack_file()
    data['services']['server']['image'] = 'dff-test/debian:no-such-tag'
    os.makedirs(DIR, exist_ok=True)
    with open(os.path.join(DIR, 'broken.yaml'), 'w') as f:
        yaml.safe_dump(data, f)
    res = run_module('func_stack', args(stack_file=os.path.join(DIR, 'broken.yaml'), timeout=6))
    assert res.get('failed')
    assert 'dfft-stack_server' in res['msg'] and 'not converged within' in res['msg']
    assert res.get('task_state')                               # removed by the fixture's teardown


def test_10_func_double_legacy_layout_rolling_restart():
    """Old installer layout (worker-1-6, worker-7, worker-8-9): rolling restart of the Func services only."""
    from tests.lib.funcenv import FuncEnv
    run_module('func_stack', args(state='absent'))              # frees host port 18081 when run with -k
    env = FuncEnv(stack='dfft-stack-func', port=PORT, install_dir='/tmp/dfft/stack/func', worker_layout='legacy')
    env.up()
    try:
        common = {'install_dir': env.install_dir, 'stack_name': env.stack, 'timeout': 180}
        assert run_module('func_stack', common)['changed'] is False
        mysql_tasks = set(docker('service', 'ps', '-q', '--filter', 'desired-state=running',
                                 'dfft-stack-func_mysql').stdout.split())
        res = run_module('func_stack', dict(common, state='restarted', restart_mode='rolling'))
        assert_ok(res)
        restarted = {p['service'] for p in res['plan'] if p['action'] == 'restart'}
        assert restarted == {'server', 'beat', 'worker-0', 'worker-1-6', 'worker-7', 'worker-8-9'}
        assert set(docker('service', 'ps', '-q', '--filter', 'desired-state=running',
                          'dfft-stack-func_mysql').stdout.split()) == mysql_tasks
        deadline = time.time() + 90
        while time.time() < deadline and env.ping() != 200:
            time.sleep(1)
        assert env.ping() == 200
    finally:
        env.down()
