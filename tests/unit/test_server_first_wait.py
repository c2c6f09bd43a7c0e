"""func_stack server_first: with a healthcheck on the server, the workers and beat are deployed once one server task
of the new spec runs (swarm reports it running only once healthy, that is after the database upgrade), while swarm
still renews the other server replicas; without one, after every server replica converged."""
import os
import types

import pytest
import yaml

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_docker import DockerCLI
from ansible_collections.dataflux.func.plugins.module_utils._func_stack import checks_health
from ansible_collections.dataflux.func.plugins.modules import func_stack


class _Rolling(DockerCLI):
    """services_convergence of a 2-replica server renewed one task after the other (one status per poll)."""

    def __init__(self, polls):
        super().__init__()
        self.polls = list(polls)
        self.seen = 0

    def services_convergence(self, full_names):
        running, converged = self.polls[min(self.seen, len(self.polls) - 1)]
        self.seen += 1
        return {name: {'desired': 2, 'running': running, 'containers': 3, 'converged': converged,
                       'state': 'updating', 'message': ''} for name in full_names}


POLLS = [(0, False), (0, False), (1, False), (1, False), (2, True)]


def test_first_task_returns_when_one_new_server_runs():
    cli = _Rolling(POLLS)
    cli.wait_services_converged(['st_server'], timeout=30, poll=0, first_task=True)
    assert cli.seen == 3


def test_convergence_waits_for_every_replica():
    cli = _Rolling(POLLS)
    cli.wait_services_converged(['st_server'], timeout=30, poll=0)
    assert cli.seen == 5


def test_first_task_of_a_service_that_never_starts_times_out_with_its_name():
    cli = _Rolling([(0, False)])
    cli.last_task_error = lambda name: ('health check failed', 'starting')
    with pytest.raises(FuncError) as err:
        cli.wait_services_converged(['st_server'], timeout=0, poll=0, first_task=True)
    assert 'st_server' in str(err.value) and 'health check failed' in str(err.value)


@pytest.mark.parametrize('check, expected', [
    ({'test': ['CMD-SHELL', 'curl -fsS http://127.0.0.1:8088/api/v1/do/ping'], 'interval': 1}, True),
    ({'test': ['NONE'], 'interval': 0}, False),       # healthcheck: {disable: true}
    ({'test': None, 'interval': 10}, False),          # only timings: the image's test, unknown here
    (None, False),                                    # none set: the image's own, unknown here
])
def test_checks_health(check, expected):
    assert checks_health({'healthcheck': check}) is expected


# --- func_stack's two deploys -------------------------------------------------------------------------------------

STACK = {
    'version': '3.7',
    'networks': {'net': {'driver': 'overlay'}},
    'services': {
        'server': {'image': 'func:2', 'networks': ['net'], 'ports': [{'target': 8088, 'published': 8088,
                                                                      'mode': 'host'}],
                   'healthcheck': {'test': ['CMD', 'curl', '-fsS', 'http://127.0.0.1:8088/api/v1/do/ping'],
                                   'interval': '1s'},
                   'deploy': {'replicas': 2, 'placement': {'max_replicas_per_node': 1}}},
        'worker': {'image': 'func:2', 'networks': ['net'], 'deploy': {'replicas': 3}},
        'beat': {'image': 'func:2', 'networks': ['net'], 'deploy': {'replicas': 1}},
    },
}


class _Docker(object):
    def __init__(self):
        self.deploys, self.waits, self.commands = [], [], []

    def live_stack(self, stack):
        return {}, []                       # nothing deployed: every service is created

    def service_inspect(self, *names):
        return []

    def json_lines(self, *args):
        return []

    def inspect(self, kind, *names):
        return []

    def stack_deploy(self, stack, path, resolve_image, prune):
        with open(path) as handle:
            data = yaml.safe_load(handle)
        self.deploys.append({'mode': oct(os.stat(path).st_mode & 0o777), 'prune': prune, 'services': {
            name: (svc.get('deploy') or {}).get('replicas') for name, svc in data['services'].items()}})

    def wait_services_converged(self, names, timeout=300, poll=0.5, first_task=False):
        self.waits.append((sorted(names), first_task))
        return 0.0


def _runner(tmp_path, stack, prune=True):
    path = tmp_path / 'docker-stack.yaml'
    path.write_text(yaml.safe_dump(stack))
    params = {'stack_name': 'st', 'stack_file': str(path), 'timeout': 60, 'prune': prune, 'wait': True,
              'server_first': True, 'server_ready_url': None, 'resolve_image': 'never', 'state': 'present'}
    inst = types.SimpleNamespace(install_dir=str(tmp_path), path=lambda key: str(path))
    ctx = types.SimpleNamespace(module=types.SimpleNamespace(warn=lambda msg: None), params=params,
                                check_mode=False, installation=inst, docker=_Docker())
    return func_stack.StackRunner(ctx), ctx.docker


def test_server_first_leaves_the_server_service_alone_in_the_second_deploy(tmp_path):
    runner, docker = _runner(tmp_path, STACK)
    runner.present()
    assert docker.deploys == [
        # the whole file (pruned as asked), workers and beat held at 0
        {'mode': '0o600', 'prune': True, 'services': {'server': 2, 'worker': 0, 'beat': 0}},
        # only the workers and beat, never pruned (that would remove the server)
        {'mode': '0o600', 'prune': False, 'services': {'worker': 3, 'beat': 1}},
    ]
    # one healthy server of the new spec before the workers; then everything converged
    assert docker.waits == [(['st_server'], True), (['st_beat', 'st_server', 'st_worker'], False)]
    assert not [f for f in os.listdir(str(tmp_path)) if f.startswith('.server-first-')]


def test_server_first_without_a_healthcheck_waits_for_every_server(tmp_path):
    stack = yaml.safe_load(yaml.safe_dump(STACK))
    del stack['services']['server']['healthcheck']
    runner, docker = _runner(tmp_path, stack, prune=False)
    runner.present()
    assert [d['services'] for d in docker.deploys] == [
        {'server': 2, 'worker': 0, 'beat': 0}, {'worker': 3, 'beat': 1}]
    assert docker.waits[0] == (['st_server'], False)
