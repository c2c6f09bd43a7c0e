"""Unit tests: compose vs live service normalisation, plan and diff of dataflux.func.func_stack (no docker)."""
import copy

import pytest
import yaml

from ansible_collections.dataflux.func.plugins.module_utils._func_common import MASK, FuncError
from ansible_collections.dataflux.func.plugins.module_utils import _func_stack as d

STACK = 'dataflux-func'
BASE = '/usr/local/dataflux-func'

# Shaped like the official docker-stack.example.yaml (5.1.7) after run-portable.sh replaced the placeholders.
UPSTREAM_LIKE = yaml.safe_load('''
version: '3.1'
networks:
  default:
    external:
      name: bridge
  datafluxfunc:
    driver: overlay
services:
  mysql:
    image: pubrepo.jiagouyun.com/dataflux-func/mysql:5.7.26
    labels:
      - mysql
    logging:
      driver: json-file
      options:
        max-size: 1m
        max-file: 10
    networks:
      - datafluxfunc
    volumes:
      - "/usr/local/dataflux-func/mysql:/var/lib/mysql"
    environment:
      - "MYSQL_ROOT_PASSWORD=abcdef0123456789"
      - "MYSQL_DATABASE=dataflux_func"
    command: --tls-version=TLSv1.2 --innodb-large-prefix=on --character-set-server=utf8mb4
  worker-0:
    image: pubrepo.jiagouyun.com/dataflux-func/dataflux-func:5.1.7
    labels:
      - worker-0
      - queue-0
    volumes:
      - "/usr/local/dataflux-func/data:/data"
    networks:
      - datafluxfunc
      - default
    environment:
      HOST_HOSTNAME: '{{.Node.Hostname}}'
      DFF__WORKER_CONCURRENCY: '2'
    command: ./run-worker-by-queue.sh 0 4 7 8 9
  server:
    image: pubrepo.jiagouyun.com/dataflux-func/dataflux-func:5.1.7
    deploy:
      replicas: 1
    labels:
      - server
    volumes:
      - "/usr/local/dataflux-func/data:/data"
    networks:
      - datafluxfunc
      - default
    environment:
      HOST_HOSTNAME: '{{.Node.Hostname}}'
    command: ./run-server.sh
    ports:
      - "8088:8088"
''')


def live_entry(name, image, args=None, env=None, labels=None, mounts=None, ports=None, replicas=1,
               hosts=None, endpoint_mode='vip', networks=None, grace=None, init=None, svc_labels=None,
               log=None):
    """A `docker service inspect` entry as docker 20.10 returns it for a stack service."""
    cspec = {'Image': image, 'Labels': dict({'com.docker.stack.namespace': STACK}, **(labels or {}))}
    if args is not None:
        cspec['Args'] = args
    if env is not None:
        cspec['Env'] = env
    if mounts is not None:
        cspec['Mounts'] = mounts
    if hosts is not None:
        cspec['Hosts'] = hosts
    cspec['StopGracePeriod'] = grace if grace is not None else 10 ** 10
    if init is not None:
        cspec['Init'] = init
    task = {'ContainerSpec': cspec, 'Networks': [{'Target': n} for n in networks or []]}
    if log:
        task['LogDriver'] = log
    endpoint = {'Mode': endpoint_mode}
    if ports:
        endpoint['Ports'] = ports
    return {'ID': 'x', 'Spec': {
        'Name': '%s_%s' % (STACK, name),
        'Labels': dict({'com.docker.stack.image': image, 'com.docker.stack.namespace': STACK},
                       **(svc_labels or {})),
        'TaskTemplate': task,
        'Mode': {'Replicated': {'Replicas': replicas}} if replicas is not None else {'Global': {}},
        'EndpointSpec': endpoint}}


NETS = {'id-ff': 'dataflux-func_datafluxfunc', 'id-br': 'bridge'}


def live_upstream():
    log1 = {'Name': 'json-file', 'Options': {'max-size': '1m', 'max-file': '10'}}
    return {
        'mysql': d.normalize_live_service(live_entry(
            'mysql', 'pubrepo.jiagouyun.com/dataflux-func/mysql:5.7.26@sha256:' + 'a' * 64,
            args=['--tls-version=TLSv1.2', '--innodb-large-prefix=on', '--character-set-server=utf8mb4'],
            env=['MYSQL_ROOT_PASSWORD=abcdef0123456789', 'MYSQL_DATABASE=dataflux_func'],
            labels={'mysql': ''},
            mounts=[{'Type': 'bind', 'Source': '/usr/local/dataflux-func/mysql', 'Target': '/var/lib/mysql'}],
            networks=['id-ff'], log=log1), NETS),
        'worker-0': d.normalize_live_service(live_entry(
            'worker-0', 'pubrepo.jiagouyun.com/dataflux-func/dataflux-func:5.1.7',
            args=['./run-worker-by-queue.sh', '0', '4', '7', '8', '9'],
            env=['DFF__WORKER_CONCURRENCY=2', 'HOST_HOSTNAME={{.Node.Hostname}}'],
            labels={'worker-0': '', 'queue-0': ''},
            mounts=[{'Type': 'bind', 'Source': '/usr/local/dataflux-func/data', 'Target': '/data'}],
            networks=['id-br', 'id-ff']), NETS),
        'server': d.normalize_live_service(live_entry(
            'server', 'pubrepo.jiagouyun.com/dataflux-func/dataflux-func:5.1.7', args=['./run-server.sh'],
            env=['HOST_HOSTNAME={{.Node.Hostname}}'], labels={'server': ''},
            mounts=[{'Type': 'bind', 'Source': '/usr/local/dataflux-func/data', 'Target': '/data'}],
            ports=[{'Protocol': 'tcp', 'TargetPort': 8088, 'PublishedPort': 8088, 'PublishMode': 'ingress'}],
            networks=['id-ff', 'id-br']), NETS),
    }


def test_upstream_like_stack_matches_live_specs():
    desired = d.normalize_compose_stack(UPSTREAM_LIKE, STACK, BASE)
    plan = d.stack_plan(desired, live_upstream())
    assert [p['action'] for p in plan] == ['unchanged'] * 3, plan
    assert d.plan_changes(plan) == []


def test_env_change_detected_and_masked_in_diff():
    data = copy.deepcopy(UPSTREAM_LIKE)
    data['services']['mysql']['environment'][0] = 'MYSQL_ROOT_PASSWORD=newpassword'
    desired = d.normalize_compose_stack(data, STACK, BASE)
    live = live_upstream()
    plan = d.stack_plan(desired, live)
    assert d.plan_changes(plan) == [{'service': 'mysql', 'action': 'update', 'fields': ['env']}]
    diff = d.stack_diff(desired, live, plan, STACK, BASE + '/docker-stack.yaml')
    assert list(diff['before']) == ['mysql'] and list(diff['after']) == ['mysql']
    text = repr(diff)
    assert 'newpassword' not in text and 'abcdef0123456789' not in text
    assert 'MYSQL_ROOT_PASSWORD=%s' % MASK in diff['after']['mysql']['env']
    assert 'MYSQL_DATABASE=dataflux_func' in diff['after']['mysql']['env']


def test_create_remove_extra_and_prune():
    desired = d.normalize_compose_stack(UPSTREAM_LIKE, STACK, BASE)
    live = live_upstream()
    live['worker-1-6'] = copy.deepcopy(live['worker-0'])      # old layout service still running
    del live['server']
    plan = {p['service']: p['action'] for p in d.stack_plan(desired, live)}
    assert plan == {'mysql': 'unchanged', 'server': 'create', 'worker-0': 'unchanged', 'worker-1-6': 'extra'}
    plan = {p['service']: p['action'] for p in d.stack_plan(desired, live, prune=True)}
    assert plan['worker-1-6'] == 'remove'


@pytest.mark.parametrize('field,value', [
    ('image', 'pubrepo.jiagouyun.com/dataflux-func/dataflux-func:5.1.8'),
    ('command', './run-server.sh --debug'),
    ('labels', ['server', 'extra=1']),
    ('ports', ['9000:8088']),
    ('volumes', ['/usr/local/dataflux-func/data:/data:ro']),
    ('extra_hosts', ['db:10.0.0.5']),
    ('init', True),
    ('stop_grace_period', '1m'),
    ('deploy', {'replicas': 2}),
    ('deploy', {'replicas': 1, 'resources': {'limits': {'memory': '512M'}}}),
    ('healthcheck', {'test': 'curl -f http://127.0.0.1:8088/api/v1/do/ping', 'interval': '10s'}),
    ('healthcheck', {'disable': True}),
])
def test_each_compared_field_is_detected(field, value):
    data = copy.deepcopy(UPSTREAM_LIKE)
    data['services']['server'][field] = value
    desired = d.normalize_compose_stack(data, STACK, BASE)
    changes = d.plan_changes(d.stack_plan(desired, live_upstream()))
    assert [c['service'] for c in changes] == ['server']
    assert len(changes[0]['fields']) == 1


def test_env_list_and_dict_forms_are_equal():
    assert d.normalize_env(['B=2', 'A=1']) == d.normalize_env({'A': 1, 'B': '2'}) == ['A=1', 'B=2']
    assert d.normalize_env({'FLAG': True, 'EMPTY': '', 'UNSET': None}) == ['EMPTY=', 'FLAG=true', 'UNSET']


def test_labels_bare_strings_and_stack_labels():
    assert d.normalize_labels(['server', 'a=b']) == {'server': '', 'a': 'b'}
    assert d.normalize_labels({'a': 1, 'com.docker.stack.namespace': 'x'}) == {'a': '1'}


def test_ports_short_long_ranges_and_live():
    short = d.normalize_compose_ports(['8088:8088', '127.0.0.1:53:53/udp', '9000', '7000-7001:8000-8001'])
    assert {'target': 8088, 'published': 8088, 'protocol': 'tcp', 'mode': 'ingress'} in short
    assert {'target': 53, 'published': 53, 'protocol': 'udp', 'mode': 'ingress'} in short
    assert {'target': 9000, 'published': None, 'protocol': 'tcp', 'mode': 'ingress'} in short
    assert {'target': 8001, 'published': 7001, 'protocol': 'tcp', 'mode': 'ingress'} in short
    long_ = d.normalize_compose_ports([{'target': 8088, 'published': 18081, 'mode': 'host'}])
    live = d.normalize_live_ports([{'Protocol': 'tcp', 'TargetPort': 8088, 'PublishedPort': 18081,
                                    'PublishMode': 'host'}])
    assert long_ == live
    assert d.host_mode_ports({'ports': long_}) == long_
    with pytest.raises(FuncError):
        d.normalize_compose_ports(['7000-7002:8000-8001'])


def test_volumes_short_long_relative_and_named():
    vols = d.normalize_compose_volumes(
        ['./data:/data', '/abs:/abs:ro', 'named:/named', '/anon',
         {'type': 'bind', 'source': 'rel', 'target': '/rel', 'read_only': True}],
        '/srv/func', 'st', {'named': None})
    assert {'type': 'bind', 'source': '/srv/func/data', 'target': '/data', 'read_only': False} in vols
    assert {'type': 'bind', 'source': '/abs', 'target': '/abs', 'read_only': True} in vols
    assert {'type': 'volume', 'source': 'st_named', 'target': '/named', 'read_only': False} in vols
    assert {'type': 'volume', 'source': '', 'target': '/anon', 'read_only': False} in vols
    assert {'type': 'bind', 'source': '/srv/func/rel', 'target': '/rel', 'read_only': True} in vols
    ext = d.normalize_compose_volumes(['v:/v'], '/x', 'st', {'v': {'external': True, 'name': 'realv'}})
    assert ext[0]['source'] == 'realv'


def test_extra_hosts_both_forms():
    assert d.normalize_extra_hosts(['db:10.0.0.5', 'v6:::1']) == d.normalize_extra_hosts(
        ['10.0.0.5 db', '::1 v6']) == ['db:10.0.0.5', 'v6:::1']
    assert d.normalize_extra_hosts({'db': '10.0.0.5'}) == ['db:10.0.0.5']
    assert d.normalize_extra_hosts(['db=10.0.0.5']) == ['db:10.0.0.5']


def test_command_string_vs_list_and_image_digest():
    svc = d.normalize_compose_service('s', {'image': 'img:1@sha256:' + 'b' * 64,
                                            'command': "sh -c 'echo hi'"}, 'st', '/x')
    assert svc['command'] == ['sh', '-c', 'echo hi'] and svc['image'] == 'img:1'
    assert d.normalize_compose_service('s', {'image': 'i', 'command': ['a', 1]}, 'st', '/x')['command'] == ['a', '1']


def test_replicas_default_and_global_mode():
    assert d.normalize_compose_service('s', {'image': 'i'}, 'st', '/x')['replicas'] == 1
    glob = d.normalize_compose_service('s', {'image': 'i', 'deploy': {'mode': 'global'}}, 'st', '/x')
    assert (glob['mode'], glob['replicas']) == ('global', None)
    live = d.normalize_live_service(live_entry('s', 'i', replicas=None))
    assert (live['mode'], live['replicas']) == ('global', None)


def test_networks_default_external_and_named():
    top = {'networks': {'default': {'external': {'name': 'bridge'}}, 'ff': {'driver': 'overlay'},
                        'own': {'name': 'custom'}}}
    svc = d.normalize_compose_service('s', {'image': 'i', 'networks': ['ff', 'default', 'own']}, 'st', '/x', top)
    assert svc['networks'] == ['bridge', 'custom', 'st_ff']
    assert d.normalize_compose_service('s', {'image': 'i'}, 'st', '/x')['networks'] == ['st_default']


def test_durations():
    assert d.parse_duration_ns('1m30s') == 90 * 10 ** 9
    assert d.parse_duration_ns('500ms') == 5 * 10 ** 8
    assert d.parse_duration_ns(3) == 3 * 10 ** 9
    with pytest.raises(FuncError):
        d.parse_duration_ns('soon')


def test_service_and_deploy_labels_are_separate():
    svc = d.normalize_compose_service('s', {'image': 'i', 'labels': ['c'], 'deploy': {'labels': {'s': 'v'}}},
                                      'st', '/x')
    assert svc['labels'] == {'c': ''} and svc['service_labels'] == {'s': 'v'}


def test_unsupported_keys_reported():
    data = {'services': {'a': {'image': 'i', 'healthcheck': {}, 'secrets': [], 'deploy': {
        'resources': {}, 'replicas': 1, 'placement': {}, 'restart_policy': {}}}}}
    assert d.unsupported_keys(data) == {'a': ['secrets', 'deploy.restart_policy']}


def test_placement_compose_and_live_compare_equal():
    # compose of the swarm role (server one per node, beat on a labelled node) and what swarm stores for it
    compose = {'constraints': ['node.labels.dataflux-func.beat == true'], 'preferences': [{'spread': 'node.id'}],
               'max_replicas_per_node': 1}
    live = {'Constraints': ['node.labels.dataflux-func.beat==true'],
            'Preferences': [{'Spread': {'SpreadDescriptor': 'node.id'}}], 'MaxReplicas': 1}
    assert d.normalize_compose_placement(compose) == d.normalize_live_placement(live)
    assert d.normalize_compose_placement(None) == d.normalize_live_placement({}) == {
        'constraints': [], 'spread': [], 'max_replicas': 0}
    assert d.normalize_compose_placement({'max_replicas_per_node': 2}) != d.normalize_live_placement(live)


# `docker service inspect` of `docker stack deploy` (Docker 20.10, measured on this machine) for the compose below
HEALTH_COMPOSE = yaml.safe_load('''
services:
  a:
    image: i
    healthcheck: {test: "true", interval: 5s, retries: 3}
    deploy:
      resources:
        limits: {cpus: '0.5', memory: 64M}
        reservations: {memory: 16m}
  b:
    image: i
    healthcheck: {test: [CMD, "true"], start_period: 1m30s}
  c:
    image: i
    healthcheck: {disable: true}
  d:
    image: i
''')
HEALTH_LIVE = {
    'a': ({'Test': ['CMD-SHELL', 'true'], 'Interval': 5000000000, 'Retries': 3},
          {'Limits': {'NanoCPUs': 500000000, 'MemoryBytes': 67108864}, 'Reservations': {'MemoryBytes': 16777216}}),
    'b': ({'Test': ['CMD', 'true'], 'StartPeriod': 90000000000}, {}),
    'c': ({'Test': ['NONE']}, {}),
    'd': (None, {}),
}


def test_healthcheck_and_resources_match_live_specs():
    desired = d.normalize_compose_stack(HEALTH_COMPOSE, 'st', '/x')
    for name, (check, resources) in HEALTH_LIVE.items():
        entry = live_entry(name, 'i', networks=['id-d'])
        if check is not None:
            entry['Spec']['TaskTemplate']['ContainerSpec']['Healthcheck'] = check
        entry['Spec']['TaskTemplate']['Resources'] = resources
        live = d.normalize_live_service(entry, {'id-d': 'st_default'})
        assert live['healthcheck'] == desired[name]['healthcheck'], name
        assert live['resources'] == desired[name]['resources'], name
    assert desired['d']['healthcheck'] is None
    assert desired['a']['resources']['limits'] == {'cpus_nano': 500000000, 'memory_bytes': 67108864, 'pids': 0}


@pytest.mark.parametrize('text,value', [('512M', 512 * 1024 ** 2), ('1g', 1024 ** 3), ('64MiB', 64 * 1024 ** 2),
                                        ('1.5k', 1536), (1048576, 1048576), ('100', 100)])
def test_parse_ram_bytes(text, value):
    assert d.parse_ram_bytes(text) == value


def test_parse_ram_bytes_rejects_garbage():
    with pytest.raises(FuncError):
        d.parse_ram_bytes('lots')


def test_no_services_is_an_error():
    with pytest.raises(FuncError):
        d.normalize_compose_stack({'version': '3'}, 'st', '/x')


def test_parse_replicas():
    assert d.parse_replicas('1/2') == (1, 2)
    assert d.parse_replicas('2/2 (max 1 per node)') == (2, 2)
    assert d.parse_replicas('') == (None, None)


def test_task_fingerprint_ignores_cli_daemon_skew():
    template = {'ContainerSpec': {'Image': 'i', 'Args': ['a'], 'StopGracePeriod': 1, 'DNSConfig': {}},
                'ForceUpdate': 2}
    task = {'ContainerSpec': {'Image': 'i', 'Args': ['a']}, 'ForceUpdate': 2}
    assert d.task_fingerprint(template) == d.task_fingerprint(task)
    assert d.task_fingerprint(template) != d.task_fingerprint(dict(task, ForceUpdate=3))
