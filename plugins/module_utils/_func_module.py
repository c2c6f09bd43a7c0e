# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module context every dataflux.func module runs in (like community.docker's AnsibleModuleDockerClient).

A module is: options -> FuncModule -> one use-case call -> result::

    ctx = FuncModule(dict(state=dict(...)), mysql=True)
    ctx.run(lambda ctx: dump(ctx.installation, ctx.mysql(), ctx.params))

FuncModule builds the merged argument spec (the install options of the ``dataflux.func.install`` doc fragment,
plus the MySQL / Redis connection options when asked for) and the AnsibleModule; it owns one Installation (whose
effective configuration is computed once), one DockerCLI, the MySQL / Redis clients (one transport rule, in
_func_docker.stack_service_transport), the secrets (registered in no_log_values and redacted from every error),
the audit of the commands run, and the one way to fail.
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError, fail_from
from ansible_collections.dataflux.func.plugins.module_utils._func_docker import DockerCLI, docker_argument_spec
from ansible_collections.dataflux.func.plugins.module_utils._func_install import DEFAULT_STACK_NAME, Installation


def install_argument_spec():
    """Options of the dataflux.func.install doc fragment: install_dir, stack_name, docker_cli, docker_host."""
    spec = dict(
        install_dir=dict(type='path'),
        stack_name=dict(type='str', default=DEFAULT_STACK_NAME),
    )
    spec.update(docker_argument_spec())
    return spec


class FuncModule(object):
    """One run of a dataflux.func module against one installation."""

    def __init__(self, argument_spec=None, install=True, docker=False, mysql=False, redis=False, **module_kwargs):
        spec = install_argument_spec() if install else (docker_argument_spec() if docker else {})
        if mysql:
            from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import mysql_argument_spec
            spec.update(mysql_argument_spec())
        if redis:
            from ansible_collections.dataflux.func.plugins.module_utils._func_redis import redis_argument_spec
            spec.update(redis_argument_spec())
        spec.update(argument_spec or {})
        module_kwargs.setdefault('supports_check_mode', True)
        self.module = AnsibleModule(argument_spec=spec, **module_kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.secrets = []
        self.add_secret(*[self.params.get(name) for name, opt in spec.items() if opt.get('no_log')])
        self._installation = None
        self._docker = None
        self._clients = []

    # --- secrets --------------------------------------------------------------------------------------------
    def add_secret(self, *values):
        """Mask values in every output of the module (result, warnings, errors)."""
        for value in values:
            if value is None or isinstance(value, bool) or str(value) == '':
                continue
            value = str(value)
            if value not in self.secrets:
                self.secrets.append(value)
                self.module.no_log_values.add(value)

    # --- the installation and its backends -------------------------------------------------------------------
    @property
    def installation(self):
        if self._installation is None:
            stack = self.params.get('stack_name')     # '' is refused by Installation, not replaced
            self._installation = Installation(self.params.get('install_dir'),
                                              DEFAULT_STACK_NAME if stack is None else stack)
        return self._installation

    @property
    def docker(self):
        if self._docker is None:
            self._docker = DockerCLI(self.module, self.params.get('docker_cli') or 'docker',
                                     self.params.get('docker_host'))
        return self._docker

    def config(self, service='server'):
        """Effective configuration of a service (user-config.yaml + the stack's DFF_ environment), read once."""
        return self.installation.effective_config(service)

    def mysql(self, params=None):
        """MySQL client of the installation (effective config, overridden by the mysql_* options)."""
        from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import MySQLClient
        client = MySQLClient.for_installation(self.module, self.installation, self.docker,
                                              self.params if params is None else params)
        return self._client(client)

    def redis(self, params=None):
        """Redis client of the installation (effective config, overridden by the redis_* options)."""
        from ansible_collections.dataflux.func.plugins.module_utils._func_redis import RedisClient
        client = RedisClient.for_installation(self.module, self.installation, self.docker,
                                              self.params if params is None else params)
        return self._client(client)

    def _client(self, client):
        self._clients.append(client)
        self.add_secret(*client.secrets)
        return client

    @property
    def commands(self):
        """What was run, in order per backend (argv joined; secrets never on argv)."""
        out = []
        for client in self._clients:
            out.extend(getattr(client, 'commands', None) or [])
        if self._docker is not None:
            out.extend(c for c in self._docker.commands if c not in out)
        return out

    # --- results ----------------------------------------------------------------------------------------------
    def fail(self, exc):
        """Fail with a FuncError's message and details (secrets redacted), or any other exception's."""
        if isinstance(exc, FuncError):
            exc.details.setdefault('commands', self.commands)
        fail_from(self.module, exc, self.secrets)

    def run(self, use_case):
        """exit_json(**use_case(self)); a FuncError (or any other exception) becomes a clean failure."""
        try:
            result = use_case(self)
        except SystemExit:
            raise
        except BaseException as exc:  # pylint: disable=broad-except  # every failure (a signal too) leaves here
            self.fail(exc)
        if result.pop('failed', False):
            self.module.fail_json(**result)
        self.module.exit_json(**result)
