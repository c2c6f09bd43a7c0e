# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
name: unknown_vars
short_description: The func_* variables that no role or playbook of dataflux.func knows, with the closest known name
version_added: 0.2.0
author: dataflux.func contributors
description:
  - Known names are the options of every role's C(meta/argument_specs.yml) and defaults, the playbook variables
    listed in C(playbooks/vars/argument_specs.yml) (the playbooks validate them there), and the names the
    collection's own tasks register or set.
  - Emits one warning per unknown name (for example C(func_imgae_source), did you mean C(func_image_source)?) and
    returns them, so a misspelled variable is never silently ignored.
options:
  _input:
    description: Variable names, typically C(query('ansible.builtin.varnames', '^func_')).
    type: list
    elements: str
    required: true
  warn:
    description: Emit the warnings.
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: Warn about func_* variables nothing knows
  ansible.builtin.set_fact:
    _unknown: "{{ query('ansible.builtin.varnames', '^func_') | dataflux.func.unknown_vars }}"
'''

RETURN = r'''
_value:
  description: One entry per unknown variable, each with C(name) and C(suggestion) (null when nothing is close).
  type: list
  elements: dict
'''

import difflib  # noqa: E402
import glob  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402

import yaml  # noqa: E402
from ansible.utils.display import Display  # noqa: E402

_DEFINED = re.compile(r'(?m)^\s*(func_[a-z0-9_]+):')
_REGISTERED = re.compile(r'register:\s*(func_[a-z0-9_]+)')
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
_KNOWN = []


def known_names(root=ROOT):
    if _KNOWN and root == ROOT:
        return _KNOWN[0]
    names = set()
    for path in (glob.glob(os.path.join(root, 'roles', '*', 'meta', 'argument_specs.yml'))
                 + glob.glob(os.path.join(root, 'playbooks', 'vars', 'argument_specs.yml'))):
        with open(path) as handle:
            specs = (yaml.safe_load(handle) or {}).get('argument_specs') or {}
        for entry in specs.values():
            names.update((entry.get('options') or {}).keys())
    for path in glob.glob(os.path.join(root, 'roles', '*', 'defaults', 'main.yml')):
        with open(path) as handle:
            names.update((yaml.safe_load(handle) or {}).keys())
    # names the collection itself defines (register:, set_fact and vars keys) in its tasks and playbooks
    for pattern in ('roles/*/tasks/*.yml', 'roles/*/handlers/*.yml', 'playbooks/*.yml'):
        for path in glob.glob(os.path.join(root, pattern)):
            with open(path) as handle:
                text = handle.read()
            names.update(_DEFINED.findall(text))
            names.update(_REGISTERED.findall(text))
    names = frozenset(n for n in names if str(n).startswith('func_'))
    if root == ROOT:
        _KNOWN.append(names)
    return names


def unknown_vars(names, warn=True, root=ROOT):
    known = known_names(root)
    out = []
    for name in sorted(set(names or ())):
        if not str(name).startswith('func_') or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        out.append({'name': name, 'suggestion': close[0] if close else None})
        if warn:
            Display().warning('%s is not a variable of dataflux.func and is ignored%s'
                              % (name, ' (did you mean %s?)' % close[0] if close else ''))
    return out


class FilterModule(object):
    def filters(self):
        return {'unknown_vars': unknown_vars}
