#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: func_stack
short_description: Deploy, remove and restart the DataFlux Func stack on a Docker Swarm node
version_added: 0.1.0
description:
  - Manages the Docker stack of a DataFlux Func installation (the C(docker-stack.yaml) of the install directory)
    on one Docker Swarm manager node, through the C(docker) CLI.
  - Before deploying, the services of the stack file are compared with the running ones (image, command,
    entrypoint, environment, container and service labels, mounts, published ports, mode and replicas,
    extra hosts, endpoint mode, networks, stop grace period, init, logging, healthcheck,
    C(deploy.resources) limits and reservations and C(deploy.placement) constraints, spread preferences and
    C(max_replicas_per_node)), so check mode and diff mode tell the truth and a second run
    reports no change. C(deploy.update_config) and C(deploy.rollback_config) are applied but not compared (a
    rolling restart sets the live update order). Other compose keys (for example C(secrets) or
    C(deploy.restart_policy)) are not compared; the module warns when the stack file uses them.
  - The module waits for convergence itself (every service runs its desired number of tasks of the current
    spec) instead of relying on C(docker stack deploy --detach=false), and names the stuck service and its
    last task error when O(timeout) runs out.
  - Service names are read from the live stack file and the running stack, so installations made by older
    official installers (C(worker-1-6), C(worker-7), C(worker-8-9), ...) are handled as they are.
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
options:
  stack_file:
    description:
      - The compose file to deploy. Relative bind-mount paths in it are resolved against its directory, and
        C(docker stack deploy) runs in that directory.
      - Defaults to C(<install_dir>/docker-stack.yaml).
    type: path
  state:
    description:
      - V(present) deploys the stack file when it differs from the running services (or the stack is not
        running) and waits until every service has converged.
      - V(absent) removes the stack and waits until all of its containers and networks are gone (the
        maintenance guide's C(docker ps) check).
      - V(restarted) restarts the services (always reports a change); see O(restart_mode). If the stack is not
        running it is deployed instead.
      - V(stopped) holds the DataFlux Func services (the server, the workers and beat, which run the server's
        image) at 0 replicas and waits until their tasks are gone; MySQL, Redis and other services keep
        running. Reports a change only for services that still had replicas. Used while a database is restored
        under a stack that must not write to it. A later O(state=present) or O(state=restarted) starts them again
        from the stack file.
    type: str
    choices: [present, absent, restarted, stopped]
    default: present
  restart_mode:
    description:
      - How O(state=restarted) restarts.
      - V(full) is the maintenance guide's procedure, C(docker stack rm), wait until every container and
        network is gone, C(docker stack deploy --resolve-image never) (O(resolve_image)), wait for
        convergence. With O(services) only those services are removed and re-created. The server does not
        answer for the whole procedure.
      - V(rolling) restarts services in place with C(docker service update --force). MySQL/Redis and other
        non-Func services first (stop-first), then workers and beat (start-first), then the server. The server is
        started before the old task is stopped (start-first) so it keeps answering, B(except) when it
        publishes a port in C(mode=host). A host port cannot be bound twice on one node, so a start-first
        update would never finish (swarm reports C(host-mode port already in use)). Such a server is
        restarted stop-first, before the workers, and the module warns that it does not answer until the new
        task is up. Pending
        stack file changes are deployed first; services that this deploy already restarted are not restarted
        twice.
      - Without O(services), V(rolling) restarts only the DataFlux Func services (server, workers, beat);
        MySQL, Redis and other services cannot be restarted without an outage and are restarted (stop-first,
        before the Func services) only when named in O(services).
    type: str
    choices: [full, rolling]
    default: full
  services:
    description:
      - Short service names (for example V(server), V(worker-0), V(worker-1-6)) to restart with
        O(state=restarted). Default is every service of the stack (with O(restart_mode=rolling), every
        DataFlux Func service).
      - Names must exist in the stack file or in the running stack.
    type: list
    elements: str
  server_first:
    description:
      - With O(state=present), deploy the server before the workers and beat. The stack file is deployed with
        every other DataFlux Func service (workers and beat, the services that run the server's image) at 0
        replicas, the module waits until the server has converged, then deploys the workers and beat as the
        stack file has them (the server service is left alone; together the two deploys are the stack file).
      - When the server sets a C(healthcheck), the module waits only until one server task of the new spec runs
        (swarm reports it running once it is healthy, that is after the database upgrade). The workers and beat
        then start while swarm renews the other server replicas (one after the other on a swarm whose nodes
        publish the port in C(mode=host)); the module still waits until every service has converged.
      - This is the upgrade order the product needs. The new server runs the database upgrade
        (C(UPGRADE_DB_SEQ)) before it answers. Workers of the new version started earlier meet tables that do
        not exist yet (for example C(biz_main_cron_job) on 3.7.2 -> 5.x) and lose cron rounds. Workers of the
        old version keep running against the new schema. Tasks queued meanwhile wait in Redis.
      - The caller waits for the server to answer between the two phases with O(server_ready_url), or the
        module only waits for the server's task to run.
      - No effect when nothing changes.
    type: bool
    default: false
  server_ready_url:
    description:
      - With O(server_first), the URL (on the managed host) that must answer HTTP 200 before the workers and
        beat are deployed. The server answers it after its database upgrade. Polled once a second within
        O(timeout).
      - A URL without a path, for example C(http://127.0.0.1:8088), means the server's ping path there
        (C(/api/v1/do/ping)).
    type: str
  resolve_image:
    description:
      - Passed to C(docker stack deploy --resolve-image). V(never) suits offline installs with images loaded
        from the portable bundle.
    type: str
    choices: [never, always, changed]
    default: never
  prune:
    description:
      - Remove running services of the stack that the stack file no longer defines (C(--prune)). Without it
        such services are kept and listed in RV(plan) with action V(extra).
    type: bool
    default: false
  wait:
    description:
      - Wait for convergence after deploying, and until containers and networks are gone after removing.
    type: bool
    default: true
  timeout:
    description:
      - Seconds allowed for all waiting of one module run together.
    type: int
    default: 300
attributes:
  check_mode:
    support: full
    details: Returns the plan and the same C(changed) as a real run, and changes nothing.
  diff_mode:
    support: full
    details: Before/after of every service that would be created, updated or removed; environment values of
      secret-looking keys (C(PASSWORD), C(SECRET), C(TOKEN), ...) are masked.
  idempotent:
    support: partial
    details: O(state=present), O(state=absent) and O(state=stopped) are idempotent; O(state=restarted) always
      restarts.
notes:
  - Test or CI stacks on hosts without IPVS need C(deploy.endpoint_mode=dnsrr) and host-mode published ports.
  - The stack file is parsed with PyYAML on the managed host; C(${VAR}) interpolation is not supported.
  - A start-first update only overlaps the old and new server B(tasks). The official stack file defines no
    C(healthcheck), so swarm counts the new task as running as soon as its container starts and stops the old
    one while the new server may still be booting. For a restart without any failed request the server also
    needs a C(healthcheck) (for example C(curl -fsS http://127.0.0.1:8088/api/v1/do/ping)) in the stack file.
requirements:
  - Docker CLI and a Docker Swarm manager node (C(docker swarm init)).
  - PyYAML on the managed host.
seealso:
  - name: docker stack deploy
    description: Reference of the command this module runs.
    link: https://docs.docker.com/reference/cli/docker/stack/deploy/
author:
  - dataflux.func contributors (@dataflux-func)
'''

EXAMPLES = r'''
- name: Deploy docker-stack.yaml of the default installation (no-op when nothing changed)
  dataflux.func.func_stack:
    state: present

- name: Show what a deploy would change, without changing anything
  dataflux.func.func_stack:
    install_dir: /usr/local/dataflux-func
  check_mode: true
  diff: true

- name: Restart like the maintenance guide (stack rm, wait, deploy)
  dataflux.func.func_stack:
    state: restarted
    restart_mode: full

- name: Restart the workers in place, server keeps running
  dataflux.func.func_stack:
    state: restarted
    restart_mode: rolling
    services: [worker-0, worker-1, worker-2, worker-3, worker-5, worker-6, beat]

- name: Stop DataFlux Func and wait until every container is gone
  dataflux.func.func_stack:
    state: absent
    timeout: 120
'''

RETURN = r'''
services:
  description: Services of the stack after the run (live state; in check mode the state before the run).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Full service name.
      type: str
      sample: dataflux-func_server
    short_name:
      description: Service name in the stack file.
      type: str
      sample: server
    image:
      description: Image reference (without digest).
      type: str
      sample: pubrepo.jiagouyun.com/dataflux-func/dataflux-func:5.1.7
    desired:
      description: Desired task count.
      type: int
      sample: 1
    running:
      description: Running task count.
      type: int
      sample: 1
    mode:
      description: V(replicated) or V(global).
      type: str
      sample: replicated
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["deploy stack dataflux-func (update: server)", "wait for convergence: 2.1 s"]
plan:
  description:
    - One entry per service. For O(state=present) the action is V(create), V(update) (with the changed
      fields), V(remove) (only with O(prune)), V(extra) (running, not in the file, kept) or V(unchanged); for
      O(state=absent) V(remove); for O(state=restarted) V(restart) (with the update C(order) when rolling); for
      O(state=stopped) V(stop) (scaled to 0) or V(unchanged) (at 0 already).
  returned: always
  type: list
  elements: dict
  sample: [{"service": "server", "action": "update", "fields": ["env"]}]
commands:
  description: The Docker commands that changed something (queries are not listed). No secrets.
  returned: always
  type: list
  elements: str
  sample: ["docker stack deploy -c /usr/local/dataflux-func/docker-stack.yaml --resolve-image never dataflux-func"]
stack_file:
  description: The stack file used.
  returned: always
  type: str
  sample: /usr/local/dataflux-func/docker-stack.yaml
diff:
  description: Before/after of the changed services (secrets masked), also shown with C(--diff).
  returned: when diff mode is on or something changed
  type: dict
'''

import copy
import os
import tempfile
import time

try:
    from urllib.parse import urlparse
except ImportError:  # pragma: no cover - Python 2 is not supported on managed hosts
    from urlparse import urlparse

from ansible_collections.dataflux.func.plugins.module_utils._func_app import PING_PATH
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_http import wait_http_200
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule
from ansible_collections.dataflux.func.plugins.module_utils._func_stack import (
    checks_health, host_mode_ports, masked_service, normalize_compose_stack, plan_changes, stack_diff, stack_plan,
    unsupported_keys)
from ansible_collections.dataflux.func.plugins.module_utils._func_install import (
    dump_yaml, load_yaml_file)


MUTATING = ('stack deploy', 'stack rm', 'service update', 'service rm', 'service scale')
STATEFUL_HINTS = ('mysql', 'mariadb', 'redis')


class StackRunner(object):
    def __init__(self, ctx):
        self.module = ctx.module
        self.params = ctx.params
        self.check = ctx.check_mode
        self.inst = ctx.installation
        self.stack = self.params['stack_name']
        self.stack_file = os.path.abspath(self.params['stack_file'] or self.inst.path('stack_file'))
        self.docker = ctx.docker
        self.deadline = time.time() + self.params['timeout']
        self.actions = []
        self.result = {'changed': False, 'plan': [], 'stack_file': self.stack_file}

    # --- helpers ---------------------------------------------------------------------------------
    def full(self, short):
        return '%s_%s' % (self.stack, short)

    def remaining(self):
        return max(0.0, self.deadline - time.time())

    def desired(self):
        data = load_yaml_file(self.stack_file, required=True, what='Stack file')
        for svc, keys in sorted(unsupported_keys(data).items()):
            self.module.warn('Stack file %s, service %s: changes to %s are not detected by func_stack '
                             '(they are deployed only together with a detected change or a restart).'
                             % (self.stack_file, svc, ', '.join(keys)))
        return normalize_compose_stack(data, self.stack, os.path.dirname(self.stack_file))

    def other_stack_using_install_dir(self):
        """The name of another stack whose services bind-mount this installation's directory (or None)."""
        top = self.inst.install_dir.rstrip('/') + '/'
        names = [row['Name'] for row in self.docker.json_lines('service', 'ls', '--format', '{{json .}}')]
        # (service_inspect skips services that went away since the listing: another stack being removed meanwhile)
        for svc in self.docker.service_inspect(*names):
            spec = svc.get('Spec') or {}
            stack = (spec.get('Labels') or {}).get('com.docker.stack.namespace')
            if stack == self.stack:
                continue
            for mount in ((spec.get('TaskTemplate') or {}).get('ContainerSpec') or {}).get('Mounts') or []:
                source = (mount.get('Source') or '').rstrip('/') + '/'
                if mount.get('Type') == 'bind' and source.startswith(top):
                    return stack or spec.get('Name')
        return None

    def deploy(self, why, stack_file=None, prune=None, checked=False):
        other = None if checked else self.other_stack_using_install_dir()
        if other:
            raise FuncError('Stack %s already runs from %s (its services mount that directory). Deploying it again '
                            'as stack %s would start a second MySQL and Redis on the same data files. Use '
                            'stack_name=%s. Nothing was changed.' % (other, self.inst.install_dir, self.stack, other),
                            other_stack=other)
        self.actions.append('deploy stack %s (%s)' % (self.stack, why))
        if self.check:
            return
        self.docker.stack_deploy(self.stack, stack_file or self.stack_file, self.params['resolve_image'],
                                 self.params['prune'] if prune is None else prune)

    def deploy_variant(self, why, data, **kwargs):
        """Deploy a variant of the stack file (data) from a private file next to it, so its relative paths resolve
        the same way; 0600, as it holds the same secrets."""
        fd, tmp = tempfile.mkstemp(prefix='.server-first-', suffix='.yaml', dir=os.path.dirname(self.stack_file))
        try:
            with os.fdopen(fd, 'w') as f:
                f.write(dump_yaml(data))
            self.deploy(why, stack_file=tmp, **kwargs)
        finally:
            os.unlink(tmp)

    def deploy_server_first(self, desired, summary):
        """server_first: (1) the stack file with the workers and beat at 0 replicas, until the server runs (and
        answers server_ready_url); (2) the workers and beat alone, as the stack file has them. Together the two
        deploys are the stack file as it is; the second leaves the server service alone, so that a rolling update
        of its replicas still under way is not restarted (with host-mode ports, an update of the server service in
        the middle of its own rolling update left its next task pending on Docker 20.10: 'host-mode port already
        in use on 3 nodes' with one node free)."""
        held = sorted(s for s, spec in desired.items() if self.service_kind(s, spec, desired) == 'func')
        data = load_yaml_file(self.stack_file, required=True, what='Stack file')
        phase1 = copy.deepcopy(data)
        for short in held:
            svc = phase1['services'][short]
            deploy = svc.get('deploy') if isinstance(svc.get('deploy'), dict) else {}
            svc['deploy'] = dict(deploy, replicas=0, mode='replicated')
        self.actions.append('server first: %s held at 0 replicas' % (', '.join(held) or 'nothing'))
        if self.check:
            self.deploy('server first; %s' % summary)
        else:
            self.deploy_variant('server first; %s' % summary, phase1)
        # Swarm reports a task of a service with a healthcheck running only once it is healthy, and the server is
        # healthy only after its database upgrade: one such task of the new version is enough for the workers, while
        # swarm renews the other servers (one after the other on a swarm whose nodes each run one server)
        started = [s for s in sorted(desired) if s not in held]
        checked = [s for s in started if checks_health(desired[s])]
        self.wait_converged(checked, first_task=True)
        self.wait_converged([s for s in started if s not in checked])
        url = self.params['server_ready_url']
        if url and urlparse(url).path in ('', '/'):
            url = url.rstrip('/') + PING_PATH
        if url and self.params['wait'] and not self.check:
            took = wait_http_200(url, self.remaining())
            if took is None:
                raise FuncError('The server did not answer %s within the timeout; the workers and beat were not '
                                'started on the new version (they stay at 0 replicas until the stack file is '
                                'deployed again).' % url, held=held)
            self.actions.append('wait until %s answers 200: %.1f s' % (url, took))
        if not held:
            return
        phase2 = dict(data, services=dict((short, data['services'][short]) for short in held))
        why = 'then %s as in the stack file' % ', '.join(held)
        if self.check:
            self.deploy(why, checked=True)
        else:
            # (without --prune: the services the variant leaves out stay as they are)
            self.deploy_variant(why, phase2, prune=False, checked=True)

    def wait_converged(self, shorts, first_task=False):
        if self.check or not self.params['wait'] or not shorts:
            return
        took = self.docker.wait_services_converged([self.full(s) for s in shorts], timeout=self.remaining(),
                                                   first_task=first_task)
        what = 'a healthy task of the new spec' if first_task else 'convergence'
        self.actions.append('wait for %s of %s: %.1f s' % (what, ', '.join(shorts), took))

    # --- states ----------------------------------------------------------------------------------
    def present(self):
        desired = self.desired()
        live, _raw = self.docker.live_stack(self.stack)
        plan = stack_plan(desired, live, self.params['prune'])
        changes = plan_changes(plan)
        self.result['plan'] = plan
        if changes:
            self.result['changed'] = True
            self.result['diff'] = stack_diff(desired, live, plan, self.stack, self.stack_file)
            parts = []
            for action in ('create', 'update', 'remove'):
                names = [p['service'] for p in changes if p['action'] == action]
                if names:
                    parts.append('%s: %s' % (action, ', '.join(names)))
            summary = '; '.join(parts)
            if self.params['server_first'] and 'server' in desired:
                self.deploy_server_first(desired, summary)
            else:
                self.deploy(summary)
            self.wait_converged(sorted(desired))
            removed = [self.full(p['service']) for p in changes if p['action'] == 'remove']
            if removed and not self.check and self.params['wait']:
                took = self.docker.wait_services_gone(removed, timeout=self.remaining())
                self.actions.append('wait until removed services are gone: %.1f s' % took)
        return desired, live, plan

    def absent(self):
        live, _raw = self.docker.live_stack(self.stack)
        networks = self.docker.stack_networks(self.stack)
        self.result['plan'] = [{'service': name, 'action': 'remove', 'fields': []} for name in sorted(live)]
        if live or networks:
            self.result['changed'] = True
            self.result['diff'] = {'before': {k: masked_service(v) for k, v in live.items()}, 'after': {},
                                   'before_header': 'stack %s (running services)' % self.stack,
                                   'after_header': 'stack %s (removed)' % self.stack}
            self.actions.append('remove stack %s' % self.stack)
            if not self.check:
                self.docker.stack_remove(self.stack, busy_networks_ok=self.params['wait'])
        if self.check or not self.params['wait']:
            return
        if live or networks or self.docker.stack_containers(self.stack):
            took = self.docker.wait_stack_gone(self.stack, timeout=self.remaining())
            self.actions.append('wait until containers and networks are gone: %.1f s' % took)

    def stopped(self):
        """The DataFlux Func services (service_kind server and func) at 0 replicas, their tasks gone; MySQL, Redis
        and other services untouched."""
        desired = self.desired()
        live, _raw = self.docker.live_stack(self.stack)
        held = sorted(s for s, spec in live.items() if self.service_kind(s, desired.get(s) or spec, desired) != 'other')
        glob = [s for s in held if live[s]['mode'] == 'global']
        if glob:
            raise FuncError('Service(s) %s of stack %s run in global mode and cannot be held at 0 replicas. Nothing '
                            'was changed.' % (', '.join(glob), self.stack), services=glob)
        scale = [s for s in held if live[s]['replicas']]
        self.result['plan'] = [{'service': s, 'action': 'stop' if s in scale else 'unchanged',
                                'fields': ['replicas'] if s in scale else []} for s in held]
        if scale:
            self.result['changed'] = True
            self.result['diff'] = {'before': {s: {'replicas': live[s]['replicas']} for s in scale},
                                   'after': {s: {'replicas': 0} for s in scale},
                                   'before_header': 'stack %s (replicas)' % self.stack,
                                   'after_header': 'stack %s (stopped)' % self.stack}
            self.actions.append('scale %s to 0' % ', '.join(scale))
            if not self.check:
                # --detach=false: returns once swarm has no task of them left on any node
                self.docker.run('service', 'scale', '--detach=false', *['%s=0' % self.full(s) for s in scale],
                                timeout=self.remaining())
        if held and not self.check and self.params['wait']:
            took = self.docker.wait_services_gone([self.full(s) for s in held], timeout=self.remaining(),
                                                  running_only=True)
            self.actions.append('wait until no task of %s runs: %.1f s' % (', '.join(held), took))

    def restarted(self):
        desired = self.desired()
        live, _raw = self.docker.live_stack(self.stack)
        self.result['changed'] = True
        if not live:
            self.result['plan'] = [{'service': n, 'action': 'create', 'fields': []} for n in sorted(desired)]
            self.deploy('stack was not running')
            self.wait_converged(sorted(desired))
            return
        known = sorted(set(desired) | set(live))
        selected = self.params['services']
        if not selected:
            selected = known
            if self.params['restart_mode'] == 'rolling':
                selected = [s for s in known if self.service_kind(s, desired.get(s) or live.get(s) or {},
                                                                  desired) != 'other']
        unknown = [s for s in selected if s not in known]
        if unknown:
            raise FuncError('Unknown service(s) %s in stack %s. Services in %s and the running stack: %s'
                            % (', '.join(unknown), self.stack, self.stack_file, ', '.join(known)),
                            services=known)
        if self.params['restart_mode'] == 'full':
            self.restart_full(desired, live, selected, known)
        else:
            self.restart_rolling(desired, live, selected)

    def restart_full(self, desired, live, selected, known):
        whole = set(selected) >= set(live)
        self.result['plan'] = [{'service': s, 'action': 'restart', 'fields': []} for s in sorted(selected)]
        if whole:
            self.actions.append('remove stack %s' % self.stack)
            if not self.check:
                self.docker.stack_remove(self.stack, busy_networks_ok=True)
                # the guide's `docker ps` check (running containers) plus the stack's networks, which a
                # deploy racing their removal would trip over
                took = self.docker.wait_stack_gone(self.stack, timeout=self.remaining(), all_states=False)
                self.actions.append('wait until containers and networks are gone: %.1f s' % took)
        else:
            names = [self.full(s) for s in sorted(selected) if s in live]
            self.actions.append('remove services %s' % ', '.join(names))
            if not self.check:
                self.docker.service_remove(*names)
                took = self.docker.wait_services_gone(names, timeout=self.remaining())
                self.actions.append('wait until their containers are gone: %.1f s' % took)
        self.deploy('full restart')
        self.wait_converged(sorted(desired))

    def restart_rolling(self, desired, live, selected):
        plan = stack_plan(desired, live, self.params['prune'])
        changes = plan_changes(plan)
        done = set()
        if changes:
            pending = ', '.join('%s %s' % (p['action'], p['service']) for p in changes)
            self.deploy('apply pending changes: %s' % pending)
            self.wait_converged(sorted(desired))
            done = {p['service'] for p in changes}
        phases = ([], [], [], [])   # stateful/other, host-mode server, workers and beat, server
        entries = []
        for short in sorted(selected):
            spec = desired.get(short) or live.get(short) or {}
            if short in done:
                entries.append({'service': short, 'action': 'restarted by deploy', 'fields': []})
                continue
            if short not in live and short not in desired:
                continue
            order, phase = self.rolling_order(short, spec, desired)
            entries.append({'service': short, 'action': 'restart', 'order': order, 'fields': []})
            phases[phase].append((short, order))
        self.result['plan'] = entries
        for phase in phases:
            if not phase:
                continue
            for short, order in phase:
                self.actions.append('docker service update --force --update-order %s %s' % (order, self.full(short)))
                if not self.check:
                    self.docker.service_force_update(self.full(short), order=order)
            self.wait_converged([short for short, _order in phase])

    @staticmethod
    def service_kind(short, spec, desired):
        """'server', 'func' (workers, beat: same image as the server) or 'other' (MySQL, Redis, ...)."""
        image = (spec.get('image') or '').lower()
        server_image = ((desired.get('server') or {}).get('image') or '').lower()
        if short == 'server' or 'run-server.sh' in ' '.join(spec.get('command') or []):
            return 'server'
        if any(h in short.lower() or h in image.rsplit('/', 1)[-1] for h in STATEFUL_HINTS):
            return 'other'
        if (server_image and image == server_image) or short == 'beat' or short.startswith('worker'):
            return 'func'
        return 'other'

    def rolling_order(self, short, spec, desired):
        """(update order, phase) of one service for a rolling restart."""
        kind = self.service_kind(short, spec, desired)
        if kind == 'other':
            return 'stop-first', 0
        ports = host_mode_ports(spec)
        if ports:
            self.module.warn(
                'Service %s publishes port(s) %s in host mode: two tasks cannot bind the same host port on one '
                'node, so it is restarted stop-first and does not answer until the new task is up. Publish the '
                'port in ingress mode (the upstream default) to restart it without a gap.'
                % (self.full(short), ', '.join(str(p['published']) for p in ports)))
            # It is down anyway: restart it before the workers so its start does not compete with theirs.
            return 'stop-first', 1 if kind == 'server' else 2
        return 'start-first', 3 if kind == 'server' else 2

    def run(self):
        state = self.params['state']
        try:
            if state == 'present':
                self.present()
            elif state == 'absent':
                self.absent()
            elif state == 'stopped':
                self.stopped()
            else:
                self.restarted()
        finally:
            self.result['actions'] = self.actions
            self.result['commands'] = [c for c in self.docker.commands
                                       if any((' %s ' % m) in (' %s ' % c) for m in MUTATING)]
        self.result['services'] = self.docker.stack_status(self.stack)
        if not self.module._diff and not self.result['changed']:
            self.result.pop('diff', None)
        return self.result


def main():
    FuncModule(dict(
        stack_file=dict(type='path'),
        state=dict(type='str', default='present', choices=['present', 'absent', 'restarted', 'stopped']),
        restart_mode=dict(type='str', default='full', choices=['full', 'rolling']),
        services=dict(type='list', elements='str'),
        resolve_image=dict(type='str', default='never', choices=['never', 'always', 'changed']),
        prune=dict(type='bool', default=False),
        server_first=dict(type='bool', default=False),
        server_ready_url=dict(type='str'),
        wait=dict(type='bool', default=True),
        timeout=dict(type='int', default=300),
    )).run(run)


def run(ctx):
    runner = StackRunner(ctx)
    try:
        return runner.run()
    except FuncError as exc:
        exc.details.setdefault('actions', runner.actions)
        exc.details.setdefault('commands', [c for c in runner.docker.commands
                                            if any((' %s ' % m) in (' %s ' % c) for m in MUTATING)])
        exc.msg = 'Stack %s: %s' % (ctx.params['stack_name'], exc.msg)
        raise


if __name__ == '__main__':
    main()
