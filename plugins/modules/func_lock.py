#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_lock
short_description: The install lock of a DataFlux Func installation (one run at a time)
version_added: 0.2.0
description:
  - A lock directory per install directory, created atomically (C(mkdir)), so two runs never work on one
    installation at the same time; the second run fails with a clear message naming the owner.
  - The lock records its owner, the controller host and the PID of its C(ansible-playbook) process. The action
    plugin of this module takes over a lock whose owner ran on this same controller and no longer exists (a run
    killed with SIGKILL) at once; any other lock counts as stale only after O(stale_seconds).
  - Taking and releasing the lock is bookkeeping, not a change of the host (the task never reports a change).
    Check mode takes no lock (nothing changes), but still fails when another run holds it.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
options:
  path:
    description: The lock directory.
    type: path
    required: true
  state:
    description: V(acquired) takes the lock, V(released) removes it when this run holds it.
    type: str
    choices: [acquired, released]
    default: acquired
  owner:
    description: Who takes the lock (set by the action plugin - the controller host and the C(ansible-playbook) PID).
    type: str
  stale_seconds:
    description: A lock older than this counts as stale and is taken over.
    type: int
    default: 7200
  take_over:
    description: The owner of a lock known to be gone (set by the action plugin); such a lock is taken over.
    type: str
  what:
    description: What the lock protects, for the message.
    type: str
    default: the installation
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
    details: Idempotent for the run that holds the lock.
'''

EXAMPLES = r'''
- name: Take the install lock
  dataflux.func.func_lock:
    path: /tmp/.dataflux-func_usr_local_dataflux-func.lock
    what: /usr/local/dataflux-func
'''

RETURN = r'''
held:
  description: Whether this run holds the lock after the task.
  returned: always
  type: bool
held_by:
  description: The owner of a lock another run holds (the task fails then).
  returned: when another run holds the lock
  type: str
owner:
  description: The owner this run records in the lock (controller host and C(ansible-playbook) PID).
  returned: when O(state=acquired)
  type: str
taken_over:
  description: The owner of a stale lock this run took over.
  returned: when a stale lock was taken over
  type: str
'''

import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

OWNER_FILE = 'owner'


def read_owner(path):
    try:
        with open(os.path.join(path, OWNER_FILE)) as handle:
            return handle.read().strip()
    except (OSError, IOError):
        return ''


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type='path', required=True),
        state=dict(type='str', default='acquired', choices=['acquired', 'released']),
        owner=dict(type='str'),
        stale_seconds=dict(type='int', default=7200),
        take_over=dict(type='str'),
        what=dict(type='str', default='the installation'),
    ), supports_check_mode=True)
    p = module.params
    path, owner = p['path'], p['owner'] or ''
    if p['state'] == 'released':
        held = os.path.isdir(path) and read_owner(path) in ('', owner)
        if held and not module.check_mode:
            shutil.rmtree(path, ignore_errors=True)
        module.exit_json(changed=False, held=False)

    result = dict(changed=False, held=False, owner=owner)
    if os.path.isdir(path):
        current = read_owner(path)
        try:
            age = time.time() - os.stat(path).st_mtime
        except OSError:
            age = 0
        if current == owner and owner:
            module.exit_json(changed=False, held=True, owner=owner)
        stale = age > p['stale_seconds'] or (current and current == p['take_over'])
        if not stale:
            module.fail_json(msg='Another run is working on %s (lock %s, owner %s). Wait for it to finish. If no run '
                                 'is active, remove the lock directory, or wait %s s after which it counts as stale.'
                                 % (p['what'], path, current or 'unknown', p['stale_seconds']),
                             held_by=current, **result)
        result['taken_over'] = current or 'unknown'
        if not module.check_mode:
            shutil.rmtree(path, ignore_errors=True)
    if module.check_mode:
        module.exit_json(**result)
    try:
        os.mkdir(path, 0o700)
    except OSError:
        module.fail_json(msg='Another run is working on %s (lock %s, owner %s): it took the lock a moment ago. Wait '
                             'for it to finish.' % (p['what'], path, read_owner(path) or 'unknown'),
                         held_by=read_owner(path), **result)
    fd = os.open(os.path.join(path, OWNER_FILE), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (owner + '\n').encode('utf-8'))
    finally:
        os.close(fd)
    result['held'] = True
    module.exit_json(**result)


if __name__ == '__main__':
    main()
