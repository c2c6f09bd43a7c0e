# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
name: input_problems
short_description: Check the role variables of dataflux.func that can lose data or land files in the wrong place
version_added: 0.2.0
author: dataflux.func contributors
description:
  - Returns one readable message per problem (an empty list when all is well), naming the variable. The roles
    run it first, before anything on the host changes, and fail with every message at once.
  - C(install_dir) must be absolute and may not be C(/) or a system directory (the same rule as the modules'
    C(install_dir)); paths are compared normalised.
  - Ports are whole numbers from 1 to 65535.
  - C(extra_hosts) keys are host names (RFC 1123 labels of 1-63 letters, digits and hyphens, dot-separated, at
    most 253 characters, nothing before or after), values are IPv4 or IPv6 addresses as Python's C(ipaddress)
    parses them (no surrounding spaces or newlines).
  - Pure function of its arguments, no host access.
options:
  _input:
    description: Mapping of what to check.
    type: dict
    required: true
    suboptions:
      install_dir:
        description: C(func_install_dir).
        type: str
      paths:
        description: Other path variables, name to value; each must be absolute (empty values are skipped).
        type: dict
      ports:
        description: Port variables, name to value.
        type: dict
      extra_hosts:
        description: C(func_extra_hosts), host name to IP address.
        type: dict
'''

EXAMPLES = r'''
- name: Refuse bad variables before any change
  vars:
    problems: "{{ {'install_dir': func_install_dir, 'ports': {'func_port': func_port},
                   'extra_hosts': func_extra_hosts} | dataflux.func.input_problems }}"
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join(' ') }}"
'''

RETURN = r'''
_value:
  description: One message per problem, each naming the variable; empty when all is well.
  type: list
  elements: str
'''

import ipaddress  # noqa: E402
import re  # noqa: E402

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError  # noqa: E402
from ansible_collections.dataflux.func.plugins.module_utils._func_install import (  # noqa: E402
    check_path, guard_install_dir)

_LABEL = re.compile(r'\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z')


def host_name_ok(name):
    if not isinstance(name, str) or not name or len(name) > 253:
        return False
    return all(_LABEL.match(label) for label in name.split('.'))


def ip_ok(value):
    if not isinstance(value, str) or value != value.strip():
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def port_ok(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, float) or (isinstance(value, str) and not re.match(r'\A[0-9]{1,5}\Z', value)):
        return False
    try:
        number = int(value)
    except (TypeError, ValueError):
        return False
    return 1 <= number <= 65535


def input_problems(data):
    if not isinstance(data, dict):
        raise AnsibleFilterError('input_problems expects a mapping, not %s' % type(data).__name__)
    problems = []
    if 'install_dir' in data:
        try:
            guard_install_dir(data['install_dir'], 'func_install_dir')
        except FuncError as exc:
            problems.append(exc.msg)
    for name, value in sorted((data.get('paths') or {}).items()):
        if value in (None, ''):
            continue
        try:
            check_path(value, name)
        except FuncError as exc:
            problems.append(exc.msg)
    for name, value in sorted((data.get('ports') or {}).items()):
        if not port_ok(value):
            problems.append('%s must be a port number from 1 to 65535, not %r' % (name, value))
    hosts = data.get('extra_hosts') or {}
    if not isinstance(hosts, dict):
        problems.append('func_extra_hosts must be a mapping of host name to IP address, not %r' % (hosts,))
        hosts = {}
    for name, value in sorted(hosts.items(), key=lambda kv: str(kv[0])):
        if not host_name_ok(name):
            problems.append('func_extra_hosts: %r is not a host name (RFC 1123: letters, digits, hyphens and dots)'
                            % (name,))
        if not ip_ok(value):
            problems.append('func_extra_hosts: %r -> %r is not an IPv4 or IPv6 address' % (name, value))
    return problems


class FilterModule(object):
    def filters(self):
        return {'input_problems': input_problems}
