# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

class ModuleDocFragment(object):
    # Redis connection options (plugins/module_utils/_func_redis.py redis_argument_spec()).
    DOCUMENTATION = r'''
options:
  redis_transport:
    description:
      - How to reach the installation's Redis.
      - V(container) runs C(redis-cli) inside the running container of the stack service O(redis_service)
        (C(docker exec -i)); commands, and C(AUTH) as the first line, go on its standard input, never on a
        command line.
      - V(direct) connects from the managed host to O(redis_host):O(redis_port) with a built-in RESP2 client
        (no Python Redis library is needed), using TLS when O(redis_use_tls) is set.
      - V(auto) picks V(container) when the stack has the service O(redis_service) and the effective
        C(REDIS_HOST) is that service name (the built-in Redis), and V(direct) otherwise (an external Redis).
    type: str
    choices: [auto, container, direct]
    default: auto
  redis_service:
    description:
      - Name of the built-in Redis service inside the stack (without the C(<stack_name>_) prefix).
    type: str
    default: redis
  redis_host:
    description:
      - Redis host. Default is C(REDIS_HOST) of the installation's effective configuration (image defaults,
        then C(data/user-config.yaml), then the C(DFF_REDIS_HOST) environment of the server service).
    type: str
  redis_port:
    description:
      - Redis port. Default is the effective C(REDIS_PORT) (6379). With V(container) it is the port inside
        the container.
    type: int
  redis_database:
    description:
      - Redis database number. Default is the effective C(REDIS_DATABASE), which is V(5) unless configured.
    type: int
  redis_user:
    description:
      - Redis ACL user name. Default is the effective C(REDIS_USER).
    type: str
  redis_password:
    description:
      - Redis password. Default is the effective C(REDIS_PASSWORD). With C(REDIS_AUTH_TYPE=aliyun) in the
        configuration, C(user:password) is sent as the password, as DataFlux Func does.
    type: str
  redis_use_tls:
    description:
      - Connect with TLS (V(direct)) or C(redis-cli --tls) (V(container)). The certificate is not verified,
        like DataFlux Func itself does. Default is the effective C(REDIS_USE_TLS).
    type: bool
  redis_timeout:
    description:
      - Seconds to wait for Redis (socket timeout, or the whole C(docker exec) run).
    type: float
    default: 30
'''
