"""The users' ground, end to end: an ansible-core 2.15 controller (AAP 2.4) and a plain managed host whose only
Python is 3.6 (EL8, Alibaba Cloud Linux 3) and which has nothing but python3, PyYAML and Docker (no zstd, no
MySQL or Redis client), reached as the non-root user `ops` with sudo (become).

On that host (dff-test/plain:py36, a Docker-in-Docker container on the network dfft-l215-net):
install 5.1.6 from the portable bundle, re-run changed=0, backup (compress=auto: gzip, no tool) and restore,
an upgrade check that names a missing tool (zstd) in preflight in check mode, the upgrade to 5.1.7 (re-run
changed=0), and last migrate_db to an external MariaDB/Redis on this machine (the target reached through a client
container, since the host has no MySQL client). The tests of this file run in order on one worker.
"""
import json
import os
import re
import subprocess
import time
import urllib.request

import pytest

from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib.extdb import ExtDB
from tests.lib.extredis import ExtRedis
from tests.lib.plainhost import on_network

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NETWORK, SUBNET, GATEWAY = 'dfft-l215-net', '172.29.87.0/24', '172.29.87.1'
HOST, HOST_IP = 'dfft-l215-a', '172.29.87.11'
BASE = '/tmp/dfft/l215'
MYSQL_PORT, REDIS_PORT = 13415, 16415
MYSQL_PW, REDIS_PW = 'dfft-L215-Mysql-pw1', 'dfft-L215-Redis-pw1'
INSTALL_DIR = '/usr/local/dataflux-func'          # the defaults of the official installer
STACK = 'dataflux-func'

VARS = {
    'func_image': 'dff-test/dataflux-func', 'func_image_source': 'bundle',
    'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
    'func_admin_password': 'dfft-L215-Admin-1', 'func_worker_layout': 'mini',
    'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host',   # no IPVS on this machine
    'func_min_free_disk_gb': 1, 'func_stop_grace_period': '5s', 'func_deploy_timeout': 240,
    'func_wait_delay': 2, 'func_wait_retries': 90, 'func_upgrade_retries': 60,
}


def bundle(version):
    return '/bundle/dataflux-func-portable-x86_64-%s' % version


@pytest.fixture(scope='module')
def host():
    with on_network(HOST, 'dff-test/plain:py36', NETWORK, SUBNET, GATEWAY, HOST_IP) as node:
        yield node


def play(host, name, extra=None, check=False, diff=False):
    variables = dict(VARS)
    variables.update(extra or {})
    return run_playbook(os.path.join(REPO, 'playbooks', name), variables, inventory=host.inventory_file, check=check,
                        diff=diff, env={'ANSIBLE_PIPELINING': 'true'})


def ok(result, what):
    assert result.rc == 0 and not result.failed(HOST), '%s failed:\n%s\n%s' % (
        what, result.stdout[-6000:], result.stderr[-3000:])
    return result


def host_mysql(host, sql):
    """A query through the stack's MySQL container (the host has no client), password from the container env."""
    out = host.exec('sh', '-c', 'docker exec -i $(docker ps -q -f label=com.docker.swarm.service.name=%s_mysql) '
                    'sh -c \'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -uroot -N -B dataflux_func\'' % STACK,
                    input=sql)
    assert out.returncode == 0, out.stderr
    return out.stdout


def seq(host):
    return int(host_mysql(host, "SELECT value FROM wat_main_system_setting WHERE id='UPGRADE_DB_SEQ'").strip())


def image_info(host):
    with urllib.request.urlopen('http://%s:8088/api/v1/image-info' % HOST_IP, timeout=10) as resp:
        return json.loads(resp.read().decode())['data']


def test_the_host_is_plain(host):
    out = host.exec('sh', '-c', 'python3 -c "import sys; print(sys.version.split()[0])"; '
                    'for t in zstd pigz mysql mariadb mysqldump redis-cli; do command -v $t; done; true')
    assert out.stdout.split() == ['3.6.15'], out.stdout


def test_install_on_python36_as_a_sudo_user(host):
    first = ok(play(host, 'install.yml', {'func_version': '5.1.6', 'func_bundle_dir': bundle('5.1.6')}),
               'install')
    assert first.changed(HOST) > 0
    assert image_info(host)['VERSION'] == '5.1.6'
    # the modules ran on the host's Python 3.6 (the only interpreter it has), connected as ops, with sudo
    # (install.yml gathers no facts; the host step gathers the min subset it needs, Python and user included)
    facts = [r for n, r in first.task_results(HOST) if n.endswith('Gather the minimal facts the host step needs')]
    assert facts and facts[0]['ansible_facts']['ansible_python_version'] == '3.6.15'
    assert facts[0]['ansible_facts']['ansible_user_id'] == 'root'            # become
    assert host.exec('stat', '-c', '%a %U', INSTALL_DIR + '/data/user-config.yaml').stdout.split() == ['600', 'root']
    again = ok(play(host, 'install.yml', {'func_version': '5.1.6', 'func_bundle_dir': bundle('5.1.6')}),
               'install re-run')
    assert again.changed(HOST) == 0
    # a converged host takes the fast path (one read-only check) on Python 3.6, with a bundle, through sudo
    verdict = [r for n, r in again.task_results(HOST) if 'decide what this run does' in n and 'converged' in r]
    assert verdict and verdict[0]['converged'] is True, verdict


def test_backup_and_restore_without_tools(host):
    host_mysql(host, "CREATE TABLE IF NOT EXISTS biz_l215_probe (id INT PRIMARY KEY, v VARCHAR(40));"
                     "REPLACE INTO biz_l215_probe VALUES (1, 'before backup');")
    backup = ok(play(host, 'backup.yml', {'func_backup_compress': 'auto'}), 'backup')
    dumps = [r for n, r in backup.task_results(HOST) if r.get('path', '').startswith(INSTALL_DIR)]
    assert dumps, backup.stdout[-3000:]
    path = dumps[0]['path']
    assert path.endswith('.sql.gz'), path                                   # auto without zstd = gzip
    assert host.exec('gzip', '-t', path).returncode == 0
    host_mysql(host, "UPDATE biz_l215_probe SET v='after backup' WHERE id=1;")
    ok(play(host, 'restore.yml', {'func_restore_src': path, 'func_restore_confirm': True}), 'restore')
    assert host_mysql(host, 'SELECT v FROM biz_l215_probe WHERE id=1').strip() == 'before backup'


def test_check_mode_names_a_missing_tool_before_any_change(host):
    result = play(host, 'upgrade.yml', {'func_version': '5.1.7', 'func_bundle_dir': bundle('5.1.7'),
                                        'func_upgrade_backup_compress': 'zstd'}, check=True)
    assert result.rc != 0 and result.failed(HOST)
    failed = [(n, r) for n, r in result.task_results(HOST) if r.get('failed')]
    assert failed and 'preflight' in failed[0][0].lower() or 'pre-upgrade backup can be taken' in failed[0][0], failed
    assert 'zstd' in failed[0][1]['msg'] and 'not on this host' in failed[0][1]['msg'], failed[0][1]['msg']
    assert image_info(host)['VERSION'] == '5.1.6'


def test_upgrade_to_517(host):
    before = seq(host)
    up = ok(play(host, 'upgrade.yml', {'func_version': '5.1.7', 'func_bundle_dir': bundle('5.1.7')}), 'upgrade')
    assert up.changed(HOST) > 0
    assert image_info(host)['VERSION'] == '5.1.7'
    assert seq(host) >= before
    assert host_mysql(host, 'SELECT v FROM biz_l215_probe WHERE id=1').strip() == 'before backup'
    backups = host.exec('sh', '-c', 'ls %s/data/sqldump/pre-upgrade' % INSTALL_DIR).stdout.split()
    assert any(b.endswith('.sql.gz') for b in backups), backups          # pre-upgrade backup without zstd
    again = ok(play(host, 'upgrade.yml', {'func_version': '5.1.7', 'func_bundle_dir': bundle('5.1.7')}),
               'upgrade re-run')
    assert again.changed(HOST) == 0


def test_downgrade_is_refused_unless_asked_and_then_restores_the_backup_of_that_version(host):
    old = {'func_version': '5.1.6', 'func_bundle_dir': bundle('5.1.6')}
    seq_517 = seq(host)
    host_mysql(host, "UPDATE biz_l215_probe SET v='written on 5.1.7' WHERE id=1;")
    for check in (True, False):
        refused = play(host, 'upgrade.yml', old, check=check)
        assert refused.rc != 0 and refused.failed(HOST)
        msgs = [r.get('msg', '') for _name, r in refused.task_results(HOST) if r.get('failed')]
        assert msgs and 'older than the running 5.1.7' in msgs[0] and 'func_allow_downgrade' in msgs[0], msgs
        assert image_info(host)['VERSION'] == '5.1.7'
    down = ok(play(host, 'upgrade.yml', dict(old, func_allow_downgrade=True)), 'downgrade')
    assert any('Downgraded' in str(r.get('msg', '')) for _name, r in down.task_results(HOST))
    assert image_info(host)['VERSION'] == '5.1.6'
    assert seq(host) <= seq_517          # 5.1.6 and 5.1.7 are both at seq 29 (upstream's upgrade-info.yaml)
    assert host_mysql(host, 'SELECT v FROM biz_l215_probe WHERE id=1').strip() == 'before backup'
    back = ok(play(host, 'upgrade.yml', {'func_version': '5.1.7', 'func_bundle_dir': bundle('5.1.7')}),
              'upgrade again')
    assert back.changed(HOST) > 0 and image_info(host)['VERSION'] == '5.1.7' and seq(host) == seq_517


def test_migrate_db_without_a_mysql_client_on_the_host(host):
    db = ExtDB(base=os.path.join(BASE, 'mysql'), port=MYSQL_PORT, root_password=MYSQL_PW,
               extra_args=['--bind-address=%s' % GATEWAY, '--innodb-buffer-pool-size=64M',
                           '--innodb-log-file-size=16M'])
    redis = ExtRedis(base=os.path.join(BASE, 'redis'), port=REDIS_PORT, password=REDIS_PW,
                     extra_config={'bind': '127.0.0.1 %s' % GATEWAY})
    db.start()
    try:
        db.create_database('dataflux_func', drop=True)
        db.create_user('func', MYSQL_PW, database='dataflux_func', host='%',
                       global_grants=('RELOAD', 'PROCESS', 'REPLICATION CLIENT'))
        redis.start()
        rows = int(host_mysql(host, 'SELECT COUNT(*) FROM biz_l215_probe').strip())
        target = {'func_migrate_mysql_host': GATEWAY, 'func_migrate_mysql_port': MYSQL_PORT,
                  'func_migrate_mysql_user': 'func', 'func_migrate_mysql_password': MYSQL_PW,
                  'func_migrate_redis_host': GATEWAY, 'func_migrate_redis_port': REDIS_PORT,
                  'func_migrate_redis_password': REDIS_PW}
        moved = ok(play(host, 'migrate_db.yml', target), 'migrate_db')
        assert moved.changed(HOST) > 0
        checks = [r for n, r in moved.task_results(HOST) if 'Preflight of the external' in n]
        assert checks and checks[0]['mysql'].get('transport') == 'docker_run', checks
        got = subprocess.run(['mysql', '-h', GATEWAY, '-P', str(MYSQL_PORT), '-u', 'func', '-N', '-B',
                              '-e', 'SELECT COUNT(*) FROM dataflux_func.biz_l215_probe'],
                             env=dict(os.environ, MYSQL_PWD=MYSQL_PW), capture_output=True, text=True, check=False)
        assert got.returncode == 0 and int(got.stdout.strip()) == rows, got.stderr
        for _attempt in range(60):
            try:
                if image_info(host)['VERSION'] == '5.1.7':
                    break
            except OSError:
                pass
            time.sleep(2)
        else:
            raise AssertionError('DataFlux Func 5.1.7 did not answer on %s after the migration' % HOST_IP)
        services = host.exec('docker', 'service', 'ls', '--format', '{{.Name}}').stdout.split()
        assert not [s for s in services if re.search(r'_(mysql|redis)$', s)], services
        again = ok(play(host, 'migrate_db.yml', target), 'migrate_db re-run')
        assert again.changed(HOST) == 0
    finally:
        redis.stop()
        db.stop()
