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
      C(dataflux_func_id) from C(wat_main_system_setting), or C(error) when MySQL is unreachable.
  returned: when V(database) is gathered
  type: dict
queues:
  description: C(work) and C(delay) queue lengths by queue index, or C(error) when Redis is unreachable.
  returned: when V(queues) is gathered
  type: dict
backups:
  description: The newest backups in the sqldump directory, newest first, with C(path), C(size), C(mtime), C(kind).
  returned: when V(backups) is gathered
  type: list
  elements: dict
log_tail:
  description: The last O(log_lines) lines of the log file.
  returned: when V(log) is gathered
  type: list
  elements: str
'''

import json
import os
import time
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.dataflux.func.plugins.module_utils._func_app import (
    DELAY, WORK, app_name, queue_count, queue_key)
from ansible_collections.dataflux.func.plugins.module_utils._func_common import (
    FuncError, fail_from, mask_mapping)
from ansible_collections.dataflux.func.plugins.module_utils._func_docker import DockerCLI, install_argument_spec
from ansible_collections.dataflux.func.plugins.module_utils._func_install import Installation
from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import MySQLClient, mysql_argument_spec

BACKUP_SUFFIXES = ('.sql', '.sql.gz', '.sql.zst', '.zip')


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


def list_backups(directory, limit):
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    rows = []
    for name in names:
        if not name.endswith(BACKUP_SUFFIXES) or not name.startswith(('dataflux-func-sqldump-', 'dataflux-sqldump-')):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        kind = 'in-app' if name.endswith('.zip') else 'dump'
        rows.append({'path': path, 'size': st.st_size, 'mtime': int(st.st_mtime),
                     'time': time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(st.st_mtime)), 'kind': kind,
                     'checksum_file': os.path.exists(path + '.sha256')})
    rows.sort(key=lambda r: (r['mtime'], r['path']), reverse=True)
    return rows[:limit]


def published_port(stack):
    server = ((stack or {}).get('services') or {}).get('server') or {}
    for port in server.get('ports') or []:
        if isinstance(port, dict):
            if int(port.get('target', 0)) == 8088 and port.get('published'):
                return int(port['published'])
        else:
            parts = str(port).split(':')
            if len(parts) >= 2 and parts[-1].split('/')[0] == '8088':
                return int(parts[-2])
    return None


def http_version(port, timeout=3):
    try:
        resp = open_url('http://127.0.0.1:%d/api/v1/image-info' % port, timeout=timeout, follow_redirects='none')
        body = json.loads(resp.read().decode('utf-8'))
        return (body.get('data') or {}).get('VERSION')
    except Exception:  # pylint: disable=broad-except  # any failure means "not answering"
        return None


def gather_services(docker, stack_name):
    rows = docker.json_lines('service', 'ls', '--filter', 'label=com.docker.stack.namespace=%s' % stack_name,
                             '--format', '{{json .}}')
    out = []
    for row in rows:
        running, _sep, desired = str(row.get('Replicas', '')).partition('/')
        desired = desired.split(' ')[0]
        out.append({'name': row['Name'], 'short_name': row['Name'][len(stack_name) + 1:],
                    'image': row.get('Image'), 'mode': row.get('Mode'),
                    'running': int(running) if running.isdigit() else None,
                    'desired': int(desired) if desired.isdigit() else None})
    return sorted(out, key=lambda r: r['name'])


def gather_queues(module, inst, docker):
    try:
        from ansible_collections.dataflux.func.plugins.module_utils._func_redis import RedisClient
    except ImportError:
        return {'error': 'Redis support is not available in this collection build'}
    try:
        client = RedisClient.for_installation(module, inst, docker, {})
        config = inst.effective_config('server')
        app, count = app_name(config), queue_count(config)
        cmds = [['LLEN', queue_key(app, WORK, i)] for i in range(count)]
        cmds += [['ZCARD', queue_key(app, DELAY, i)] for i in range(count)]
        replies = client.pipeline(cmds)
        return {'work': {str(i): int(replies[i]) for i in range(count)},
                'delay': {str(i): int(replies[count + i]) for i in range(count)}}
    except FuncError as exc:
        return {'error': exc.msg}


def gather_database(module, inst, docker):
    try:
        client = MySQLClient.for_installation(module, inst, docker, module.params)
        rows = client.query("SELECT id, value FROM wat_main_system_setting "
                            "WHERE id IN ('UPGRADE_DB_SEQ', 'DATAFLUX_FUNC_ID')")
    except FuncError as exc:
        return {'error': exc.msg}
    values = {row['id']: row['value'] for row in rows}
    seq = str(values.get('UPGRADE_DB_SEQ') or '').strip().strip('"')
    return {'upgrade_db_seq': int(seq) if seq.isdigit() else None,
            'dataflux_func_id': str(values.get('DATAFLUX_FUNC_ID') or '').strip('"') or None,
            'transport': client.transport}


SECTIONS = ['paths', 'services', 'version', 'config', 'database', 'queues', 'backups', 'log']


def main():
    argument_spec = install_argument_spec()
    argument_spec.update(dict(
        gather=dict(type='list', elements='str', choices=SECTIONS, default=SECTIONS),
        log_lines=dict(type='int', default=20),
        backups_limit=dict(type='int', default=5),
    ))
    argument_spec.update(mysql_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        module.exit_json(changed=False, **gather(module))
    except FuncError as exc:
        fail_from(module, exc, [module.params.get('mysql_password')])


def gather(module):
    params = module.params
    want = set(params['gather'])
    inst = Installation(params['install_dir'], params['stack_name'])
    docker = DockerCLI(module, params['docker_cli'], params['docker_host'])
    paths = {name: {'path': path, 'exists': os.path.exists(path)} for name, path in inst.paths.items()}
    result = {'installed': inst.exists(), 'paths': paths, 'install_dir': inst.install_dir,
              'recorded_install_dir': inst.recorded_install_dir, 'stack_name': inst.stack_name}
    stack = inst.load_stack() or {}
    if 'services' in want:
        result['services'] = gather_services(docker, inst.stack_name)
    if 'version' in want:
        server = (stack.get('services') or {}).get('server') or {}
        port = published_port(stack)
        result['version'] = {'image': server.get('image'), 'port': port,
                             'running': http_version(port) if port else None}
    if 'config' in want and os.path.exists(inst.path('config_file')):
        result['config'] = mask_mapping(inst.effective_config('server'))
    if 'database' in want and result['installed']:
        result['database'] = gather_database(module, inst, docker)
    if 'queues' in want and result['installed']:
        result['queues'] = gather_queues(module, inst, docker)
    if 'backups' in want:
        result['backups'] = list_backups(inst.path('sqldump_dir'), params['backups_limit'])
    if 'log' in want and os.path.exists(inst.path('log_file')):
        result['log_tail'] = tail_lines(inst.path('log_file'), params['log_lines'])
    return result


if __name__ == '__main__':
    main()
