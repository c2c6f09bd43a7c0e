"""func_stack state=stopped (the upgrade rollback holds the DataFlux Func services while the database is restored):
the server, workers and beat go to 0 replicas, MySQL, Redis and services of other images keep running; idempotent;
check mode scales nothing."""
import types

import pytest
import yaml

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.modules import func_stack

IMAGE = 'pubrepo.jiagouyun.com/dataflux-func/dataflux-func:5.1.6'
STACK = {'version': '3.7', 'services': {
    'server': {'image': IMAGE, 'deploy': {'replicas': 1}},
    'worker-0': {'image': IMAGE, 'deploy': {'replicas': 2}},
    'beat': {'image': IMAGE, 'deploy': {'replicas': 1}},
    'mysql': {'image': 'mysql:8.0', 'deploy': {'replicas': 1}},
    'redis': {'image': 'redis:6', 'deploy': {'replicas': 1}},
    'exporter': {'image': 'prom/node-exporter', 'deploy': {'replicas': 1}},
}}


class _Docker(object):
    def __init__(self, replicas, modes=None):
        self.replicas, self.modes = dict(replicas), modes or {}
        self.commands, self.gone = [], []

    def live_stack(self, stack):
        live = {}
        for short, svc in STACK['services'].items():
            live[short] = {'image': svc['image'], 'command': None, 'mode': self.modes.get(short, 'replicated'),
                           'replicas': None if self.modes.get(short) == 'global' else self.replicas[short]}
        return live, {}

    def run(self, *args, **kwargs):
        self.commands.append(' '.join(args))
        for item in args[3:]:
            name, count = item.rsplit('=', 1)
            self.replicas[name[len('st_'):]] = int(count)
        return 0, '', ''

    def wait_services_gone(self, names, timeout=300, poll=0.5, running_only=False):
        assert running_only
        self.gone.append(sorted(names))
        return 0.0

    def stack_status(self, stack):
        return []


def _run(tmp_path, docker, check=False):
    path = tmp_path / 'docker-stack.yaml'
    path.write_text(yaml.safe_dump(STACK))
    params = {'stack_name': 'st', 'stack_file': str(path), 'timeout': 60, 'prune': False, 'wait': True,
              'state': 'stopped', 'services': None, 'server_first': False, 'resolve_image': 'never'}
    ctx = types.SimpleNamespace(module=types.SimpleNamespace(warn=lambda msg: None, _diff=True), params=params,
                                check_mode=check, installation=types.SimpleNamespace(install_dir=str(tmp_path),
                                                                                     path=lambda key: str(path)),
                                docker=docker)
    return func_stack.StackRunner(ctx).run()


RUNNING = {'server': 1, 'worker-0': 2, 'beat': 1, 'mysql': 1, 'redis': 1, 'exporter': 1}


def test_func_services_go_to_zero_and_the_others_keep_running(tmp_path):
    docker = _Docker(RUNNING)
    result = _run(tmp_path, docker)
    assert result['changed']
    assert docker.commands == ['service scale --detach=false st_beat=0 st_server=0 st_worker-0=0']
    assert docker.replicas == dict(RUNNING, server=0, beat=0, **{'worker-0': 0})
    assert docker.gone == [['st_beat', 'st_server', 'st_worker-0']]
    assert [p['action'] for p in result['plan']] == ['stop', 'stop', 'stop']
    assert result['diff']['after'] == {'beat': {'replicas': 0}, 'server': {'replicas': 0}, 'worker-0': {'replicas': 0}}


def test_a_second_run_changes_nothing(tmp_path):
    docker = _Docker(dict(RUNNING, server=0, beat=0, **{'worker-0': 0}))
    result = _run(tmp_path, docker)
    assert not result['changed'] and docker.commands == []
    assert [p['action'] for p in result['plan']] == ['unchanged'] * 3


def test_check_mode_predicts_and_scales_nothing(tmp_path):
    docker = _Docker(RUNNING)
    result = _run(tmp_path, docker, check=True)
    assert result['changed'] and docker.commands == [] and docker.replicas == RUNNING


def test_a_global_func_service_is_refused_before_any_change(tmp_path):
    docker = _Docker(RUNNING, modes={'worker-0': 'global'})
    with pytest.raises(FuncError) as err:
        _run(tmp_path, docker)
    assert 'worker-0' in str(err.value) and 'global' in str(err.value) and docker.commands == []
