"""The converged fast path of install.yml on a real swarm: a converged host runs only the check (and skips the rest),
and every kind of drift makes the check say "not converged", so that the full run (check mode and real) changes
what it always changed: a port change, a config change, a scaled-down service, an edited stack file, a missing
image, a version change. The fast path must never skip a needed change."""
import os

import pytest

from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib.funcenv import docker, remove_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK = 'dfft-f16-conv'
DIR = '/tmp/dfft/f16-conv'
MARKER = '/tmp/dfft/f16-conv.marker'
LOGROTATE = '/tmp/dfft/f16-conv.logrotate'
IMAGE = 'dfft-f16/func'           # private tags of the func double, so that one can go missing
PLAYBOOK = os.path.join(REPO, 'playbooks', 'install.yml')
BASE = {
    'func_hosts': 'localhost', 'func_install_dir': DIR, 'func_stack_name': STACK, 'func_port': 18163,
    'func_marker_file': MARKER, 'func_logrotate_file': LOGROTATE,
    'func_image': IMAGE, 'func_version': '5.1.6', 'func_image_source': 'present',
    'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
    'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host', 'func_service_init': True,
    'func_stop_grace_period': '5s', 'func_worker_layout': 'mini', 'func_min_free_disk_gb': 1,
    'func_admin_password': 'f16-Admin-pw-1', 'func_deploy_timeout': 240, 'func_wait_delay': 2,
    'func_backup_before_upgrade': False,
}
CHECK_TASK = 'decide what this run does'


def tag(version):
    docker('tag', 'dff-test/dataflux-func:%s' % version, '%s:%s' % (IMAGE, version))


def cleanup():
    remove_stack(STACK, DIR, MARKER, LOGROTATE)
    for version in ('5.1.6', '5.1.7'):
        docker('image', 'rm', '%s:%s' % (IMAGE, version), check=False)


@pytest.fixture(scope='module')
def installed(docker_swarm):
    cleanup()
    tag('5.1.6')
    tag('5.1.7')
    first = run_playbook(PLAYBOOK, BASE)
    assert first.rc == 0, first.stdout[-6000:] + first.stderr[-3000:]
    assert first.changed() > 0
    yield
    cleanup()


def converged_check(result):
    found = [res for name, res in result.task_results() if CHECK_TASK in name and 'converged' in res]
    assert found, [name for name, _res in result.task_results()]
    return found[0]


def run(variables, check=False):
    result = run_playbook(PLAYBOOK, variables, check=check)
    assert result.stats, result.stdout[-6000:] + result.stderr[-3000:]
    return result


def assert_fast_noop(variables):
    """A converged host: the check says so, the rest is skipped, nothing changes, in check mode and for real."""
    for check in (True, False):
        result = run(variables, check=check)
        assert result.rc == 0, result.stdout[-6000:]
        verdict = converged_check(result)
        assert verdict['converged'] is True, verdict['not_converged']
        assert result.changed() == 0
        executed = result.stats['localhost']['ok']
        assert executed <= 12, [name for name, _res in result.task_results()]


def assert_drift_is_converged(variables, needle):
    """The check sees the drift, check mode predicts changes, the real run makes them, the next run is fast."""
    check = run(variables, check=True)
    verdict = converged_check(check)
    assert verdict['converged'] is False and any(needle in r for r in verdict['not_converged']), verdict
    assert check.rc == 0 and check.changed() > 0, check.stdout[-6000:]
    real = run(variables)
    assert real.rc == 0, real.stdout[-6000:]
    assert converged_check(real)['converged'] is False
    assert real.changed() > 0
    assert_fast_noop(variables)
    return real


def service_replicas(short):
    out = docker('service', 'inspect', '--format', '{{.Spec.Mode.Replicated.Replicas}}', '%s_%s' % (STACK, short))
    return int(out.stdout.strip())


def test_converged_host_takes_the_fast_path(installed):
    assert_fast_noop(BASE)


def test_port_change(installed):
    variables = dict(BASE, func_port=18164)
    assert_drift_is_converged(variables, 'docker-stack.yaml differs')
    assert '18164' in open(os.path.join(DIR, 'docker-stack.yaml')).read()


def test_config_change(installed):
    variables = dict(BASE, func_port=18164, func_user_config={'LOG_LEVEL': 'DEBUG'})
    assert_drift_is_converged(variables, 'differs in LOG_LEVEL')
    assert 'LOG_LEVEL: DEBUG' in open(os.path.join(DIR, 'data', 'user-config.yaml')).read()


def test_scaled_down_service(installed):
    variables = dict(BASE, func_port=18164, func_user_config={'LOG_LEVEL': 'DEBUG'})
    docker('service', 'scale', '--detach', '%s_worker=0' % STACK)
    assert_drift_is_converged(variables, 'service worker: update replicas')
    assert service_replicas('worker') == 2


def test_stack_file_edited_on_disk(installed):
    variables = dict(BASE, func_port=18164, func_user_config={'LOG_LEVEL': 'DEBUG'})
    path = os.path.join(DIR, 'docker-stack.yaml')
    with open(path) as handle:
        text = handle.read()
    with open(path, 'w') as handle:
        handle.write(text.replace('replicas: 2', 'replicas: 1'))
    assert_drift_is_converged(variables, 'docker-stack.yaml differs')
    with open(path) as handle:
        assert handle.read() == text


def test_missing_image(installed):
    variables = dict(BASE, func_port=18164, func_user_config={'LOG_LEVEL': 'DEBUG'})
    docker('image', 'rm', '%s:5.1.6' % IMAGE)
    try:
        result = run(variables)
        verdict = converged_check(result)
        assert verdict['converged'] is False and any('image %s:5.1.6' % IMAGE in r for r in verdict['not_converged'])
        assert result.rc != 0 and 'is not present on this host' in result.stdout     # reported, not skipped
    finally:
        tag('5.1.6')
    assert_fast_noop(variables)


def test_version_change(installed):
    variables = dict(BASE, func_port=18164, func_user_config={'LOG_LEVEL': 'DEBUG'}, func_version='5.1.7')
    real = assert_drift_is_converged(variables, 'mode upgrade')
    assert any('Upgraded' in str(res.get('msg')) for _name, res in real.task_results())
