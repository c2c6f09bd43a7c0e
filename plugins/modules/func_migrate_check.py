#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_migrate_check
short_description: Preflight of an external MySQL and Redis before moving DataFlux Func onto them
version_added: 0.1.0
description:
  - Checks, before anything changes, that an installation using the built-in MySQL and Redis services can be
    moved to the given external MySQL and Redis (maintenance guide section 10), and reports every problem at
    once, each naming the setting and the fix.
  - "MySQL: version 5.7 or later (MariaDB is accepted with a note); C(character_set_server=utf8mb4),
    C(collation_server=utf8mb4_unicode_ci), C(innodb_large_prefix=ON) where that variable exists; the database
    exists with the utf8mb4 character set (or is created with O(create_database)) and is empty or already
    holds this installation's data (same C(DATAFLUX_FUNC_ID)); the user has the privileges DataFlux Func needs
    (C(SELECT), C(INSERT), C(UPDATE), C(DELETE), C(CREATE), C(DROP), C(ALTER), C(INDEX), C(LOCK TABLES))."
  - "Redis: version 4.0 or later (a warning below 5.0, which current DataFlux Func needs), not Redis Cluster
    (C(cluster_enabled:0)), C(maxmemory) 0 or at least O(redis_min_maxmemory), the database selectable and
    without DataFlux Func queues of another installation."
  - "The installation: C(user-config.yaml) has C(_IS_INSTALLED: true) and a C(SECRET), uses the built-in
    services, the target database name equals the current one, and no C(DFF_MYSQL_*)/C(DFF_REDIS_*) variable
    in the stack file would override the new settings."
  - Reports RV(migrated) when the configuration already points at the targets and the stack file has no
    built-in MySQL/Redis service any more.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.migrate_target
  - dataflux.func.attributes
  - dataflux.func.install
options:
  create_database:
    description:
      - Create the database (C(utf8mb4), C(utf8mb4_unicode_ci)) when it does not exist, after every other check
        passed. Without it a missing database is a problem.
    type: bool
    default: false
  redis_min_maxmemory:
    description: Smallest accepted non-zero C(maxmemory) of the Redis, in bytes.
    type: int
    default: 1073741824
attributes:
  check_mode:
    support: full
    details: Everything is read-only except O(create_database), which is only reported in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
'''

EXAMPLES = r'''
- name: Check the external servers
  dataflux.func.func_migrate_check:
    mysql_host: 10.0.0.5
    mysql_user: func
    mysql_password: "{{ vault_mysql_password }}"
    redis_host: 10.0.0.6
    redis_password: "{{ vault_redis_password }}"
  register: pre
'''

RETURN = r'''
migrated:
  description: The configuration already points at the targets and the stack has no built-in MySQL/Redis.
  returned: always
  type: bool
config_switched:
  description: C(user-config.yaml) already points at the targets (the stack file may still need its edit).
  returned: always
  type: bool
builtin_in_stack_file:
  description: Built-in services still defined in the stack file.
  returned: always
  type: list
  elements: str
func_services:
  description: The DataFlux Func services of the stack file (everything but the built-in services).
  returned: always
  type: list
  elements: str
source:
  description: Facts of the current installation (database name, C(UPGRADE_DB_SEQ), C(DATAFLUX_FUNC_ID)).
  returned: always
  type: dict
mysql:
  description: Facts of the target MySQL (version, variables, C(database_state) = missing, empty,
    this_installation, foreign or in_use when the configuration already points at it).
  returned: always
  type: dict
redis:
  description: Facts of the target Redis (version, cluster_enabled, maxmemory).
  returned: always
  type: dict
notes:
  description: Informational findings.
  returned: always
  type: list
  elements: str
problems:
  description: Every failed requirement (the module fails when this is not empty).
  returned: failure
  type: list
  elements: str
database_created:
  description: Whether the database was (or in check mode would be) created.
  returned: always
  type: bool
'''

from ansible_collections.dataflux.func.plugins.module_utils._func_app import (
    app_name as product_app_name, read_system_settings, to_boolean)
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule
from ansible_collections.dataflux.func.plugins.module_utils._func_migrate import (
    check_mysql, check_redis, config_points_at_target, func_env_overrides, target_argument_spec, target_mysql)
from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import quote_ident


def source_facts(ctx, problems):
    facts = {}
    try:
        client = ctx.mysql({'mysql_transport': 'auto'})
        found = read_system_settings(client)
    except FuncError as exc:
        problems.append('Cannot read the current database through the built-in MySQL service: %s. The stack must '
                        'be running to migrate.' % exc.msg)
        return facts
    facts['func_id'] = found['func_id']
    facts['upgrade_seq'] = found['upgrade_seq']
    return facts


def run(ctx):
    p = ctx.params
    inst = ctx.installation
    docker = ctx.docker
    builtin = list(p['builtin_services'])
    problems, notes, warnings = [], [], []
    user_config = inst.load_user_config(required=True)
    stack = inst.load_stack(required=True)
    services = list((stack.get('services') or {}).keys())
    in_stack = [s for s in builtin if s in services]
    config = inst.effective_config('server', user_config)
    switched = config_points_at_target(config, p)
    migrated = switched and not in_stack
    result = dict(changed=False, migrated=migrated, config_switched=switched, builtin_in_stack_file=in_stack,
                  func_services=[s for s in services if s not in builtin], notes=notes, database_created=False,
                  config_file=inst.path('config_file'), stack_file=inst.path('stack_file'))
    if not to_boolean(user_config.get('_IS_INSTALLED', False)):
        problems.append('%s does not have _IS_INSTALLED: true. An un-installed DataFlux Func pointed at a populated '
                        'database runs its setup, which drops every table. Finish the setup first (or set '
                        '_IS_INSTALLED: true if it is installed).' % inst.path('config_file'))
    if not user_config.get('SECRET'):
        problems.append('%s has no SECRET; every password hash and cipher of the installation depends on it. '
                        'Restore the original user-config.yaml first.' % inst.path('config_file'))
    overrides = func_env_overrides(stack, builtin)
    if overrides:
        problems.append('The stack file sets %s in the environment of %s; they would override the new MYSQL_*/'
                        'REDIS_* settings of user-config.yaml. Remove them from the stack file first.'
                        % (sorted({k for v in overrides.values() for k in v}), sorted(overrides)))
    source = {'mysql_database': config.get('MYSQL_DATABASE'), 'mysql_host': config.get('MYSQL_HOST'),
              'redis_host': config.get('REDIS_HOST'), 'redis_database': config.get('REDIS_DATABASE')}
    if not switched:
        if config.get('MYSQL_HOST') not in in_stack or config.get('REDIS_HOST') not in in_stack:
            problems.append('The installation does not use the built-in services (MYSQL_HOST=%s, REDIS_HOST=%s, '
                            'built-in services in the stack file: %s); this migration moves an installation off '
                            'its built-in MySQL and Redis.'
                            % (config.get('MYSQL_HOST'), config.get('REDIS_HOST'), in_stack or 'none'))
        if config.get('MYSQL_DATABASE') != p['mysql_database']:
            problems.append('func_migrate_mysql_database is %s but the installation uses database %s; the dump names '
                            'its database, so the target database must have the same name. Use %s.'
                            % (p['mysql_database'], config.get('MYSQL_DATABASE'), config.get('MYSQL_DATABASE')))
        source.update(source_facts(ctx, problems))
    result['source'] = source
    app_name = product_app_name(config)
    result['mysql'] = check_mysql(p, problems, notes, source.get('func_id'), in_use=switched, docker=docker)
    result['redis'] = check_redis(p, problems, notes, warnings, p['redis_min_maxmemory'], app_name,
                                  migrated=switched)
    for warning in warnings:
        ctx.module.warn(warning)
    if problems:
        result['problems'] = problems
        result['msg'] = ('Preflight of the migration failed (%d problem(s)); nothing was changed:\n- %s'
                         % (len(problems), '\n- '.join(problems)))
        result['failed'] = True
        return result
    if result['mysql'].get('database_state') == 'missing' and p['create_database']:
        if not ctx.check_mode:
            client = target_mysql(p, database='', docker=docker)
            client.execute('CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'
                           % quote_ident(p['mysql_database']))
        result.update(changed=True, database_created=True)
        notes.append('Database %s was created (utf8mb4, utf8mb4_unicode_ci).' % p['mysql_database'])
    return result


def main():
    spec = target_argument_spec()
    spec.update(create_database=dict(type='bool', default=False),
                redis_min_maxmemory=dict(type='int', default=1024 ** 3))
    FuncModule(spec).run(run)


if __name__ == '__main__':
    main()
