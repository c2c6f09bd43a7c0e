# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

class ModuleDocFragment(object):
    # The external (target) MySQL and Redis of a migration (plugins/module_utils/_func_migrate.py
    # target_argument_spec()), shared by func_migrate_check and func_migrate.
    DOCUMENTATION = r'''
options:
  mysql_host:
    description: Host of the external MySQL as the DataFlux Func containers reach it (written to C(MYSQL_HOST)).
    type: str
    required: true
  mysql_port:
    description: Port of the external MySQL.
    type: int
    default: 3306
  mysql_user:
    description: MySQL user DataFlux Func uses.
    type: str
    required: true
  mysql_password:
    description: Password of O(mysql_user).
    type: str
    default: ''
  mysql_database:
    description: Database on the external MySQL. Must be the name the installation uses now.
    type: str
    default: dataflux_func
  mysql_connect_host:
    description: Address this host uses to reach the external MySQL, when it differs from O(mysql_host).
    type: str
  mysql_client_image:
    description:
      - Image that carries a MySQL client, run as a short-lived container on the host network to reach the
        external MySQL when the managed host has no C(mysql)/C(mariadb) client (the usual case, since managed
        hosts need only python3, PyYAML and Docker). Default the image of the stack's MySQL service, else of its
        server service. Not used when the host has a client.
    type: str
  redis_host:
    description: Host of the external Redis as the containers reach it (written to C(REDIS_HOST)).
    type: str
    required: true
  redis_port:
    description: Port of the external Redis.
    type: int
    default: 6379
  redis_database:
    description: Redis database number.
    type: int
    default: 5
  redis_user:
    description: Redis ACL user (Redis 6+), empty for the default user.
    type: str
    default: ''
  redis_password:
    description: Redis password.
    type: str
    default: ''
  redis_use_tls:
    description: Connect to Redis with TLS (certificate not verified, like DataFlux Func).
    type: bool
    default: false
  redis_connect_host:
    description: Address this host uses to reach the external Redis, when it differs from O(redis_host).
    type: str
  builtin_services:
    description: Names of the built-in MySQL and Redis services in the stack file.
    type: list
    elements: str
    default: [mysql, redis]
'''
