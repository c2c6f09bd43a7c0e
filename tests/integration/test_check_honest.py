"""Check mode predicts the real run, task by task: install.yml is run with --check --diff and then for real, and
the two runs must report the same tasks as changed (and the same recap), for a fresh host, a no-op re-run, a port
change and a version change (an upgrade). The check run changes nothing (stack file, config and services stay as
they were), and its --diff of the stack shows the change with the secrets masked."""
import hashlib
import json
import os

import pytest
import yaml

from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib.funcenv import docker, remove_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK = 'dfft-chk'
DIR = '/tmp/dfft/chk'
MARKER = '/tmp/dfft/dfft-chk.marker'
LOGROTATE = '/tmp/dfft/dfft-chk.logrotate'
PLAYBOOK = os.path.join(REPO, 'playbooks', 'install.yml')
BASE = {
    'func_hosts': 'localhost', 'func_install_dir': DIR, 'func_stack_name': STACK, 'func_port': 18471,
    'func_marker_file': MARKER, 'func_logrotate_file': LOGROTATE,
    'func_image': 'dff-test/dataflux-func', 'func_version': '5.1.6', 'func_image_source': 'present',
    'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
    'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host', 'func_service_init': True,
    'func_stop_grace_period': '5s', 'func_worker_layout': 'mini', 'func_min_free_disk_gb': 1,
    'func_admin_password': 'chk-Admin-pw-1', 'func_deploy_timeout': 240, 'func_wait_delay': 2,
}


def cleanup():
    remove_stack(STACK, DIR, MARKER, LOGROTATE)
    docker('network', 'rm', '%s_default' % STACK, check=False)


@pytest.fixture(scope='module')
def clean():
    cleanup()
    yield
    cleanup()


def changed_tasks(result):
    return [name for name, res in result.task_results() if res.get('changed')]


def state():
    """What a check run must not touch: the files of the installation and the services' specs."""
    files = {}
    for root, _dirs, names in os.walk(DIR):
        if '/mysql' in root or '/redis' in root or '/logs' in root:
            continue
        for name in names:
            path = os.path.join(root, name)
            with open(path, 'rb') as handle:
                files[path] = hashlib.sha256(handle.read()).hexdigest()
    ids = docker('service', 'ls', '-q', '--filter', 'label=com.docker.stack.namespace=%s' % STACK).stdout.split()
    specs = docker('service', 'inspect', '--format', '{{json .Spec}}', *ids).stdout if ids else ''
    return {'dirs': os.path.isdir(DIR), 'files': files, 'specs': specs}


def check_then_real(extra, expect_changed):
    variables = dict(BASE, **extra)
    before = state()
    check = run_playbook(PLAYBOOK, variables, check=True, diff=True)
    assert check.rc == 0, check.stdout[-6000:] + check.stderr[-3000:]
    assert state() == before, 'the check run changed the host'
    real = run_playbook(PLAYBOOK, variables, diff=True)
    assert real.rc == 0, real.stdout[-6000:] + real.stderr[-3000:]
    predicted, done = changed_tasks(check), changed_tasks(real)
    assert predicted == done, 'check predicted %s, the real run changed %s' % (predicted, done)
    assert check.changed() == real.changed(), (check.stats, real.stats)
    assert (real.changed() > 0) == expect_changed, done
    assert 'chk-Admin-pw-1' not in check.stdout and 'chk-Admin-pw-1' not in real.stdout
    return check, real


def stack_diff_text(result):
    out = []
    for name, res in result.task_results():
        if 'stack' in name.lower() and res.get('diff'):
            out.append(json.dumps(res['diff']))
    return '\n'.join(out)


def test_check_mode_predicts_every_run(clean):
    # a fresh host (no install dir): every step the real run takes is predicted
    check, real = check_then_real({}, expect_changed=True)
    assert os.path.isdir(DIR) and os.path.exists(MARKER)
    # the secrets were drawn on the host (func_config generate) and the MySQL password filled into the stack file
    # there (func_stack_file): neither run's output, JSON of every task included, holds them
    with open(os.path.join(DIR, 'data', 'user-config.yaml')) as handle:
        config = yaml.safe_load(handle)
    secrets = [config['SECRET'], config['MYSQL_PASSWORD']]
    assert all(len(value) == 32 for value in secrets), 'SECRET and MYSQL_PASSWORD are not 32 characters'
    with open(os.path.join(DIR, 'docker-stack.yaml')) as handle:
        stack = yaml.safe_load(handle)
    assert stack['services']['mysql']['environment']['MYSQL_ROOT_PASSWORD'] == config['MYSQL_PASSWORD']
    for value in secrets:
        assert value not in check.stdout + check.stderr and value not in real.stdout + real.stderr
    assert 'MYSQL_ROOT_PASSWORD: ********' in stack_diff_text(real)

    # a no-op re-run: nothing predicted, nothing done
    check_then_real({}, expect_changed=False)

    # a port change: the stack file and the deploy step are predicted, and --diff shows the port
    check, real = check_then_real({'func_port': 18472}, expect_changed=True)
    diff = stack_diff_text(check)
    assert '18472' in diff, diff[:3000]
    with open(os.path.join(DIR, 'data', 'user-config.yaml')) as handle:
        secret_line = [line for line in handle if line.startswith('MYSQL_PASSWORD')][0]
    assert secret_line.split(':', 1)[1].strip().strip('"\'') not in diff

    # a version change (upgrade with backup, server first, waits): predicted task by task
    check_then_real({'func_port': 18472, 'func_version': '5.1.7'}, expect_changed=True)
