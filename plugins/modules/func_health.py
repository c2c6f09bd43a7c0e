#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_health
short_description: Wait until DataFlux Func answers (ping, and the expected version)
version_added: 0.2.0
description:
  - Polls C(GET /api/v1/do/ping) until it answers C(pong) and, with O(version), C(GET /api/v1/image-info) until
    it reports that version, without following redirects (a server in setup mode answers 302). The one health
    wait every role of the collection uses.
  - The port is O(port), else the port C(docker-stack.yaml) publishes for the server, else 8088.
  - O(timeout=0) probes once and reports, without failing.
  - Reads only. In check mode nothing is polled (a predicted deploy has not happened); the module returns at once
    with RV(waited) null.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
  - dataflux.func.server
options:
  version:
    description: Wait until image-info reports this VERSION as well.
    type: str
attributes:
  check_mode:
    support: full
    details: Nothing is polled in check mode; the module never changes anything.
  diff_mode:
    support: none
  idempotent:
    support: full
'''

EXAMPLES = r'''
- name: Wait until DataFlux Func 5.1.7 answers
  dataflux.func.func_health:
    version: "5.1.7"
    timeout: 600

- name: Read the version that answers now (one probe)
  dataflux.func.func_health:
    timeout: 0
  register: func_now
'''

RETURN = r'''
url:
  description: The base URL probed.
  returned: always
  type: str
  sample: http://127.0.0.1:8088
ping:
  description: Whether the last probe answered C(pong).
  returned: always
  type: bool
version:
  description: VERSION the server reported at the last probe (null when it did not answer).
  returned: always
  type: str
waited:
  description: Seconds until the server was healthy (null in check mode).
  returned: always
  type: float
'''

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_http import (
    server_argument_spec, server_url, wait_healthy)
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule


def run(ctx):
    params = ctx.params
    base = server_url(ctx.installation, params)
    result = dict(changed=False, url=base, ping=False, version=None, waited=None)
    if ctx.check_mode:
        return result
    waited, last = wait_healthy(base, params['version'], max(params['timeout'], 0), max(params['delay'], 0.1))
    result.update(ping=last['ping'], version=last['version'])
    if waited is None:
        if params['timeout'] <= 0 and not params['version']:
            return result        # a single probe reports; it does not fail
        want = 'pong' + (' and VERSION %s' % params['version'] if params['version'] else '')
        raise FuncError('DataFlux Func at %s did not answer %s within %d s (last: HTTP %s, ping %s, VERSION %s). '
                        'docker service ps %s_server shows why.'
                        % (base, want, params['timeout'], last['status'], 'pong' if last['ping'] else 'no answer',
                           last['version'], ctx.installation.stack_name),
                        url=base, ping=last['ping'], version=last['version'])
    result['waited'] = round(waited, 2)
    return result


def main():
    spec = server_argument_spec()
    spec.update(version=dict(type='str'))
    FuncModule(spec).run(run)


if __name__ == '__main__':
    main()
