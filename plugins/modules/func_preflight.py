#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_preflight
short_description: What an install, converge or upgrade of DataFlux Func would do on this host
version_added: 0.2.0
description:
  - Reads everything the install role decides on, in one call, and changes nothing - the marker file of an
    earlier install, C(user-config.yaml) and C(docker-stack.yaml), the services the stack runs, the portable
    bundle (image list, version, architecture), the pre-upgrade backups, the free disk space and the port.
  - Returns the mode of the run (V(fresh), V(converge) or V(upgrade)), the image references, whether the stack
    file is adopted, and every problem found (RV(problems)); with O(fail_on_problems) it fails with all of them
    before anything changes.
  - Used by the C(dataflux.func.install) role; secrets of the configuration are never returned.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
options:
  marker_file:
    description: The marker file of the official installer.
    type: path
    default: /etc/dataflux-func
  image:
    description: DataFlux Func image name (without tag).
    type: str
    required: true
  version:
    description: The version to run (the image tag; with O(image_source=bundle) the bundle must hold it).
    type: str
    required: true
  mysql_image:
    description: Image of the built-in MySQL (registry/present sources; a bundle names its own).
    type: str
    default: ''
  redis_image:
    description: Image of the built-in Redis (registry/present sources; a bundle names its own).
    type: str
    default: ''
  image_source:
    description: Where the images come from.
    type: str
    choices: [present, registry, bundle]
    default: registry
  bundle_dir:
    description: Portable bundle directory (O(image_source=bundle)).
    type: path
  managed_marker:
    description: The line a stack file rendered by the role contains; a stack file without it is adopted.
    type: str
    required: true
  regenerate_stack_file:
    description: Render the stack file even when it was written by someone else.
    type: bool
    default: false
  extra_hosts:
    description: Whether extra hosts are asked for (they cannot be applied to an adopted stack file).
    type: bool
    default: false
  require_existing:
    description: Refuse to install when no installation exists (the upgrade entry point).
    type: bool
    default: false
  admin_password_set:
    description: Whether an admin password is given (needed by a first install).
    type: bool
    default: false
  allow_downgrade:
    description: Allow deploying an older version than the running one (restores the pre-upgrade backup taken at it).
    type: bool
    default: false
  upgrade_backup_dir:
    description: Directory of the pre-upgrade backups (default C(data/sqldump/pre-upgrade) of the installation).
    type: path
  min_free_disk_gb:
    description: Free space needed where the installation lives.
    type: float
    default: 5
  port:
    description: Host port the server publishes.
    type: int
    default: 8088
  check_port:
    description: Refuse a port another program listens on (only when the stack is not deployed).
    type: bool
    default: true
  supported_architectures:
    description: Architectures DataFlux Func images exist for.
    type: list
    elements: str
    default: [x86_64, aarch64]
  swarm_pending:
    description: The swarm is not there yet (a check-mode run on a fresh host); the live services are not asked.
    type: bool
    default: false
  fail_on_problems:
    description: Fail with every problem found (nothing has changed then).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  idempotent:
    support: full
'''

EXAMPLES = r'''
- name: Decide what this run does
  dataflux.func.func_preflight:
    image: pubrepo.guance.com/dataflux-func/dataflux-func
    version: "5.1.7"
    managed_marker: "dataflux.func install role: rendered from docker-stack.yaml.j2"
  register: func_plan
'''

RETURN = r'''
mode:
  description: V(fresh) (no installed DataFlux Func), V(converge) or V(upgrade) (another image runs).
  returned: always
  type: str
paths:
  description: C(install_dir), C(stack_file), C(config_file), C(lock_path), C(upgrade_backups).
  returned: always
  type: dict
version:
  description: The version this run deploys (from the bundle with O(image_source=bundle)).
  returned: always
  type: str
images:
  description: C(func), C(mysql) and C(redis) image references this run deploys.
  returned: always
  type: dict
installed:
  description: C(_IS_INSTALLED) of the configuration, as the product reads it.
  returned: always
  type: bool
stack:
  description: C(exists), C(managed) (rendered by the role), C(adopt), C(current_image), C(services) of the stack file
    and C(live) (the services the stack runs).
  returned: always
  type: dict
from_version:
  description: Tag of the image that runs now ('' when unknown).
  returned: always
  type: str
downgrade:
  description:
    - C(downgrade), whether this run deploys an older version than the running one, and C(src), the pre-upgrade
      backup taken at that version.
  returned: always
  type: dict
install_dir_exists:
  description: Whether the install directory exists.
  returned: always
  type: bool
free_gb:
  description: Free space for the installation, in GB.
  returned: always
  type: float
architecture:
  description: This host's architecture and C(bundle_architecture).
  returned: always
  type: dict
problems:
  description: Every reason not to go on (empty when there is none).
  returned: always
  type: list
  elements: str
'''

import os
import platform
import re
import socket

from ansible_collections.dataflux.func.plugins.module_utils._func_app import to_boolean
from ansible_collections.dataflux.func.plugins.module_utils._func_backup import backup_zone, check_entry, scan_dir
from ansible_collections.dataflux.func.plugins.module_utils._func_common import read_file
from ansible_collections.dataflux.func.plugins.module_utils._func_install import (
    load_yaml_file, read_bundle, read_marker)
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule

_NUM = re.compile(r'^\d+(\.\d+)+')
_ARCH = {'amd64': 'x86_64', 'arm64': 'aarch64'}


def version_tuple(text):
    match = _NUM.match(text or '')
    return tuple(int(p) for p in match.group(0).split('.')) if match else None


def image_tag(image):
    last = (image or '').split('@', 1)[0].rsplit('/', 1)[-1]
    return last.rsplit(':', 1)[1] if ':' in last else ''


def free_gb(paths):
    for path in paths:
        if os.path.exists(path):
            st = os.statvfs(path)
            return round(st.f_bavail * st.f_frsize / float(1024 ** 3), 1)
    st = os.statvfs('/')
    return round(st.f_bavail * st.f_frsize / float(1024 ** 3), 1)


def port_in_use(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(1)
    try:
        return sock.connect_ex(('127.0.0.1', int(port))) == 0
    finally:
        sock.close()


def run(ctx):
    p = ctx.params
    inst = ctx.installation
    problems = []
    install_dir = inst.install_dir
    paths = {'install_dir': install_dir, 'stack_file': inst.path('stack_file'), 'config_file': inst.path('config_file'),
             'lock_path': '/tmp/.dataflux-func%s.lock' % install_dir.replace('/', '_'),
             'upgrade_backups': p['upgrade_backup_dir'] or os.path.join(inst.path('sqldump_dir'), 'pre-upgrade')}

    arch = _ARCH.get(platform.machine(), platform.machine())
    if arch not in p['supported_architectures']:
        problems.append('DataFlux Func images exist for %s; this host is %s.'
                        % (' and '.join(p['supported_architectures']), arch))

    # the marker file of an earlier install
    recorded = read_marker(p['marker_file'])
    if recorded and recorded != install_dir:
        problems.append('DataFlux Func is recorded as installed in %s (%s), but func_install_dir is %s. Installing or '
                        'upgrading into a different directory would start an empty installation beside the old one. '
                        'Set func_install_dir=%s, or uninstall the old installation (including %s) first.'
                        % (recorded, p['marker_file'], install_dir, recorded, p['marker_file']))

    # what is there already (no secret leaves the module)
    config = load_yaml_file(paths['config_file'], what='DataFlux Func configuration') or {}
    stack_text = read_file(paths['stack_file'])
    stack = load_yaml_file(paths['stack_file'], what='docker stack file') or {} if stack_text is not None else {}
    services = stack.get('services') or {}
    current_image = str(((services.get('server') or {}).get('image')) or '')
    live = [] if p['swarm_pending'] else ctx.docker.stack_services(inst.stack_name)

    # images and version
    bundle = {}
    version = p['version']
    if p['image_source'] == 'bundle':
        bundle, version = read_bundle(p['bundle_dir'])
        if version != p['version']:
            problems.append('func_version is %s but the bundle in %s holds %s; point func_bundle_dir at the %s '
                            'bundle.' % (p['version'], p['bundle_dir'], version, p['version']))
        image_ref = bundle.get('DATAFLUX_FUNC_IMAGE') or '%s:%s' % (p['image'], version)
        mysql_ref = bundle.get('MYSQL_IMAGE') or p['mysql_image']
        redis_ref = bundle.get('REDIS_IMAGE') or p['redis_image']
        if bundle.get('IMAGE_ARCH') and bundle['IMAGE_ARCH'] != arch:
            problems.append('The bundle in %s is for %s, this host is %s.'
                            % (p['bundle_dir'], bundle['IMAGE_ARCH'], arch))
    else:
        image_ref, mysql_ref, redis_ref = '%s:%s' % (p['image'], version), p['mysql_image'], p['redis_image']
    image_ref = image_ref.strip()

    installed = to_boolean(config.get('_IS_INSTALLED', False))
    if not installed:
        mode = 'fresh'
    elif current_image and current_image != image_ref:
        mode = 'upgrade'
    else:
        mode = 'converge'
    stack_exists = stack_text is not None
    managed = stack_exists and p['managed_marker'] in stack_text
    adopt = stack_exists and not managed and not p['regenerate_stack_file']
    if adopt and p['extra_hosts']:
        problems.append('func_extra_hosts cannot be applied to %s: that stack file was written by the official '
                        'installer (or by hand) and is adopted as it is, only the DataFlux Func image is swapped. '
                        'Either add the extra_hosts to its worker services yourself, or set '
                        'func_regenerate_stack_file=true to render the stack file from the role\'s template (with '
                        'func_worker_layout matching the installed services), or drop func_extra_hosts.'
                        % paths['stack_file'])

    # downgrade
    from_version = image_tag(current_image)
    new_t, cur_t = version_tuple(version), version_tuple(from_version)
    downgrade = {'downgrade': bool(mode == 'upgrade' and new_t and cur_t and new_t < cur_t), 'src': ''}
    if downgrade['downgrade']:
        if not p['allow_downgrade']:
            problems.append('func_version %s is older than the running %s. A downgrade is refused: the older version '
                            'would run on a database its successor has upgraded, and what is written meanwhile can be '
                            'lost when upgrading again (the product\'s migrations do not run twice). The one '
                            'consistent way back is the pre-upgrade backup taken at %s: set func_allow_downgrade=true '
                            'to deploy %s and restore that backup (data written since the upgrade is lost).'
                            % (version, from_version, version, version))
        else:
            entries, _tmp = scan_dir(paths['upgrade_backups'], backup_zone(inst.effective_config('server')))
            for entry in entries:
                if entry['kind'] == 'dump' and check_entry(entry)['valid'] and entry.get('version') == version:
                    downgrade['src'] = entry['path']
                    break
            if not downgrade['src']:
                problems.append('func_allow_downgrade is set, but no valid pre-upgrade backup taken at %s was found in '
                                '%s; without it a downgrade would run %s on a database it does not know.'
                                % (version, paths['upgrade_backups'], version))

    if mode == 'fresh':
        if p['require_existing']:
            problems.append('No installed DataFlux Func was found in %s (upgrade needs an existing install).'
                            % install_dir)
        elif not p['admin_password_set']:
            problems.append('func_admin_password is required for the first install (the admin account is set up '
                            'without the web wizard).')

    # disk and port
    exists = os.path.isdir(install_dir)
    free = free_gb([install_dir, os.path.dirname(install_dir)])
    if free < p['min_free_disk_gb']:
        problems.append('Only %s GB are free for %s; func_min_free_disk_gb is %s.'
                        % (free, install_dir, p['min_free_disk_gb']))
    if p['check_port'] and not live and port_in_use(p['port']):
        problems.append('Port %s is already in use by another program, and stack %s is not deployed. Free the port '
                        'or choose another func_port.' % (p['port'], inst.stack_name))

    result = dict(changed=False, mode=mode, paths=paths, version=version, installed=installed,
                  images={'func': image_ref, 'mysql': mysql_ref, 'redis': redis_ref},
                  stack={'exists': stack_exists, 'managed': managed, 'adopt': adopt, 'current_image': current_image,
                         'services': list(services), 'live': live},
                  from_version=from_version, downgrade=downgrade, install_dir_exists=exists, free_gb=free,
                  architecture={'host': arch, 'bundle': bundle.get('IMAGE_ARCH', '')},
                  recorded_install_dir=recorded, problems=problems)
    if problems and p['fail_on_problems']:
        result['failed'] = True
        result['msg'] = 'Refused before any change: ' + ' '.join(problems) + ' Nothing was changed.'
    return result


def main():
    FuncModule(dict(
        marker_file=dict(type='path', default='/etc/dataflux-func'),
        image=dict(type='str', required=True),
        version=dict(type='str', required=True),
        mysql_image=dict(type='str', default=''),
        redis_image=dict(type='str', default=''),
        image_source=dict(type='str', default='registry', choices=['present', 'registry', 'bundle']),
        bundle_dir=dict(type='path'),
        managed_marker=dict(type='str', required=True),
        regenerate_stack_file=dict(type='bool', default=False),
        extra_hosts=dict(type='bool', default=False),
        require_existing=dict(type='bool', default=False),
        admin_password_set=dict(type='bool', default=False),
        allow_downgrade=dict(type='bool', default=False),
        upgrade_backup_dir=dict(type='path'),
        min_free_disk_gb=dict(type='float', default=5),
        port=dict(type='int', default=8088),
        check_port=dict(type='bool', default=True),
        supported_architectures=dict(type='list', elements='str', default=['x86_64', 'aarch64']),
        swarm_pending=dict(type='bool', default=False),
        fail_on_problems=dict(type='bool', default=True),
    )).run(run)


if __name__ == '__main__':
    main()
