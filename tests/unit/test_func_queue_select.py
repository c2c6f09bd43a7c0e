"""Queue selection of func_queue: which (kind, index) pairs a `queues` list means for the installation's effective
_WORKER_QUEUE_COUNT, which keys those are, and which length commands reach Redis for them (a small in-memory Redis
stands in for the server: it answers TYPE, LLEN and ZCARD as Redis does, WRONGTYPE included)."""
import pytest

from ansible_collections.dataflux.func.plugins.module_utils import _func_app as app
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_redis import RedisReplyError
from ansible_collections.dataflux.func.plugins.modules import func_queue as q

W, D = app.WORK, app.DELAY
APP = 'DataFluxFunc'


def select(specs, delayed=False, count=10):
    return q.select_queues(APP, specs, delayed, count)


def refused(specs, count=10):
    with pytest.raises(FuncError) as exc:
        select(specs, count=count)
    return exc.value.msg


def test_all_is_every_work_queue_in_order():
    assert select(['all']) == [(W, i) for i in range(10)]
    assert select(['ALL'], delayed=True) == [pair for i in range(10) for pair in ((W, i), (D, i))]


@pytest.mark.parametrize('count', [1, 4, 12, 20])
def test_all_follows_the_queue_count(count):
    assert select([' All '], count=count) == [(W, i) for i in range(count)]
    keys = [app.queue_key(APP, kind, i) for kind, i in select(['all'], True, count)]
    assert sorted(keys) == sorted(app.queue_keys(APP, count))


def test_numbers_names_and_full_keys_mean_the_same_queue_once():
    specs = [' 3 ', 3, '03', 'workerQueue@3', '%s-worker#workerQueue@3' % APP]
    assert select(specs) == [(W, 3)]
    assert select(specs, delayed=True) == [(W, 3), (D, 3)]
    # a name is exact: the delayed flag adds the delay queue only to bare indexes and "all"
    assert select(['workerQueue@5'], delayed=True) == [(W, 5)]
    assert select(['delayQueue@5', 'workerQueue@5']) == [(D, 5), (W, 5)]
    assert select(['9', '0', 'all']) == [(W, 9), (W, 0)] + [(W, i) for i in range(1, 9)]


def test_an_other_app_name_is_the_prefix():
    assert q.select_queues('Other', ['Other-worker#delayQueue@2'], False, 10) == [(D, 2)]
    assert 'full key Other-worker#workerQueue@N' in str(pytest.raises(FuncError, q.select_queues, 'Other',
                                                                      ['DataFluxFunc-worker#workerQueue@2'], False,
                                                                      10).value.msg)


@pytest.mark.parametrize('spec, count, words', [
    ('10', 10, ["Queue index 10 in '10' is out of range", 'queues 0-9', '(_WORKER_QUEUE_COUNT 10)']),
    ('-1', 10, ["Queue index -1 in '-1'", 'queues 0-9']),
    ('4', 4, ['queues 0-3', '(_WORKER_QUEUE_COUNT 4)']),
    ('workerQueue@12', 12, ["in 'workerQueue@12'", 'queues 0-11']),
    ('delayQueue@x', 10, ["Unknown queue 'delayQueue@x'", 'delayQueue@N (N = 0-9)']),
    ('1.0', 10, ["Unknown queue '1.0'"]),
    ('queue-1', 10, ["Unknown queue 'queue-1'", 'workerQueue@N']),
    ('', 10, ["Unknown queue ''"]),
])
def test_unknown_or_out_of_range_is_refused_naming_the_range(spec, count, words):
    msg = refused([spec], count)
    assert all(w in msg for w in words), msg


def test_one_bad_spec_refuses_the_whole_list():
    assert "Unknown queue 'nope'" in refused(['all', 1, 'nope'])


class MemoryRedis(object):
    """TYPE / LLEN / ZCARD over {key: list | dict(member: score)}; records every pipeline it receives."""

    def __init__(self, data):
        self.data = data
        self.pipelines = []
        self.calls = []

    def _type(self, key):
        value = self.data.get(key)
        return 'none' if value is None else 'list' if isinstance(value, list) else 'zset'

    def _one(self, cmd):
        name, key = cmd[0], cmd[1]
        kind = self._type(key)
        if name == 'TYPE':
            return kind
        want = {'LLEN': 'list', 'ZCARD': 'zset'}[name]
        if kind not in ('none', want):
            return RedisReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')
        return len(self.data.get(key) or ())

    def pipeline(self, cmds, raise_on_error=True):
        self.pipelines.append([list(c) for c in cmds])
        return [self._one(c) for c in cmds]

    def call(self, *cmd):
        self.calls.append(list(cmd))
        return self._one(cmd)

    def error(self, cmd, reply):
        return FuncError('%s: %s' % (cmd[0], reply.message))


def key(kind, index, name=APP):
    return app.queue_key(name, kind, index)


def test_report_reads_every_queue_of_the_count_in_one_round_trip():
    redis = MemoryRedis({key(W, 0): ['a', 'b'], key(W, 11): ['c'], key(D, 11): {'x': 1.0, 'y': 2.0},
                         key(W, 12): ['beyond the count']})
    lengths = q.read_all_lengths(redis, APP, 12)
    assert len(redis.pipelines) == 1
    assert redis.pipelines[0] == ([['LLEN', key(W, i)] for i in range(12)] +
                                  [['ZCARD', key(D, i)] for i in range(12)])
    want = {(kind, i): 0 for kind in (W, D) for i in range(12)}
    want.update({(W, 0): 2, (W, 11): 1, (D, 11): 2})
    assert lengths == want


def test_report_of_a_list_delay_queue_asks_its_type_once_more():
    # older releases kept delayed tasks in a list: ZCARD answers WRONGTYPE, a second round trip reads it as a list
    redis = MemoryRedis({key(D, 2): ['t1', 't2', 't3']})
    lengths = q.read_all_lengths(redis, APP, 4)
    assert lengths[(D, 2)] == 3 and sum(lengths.values()) == 3
    assert len(redis.pipelines) == 2
    assert redis.pipelines[1] == [['TYPE', key(D, 2)], ['ZCARD', key(D, 2)]]
    assert redis.calls == [['LLEN', key(D, 2)]]


def test_plan_of_the_selected_queues():
    redis = MemoryRedis({key(W, 3): ['a'], key(D, 3): {'m': 5.0}})
    plan = q.plan_lengths(redis, APP, select(['3', 'workerQueue@4'], delayed=True))
    assert redis.pipelines == [[['TYPE', key(W, 3)], ['LLEN', key(W, 3)], ['TYPE', key(D, 3)], ['ZCARD', key(D, 3)],
                                ['TYPE', key(W, 4)], ['LLEN', key(W, 4)]]]
    assert plan == {(W, 3): ('list', 1), (D, 3): ('zset', 1), (W, 4): ('none', 0)}


def test_plan_refuses_a_key_that_is_not_a_queue():
    redis = MemoryRedis({})
    redis._type = lambda k: 'hash' if k == key(W, 1) else 'none'
    with pytest.raises(FuncError) as exc:
        q.plan_lengths(redis, APP, [(W, 0), (W, 1)])
    assert 'Redis key %s is a hash, not a queue' % key(W, 1) in exc.value.msg
