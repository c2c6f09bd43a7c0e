# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of dataflux.func.func_lock: names the owner (this controller and its ansible-playbook process)
and tells the module which lock is stale because its owner was a process of this controller that is gone."""

import os
import socket

from ansible.plugins.action import ActionBase


def playbook_pid():
    """The ansible-playbook process of this run (the worker's parent chain ends there)."""
    pid = os.getppid()
    for _hop in range(5):
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                cmd = handle.read().split(b'\0')
            with open('/proc/%d/stat' % pid) as handle:
                parent = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IOError, ValueError, IndexError):
            return os.getppid()
        if any(part.endswith(b'ansible-playbook') for part in cmd[:2]):
            return pid
        pid = parent
    return os.getppid()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        host = socket.gethostname()
        args.setdefault('owner', '%s:%d' % (host, playbook_pid()))
        out = self._execute_module(module_name='dataflux.func.func_lock', module_args=args, task_vars=task_vars)
        held_by = out.get('held_by') or ''
        owner_host, owner_pid = (held_by.split(':', 1) + [''])[:2]
        if out.get('failed') and owner_host == host and owner_pid.isdigit() and not alive(int(owner_pid)):
            args['take_over'] = held_by
            out = self._execute_module(module_name='dataflux.func.func_lock', module_args=args, task_vars=task_vars)
        result.update(out)
        return result
