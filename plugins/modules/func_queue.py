#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_queue
short_description: Report or clear the task queues of a DataFlux Func installation
version_added: 0.1.0
description:
  - Reads the lengths of the work queues C(<APP_NAME>-worker#workerQueue@0..9) (Redis lists) and the delayed
    queues C(<APP_NAME>-worker#delayQueue@0..9) (sorted sets) in one round trip, optionally failing when a queue
    is longer than O(max_length), for monitoring from CI or cron. The number of queues is the installation's
    effective C(_WORKER_QUEUE_COUNT) (10 unless changed).
  - Clears chosen queues, which the maintenance guide (section 13.1) does with C(LTRIM <queue> -1 0).
    This module uses C(UNLINK) instead, which gives the same result (the key is gone, the queue is empty)
    but frees the items in a Redis background thread, so other clients are not stalled while a long queue is
    freed (C(LTRIM) and C(DEL) free synchronously, about 5 ms per million items). The item counts and the
    C(UNLINK) run in one C(MULTI)/C(EXEC) block, so the reported count is exactly what was dropped.
  - The Redis connection comes from the installation's effective configuration (C(REDIS_HOST), C(REDIS_PORT),
    C(REDIS_DATABASE), default 5, C(REDIS_PASSWORD), C(REDIS_USE_TLS)); the built-in Redis is reached through
    its container, an external one directly. Every connection option can also be given explicitly.
  - C(APP_NAME), the key prefix, also comes from the effective configuration (default C(DataFluxFunc)).
author:
  - dataflux.func maintainers (@dataflux)
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
  - dataflux.func.redis
options:
  state:
    description:
      - V(reported) reports the length of every work and delayed queue and changes nothing (a state named
        C(info) is reserved for info modules by Ansible's conventions).
      - V(cleared) empties the queues named in O(queues). In check mode it reports how many items would be
        dropped.
    type: str
    choices: [reported, cleared]
    default: reported
  queues:
    description:
      - Which queues to clear (O(state=cleared), required) or to check against O(max_length)
        (O(state=reported), default all work queues).
      - Each element is a queue index V(0) to V(9) (up to C(_WORKER_QUEUE_COUNT) - 1; the work queue, plus the
        delayed queue of that index when
        O(include_delayed) is set), V(all) (every index), or a queue name C(workerQueue@N) / C(delayQueue@N),
        also accepted as the full key C(<APP_NAME>-worker#workerQueue@N).
      - Indexes outside 0 to C(_WORKER_QUEUE_COUNT) - 1 and any other name are rejected before Redis is touched.
    type: list
    elements: str
  include_delayed:
    description:
      - With a queue index or V(all) in O(queues), also select the delayed queue C(delayQueue@N) of that index.
    type: bool
    default: false
  max_length:
    description:
      - With O(state=reported), fail when one of the selected queues holds more than this many items. The result
        still carries every length and RV(over_limit).
    type: int
  app_name:
    description:
      - Key prefix. Default is C(APP_NAME) of the effective configuration (C(DataFluxFunc)).
    type: str
attributes:
  check_mode:
    support: full
    details: With O(state=cleared), reports in RV(dropped) how many items would be dropped and the same
      C(changed) as a real run, without changing anything.
  diff_mode:
    support: full
    details: With O(state=cleared), the queue lengths before and after.
  idempotent:
    support: full
    details: Clearing queues that are already empty reports no change.
notes:
  - The container transport runs all commands through one C(redis-cli) process per round trip; the direct
    transport pipelines them over one connection.
  - The delayed queues are sorted sets; their length is C(ZCARD).
seealso:
  - module: dataflux.func.func_admin
    description: O(dataflux.func.func_admin#module:action=clear_redis) empties the whole Redis database.
  - module: dataflux.func.func_info
'''

EXAMPLES = r'''
- name: Queue lengths of the installation in /usr/local/dataflux-func
  dataflux.func.func_queue:
    state: reported
  register: queues

- name: Fail (for cron / CI monitoring) when a work queue holds more than 10000 tasks
  dataflux.func.func_queue:
    state: reported
    max_length: 10000

- name: Drop everything waiting in work queue 1 (user functions)
  dataflux.func.func_queue:
    state: cleared
    queues: ['1']

- name: Empty every work queue and every delayed queue
  dataflux.func.func_queue:
    state: cleared
    queues: [all]
    include_delayed: true

- name: Clear the delayed queue of cron jobs on an external Redis, password from the vault
  dataflux.func.func_queue:
    state: cleared
    queues: ['delayQueue@2']
    redis_transport: direct
    redis_host: redis.internal.example.com
    redis_password: "{{ vault_func_redis_password }}"
'''

RETURN = r'''
work_queues:
  description: Length of each work queue, by queue index (O(state=reported)).
  returned: when O(state=reported)
  type: dict
  sample: {"0": 0, "1": 12, "2": 0, "3": 0, "4": 0, "5": 0, "6": 0, "7": 0, "8": 0, "9": 0}
delay_queues:
  description: Number of items in each delayed queue, by queue index (O(state=reported)).
  returned: when O(state=reported)
  type: dict
  sample: {"0": 0, "1": 0, "2": 3, "3": 0, "4": 0, "5": 0, "6": 0, "7": 0, "8": 0, "9": 0}
lengths:
  description: Length of every queue key read (O(state=reported)) or selected (O(state=cleared)), by key name.
  returned: always
  type: dict
  sample: {"DataFluxFunc-worker#workerQueue@1": 12}
over_limit:
  description: The selected queues longer than O(max_length), each with C(key) and C(length).
  returned: when O(max_length) is given
  type: list
  elements: dict
cleared:
  description: Items dropped (or, in check mode, that would be dropped) by key name.
  returned: when O(state=cleared)
  type: dict
  sample: {"DataFluxFunc-worker#workerQueue@1": 12}
dropped:
  description: Total number of items dropped (or that would be dropped in check mode).
  returned: when O(state=cleared)
  type: int
  sample: 12
method:
  description: The Redis command used to empty the queues.
  returned: when O(state=cleared)
  type: str
  sample: UNLINK
app_name:
  description: The key prefix used.
  returned: always
  type: str
  sample: DataFluxFunc
redis:
  description: Where Redis was reached (C(transport), C(host) or C(service), C(port), C(database), C(tls)).
  returned: always
  type: dict
round_trips:
  description: Round trips to Redis (pipelines or C(redis-cli) processes) the module needed.
  returned: always
  type: int
  sample: 1
commands:
  description: What was run to reach Redis (no secrets).
  returned: always
  type: list
  elements: str
'''

import re

from ansible_collections.dataflux.func.plugins.module_utils._func_app import (
    DELAY, QUEUE_COUNT, WORK, app_name as product_app_name, queue_count, queue_key)
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule
from ansible_collections.dataflux.func.plugins.module_utils._func_redis import (
    RedisReplyError)

LENGTH_COMMAND = {'list': 'LLEN', 'zset': 'ZCARD'}


def _index(text, original, count=QUEUE_COUNT):
    if not re.match(r'^-?\d+$', text):
        raise FuncError('Unknown queue %r. Use a queue index 0-%d, "all", or a queue name workerQueue@N / '
                        'delayQueue@N (N = 0-%d).' % (original, count - 1, count - 1), queue=original)
    index = int(text)
    if not 0 <= index < count:
        raise FuncError('Queue index %d in %r is out of range: this DataFlux Func has queues 0-%d '
                        '(_WORKER_QUEUE_COUNT %d).' % (index, original, count - 1, count), queue=original)
    return index


def select_queues(app_name, specs, include_delayed, count=QUEUE_COUNT):
    """Queue specs -> ordered list of (kind, index). Raises FuncError for any unknown name or bad index."""
    selected = []

    def add(kind, index):
        if (kind, index) not in selected:
            selected.append((kind, index))

    prefix = '%s-worker#' % app_name
    for spec in specs:
        original = spec
        text = str(spec).strip()
        if text.lower() == 'all':
            indexes = list(range(count))
        elif re.match(r'^-?\d+$', text):
            indexes = [_index(text, original, count)]
        else:
            name = text[len(prefix):] if text.startswith(prefix) else text
            match = re.match(r'^(%s|%s)@(.+)$' % (WORK, DELAY), name)
            if not match:
                raise FuncError('Unknown queue %r. Use a queue index 0-%d, "all", or a queue name workerQueue@N / '
                                'delayQueue@N (N = 0-%d), optionally as the full key %sworkerQueue@N.'
                                % (original, count - 1, count - 1, prefix), queue=original)
            add(match.group(1), _index(match.group(2), original, count))
            continue
        for index in indexes:
            add(WORK, index)
            if include_delayed:
                add(DELAY, index)
    return selected


def read_all_lengths(client, app_name, count=QUEUE_COUNT):
    """Lengths of every work and delayed queue in one pipeline (a second one only when a key has an unexpected
    type)."""
    keys = [(WORK, i) for i in range(count)] + [(DELAY, i) for i in range(count)]
    cmds = [['LLEN' if kind == WORK else 'ZCARD', queue_key(app_name, kind, i)] for kind, i in keys]
    replies = client.pipeline(cmds, raise_on_error=False)
    odd = [n for n, reply in enumerate(replies) if isinstance(reply, RedisReplyError)]
    for n in odd:
        if replies[n].code != 'WRONGTYPE':
            raise client.error(cmds[n], replies[n])
    if odd:
        fixed = plan_lengths(client, app_name, [keys[n] for n in odd])
        for n in odd:
            replies[n] = fixed[keys[n]][1]
    return {key: int(reply) for key, reply in zip(keys, replies)}


def plan_lengths(client, app_name, selected):
    """{(kind, index): (redis type, length)} for the selected queues, in one round trip (TYPE + length)."""
    cmds = []
    for kind, index in selected:
        key = queue_key(app_name, kind, index)
        cmds.append(['TYPE', key])
        cmds.append(['LLEN' if kind == WORK else 'ZCARD', key])
    replies = client.pipeline(cmds, raise_on_error=False)
    out = {}
    for n, (kind, index) in enumerate(selected):
        rtype, length = replies[2 * n], replies[2 * n + 1]
        if isinstance(rtype, RedisReplyError):
            raise client.error(cmds[2 * n], rtype)
        key = queue_key(app_name, kind, index)
        if rtype == 'none':
            out[(kind, index)] = (rtype, 0)
        elif rtype in LENGTH_COMMAND:
            if isinstance(length, RedisReplyError):
                # The key's type is not the usual one (e.g. a list-based delayed queue of an older release).
                length = client.call(LENGTH_COMMAND[rtype], key)
            out[(kind, index)] = (rtype, int(length))
        else:
            raise FuncError('Redis key %s is a %s, not a queue (list or sorted set). Refusing to touch it; check '
                            'app_name / APP_NAME and redis_database.' % (key, rtype), key=key, type=rtype)
    return out


def clear(client, app_name, plan):
    """MULTI; <length of every non-empty queue>; UNLINK them; EXEC. Returns ({key: dropped}, method)."""
    todo = [(sel, rtype) for sel, (rtype, length) in plan.items() if rtype != 'none']
    if not todo:
        return {}, 'UNLINK'
    keys = [queue_key(app_name, kind, index) for (kind, index), _rtype in todo]
    for method in ('UNLINK', 'DEL'):
        cmds = [['MULTI']] + [[LENGTH_COMMAND[rtype], key] for (_sel, rtype), key in zip(todo, keys)]
        cmds += [[method] + keys, ['EXEC']]
        replies = client.pipeline(cmds, raise_on_error=False)
        queued = replies[1:-1]
        if method == 'UNLINK' and isinstance(queued[-1], RedisReplyError) and 'unknown command' in \
                queued[-1].message.lower():
            continue   # Redis < 4: no UNLINK; the transaction was discarded, nothing changed.
        for cmd, reply in zip(cmds, replies):
            if isinstance(reply, RedisReplyError):
                raise client.error(cmd, reply)
        result = replies[-1]
        if not isinstance(result, list) or len(result) != len(keys) + 1:
            raise FuncError('Unexpected reply to EXEC while clearing queues: %r' % (result,))
        for cmd, reply in zip(cmds[1:-1], result):
            if isinstance(reply, RedisReplyError):
                raise client.error(cmd, reply)
        return {key: int(count) for key, count in zip(keys, result[:-1])}, method
    raise FuncError('Redis refused both UNLINK and DEL')   # pragma: no cover


def run(ctx):
    params = ctx.params
    config = ctx.config()
    app_name = params['app_name'] or product_app_name(config)
    count = queue_count(config)
    state = params['state']
    if state == 'cleared' and not params['queues']:
        raise FuncError('state=cleared needs queues: a list of queue indexes 0-%d, "all", or queue names'
                        % (count - 1))
    if params['max_length'] is not None and params['max_length'] < 0:
        raise FuncError('max_length must be 0 or more, not %d' % params['max_length'])
    # Validate every queue name before touching Redis.
    selected = select_queues(app_name, params['queues'] or ['all'], params['include_delayed'], count)
    client = ctx.redis()
    result = dict(changed=False, app_name=app_name)
    try:
        if state == 'reported':
            lengths = read_all_lengths(client, app_name, count)
            result['work_queues'] = {str(i): lengths[(WORK, i)] for i in range(count)}
            result['delay_queues'] = {str(i): lengths[(DELAY, i)] for i in range(count)}
            result['lengths'] = {queue_key(app_name, k, i): n for (k, i), n in lengths.items()}
            if params['max_length'] is not None:
                over = [{'key': queue_key(app_name, k, i), 'length': lengths[(k, i)]} for k, i in selected
                        if lengths[(k, i)] > params['max_length']]
                result['over_limit'] = over
        else:
            plan = plan_lengths(client, app_name, selected)
            before = {queue_key(app_name, k, i): n for (k, i), (_t, n) in plan.items()}
            result['lengths'] = before
            if ctx.check_mode:
                cleared = {key: n for key, n in before.items() if n}
                method = 'UNLINK'
            else:
                cleared, method = clear(client, app_name, plan)
                cleared = {key: n for key, n in cleared.items() if n}
            result.update(cleared=cleared, dropped=sum(cleared.values()), method=method,
                          changed=bool(cleared))
            if ctx.module._diff:
                result['diff'] = {'before': before, 'after': {key: 0 for key in before}}
    finally:
        client.close()
    result.update(redis=client.describe(), round_trips=client.round_trips,
                  commands=list(client.commands))
    if result.get('over_limit'):
        worst = max(result['over_limit'], key=lambda r: r['length'])
        result['msg'] = ('%d queue(s) longer than max_length %d; the longest is %s with %d items'
                         % (len(result['over_limit']), params['max_length'], worst['key'], worst['length']))
        result['failed'] = True
    return result


def main():
    FuncModule(dict(
        state=dict(type='str', default='reported', choices=['reported', 'cleared']),
        queues=dict(type='list', elements='str'),
        include_delayed=dict(type='bool', default=False),
        max_length=dict(type='int'),
        app_name=dict(type='str'),
    ), redis=True, required_if=[('state', 'cleared', ['queues'])]).run(run)


if __name__ == '__main__':
    main()
