"""func_queue against a deployed test install of the real DataFlux Func 5.1.7 (built-in Redis through its container)
and against private redis-server instances on the host (direct transport, password, cluster mode).

Names: stack dfft-ops, port 18083, /tmp/dfft/ops; redis ports 16379 (password) and 16380 (cluster mode).
The workers and the beat are scaled to 0 so that queued items stay put while the tests look at them.
"""
import json
import os
import time

import pytest

from tests.lib.ansible_runner import REPO, run_module, run_playbook
from tests.lib.funcenv import docker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.real]

STACK, PORT, INSTALL_DIR = 'dfft-ops', 18083, '/tmp/dfft/ops'
WQ = 'DataFluxFunc-worker#workerQueue@%d'
DQ = 'DataFluxFunc-worker#delayQueue@%d'
FAR_FUTURE = 4102444800   # 2100-01-01: the beat never moves these delayed items


def stop_consumers_and_producers():
    """Scale the workers (they take items) and the beat (it queues the product's own system tasks on queue 0 every
    minute: a clear test saw 3 such items appear) to 0, and wait until their containers are gone."""
    docker('service', 'scale', '--detach', '%s_worker=0' % STACK, '%s_beat=0' % STACK)

    def gone():
        return not [svc for svc in ('worker', 'beat') if docker(
            'ps', '-q', '--filter', 'label=com.docker.swarm.service.name=%s_%s' % (STACK, svc)).stdout.split()]
    wait_for(gone, 60, what='workers and beat of %s to stop' % STACK)


@pytest.fixture(scope='module')
def env(module_func_env):
    func = module_func_env(STACK, PORT, INSTALL_DIR, worker_layout='mini', real=True)
    stop_consumers_and_producers()
    return func


def base(**kw):
    args = dict(install_dir=INSTALL_DIR, stack_name=STACK)
    args.update(kw)
    return args


def fill(env, lengths, delayed):
    """Reset all 20 queues to the given lengths with one redis-cli process."""
    lines = ['DEL ' + ' '.join('"%s"' % (WQ % i) for i in range(10)) + ' ' +
             ' '.join('"%s"' % (DQ % i) for i in range(10))]
    for index, count in lengths.items():
        items = ' '.join("'%s'" % json.dumps({'id': 'task-%d-%d' % (index, n), 'name': 'Test.Noop'})
                         for n in range(count))
        lines.append('RPUSH "%s" %s' % (WQ % index, items))
    for index, count in delayed.items():
        members = ' '.join('%d "delayed-%d-%d"' % (FAR_FUTURE, index, n) for n in range(count))
        lines.append('ZADD "%s" %s' % (DQ % index, members))
    env.exec('redis', ['redis-cli', '-n', '5'], input='\n'.join(lines) + '\n')


def llens(env):
    out = env.exec('redis', ['redis-cli', '-n', '5'],
                   input=''.join('LLEN "%s"\n' % (WQ % i) for i in range(10)) +
                   ''.join('ZCARD "%s"\n' % (DQ % i) for i in range(10))).stdout.split()
    values = [int(v) for v in out]
    return {str(i): values[i] for i in range(10)}, {str(i): values[10 + i] for i in range(10)}


def test_info_matches_llen_in_one_round_trip(env):
    fill(env, {0: 3, 1: 120, 3: 7, 9: 1}, {2: 4, 5: 1})
    res = run_module('func_queue', base())
    assert not res.get('failed'), res
    assert res['changed'] is False
    work, delay = llens(env)
    assert res['work_queues'] == work
    assert res['delay_queues'] == delay
    assert work['1'] == 120 and delay['2'] == 4
    assert res['round_trips'] == 1
    assert res['redis']['transport'] == 'container' and res['redis']['database'] == 5
    assert len(res['commands']) == 1 and 'redis-cli' in res['commands'][0]


def test_max_length_is_an_assertion(env):
    fill(env, {1: 50, 3: 7}, {2: 100})
    res = run_module('func_queue', base(max_length=10))
    assert res.get('failed') and res['over_limit'] == [{'key': WQ % 1, 'length': 50}], res
    assert 'max_length 10' in res['msg'] and WQ % 1 in res['msg']
    res = run_module('func_queue', base(max_length=50))
    assert not res.get('failed') and res['over_limit'] == [], res
    # delayed queues count only when selected
    res = run_module('func_queue', base(max_length=50, queues=['delayQueue@2']))
    assert res.get('failed') and res['over_limit'] == [{'key': DQ % 2, 'length': 100}], res


def test_clear_in_check_mode_changes_nothing(env):
    fill(env, {1: 30, 2: 5}, {2: 3})
    before = llens(env)
    res = run_module('func_queue', base(state='cleared', queues=['1', '2'], include_delayed=True), check=True,
                     diff=True)
    assert not res.get('failed'), res
    assert res['changed'] is True
    assert res['dropped'] == 38
    assert res['cleared'] == {WQ % 1: 30, WQ % 2: 5, DQ % 2: 3}
    assert res['diff']['before'][WQ % 1] == 30 and res['diff']['after'][WQ % 1] == 0
    assert llens(env) == before


def test_clear_empties_exactly_the_chosen_queues(env):
    fill(env, {0: 4, 1: 30, 2: 5, 3: 8}, {1: 2, 2: 3})
    res = run_module('func_queue', base(state='cleared', queues=['1', 'delayQueue@2', WQ % 3]))
    assert not res.get('failed'), res
    assert res['changed'] is True and res['method'] == 'UNLINK'
    assert res['cleared'] == {WQ % 1: 30, DQ % 2: 3, WQ % 3: 8}
    assert res['dropped'] == 41
    work, delay = llens(env)
    assert work == {'0': 4, '1': 0, '2': 5, '3': 0, '4': 0, '5': 0, '6': 0, '7': 0, '8': 0, '9': 0}
    assert delay['1'] == 2 and delay['2'] == 0
    again = run_module('func_queue', base(state='cleared', queues=['1', 'delayQueue@2', WQ % 3]))
    assert again['changed'] is False and again['dropped'] == 0, again


def test_clear_all(env):
    fill(env, {0: 1, 5: 2, 9: 3}, {4: 2})
    res = run_module('func_queue', base(state='cleared', queues=['all'], include_delayed=True))
    assert res['changed'] is True and res['dropped'] == 8, res
    work, delay = llens(env)
    assert set(work.values()) == {0} and set(delay.values()) == {0}


def test_queue_playbook_reports_asserts_and_clears(env):
    fill(env, {2: 4}, {})
    queue_yml = os.path.join(REPO, 'playbooks', 'queue.yml')
    common = {'func_install_dir': INSTALL_DIR, 'func_stack_name': STACK}
    ok = run_playbook(queue_yml, dict(common, func_queue_max_length=4))
    assert ok.rc == 0 and ok.changed() == 0, ok.stdout[-3000:]
    over = run_playbook(queue_yml, dict(common, func_queue_max_length=3))
    assert over.rc != 0 and 'workerQueue@2' in over.stdout, over.stdout[-3000:]
    cleared = run_playbook(queue_yml, dict(common, func_queue_state='cleared', func_queue_queues=['2']))
    assert cleared.rc == 0 and cleared.changed() == 1, cleared.stdout[-3000:]
    assert llens(env)[0]['2'] == 0


def push_real(env, queue, name, count):
    """Task requests in the real product's format (worker/tasks/__init__.py create_task_request) for its own example
    tasks (worker/tasks/example.py: Example.ExampleSuccess returns at once, Example.ExampleTimeout sleeps 30 s and
    is killed at its 15 s timeout)."""
    now = int(time.time())
    items = ' '.join("'%s'" % json.dumps({'name': name, 'id': 'task-real-%d-%d' % (queue, n), 'kwargs': {},
                                         'triggerTime': now, 'queue': queue, 'ignoreResult': True})
                     for n in range(count))
    env.exec('redis', ['redis-cli', '-n', '5'], input='RPUSH "%s" %s\n' % (WQ % queue, items))


def test_real_workers_consume_and_a_clear_while_they_run_loses_nothing_else(env):
    # the workers come back (func_stack puts the stack file's replicas back) and consume real tasks
    fill(env, {}, {})
    res = run_module('func_stack', base())
    assert not res.get('failed') and res['changed'] is True, res

    def workers():
        return docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=%s_worker' % STACK).stdout.split()
    wait_for(workers, 120, what='workers of %s' % STACK)
    wait_for(lambda: 'workerQueue:1:' in env.redis('HKEYS', 'DataFluxFunc-monitor#heartbeat@workerOnQueue'), 120,
             what='a worker listening on queue 1')
    push_real(env, 1, 'Example.ExampleSuccess', 20)
    wait_for(lambda: llens(env)[0]['1'] == 0, 120, what='the real workers to consume queue 1')

    # a backlog the running workers cannot finish soon, next to everything a clear must not touch
    assert env.sign_in_ok() is True
    sessions = env.redis('HLEN', 'DataFluxFunc-server#token@xAuthToken')
    env.redis('ZADD', DQ % 1, FAR_FUTURE, 'delayed-keep')
    push_real(env, 1, 'Example.ExampleTimeout', 40)
    push_real(env, 2, 'Example.ExampleTimeout', 40)
    before_other = llens(env)[0]['2']
    res = run_module('func_queue', base(state='cleared', queues=['1']))
    assert res['changed'] is True and 0 < res['cleared'][WQ % 1] <= 40, res
    work, delay = llens(env)
    assert work['1'] == 0
    assert 0 < before_other - 10 <= work['2'] <= before_other  # only the busy workers took a few from queue 2
    assert delay['1'] == 1 and env.redis('ZSCORE', DQ % 1, 'delayed-keep') == str(FAR_FUTURE)
    assert env.redis('HLEN', 'DataFluxFunc-server#token@xAuthToken') == sessions != '0'
    assert env.redis('HLEN', 'DataFluxFunc-monitor#heartbeat@serviceInfo') not in ('', '0')
    assert env.sign_in_ok() is True
    # back to the module fixture's state: no consumers and no beat, so the other tests' items stay put
    stop_consumers_and_producers()
    fill(env, {}, {})


@pytest.mark.parametrize('queues, message', [
    (['10'], 'Queue index 10'),
    (['-1'], 'Queue index -1'),
    (['workerQueue@12'], 'Queue index 12'),
    (['1', 'cron'], "Unknown queue 'cron'"),
    (['OtherApp-worker#workerQueue@1'], 'Unknown queue'),
])
def test_bad_queue_names_are_rejected_and_nothing_changes(env, queues, message):
    fill(env, {1: 5}, {})
    res = run_module('func_queue', base(state='cleared', queues=queues))
    assert res.get('failed') and message in res['msg'], res
    assert llens(env)[0]['1'] == 5


@pytest.fixture(scope='module')
def ops_redis(ext_redis):
    return ext_redis('/tmp/dfft/ops-redis', 16379, password='dfft "ops" pw')


def test_direct_transport_with_password(ops_redis):
    client = ops_redis.client(5)
    client.delete(*([WQ % i for i in range(10)] + [DQ % i for i in range(10)]))
    client.rpush(WQ % 4, *['x'] * 25)
    client.zadd(DQ % 4, {'a': 1, 'b': 2})
    client7 = ops_redis.client(7)
    client7.rpush(WQ % 4, 'other-db')
    args = base(install_dir='/tmp/dfft/ops-none', **ops_redis.params())
    res = run_module('func_queue', args)
    assert not res.get('failed'), res
    assert res['work_queues']['4'] == 25 and res['delay_queues']['4'] == 2 and res['round_trips'] == 1
    assert res['redis']['transport'] == 'direct'
    assert ops_redis.password not in json.dumps(res)
    res = run_module('func_queue', dict(args, state='cleared', queues=['4'], include_delayed=True))
    assert res['changed'] and res['dropped'] == 27, res
    assert client.llen(WQ % 4) == 0 and client.zcard(DQ % 4) == 0
    assert client7.llen(WQ % 4) == 1


def test_direct_transport_wrong_password(ops_redis):
    args = base(install_dir='/tmp/dfft/ops-none', **dict(ops_redis.params(), redis_password='not-it'))
    res = run_module('func_queue', args)
    assert res.get('failed') and 'refused the credentials' in res['msg'] and '127.0.0.1:16379' in res['msg'], res
    args = base(install_dir='/tmp/dfft/ops-none', **dict(ops_redis.params(), redis_port=16399))
    res = run_module('func_queue', args)
    assert res.get('failed') and 'Cannot connect to Redis at 127.0.0.1:16399' in res['msg'], res


def test_cluster_mode_is_explained(ext_redis):
    server = ext_redis('/tmp/dfft/ops-redis-cluster', 16380, cluster=True)
    res = run_module('func_queue', base(install_dir='/tmp/dfft/ops-none', **server.params()))
    assert res.get('failed') and 'cluster mode' in res['msg'], res
