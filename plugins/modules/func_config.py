#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_config
short_description: Merge settings into the user-config.yaml of a DataFlux Func installation
version_added: 0.1.0
description:
  - Merges keys into C({install_dir}/data/user-config.yaml), the configuration every DataFlux Func
    container reads at start (maintenance guide sections 4 and 9).
  - Keys that are not mentioned are kept as they are. C(SECRET) and C(_IS_INSTALLED) are protected. An
    existing C(SECRET) is never changed unless O(allow_identity_change=true), and C(_IS_INSTALLED) is never
    turned back to false, because an uninstalled instance pointed at a populated database wipes it.
  - Known tuning keys are validated before anything is written (C(LOG_LEVEL), C(_WORKER_CONCURRENCY),
    C(_WORKER_PREFETCH_MULTIPLIER), ports, booleans); an invalid value fails and leaves the file
    byte-identical.
  - The file is written atomically with mode C(0600). The diff shows the configuration with every secret
    masked.
  - The module does not restart anything. It returns RV(restart_services), the stack services that must
    be restarted for the change to take effect (DataFlux Func reads its configuration only at start).
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
options:
  install_dir:
    description:
      - The installation directory. Defaults to the directory recorded in C(/etc/dataflux-func), else
        C(/usr/local/dataflux-func).
    type: path
  settings:
    description:
      - Keys to set, with their values. A value of V(null) leaves the key as it is.
    type: dict
    default: {}
  generate:
    description:
      - Keys that get a strong random value when the file lacks them or has them empty - 32 characters from letters
        and digits, drawn on the managed host. An existing value is never changed, and the drawn values are never
        returned (the diff and RV(config) show them masked).
      - For a first install's C(SECRET) and built-in MySQL password. A key cannot be both here and in O(settings).
    type: list
    elements: str
    default: []
  defaults:
    description:
      - Keys written with DataFlux Func's own default (from its C(config.yaml)) when the file lacks them, such as
        C(MYSQL_DATABASE); an existing value is kept.
    type: list
    elements: str
    default: []
  remove:
    description:
      - Keys to delete from the file. C(SECRET), C(_IS_INSTALLED) and the database passwords cannot be removed.
    type: list
    elements: str
    default: []
  create:
    description:
      - Create the file when it does not exist (first install). Without it, a missing file is an error.
    type: bool
    default: false
  allow_identity_change:
    description:
      - Allow changing an existing C(SECRET). Every stored password hash, token and encrypted secret of the
        installation depends on it, so this is almost never what you want.
    type: bool
    default: false
  allow_unknown_keys:
    description:
      - Write keys that DataFlux Func 5.1.7's C(config.yaml) does not have. By default such a key (a typo such as
        C(LOG_LEVLE)) is refused before anything is written, naming the closest known key. Keys starting with
        C(CUSTOM_) and keys the file already has are always accepted.
    type: bool
    default: false
  memory_per_worker_process_mb:
    description:
      - Memory one worker child process is assumed to need, used to warn when C(_WORKER_CONCURRENCY) is
        more than the host's memory sensibly allows.
    type: int
    default: 200
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Secrets (keys containing SECRET, PASSWORD, TOKEN, ...) are masked.
  idempotent:
    support: full
notes:
  - C(_WORKER_PREFETCH_MULTIPLIER) is accepted and written, with a warning, because the maintenance guide
    lists it; DataFlux Func 3.0 and later no longer use Celery and ignore it.
seealso:
  - module: dataflux.func.func_stack
  - module: dataflux.func.func_info
'''

EXAMPLES = r'''
- name: Quieter logs and more worker processes
  dataflux.func.func_config:
    settings:
      LOG_LEVEL: ERROR
      _WORKER_CONCURRENCY: 10
  register: cfg

- name: A first install's configuration, its secrets drawn on the host (kept on every later run)
  dataflux.func.func_config:
    create: true
    generate: [SECRET, MYSQL_PASSWORD]
    defaults: [MYSQL_DATABASE, REDIS_PASSWORD]
  no_log: true

- name: Restart what the change affects, keeping the server answering
  dataflux.func.func_stack:
    state: restarted
    restart_mode: rolling
    services: "{{ cfg.restart_services }}"
  when: cfg.changed
'''

RETURN = r'''
config_file:
  description: The configuration file.
  returned: always
  type: str
  sample: /usr/local/dataflux-func/data/user-config.yaml
changed_keys:
  description: Keys whose value was (or in check mode would be) set or removed.
  returned: always
  type: list
  elements: str
  sample: [LOG_LEVEL]
restart_services:
  description:
    - Short names of the stack services that must restart for the change to take effect. Empty when
      nothing changed or only the file mode was fixed.
  returned: always
  type: list
  elements: str
  sample: [server, worker-0, beat]
config:
  description: The resulting configuration, secrets masked.
  returned: always
  type: dict
'''

import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.dataflux.func.plugins.module_utils._func_common import (
    FuncError, file_mode, is_secret_key, mask_mapping)
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule
from ansible_collections.dataflux.func.plugins.module_utils._func_install import (
    HAS_YAML, YAML_IMPORT_ERROR, completed_settings, config_diff, merge_user_config, unknown_config_keys,
    validate_settings)

WORKER_ONLY_KEYS = ('_WORKER_CONCURRENCY', '_WORKER_PREFETCH_MULTIPLIER', '_WORKER_QUEUE_COUNT',
                    '_WORKER_FETCH_TASK_TIMEOUT', '_WORKER_PROCESS_CONSUME_LIMIT')
BUILTIN_DB_SERVICES = ('mysql', 'redis')


def restart_services_for(changed_keys, stack):
    """Services whose processes read the changed keys: Func services, or only workers for worker keys."""
    services = (stack or {}).get('services') or {}
    func_services = [name for name in services if name not in BUILTIN_DB_SERVICES]
    if not changed_keys:
        return []
    if all(key in WORKER_ONLY_KEYS for key in changed_keys):
        return [name for name in func_services if name.startswith('worker')]
    return func_services


def mem_total_mb():
    try:
        with open('/proc/meminfo') as handle:
            for line in handle:
                if line.startswith('MemTotal:'):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        return None
    return None


def main():
    ctx = FuncModule(dict(
        install_dir=dict(type='path'),
        settings=dict(type='dict', default={}),
        generate=dict(type='list', elements='str', default=[]),
        defaults=dict(type='list', elements='str', default=[]),
        remove=dict(type='list', elements='str', default=[]),
        create=dict(type='bool', default=False),
        allow_identity_change=dict(type='bool', default=False),
        allow_unknown_keys=dict(type='bool', default=False),
        memory_per_worker_process_mb=dict(type='int', default=200),
    ), install=False)
    if not HAS_YAML:
        ctx.module.fail_json(msg=missing_required_lib('PyYAML'), exception=str(YAML_IMPORT_ERROR))
    # settings is not no_log as a whole (that would mask every "INFO" or "5" in the output); the values of secret
    # keys (passwords, SECRET) are masked wherever they appear, the returned invocation included
    for key, value in (ctx.params['settings'] or {}).items():
        if is_secret_key(key) and isinstance(value, (str, int)) and not isinstance(value, bool):
            ctx.add_secret(value)
    ctx.run(run)


def run(ctx):
    params = ctx.params
    inst = ctx.installation
    path = inst.path('config_file')
    current = inst.load_user_config()
    if current is None:
        if not params['create']:
            raise FuncError('%s does not exist. Is DataFlux Func installed in %s? (set create=true to write a new '
                            'configuration)' % (path, inst.install_dir))
        if not os.path.isdir(os.path.dirname(path)) and not ctx.check_mode:
            # in check mode the directory may be one an earlier step of the same run would create
            raise FuncError('Directory %s does not exist' % os.path.dirname(path))
    settings = validate_settings(params['settings'] or {}, ctx.module.warn, mem_total_mb(),
                                 params['memory_per_worker_process_mb'])
    both = sorted(key for key in params['generate'] if settings.get(key) is not None)
    if both:
        raise FuncError('%s: a key is either generated or given in settings, not both. Nothing was changed.'
                        % ', '.join(both))
    completed = completed_settings(current, params['generate'], params['defaults'])
    ctx.add_secret(*[completed[key] for key in params['generate'] if key in completed])
    settings.update(completed)
    # _WORKER_PREFETCH_MULTIPLIER: the guide's Celery-era key, written with a warning (validate_settings)
    unknown = unknown_config_keys(list(settings), known_also=list(current or {}) + ['_WORKER_PREFETCH_MULTIPLIER'])
    if unknown and not params['allow_unknown_keys']:
        raise FuncError('Unknown configuration key%s %s: DataFlux Func would ignore %s. Set allow_unknown_keys=true '
                        'to write %s anyway. Nothing was changed.'
                        % ('s' if len(unknown) > 1 else '',
                           ', '.join('%s (did you mean %s?)' % (k, near) if near else k for k, near in unknown),
                           'them' if len(unknown) > 1 else 'it', 'them' if len(unknown) > 1 else 'it'),
                        unknown_keys=[k for k, _near in unknown])

    before = dict(current or {})
    if 'SECRET' in settings and before.get('SECRET') not in (None, '', settings['SECRET']) \
            and not params['allow_identity_change']:
        raise FuncError('Refusing to change SECRET of the installation in %s: every password hash, token and '
                        'encrypted secret depends on it. Set allow_identity_change=true only if you really mean it.'
                        % inst.install_dir)
    if settings.get('_IS_INSTALLED') is False and before.get('_IS_INSTALLED') is True:
        raise FuncError('Refusing to set _IS_INSTALLED to false: an uninstalled instance pointed at a populated '
                        'database runs the setup again, which drops every table.')
    after, changed_keys = merge_user_config(before, settings, params['remove'])

    mode_wrong = current is not None and file_mode(path) != 0o600
    changed = bool(changed_keys) or mode_wrong or current is None
    result = dict(changed=changed, config_file=path, changed_keys=changed_keys,
                  restart_services=restart_services_for(changed_keys, inst.load_stack() or {}) if current else [],
                  config=mask_mapping(after))
    if ctx.module._diff and (changed_keys or current is None):
        result['diff'] = config_diff(None if current is None else before, after, path)
    if changed and not ctx.check_mode:
        if changed_keys or current is None:
            inst.write_user_config(after)
        else:
            os.chmod(path, 0o600)
    return result


if __name__ == '__main__':
    main()
