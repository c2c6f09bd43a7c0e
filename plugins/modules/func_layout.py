#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_layout
short_description: Create the directory layout of a DataFlux Func installation
version_added: 0.2.0
description:
  - Creates the layout of the official installer in one step - C(data/), C(data/resources/extra-python-packages),
    C(data/logs), C(data/sqldump), C(mysql/) and C(redis/) under the install directory (mode 0755) - and, when
    asked, copies the bundle's pristine C(docker-stack.example.yaml) next to them and writes the logrotate file.
  - Existing directories keep their owner and mode; only what is missing or different is written.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
options:
  example_src:
    description: The bundle's C(docker-stack.example.yaml), copied to the install directory (0644).
    type: path
  logrotate_file:
    description: Where to write the logrotate configuration of C(data/logs/dataflux-func.log) (0644).
    type: path
  logrotate_content:
    description: The content of O(logrotate_file).
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
'''

EXAMPLES = r'''
- name: Create the install layout
  dataflux.func.func_layout:
    install_dir: /usr/local/dataflux-func
'''

RETURN = r'''
created:
  description: What was (or, in check mode, would be) created or rewritten.
  returned: always
  type: list
  elements: str
'''

import os

from ansible_collections.dataflux.func.plugins.module_utils._func_common import atomic_write, read_file
from ansible_collections.dataflux.func.plugins.module_utils._func_install import layout_changes
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule


def run(ctx):
    params = ctx.params
    root = ctx.installation.install_dir
    files = []
    if params['example_src']:
        example = read_file(params['example_src'], True)
        if example is None:
            ctx.module.fail_json(msg='Cannot read %s' % params['example_src'])
        files.append((os.path.join(root, 'docker-stack.example.yaml'), example))
    if params['logrotate_file']:
        files.append((params['logrotate_file'], (params['logrotate_content'] or '').encode('utf-8')))
    changes = layout_changes(root, files)
    if not ctx.check_mode:
        for path, content in changes:
            if content is None:
                os.makedirs(path)
                os.chmod(path, 0o755)
                continue
            parent = os.path.dirname(path)
            if not os.path.isdir(parent):
                os.makedirs(parent)
            atomic_write(path, content, mode=0o644)
    return dict(changed=bool(changes), created=[path for path, _content in changes])


def main():
    FuncModule(dict(
        example_src=dict(type='path'),
        logrotate_file=dict(type='path'),
        logrotate_content=dict(type='str'),
    )).run(run)


if __name__ == '__main__':
    main()
