# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

class ModuleDocFragment(object):
    # MySQL connection options (plugins/module_utils/_func_mysql.py mysql_argument_spec()).
    DOCUMENTATION = r'''
options:
  mysql_transport:
    description:
      - How to reach the installation's MySQL.
      - V(container) runs C(mysql)/C(mysqldump) inside the running container of the stack service
        O(mysql_service) (C(docker exec -i)). The credentials reach the client as a 0600 option file that a
        small shell script reads from standard input and passes first as C(--defaults-extra-file); they are
        never on a command line, not even inside the container.
      - V(direct) runs the managed host's C(mysql)/C(mysqldump) (or C(mariadb)/C(mariadb-dump)) against
        O(mysql_host):O(mysql_port) (or O(mysql_socket)), with the credentials in a 0600 option file in a
        private temporary directory.
      - V(docker_run) runs the client in a short-lived container (C(docker run --rm -i --network host)) of
        O(mysql_client_image), by default the image of the stack's MySQL service, else of its server (the
        DataFlux Func image carries the MySQL client). Credentials travel as with V(container). The managed host
        needs no MySQL client.
      - V(auto) picks V(container) when the effective C(MYSQL_HOST) is the built-in service name C(mysql)
        (and fails clearly if the stack has no such service); otherwise (an external MySQL) V(direct) when
        the host has C(mysql) or C(mariadb), else V(docker_run).
    type: str
    choices: [auto, container, direct, docker_run]
    default: auto
  mysql_client_image:
    description:
      - Image of the client container for O(mysql_transport=docker_run) (and V(auto) on a host without a MySQL
        client). Default the image of the stack's MySQL service, else of its server service.
    type: str
  mysql_service:
    description:
      - Name of the built-in MySQL service inside the stack (without the C(<stack_name>_) prefix).
    type: str
    default: mysql
  mysql_host:
    description:
      - MySQL host. Default is C(MYSQL_HOST) of the installation's effective configuration (image defaults,
        then C(data/user-config.yaml), then the C(DFF_MYSQL_HOST) environment of the server service).
      - With V(container), the client connects to the server's local socket unless this is given.
    type: str
  mysql_port:
    description:
      - MySQL port. Default is the effective C(MYSQL_PORT) (3306).
    type: int
  mysql_user:
    description:
      - MySQL user. Default is the effective C(MYSQL_USER).
    type: str
  mysql_password:
    description:
      - MySQL password. Default is the effective C(MYSQL_PASSWORD).
    type: str
  mysql_database:
    description:
      - The DataFlux Func database. Default is the effective C(MYSQL_DATABASE) (C(dataflux_func)).
    type: str
  mysql_socket:
    description:
      - UNIX socket of the MySQL server. With V(direct) it is used instead of O(mysql_host) and
        O(mysql_port); with V(container) it is a path inside the container.
    type: path
'''
