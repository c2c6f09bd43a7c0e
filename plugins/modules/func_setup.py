#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_setup
short_description: Complete the first-time setup of DataFlux Func without the web wizard
version_added: 0.2.0
description:
  - Posts C(/setup) the way the setup page does, with the connection settings, C(SECRET) and passwords of the
    installation's own C(user-config.yaml) (read on the host, never passed through the play) and the admin
    account, retrying while the server answers setup errors (for example a database that is still starting),
    then waits until the server has recorded C(_IS_INSTALLED) as V(true).
  - O(timeout) covers the setup page, the setup and the recorded installation together.
  - Does nothing when the installation is set up already. In check mode it only reports whether it would post.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
  - dataflux.func.server
options:
  admin_username:
    description: User name of the administrator account.
    type: str
    default: admin
  admin_password:
    description: Password of the administrator account.
    type: str
    required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
'''

EXAMPLES = r'''
- name: Complete the first-time setup
  dataflux.func.func_setup:
    install_dir: /usr/local/dataflux-func
    admin_password: "{{ vault_func_admin_password }}"
'''

RETURN = r'''
posted:
  description: Whether the setup was posted (or, in check mode, would be).
  returned: always
  type: bool
attempts:
  description: How many posts it took.
  returned: always
  type: int
'''

import json
import time

from ansible.module_utils.urls import open_url

from ansible_collections.dataflux.func.plugins.module_utils._func_app import SETUP_PATH, to_boolean
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_http import (
    server_argument_spec, server_url, wait_http_200)
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule

# What the setup page posts besides the admin account (server/views/setup.ejs), from the installation's config.
POSTED_KEYS = ('SECRET', 'MYSQL_HOST', 'MYSQL_PORT', 'MYSQL_USER', 'MYSQL_PASSWORD', 'MYSQL_DATABASE',
               'REDIS_HOST', 'REDIS_PORT', 'REDIS_DATABASE', 'REDIS_PASSWORD', 'REDIS_USE_TLS')


def post_setup(url, body):
    """(HTTP status, decoded body)."""
    data = json.dumps(body).encode('utf-8')
    try:
        resp = open_url(url, data=data, method='POST', headers={'Content-Type': 'application/json'}, timeout=120,
                        follow_redirects='none')
        status, raw = resp.getcode(), resp.read()
    except Exception as exc:  # pylint: disable=broad-except  # 400 setup errors arrive as HTTPError; refused
        status = getattr(exc, 'code', None)
        try:
            raw = exc.read() if hasattr(exc, 'read') else b''
        except Exception:  # pylint: disable=broad-except
            raw = b''
    try:
        return status, json.loads(raw.decode('utf-8')) if raw else None
    except ValueError:
        return status, None


def installed(inst):
    return to_boolean((inst.load_user_config() or {}).get('_IS_INSTALLED', False))


def run(ctx):
    params = ctx.params
    inst = ctx.installation
    result = dict(changed=False, posted=False, attempts=0)
    if inst.load_user_config() is None and not ctx.check_mode:
        raise FuncError('%s does not exist: write the configuration before the setup.' % inst.path('config_file'))
    if installed(inst):
        return result
    result.update(changed=True, posted=True)
    if ctx.check_mode:
        return result
    config = ctx.config()
    user_config = dict((key, config[key]) for key in POSTED_KEYS if config.get(key) is not None)
    ctx.add_secret(user_config.get('SECRET'), user_config.get('MYSQL_PASSWORD'), user_config.get('REDIS_PASSWORD'))
    user_config.update(ADMIN_USERNAME=params['admin_username'], ADMIN_PASSWORD=params['admin_password'],
                       ADMIN_PASSWORD_REPEAT=params['admin_password'])
    base = server_url(inst, params)
    deadline = time.time() + max(params['timeout'], 1)
    delay = max(params['delay'], 0.1)
    if wait_http_200(base + '/', max(deadline - time.time(), 0), delay) is None:
        raise FuncError('The first-time setup page of DataFlux Func at %s/ did not answer 200 within %d s. '
                        'docker service ps %s_server shows why.' % (base, params['timeout'], inst.stack_name))
    last = None
    while True:
        result['attempts'] += 1
        status, body = post_setup(base + SETUP_PATH, {'userConfig': user_config})
        if status == 200:
            break
        last = (status, body)
        if time.time() >= deadline:
            raise FuncError('The first-time setup of DataFlux Func at %s failed (HTTP %s): %s'
                            % (base, status, json.dumps((body or {}).get('setupErrors', body))[:2000]),
                            attempts=result['attempts'])
        time.sleep(delay)
    while not installed(inst):
        if time.time() >= deadline:
            raise FuncError('The setup was accepted but %s does not record _IS_INSTALLED: true after %d s.'
                            % (inst.path('config_file'), params['timeout']), last=last)
        time.sleep(delay)
    return result


def main():
    spec = server_argument_spec()
    spec.update(admin_username=dict(type='str', default='admin'),
                admin_password=dict(type='str', required=True, no_log=True))
    FuncModule(spec).run(run)


if __name__ == '__main__':
    main()
