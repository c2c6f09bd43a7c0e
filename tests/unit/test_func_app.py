"""The product room (_func_app): DataFlux Func's own key names and value rules, used by func_queue, func_info,
func_migrate and the config readers alike."""
import pytest

from ansible_collections.dataflux.func.plugins.module_utils import _func_app as app
from ansible_collections.dataflux.func.plugins.module_utils import _func_install, _func_redis
from ansible_collections.dataflux.func.plugins.modules import func_queue


@pytest.mark.parametrize('value, expected', [
    (True, True), (False, False), ('true', True), ('TRUE', True), (' on ', True), ('o', True), ('ok', True),
    ('y', True), ('yes', True), ('1', True), ('false', False), ('0', False), ('off', False), ('', False),
    ('2', False), (2, True), (0, False), (-1, False), (0.5, True), (None, False), ([], False),
])
def test_to_boolean_reads_values_as_the_product_does(value, expected):
    # worker/utils/toolkit.py to_boolean: bools as they are, numbers > 0, the listed strings; else None (false)
    assert app.to_boolean(value) is expected


def test_one_boolean_rule_everywhere():
    assert _func_install.to_boolean is app.to_boolean
    assert _func_redis.to_boolean is app.to_boolean
    assert _func_install.convert_like(False, 'yes') is True and _func_install.convert_like(True, 'off') is False


@pytest.mark.parametrize('config, count', [
    ({}, 10), (None, 10), ({'_WORKER_QUEUE_COUNT': 12}, 12), ({'_WORKER_QUEUE_COUNT': '4'}, 4),
    ({'_WORKER_QUEUE_COUNT': 0}, 10), ({'_WORKER_QUEUE_COUNT': 'many'}, 10), ({'_WORKER_QUEUE_COUNT': -3}, 10),
])
def test_queue_count_is_the_effective_worker_queue_count(config, count):
    assert app.queue_count(config) == count


def test_key_names():
    assert app.app_name({}) == 'DataFluxFunc' and app.app_name({'APP_NAME': 'Other'}) == 'Other'
    assert app.queue_key('DataFluxFunc', app.WORK, 3) == 'DataFluxFunc-worker#workerQueue@3'
    keys = app.queue_keys('A', 3)
    assert keys == ['A-worker#workerQueue@0', 'A-worker#workerQueue@1', 'A-worker#workerQueue@2',
                    'A-worker#delayQueue@0', 'A-worker#delayQueue@1', 'A-worker#delayQueue@2']
    assert app.session_key('A') == 'A-server#token@xAuthToken'
    assert app.carried_keys('A', 3) == keys + ['A-server#token@xAuthToken']
    assert len(app.carried_keys('A')) == 21


def test_func_queue_follows_the_queue_count():
    assert func_queue.select_queues('A', ['all'], False, 12)[-1] == (app.WORK, 11)
    assert func_queue.select_queues('A', ['11'], True, 12) == [(app.WORK, 11), (app.DELAY, 11)]
    with pytest.raises(Exception) as exc:
        func_queue.select_queues('A', ['10'], False, 10)
    assert 'Queue index 10' in str(exc.value.msg) and '0-9' in str(exc.value.msg)
    with pytest.raises(Exception) as exc:
        func_queue.select_queues('A', ['workerQueue@4'], False, 4)
    assert 'queues 0-3' in str(exc.value.msg)
