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
  desired:
    description:
      - The state a converge would leave, for the converged check (the install role's fast path). With it the
        module answers RV(converged) and RV(not_converged) as well, and neither fails nor raises for problems or
        for a host that is not ready (no Docker, no swarm, no PyYAML); those are reasons not to be converged,
        which the full run then handles or reports.
      - Converged means all of this holds - Docker answers as a swarm manager, the mode is V(converge) and there
        is no problem, the marker file, the layout and the logrotate file are there, C(user-config.yaml) (0600)
        holds the kept values and the settings, C(docker-stack.yaml) (0600) is byte for byte the one the role
        renders (an adopted one already names the image), the images are present (a bundle's are the ones its
        tarballs hold), the running services equal the stack file and run all their tasks, the server answers
        with the version, and no run holds the install lock.
    type: dict
    suboptions:
      stack_file:
        description:
          - C(docker-stack.yaml) as the role renders it, with the values only the host knows replaced by the
            tokens of O(desired.placeholders).
        type: str
      placeholders:
        description:
          - "C({name: token}): each C(token), written as a JSON string in O(desired.stack_file), is replaced by
            the value of C(name) here, also as a JSON string - C(mysql_password) and C(mysql_database) (from
            C(user-config.yaml)), C(image_func), C(image_mysql) and C(image_redis) (the images this run deploys)."
        type: dict
        default: {}
      config_settings:
        description: Values C(user-config.yaml) must hold (as func_config would write them; null - keep).
        type: dict
        default: {}
      config_generated:
        description: Keys C(user-config.yaml) must hold with a value (the role generates them when missing).
        type: list
        elements: str
        default: []
      config_kept:
        description: Keys C(user-config.yaml) must hold (the role writes their default when missing).
        type: list
        elements: str
        default: []
      images:
        description: The images of the stack - C(name) (V(func), V(mysql) or V(redis)) and C(tar) (the tarball
          in a bundle).
        type: list
        elements: dict
        default: []
      example_src:
        description: The bundle's C(docker-stack.example.yaml) (as func_layout copies it).
        type: path
      logrotate_file:
        description: The logrotate file (as func_layout writes it).
        type: path
      logrotate_content:
        description: The content of O(desired.logrotate_file).
        type: str
      api_host:
        description: Where the server answers (with O(port)).
        type: str
        default: 127.0.0.1
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
converged:
  description: Whether a converge would change nothing (see O(desired)).
  returned: when O(desired) is given
  type: bool
not_converged:
  description: Why not (the first few reasons; empty when converged).
  returned: when O(desired) is given
  type: list
  elements: str
'''

import os
import platform
import re
import socket

from ansible_collections.dataflux.func.plugins.module_utils._func_app import to_boolean
from ansible_collections.dataflux.func.plugins.module_utils._func_common import (
    FuncError, file_mode, is_secret_key, read_file)
from ansible_collections.dataflux.func.plugins.module_utils._func_docker import BUNDLE_ID_CACHE, IdCache, images_plan
from ansible_collections.dataflux.func.plugins.module_utils._func_http import base_url, probe
from ansible_collections.dataflux.func.plugins.module_utils._func_install import (
    fill_placeholders, layout_changes, load_yaml_file, merge_user_config, placeholder_values, read_bundle, read_marker,
    validate_settings, yaml)
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule
from ansible_collections.dataflux.func.plugins.module_utils._func_stack import (
    normalize_compose_stack, plan_changes, stack_plan)

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


def config_reasons(config, mode, desired):
    """Why user-config.yaml (config, mode) is not what the role would leave: [] when it is."""
    if config is None:
        return ['user-config.yaml is missing']
    out = []
    if mode != 0o600:
        out.append('user-config.yaml is not 0600')
    out.extend('user-config.yaml has no %s' % key for key in desired['config_generated']
               if config.get(key) in (None, ''))
    out.extend('user-config.yaml has no %s' % key for key in desired['config_kept'] if key not in config)
    try:
        settings = validate_settings(desired['config_settings'] or {}, lambda _msg: None)
    except FuncError as exc:
        return out + [exc.msg]
    changed = merge_user_config(config, settings)[1]
    if changed:
        out.append('user-config.yaml differs in %s' % ', '.join(sorted(changed)))
    return out


def converged_reasons(ctx, plan, config):
    """Why a converge would change something on this host ([] when it would not): see the desired option."""
    p, desired, inst, docker = ctx.params, ctx.params['desired'], ctx.installation, ctx.docker
    paths = plan['paths']
    out = list(plan['problems'])
    if plan['mode'] != 'converge':
        out.append('mode %s' % plan['mode'])
    if not os.path.exists(p['marker_file']):
        out.append('no marker file %s' % p['marker_file'])
    if os.path.isdir(paths['lock_path']):
        out.append('the install lock %s is held' % paths['lock_path'])
    if out:
        return out                      # the rest is only worth asking about an installation in place
    out.extend(config_reasons(config, file_mode(paths['config_file']), desired))

    stack_text = read_file(paths['stack_file'])
    if plan['stack']['adopt']:
        want = stack_text if plan['stack']['current_image'] in ('', plan['images']['func']) else None
    else:
        values = dict(placeholder_values(config), **dict(('image_%s' % k, v) for k, v in plan['images'].items()))
        want = fill_placeholders(desired['stack_file'] or '', desired['placeholders'], values)
    if stack_text is None or want != stack_text:
        out.append('docker-stack.yaml differs from the one this run writes')
    elif file_mode(paths['stack_file']) != 0o600:
        out.append('docker-stack.yaml is not 0600')

    bundle = p['image_source'] == 'bundle'
    images = [{'ref': plan['images'][i['name']], 'tar': i.get('tar')} for i in desired['images']]
    rows = images_plan(docker, images, p['image_source'], p['bundle_dir'], IdCache(BUNDLE_ID_CACHE) if bundle else None)
    out.extend('image %s: %s' % (row['ref'], row['action']) for row in rows if row['action'] != 'none')

    files = []
    if desired['example_src']:
        example = read_file(desired['example_src'], True)
        files.append((os.path.join(inst.install_dir, 'docker-stack.example.yaml'), example))
    if desired['logrotate_file']:
        files.append((desired['logrotate_file'], (desired['logrotate_content'] or '').encode('utf-8')))
    out.extend('%s is missing or differs' % path for path, _c in layout_changes(inst.install_dir, files))
    if out:
        return out

    # the services: what func_stack state=present would deploy, and every task running
    data = yaml.safe_load(stack_text) or {}
    live, _raw = docker.live_stack(inst.stack_name)
    changes = plan_changes(stack_plan(normalize_compose_stack(data, inst.stack_name, inst.install_dir), live))
    out.extend('service %s: %s %s' % (c['service'], c['action'], ', '.join(c['fields'])) for c in changes)
    out.extend('service %s runs %s of %s tasks' % (row['short_name'], row['running'], row['desired'])
               for row in docker.stack_status(inst.stack_name) if row['running'] != row['desired'])
    if out:
        return out
    health = probe(base_url(desired['api_host'], p['port']))
    if not health['ping'] or health['version'] != plan['version']:
        out.append('the server answers %s, version %s' % ('pong' if health['ping'] else 'no pong', health['version']))
    return out


def run(ctx):
    if ctx.params['desired'] is None:
        return plan_run(ctx)
    for key, value in (ctx.params['desired']['config_settings'] or {}).items():
        if is_secret_key(key) and isinstance(value, (str, int)) and not isinstance(value, bool):
            ctx.add_secret(value)
    try:
        plan = plan_run(ctx, with_config=True)
        config = plan.pop('_config')
        reasons = converged_reasons(ctx, plan, config)
    except FuncError as exc:
        return dict(changed=False, converged=False, not_converged=[exc.msg])
    except Exception as exc:  # pylint: disable=broad-except  # the full run reads again and reports it
        return dict(changed=False, converged=False, not_converged=['the check could not read everything: %s' % exc])
    plan.pop('failed', None)
    plan.pop('msg', None)
    plan.update(converged=not reasons, not_converged=reasons[:10])
    return plan


def plan_run(ctx, with_config=False):
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
    raw_config = load_yaml_file(paths['config_file'], what='DataFlux Func configuration')
    config = raw_config or {}
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
            from ansible_collections.dataflux.func.plugins.module_utils._func_backup import (  # only here: ~70 ms
                backup_zone, check_entry, scan_dir)
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
    if with_config:
        result['_config'] = raw_config
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
        desired=dict(type='dict', options=dict(
            stack_file=dict(type='str', no_log=True),
            placeholders=dict(type='dict', default={}, no_log=False),
            config_settings=dict(type='dict', default={}),
            config_generated=dict(type='list', elements='str', default=[]),
            config_kept=dict(type='list', elements='str', default=[]),
            images=dict(type='list', elements='dict', default=[]),
            example_src=dict(type='path'),
            logrotate_file=dict(type='path'),
            logrotate_content=dict(type='str'),
            api_host=dict(type='str', default='127.0.0.1'),
        )),
    )).run(run)


if __name__ == '__main__':
    main()
