# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

class ModuleDocFragment(object):
    """Where the DataFlux Func server answers over HTTP (dataflux.func.server)."""

    DOCUMENTATION = r'''
options:
  api_host:
    description: Host or address the server's published port is reached at from the managed host.
    type: str
    default: 127.0.0.1
  port:
    description: Published port of the server. Default the one in C(docker-stack.yaml), else 8088.
    type: int
  timeout:
    description: Seconds to wait at most.
    type: int
    default: 300
  delay:
    description: Seconds between two attempts.
    type: float
    default: 2
'''
