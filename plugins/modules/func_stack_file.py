#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_stack_file
short_description: Write the docker-stack.yaml of a DataFlux Func installation, its secrets filled in on the host
version_added: 0.3.0
description:
  - Writes C({install_dir}/docker-stack.yaml) (or O(dest)) from a stack file rendered on the controller, in which
    the values only the managed host knows are tokens (O(placeholders)). The module fills them in from the
    installation's C(user-config.yaml) - the built-in MySQL's password and database - so the password never
    travels to the controller and never appears in a task's arguments.
  - The file is written atomically with mode C(0600) (it holds C(MYSQL_ROOT_PASSWORD)); an equal file is left
    alone. The diff shows both versions with every secret value masked.
  - The install role renders its C(docker-stack.yaml.j2) this way; func_preflight's converged check fills the same
    tokens to compare.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
options:
  content:
    description:
      - The stack file, with each value only the host knows written as the JSON string of its token.
    type: str
    required: true
  placeholders:
    description:
      - "C({name: token}). The names the host fills in are C(mysql_password) (C(MYSQL_PASSWORD) of
        C(user-config.yaml)) and C(mysql_database) (C(MYSQL_DATABASE), else DataFlux Func's default). A token
        that does not occur in O(content) is ignored; a token of any other name that does is an error."
    type: dict
    default: {}
  dest:
    description:
      - Where to write the file. Defaults to the installation's C(docker-stack.yaml).
    type: path
  stand_in:
    description:
      - When C(user-config.yaml) does not hold a value yet, fill in a masked stand-in instead of failing. For a
        check-mode preview of a first install, in which func_config wrote nothing. Check mode itself always does
        this, since nothing is written then.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Secret values (keys containing PASSWORD, SECRET, TOKEN, ...) are masked.
  idempotent:
    support: full
seealso:
  - module: dataflux.func.func_config
  - module: dataflux.func.func_stack
'''

EXAMPLES = r'''
- name: Write docker-stack.yaml; the built-in MySQL's password comes from user-config.yaml on the host
  dataflux.func.func_stack_file:
    install_dir: /usr/local/dataflux-func
    content: "{{ lookup('ansible.builtin.template', 'docker-stack.yaml.j2',
                 template_vars={'mysql_password': '@@mysql_password@@'}) }}"
    placeholders:
      mysql_password: "@@mysql_password@@"
  register: stack_file
'''

RETURN = r'''
path:
  description: The file written (or, in check mode, that would be written).
  returned: always
  type: str
  sample: /usr/local/dataflux-func/docker-stack.yaml
stand_ins:
  description: The names whose value C(user-config.yaml) did not hold yet, filled with a masked stand-in.
  returned: always
  type: list
  elements: str
  sample: []
'''

import json
import os

from ansible_collections.dataflux.func.plugins.module_utils._func_common import (
    MASK, FuncError, atomic_write, file_mode, mask_secret_lines, read_file)
from ansible_collections.dataflux.func.plugins.module_utils._func_install import fill_placeholders, placeholder_values
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule


def run(ctx):
    params = ctx.params
    inst = ctx.installation
    dest = params['dest'] or inst.path('stack_file')
    content = params['content']
    used = dict((name, token) for name, token in (params['placeholders'] or {}).items()
                if json.dumps(str(token)) in content)
    values = placeholder_values(inst.load_user_config())
    foreign = sorted(name for name in used if name not in values)
    if foreign:
        raise FuncError('placeholders: the host fills in only %s, not %s. Nothing was changed.'
                        % (' and '.join(sorted(values)), ', '.join(foreign)))
    missing = sorted(name for name in used if values[name] in (None, ''))
    if missing and not (ctx.check_mode or params['stand_in']):
        raise FuncError('%s holds no %s yet, which %s needs: write it first (func_config generate). Nothing was '
                        'changed.' % (inst.path('config_file'), ', '.join(missing), dest))
    values.update((name, MASK) for name in missing)
    ctx.add_secret(values['mysql_password'])
    text = fill_placeholders(content, used, values)

    before = read_file(dest)
    changed = before != text or file_mode(dest) != 0o600
    result = dict(changed=changed, path=dest, stand_ins=missing)
    if ctx.module._diff and before != text:
        result['diff'] = dict(before_header=dest, after_header=dest,
                              before=mask_secret_lines(before or '', ctx.secrets),
                              after=mask_secret_lines(text, ctx.secrets))
    if changed and not ctx.check_mode:
        if before != text:
            if not os.path.isdir(os.path.dirname(dest)):
                raise FuncError('Directory %s does not exist. Nothing was changed.' % os.path.dirname(dest))
            atomic_write(dest, text, mode=0o600)
        else:
            os.chmod(dest, 0o600)
    return result


def main():
    FuncModule(dict(
        content=dict(type='str', required=True),
        placeholders=dict(type='dict', default={}),
        dest=dict(type='path'),
        stand_in=dict(type='bool', default=False),
    )).run(run)


if __name__ == '__main__':
    main()
