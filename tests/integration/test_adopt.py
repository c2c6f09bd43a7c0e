"""Adoption: an install laid out exactly as the official installer leaves it (old worker layout
worker-0 / worker-1-6 / worker-7 / worker-8-9, its own stack file, marker file) is upgraded by
playbooks/upgrade.yml without losing its services' names or its data, and a re-run changes nothing."""
import os

import pytest
import yaml

from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib.funcenv import FuncEnv, docker

STACK = 'dfft-mol-adopt'
PORT = 18094
INSTALL_DIR = '/tmp/dfft/mol-adopt'
MARKER = '/tmp/dfft/dfft-mol-adopt.marker'
LOGROTATE = '/etc/logrotate.d/dfft-mol-adopt'

VARS = {
    'func_hosts': 'localhost',
    'func_install_dir': INSTALL_DIR, 'func_stack_name': STACK, 'func_port': PORT,
    'func_marker_file': MARKER, 'func_logrotate_file': LOGROTATE,
    'func_image': 'dff-test/dataflux-func', 'func_version': '5.1.7', 'func_image_source': 'present',
    'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
    'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host', 'func_min_free_disk_gb': 1,
    'func_deploy_timeout': 180, 'func_wait_delay': 3,
}


def services():
    out = docker('service', 'ls', '--filter', 'label=com.docker.stack.namespace=%s' % STACK,
                 '--format', '{{.Name}}').stdout.split()
    return sorted(out)


@pytest.fixture
def official_install():
    env = FuncEnv(stack=STACK, port=PORT, install_dir=INSTALL_DIR, version='5.1.6', worker_layout='legacy',
                  admin_password='adopt-Admin-1')
    env.up()
    with open(MARKER, 'w') as handle:       # what run-portable.sh writes last
        handle.write('INSTALLED_DIR=%s\n' % INSTALL_DIR)
    yield env
    env.down(remove_dir=True)
    for path in (MARKER, LOGROTATE):
        if os.path.exists(path):
            os.unlink(path)


@pytest.mark.integration
@pytest.mark.slow
def test_adopt_and_upgrade_official_install(official_install):
    env = official_install
    env.mysql("INSERT INTO biz_main_script (id, scriptSetId, title, code, codeMD5) "
              "VALUES ('adopt-script', 'adopt', 'Adopt', 'x = 1', 'x')")
    before_services = services()
    assert '%s_worker-1-6' % STACK in before_services
    with open(env.user_config_path) as handle:
        before_cfg = yaml.safe_load(handle)

    playbook = os.path.join(REPO, 'playbooks', 'upgrade.yml')
    # extra_hosts cannot go into an adopted stack file: a clear refusal, not silence (nothing changes)
    with open(env.stack_file) as handle:
        stack_before = handle.read()
    refused = run_playbook(playbook, extra_vars=dict(VARS, func_extra_hosts={'db.internal': '10.0.0.5'}))
    assert refused.rc != 0 and 'func_extra_hosts cannot be applied' in refused.stdout, refused.stdout[-3000:]
    assert services() == before_services
    with open(env.stack_file) as handle:
        assert handle.read() == stack_before

    res = run_playbook(playbook, extra_vars=VARS)
    assert res.rc == 0 and not res.failed(), res.stdout[-6000:] + res.stderr[-3000:]
    assert res.changed() > 0

    assert services() == before_services                         # names kept
    status, data, _x = env.http('GET', '/api/v1/image-info')
    assert status == 200 and data['data']['VERSION'] == '5.1.7'
    rows = env.mysql_rows("SELECT title FROM biz_main_script WHERE id = 'adopt-script'")
    assert rows == [('Adopt',)]
    seq = env.mysql_rows("SELECT value FROM wat_main_system_setting WHERE id = 'UPGRADE_DB_SEQ'")
    assert seq[0][0].strip('"') == '29'

    with open(env.stack_file) as handle:
        stack_text = handle.read()
    assert 'dataflux.func install role' not in stack_text          # adopted, not regenerated
    assert 'worker-1-6' in stack_text and 'dff-test/dataflux-func:5.1.7' in stack_text
    with open(env.user_config_path) as handle:
        after_cfg = yaml.safe_load(handle)
    for key in ('SECRET', 'MYSQL_PASSWORD', '_IS_INSTALLED'):
        assert after_cfg.get(key) == before_cfg.get(key) or (key == '_IS_INSTALLED' and after_cfg[key] is True)

    again = run_playbook(playbook, extra_vars=VARS)
    assert again.rc == 0 and again.changed() == 0, again.stdout[-6000:]
    check = run_playbook(playbook, extra_vars=VARS, check=True)
    assert check.rc == 0 and check.changed() == 0, check.stdout[-6000:]
