#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_info
short_description: Report the state of a DataFlux Func installation
version_added: 0.1.0
description:
  - Reports where an installation lives and how it is doing, as the maintenance guide sections 3 to 7
    describe it, without changing anything.
  - The install directory and every path of the guide (stack file, configuration, resources, logs,
    sqldump), the version the server reports and the image the stack file names, each service's desired and
    running replicas, the effective configuration with secrets masked, work-queue lengths, the newest
    backups and the last lines of C(data/logs/dataflux-func.log).
  - Works on installations made by the official installer (any worker layout).
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
  - dataflux.func.mysql
options:
  gather:
    description:
      - Which sections to report. V(queues) needs a reachable Redis, V(database) a reachable MySQL (the built-in
        one is reached through its container, an external one directly, see the mysql options); V(version) asks
        the server over HTTP on the host.
    type: list
    elements: str
    choices: [paths, services, version, config, database, queues, backups, log]
    default: [paths, services, version, config, database, queues, backups, log]
  log_lines:
    description: How many lines of the end of the log file to return.
    type: int
    default: 20
  backups_limit:
    description: How many of the newest backups to return.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
    details: The module never changes anything.
  diff_mode:
    support: none
  idempotent:
    support: full
seealso:
  - module: dataflux.func.func_config
  - module: dataflux.func.func_queue
'''

EXAMPLES = r'''
- name: Where is everything and how is it doing
  dataflux.func.func_info:
  register: func

- name: Show the running version and the queue backlog
  ansible.builtin.debug:
    msg: "{{ func.version.running }} / {{ func.queues.work }}"
'''

RETURN = r'''
installed:
  description: Whether a configuration or stack file exists in the install directory.
  returned: always
  type: bool
paths:
  description: Install directory and the paths of the maintenance guide, each with C(path) and C(exists).
  returned: always
  type: dict
recorded_install_dir:
  description: The directory recorded in C(/etc/dataflux-func) by an earlier install, if any.
  returned: always
  type: str
version:
  description: C(running) as reported by C(/api/v1/image-info), C(image) of the server service in the stack file.
  returned: when V(version) is gathered
  type: dict
services:
  description: The stack's services with C(name), C(short_name), C(image), C(desired), C(running).
  returned: when V(services) is gathered
  type: list
  elements: dict
config:
  description: Effective configuration (image defaults, user-config.yaml, DFF_ environment), secrets masked.
  returned: when V(config) is gathered
  type: dict
database:
  description:
    - C(upgrade_db_seq) (integer, the DB upgrade sequence the schema is at, V(null) when not set up yet) and
      C(dataflux_func_id) from C(wat_main_system_setting), C(transport) (how MySQL was reached - V(container),
      V(direct) or V(docker_run), the last also where a swarm node runs no task of O(mysql_service)), or C(error)
      when MySQL is unreachable.
  returned: when V(database) is gathered
  type: dict
queues:
  description: C(work) and C(delay) queue lengths by queue index, or C(error) when Redis is unreachable.
  returned: when V(queues) is gathered
  type: dict
backups:
  description:
    - The newest backups in the sqldump directory, newest first, found by the same scan as
      M(dataflux.func.func_backup) with O(dataflux.func.func_backup#module:state=inventory), without reading the
      files. Each has C(name), C(path), C(size), C(time) (from the name, in the installation's C(TIMEZONE)),
      C(epoch), C(kind) (V(dump), V(inapp) for the product's own C(.zip) backups, V(stray) for a C(.sql) without
      checksum) and C(checksum_file).
  returned: when V(backups) is gathered
  type: list
  elements: dict
log_tail:
  description: The last O(log_lines) lines of the log file.
  returned: when V(log) is gathered
  type: list
  elements: str
'''

import os

from ansible_collections.dataflux.func.plugins.module_utils._func_app import (
    DELAY, WORK, app_name, published_port, queue_count, queue_key, read_system_settings)
from ansible_collections.dataflux.func.plugins.module_utils._func_backup import backup_zone, scan_dir
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError, mask_mapping
from ansible_collections.dataflux.func.plugins.module_utils._func_http import base_url, probe
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule


def tail_lines(path, count, chunk=65536):
    """Last count lines of a file without reading all of it."""
    if count <= 0:
        return []
    with open(path, 'rb') as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        data = b''
        while end > 0 and data.count(b'\n') <= count:
            step = min(chunk, end)
            end -= step
            handle.seek(end)
            data = handle.read(step) + data
    lines = data.decode('utf-8', 'replace').splitlines()
    return lines[-count:]


def list_backups(ctx, limit):
    """The newest backups (func_backup's own scan: names, kinds and times as the product writes them)."""
    try:
        tz = backup_zone(ctx.config())
    except FuncError:
        tz = backup_zone({})
    entries, _temps = scan_dir(ctx.installation.path('sqldump_dir'), tz)
    return [{'name': e['name'], 'path': e['path'], 'size': e['size'], 'time': e['time'], 'epoch': int(e['epoch']),
             'kind': e['kind'], 'checksum_file': os.path.exists(e['path'] + '.sha256')} for e in entries[:limit]]


def http_version(port):
    """VERSION the server on this host reports, None when it does not answer."""
    return probe(base_url('127.0.0.1', port), timeout=3)['version']


def gather_queues(ctx):
    try:
        client = ctx.redis({})
        config = ctx.config()
        app, count = app_name(config), queue_count(config)
        cmds = [['LLEN', queue_key(app, WORK, i)] for i in range(count)]
        cmds += [['ZCARD', queue_key(app, DELAY, i)] for i in range(count)]
        replies = client.pipeline(cmds)
        return {'work': {str(i): int(replies[i]) for i in range(count)},
                'delay': {str(i): int(replies[count + i]) for i in range(count)}}
    except FuncError as exc:
        return {'error': exc.msg}


def gather_database(ctx):
    try:
        client = ctx.mysql()
        settings = read_system_settings(client)
    except FuncError as exc:
        return {'error': exc.msg}
    return {'upgrade_db_seq': settings['upgrade_seq'], 'dataflux_func_id': settings['func_id'],
            'transport': client.transport}


SECTIONS = ['paths', 'services', 'version', 'config', 'database', 'queues', 'backups', 'log']


def main():
    FuncModule(dict(
        gather=dict(type='list', elements='str', choices=SECTIONS, default=SECTIONS),
        log_lines=dict(type='int', default=20),
        backups_limit=dict(type='int', default=5),
    ), mysql=True).run(gather)


def gather(ctx):
    params = ctx.params
    want = set(params['gather'])
    inst = ctx.installation
    paths = {name: {'path': path, 'exists': os.path.exists(path)} for name, path in inst.paths.items()}
    result = {'changed': False, 'installed': inst.exists(), 'paths': paths, 'install_dir': inst.install_dir,
              'recorded_install_dir': inst.recorded_install_dir, 'stack_name': inst.stack_name}
    stack = inst.load_stack() or {}
    if 'services' in want:
        result['services'] = ctx.docker.stack_status(inst.stack_name)
    if 'version' in want:
        server = (stack.get('services') or {}).get('server') or {}
        port = published_port(stack)
        result['version'] = {'image': server.get('image'), 'port': port,
                             'running': http_version(port) if port else None}
    if 'config' in want and os.path.exists(inst.path('config_file')):
        result['config'] = mask_mapping(ctx.config())
    if 'database' in want and result['installed']:
        result['database'] = gather_database(ctx)
    if 'queues' in want and result['installed']:
        result['queues'] = gather_queues(ctx)
    if 'backups' in want:
        result['backups'] = list_backups(ctx, params['backups_limit'])
    if 'log' in want and os.path.exists(inst.path('log_file')):
        result['log_tail'] = tail_lines(inst.path('log_file'), params['log_lines'])
    return result


if __name__ == '__main__':
    main()
