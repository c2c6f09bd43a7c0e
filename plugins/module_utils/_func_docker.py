# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker access for dataflux.func, through the docker CLI.

Stacks have no Engine API, so the CLI is needed anyway; using it for everything keeps managed hosts free
of the Docker SDK. Every command is an argv list (never a shell string), and secrets never go on argv.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError

STACK_LABEL = 'com.docker.stack.namespace'
SERVICE_LABEL = 'com.docker.swarm.service.name'


def docker_argument_spec():
    return dict(
        docker_cli=dict(type='path', default='docker'),
        docker_host=dict(type='str'),
    )


class DockerCLI(object):
    """Thin wrapper around the docker CLI: JSON queries, container lookup, exec streaming."""

    def __init__(self, module=None, docker_cli='docker', docker_host=None):
        self.module = module
        self.docker_cli = docker_cli or 'docker'
        self.env = dict(os.environ)
        if docker_host:
            self.env['DOCKER_HOST'] = docker_host
        self.commands = []   # audit trail returned by modules as "commands"

    # --- plumbing -------------------------------------------------------------------------
    def argv(self, *args):
        return [self.docker_cli] + [str(a) for a in args]

    def run(self, *args, **kwargs):
        """Run docker with args; return (rc, stdout, stderr). check=True raises FuncError on rc != 0."""
        check = kwargs.pop('check', True)
        data = kwargs.pop('data', None)
        timeout = kwargs.pop('timeout', None)
        argv = self.argv(*args)
        self.commands.append(' '.join(argv))
        try:
            proc = subprocess.run(argv, input=data, capture_output=True, env=self.env, timeout=timeout,
                                  cwd=kwargs.pop('cwd', None))
        except FileNotFoundError:
            raise FuncError('The docker CLI (%s) was not found on this host. Install Docker or set docker_cli.'
                            % self.docker_cli)
        except subprocess.TimeoutExpired:
            raise FuncError('docker %s did not finish within %s s' % (args[0] if args else '', timeout),
                            cmd=argv)
        out = proc.stdout.decode('utf-8', 'replace')
        err = proc.stderr.decode('utf-8', 'replace')
        if check and proc.returncode != 0:
            raise FuncError(self._explain(argv, err), rc=proc.returncode, stdout=out, stderr=err,
                            cmd=argv)
        return proc.returncode, out, err

    def _explain(self, argv, err):
        msg = 'Command "%s" failed: %s' % (' '.join(argv[:4]) + (' ...' if len(argv) > 4 else ''),
                                           err.strip() or 'no error output')
        if 'Cannot connect to the Docker daemon' in err or 'docker.sock' in err and 'permission' in err:
            msg += ('. The Docker daemon on this host is not reachable: check that dockerd is running '
                    '(systemctl status docker) and that this user may use it.')
        elif 'This node is not a swarm manager' in err:
            msg += '. Initialise the swarm first (docker swarm init) or run against a manager node.'
        return msg

    def json_lines(self, *args):
        _rc, out, _err = self.run(*args)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def inspect(self, kind, *names):
        if not names:
            return []
        rc, out, err = self.run(kind, 'inspect', *names, check=False)
        if rc != 0:
            if 'No such' in err or 'not found' in err:
                return []
            raise FuncError(self._explain(self.argv(kind, 'inspect'), err), rc=rc, stderr=err)
        return json.loads(out or '[]')

    # --- daemon / swarm -------------------------------------------------------------------
    def info(self):
        rc, out, err = self.run('info', '--format', '{{json .}}', check=False)
        if rc != 0:
            raise FuncError(self._explain(self.argv('info'), err), rc=rc, stderr=err)
        return json.loads(out)

    def swarm_state(self):
        info = self.info()
        swarm = info.get('Swarm') or {}
        return swarm.get('LocalNodeState'), bool(swarm.get('ControlAvailable'))

    # --- stacks, services, tasks, containers ----------------------------------------------
    def stack_services(self, stack):
        """Names of the services of a stack (full names, e.g. dataflux-func_server)."""
        rows = self.json_lines('service', 'ls', '--filter', 'label=%s=%s' % (STACK_LABEL, stack),
                               '--format', '{{json .}}')
        return sorted(row['Name'] for row in rows)

    def stack_containers(self, stack, all_states=True):
        args = ['ps', '-q', '--filter', 'label=%s=%s' % (STACK_LABEL, stack)]
        if all_states:
            args.insert(1, '-a')
        _rc, out, _err = self.run(*args)
        return [line for line in out.split() if line]

    def stack_networks(self, stack):
        _rc, out, _err = self.run('network', 'ls', '-q', '--filter', 'label=%s=%s' % (STACK_LABEL, stack))
        return [line for line in out.split() if line]

    def service_containers(self, service_full_name, running=True):
        args = ['ps', '-q', '--filter', 'label=%s=%s' % (SERVICE_LABEL, service_full_name)]
        if running:
            args += ['--filter', 'status=running']
        else:
            args.insert(1, '-a')
        _rc, out, _err = self.run(*args)
        return [line for line in out.split() if line]

    def find_container(self, stack, service, timeout=0):
        """ID of a running container of <stack>_<service>, waiting up to timeout seconds."""
        full = '%s_%s' % (stack, service)
        deadline = time.time() + (timeout or 0)
        while True:
            ids = self.service_containers(full)
            if ids:
                return ids[0]
            if time.time() >= deadline:
                raise FuncError('No running container of service %s was found on this host. Is the stack '
                                'deployed and the service running (docker service ps %s)?' % (full, full),
                                service=full)
            time.sleep(1)

    # --- exec -----------------------------------------------------------------------------
    def exec_argv(self, container, argv, interactive=True, env=None):
        """argv running argv inside container. env values must not be secrets (they show in ps)."""
        cmd = [self.docker_cli, 'exec']
        if interactive:
            cmd.append('-i')
        for key, value in (env or {}).items():
            cmd += ['-e', '%s=%s' % (key, value)]
        return cmd + [container] + list(argv)
