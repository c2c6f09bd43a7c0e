#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_migrate
short_description: Steps of moving DataFlux Func from its built-in MySQL and Redis to external servers
version_added: 0.1.0
description:
  - The individual steps the C(dataflux.func.migrate_db) role runs (maintenance guide section 10). Preflight is
    M(dataflux.func.func_migrate_check); dump and import are M(dataflux.func.func_backup); the configuration
    switch is M(dataflux.func.func_config); the deploy is M(dataflux.func.func_stack).
  - V(stop_services) scales every DataFlux Func service (all services of the stack except the built-in MySQL
    and Redis) to 0 replicas, so nothing writes while the data is copied, and waits until their containers
    stopped. The built-in MySQL and Redis keep running.
  - V(verify_data) compares the exact row count of every table of the built-in database with the target
    database, and C(UPGRADE_DB_SEQ) and C(DATAFLUX_FUNC_ID).
  - V(transfer_queues) copies the items of the work queues C(<APP_NAME>-worker#workerQueue@0..9) (lists, same
    order; the oldest item is still taken first) and of the delayed queues C(...#delayQueue@0..9) (sorted sets,
    same scores), and the signed-in sessions (the hash C(<APP_NAME>-server#token@xAuthToken); the tokens are
    signed with C(SECRET), which the migration keeps, so nobody has to sign in again), from the built-in Redis to
    the target Redis in one C(MULTI)/C(EXEC). These keys must not exist on the target; the source is not
    modified.
  - V(untransfer_queues) deletes the target queue keys listed in O(keys) (the roll-back of V(transfer_queues)).
  - V(remove_builtin) removes the built-in MySQL and Redis services (and C(depends_on) references to them) from
    the stack file, keeping everything else (comments too, where a line edit parses to the expected result).
  - V(verify_target) reads C(UPGRADE_DB_SEQ) and C(DATAFLUX_FUNC_ID) from the target database and fails when
    they differ from O(expect).
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.migrate_target
  - dataflux.func.attributes
  - dataflux.func.install
options:
  action:
    description: The step to run (see the description).
    type: str
    required: true
    choices: [stop_services, verify_data, transfer_queues, untransfer_queues, remove_builtin, verify_target]
  keys:
    description: Target Redis keys to delete with O(action=untransfer_queues).
    type: list
    elements: str
    default: []
  expect:
    description: Expected C(upgrade_seq) and C(func_id) for O(action=verify_target).
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for the containers to stop with O(action=stop_services).
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details: Reports what would change (services to stop, queue items to copy, services to remove) and changes
      nothing.
  diff_mode:
    support: partial
    details: O(action=remove_builtin) returns the stack file before and after.
  idempotent:
    support: partial
    details: V(transfer_queues) is not; the role runs it only in the run that switches the configuration.
'''

EXAMPLES = r'''
- name: Stop the DataFlux Func services (MySQL and Redis keep running)
  dataflux.func.func_migrate:
    action: stop_services
    mysql_host: 10.0.0.5
    mysql_user: func
    redis_host: 10.0.0.6
'''

RETURN = r'''
stopped:
  description: Services scaled to 0 and their previous replicas.
  returned: action is stop_services
  type: dict
row_counts:
  description: Rows per table (source and target are equal when the step succeeds).
  returned: action is verify_data
  type: dict
moved:
  description: Items copied per target queue key.
  returned: action is transfer_queues
  type: dict
written_keys:
  description: Target keys written (to pass to O(action=untransfer_queues) on roll-back).
  returned: action is transfer_queues
  type: list
  elements: str
removed:
  description: Services removed from the stack file.
  returned: action is remove_builtin
  type: list
  elements: str
upgrade_seq:
  description: C(UPGRADE_DB_SEQ) read from the target database.
  returned: action is verify_target or verify_data
  type: int
'''

import os

from ansible_collections.dataflux.func.plugins.module_utils._func_app import (
    app_name as product_app_name, carried_keys, queue_count, read_system_settings)
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError, atomic_write
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule
from ansible_collections.dataflux.func.plugins.module_utils._func_migrate import (
    read_queues, stack_without_builtin, target_argument_spec, target_mysql, target_redis,
    write_queues)


def settings(client):
    found = read_system_settings(client)
    return {'upgrade_seq': found['upgrade_seq'], 'func_id': found['func_id']}


def stop_services(ctx):
    builtin = ctx.params['builtin_services']
    rows = ctx.docker.stack_status(ctx.installation.stack_name)
    if not rows:
        raise FuncError('Stack %s is not running; nothing to stop.' % ctx.installation.stack_name)
    func = [r for r in rows if r['short_name'] not in builtin and r['mode'] != 'global']
    running = {r['name']: r['desired'] for r in func if r['desired']}
    result = {'stopped': running, 'changed': bool(running)}
    if ctx.check_mode:
        return result
    if running:
        ctx.docker.run('service', 'scale', '--detach', *['%s=0' % name for name in sorted(running)])
    names = [r['name'] for r in func]
    result['waited'] = round(ctx.docker.wait_services_gone(names, ctx.params['timeout'], running_only=True), 1)
    return result


def verify_data(ctx):
    source = ctx.mysql({'mysql_transport': 'auto'})
    target = target_mysql(ctx.params, docker=ctx.docker)
    src_tables = {n for n, t in source.tables().items() if t != 'VIEW'}
    dst_tables = {n for n, t in target.tables().items() if t != 'VIEW'}
    problems = []
    if src_tables != dst_tables:
        problems.append('tables differ: missing on the target %s, extra on the target %s'
                        % (sorted(src_tables - dst_tables), sorted(dst_tables - src_tables)))
    common = sorted(src_tables & dst_tables)
    src_counts = source.row_counts(common)
    dst_counts = target.row_counts(common)
    for table in common:
        if src_counts.get(table) != dst_counts.get(table):
            problems.append('table %s: %s rows in the built-in database, %s on the target'
                            % (table, src_counts.get(table), dst_counts.get(table)))
    src_set, dst_set = settings(source), settings(target)
    if src_set != dst_set:
        problems.append('system settings differ: built-in %s, target %s' % (src_set, dst_set))
    if problems:
        raise FuncError('The target database does not match the built-in one: %s' % '; '.join(problems),
                        problems=problems)
    return {'changed': False, 'row_counts': src_counts, 'tables': len(common), 'rows': sum(src_counts.values()),
            'upgrade_seq': dst_set['upgrade_seq'], 'func_id': dst_set['func_id']}


def transfer_queues(ctx):
    config = ctx.installation.effective_config('server')
    app_name, count = product_app_name(config), queue_count(config)
    source = ctx.redis({'redis_transport': 'auto'})
    target = target_redis(ctx.params)
    try:
        queues = read_queues(source, app_name, count)
        keys = carried_keys(app_name, count)
        busy = [k for k, n in zip(keys, target.pipeline([['EXISTS', k] for k in keys])) if int(n or 0)]
        if busy:
            raise FuncError('The target Redis database already holds %s; refusing to mix them with the '
                            'carried-over items. Nothing was written.' % ', '.join(busy), keys=busy)
        moved = {k: len(items) for k, (_kind, items) in queues.items()}
        if not ctx.check_mode:
            moved = write_queues(target, queues)
    finally:
        source.close()
        target.close()
    return {'changed': bool(moved), 'moved': moved, 'written_keys': sorted(moved), 'total': sum(moved.values()),
            'app_name': app_name}


def untransfer_queues(ctx):
    keys = list(ctx.params['keys'] or [])
    if not keys:
        return {'changed': False, 'deleted': 0}
    target = target_redis(ctx.params)
    try:
        exists = target.pipeline([['EXISTS', k] for k in keys])
        present = [k for k, n in zip(keys, exists) if int(n or 0)]
        if present and not ctx.check_mode:
            target.call('DEL', *present)
    finally:
        target.close()
    return {'changed': bool(present), 'deleted': len(present), 'keys': present}


def remove_builtin(ctx):
    path = ctx.installation.path('stack_file')
    with open(path, 'r') as handle:
        text = handle.read()
    new_text, removed = stack_without_builtin(text, ctx.params['builtin_services'])
    result = {'changed': bool(removed), 'removed': removed, 'stack_file': path}
    if ctx.module._diff and removed:
        result['diff'] = {'before': text, 'after': new_text, 'before_header': path, 'after_header': path}
    if removed and not ctx.check_mode:
        mode = os.stat(path).st_mode & 0o7777
        atomic_write(path, new_text, mode=mode)
    return result


def verify_target(ctx):
    target = target_mysql(ctx.params, docker=ctx.docker)
    got = settings(target)
    expect = ctx.params['expect'] or {}
    wrong = {k: {'expected': v, 'found': got.get(k)} for k, v in expect.items()
             if v is not None and str(got.get(k)) != str(v)}
    if wrong:
        raise FuncError('The target database does not hold what was expected: %s' % wrong, mismatch=wrong)
    result = {'changed': False}
    result.update(got)
    return result


def main():
    spec = target_argument_spec()
    spec.update(
        action=dict(type='str', required=True, choices=list(ACTIONS)),
        keys=dict(type='list', elements='str', default=[], no_log=False),
        expect=dict(type='dict', default={}),
        timeout=dict(type='int', default=120),
    )
    FuncModule(spec).run(run)


ACTIONS = {'stop_services': stop_services, 'verify_data': verify_data, 'transfer_queues': transfer_queues,
           'untransfer_queues': untransfer_queues, 'remove_builtin': remove_builtin, 'verify_target': verify_target}


def run(ctx):
    result = ACTIONS[ctx.params['action']](ctx)
    result['commands'] = list(ctx.docker.commands)
    return result


if __name__ == '__main__':
    main()
