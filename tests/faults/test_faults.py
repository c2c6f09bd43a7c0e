"""Fault and bad-input suite (hardening issue): each case injects a fault and asserts that the collection says
what went wrong and that nothing was lost. Cases exercised elsewhere are listed in tests/faults/README.md."""
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.lib.ansible_runner import REPO, run_module, run_playbook
from tests.lib.procwatch import ProcWatch

pytestmark = pytest.mark.integration

BASE = '/tmp/dfft/faults'
PORT = 13326
ROOT_PW = 'Faults-root#pw-7391'
NEW_PW = 'Faults-new#pw-5826'
INSTALL = os.path.join(BASE, 'install')
SQLDUMP = os.path.join(INSTALL, 'data', 'sqldump')


@pytest.fixture(scope='module')
def extdb(ext_db):
    return ext_db(os.path.join(BASE, 'db'), PORT, ROOT_PW)


@pytest.fixture()
def install(extdb):
    shutil.rmtree(INSTALL, ignore_errors=True)
    os.makedirs(SQLDUMP)
    cfg = {'SECRET': 'faults-secret-value-42', 'MYSQL_HOST': '127.0.0.1', 'MYSQL_PORT': PORT, 'MYSQL_USER': 'root',
           'MYSQL_PASSWORD': ROOT_PW, 'MYSQL_DATABASE': 'dataflux_func', 'REDIS_HOST': '127.0.0.1',
           'REDIS_PORT': 1, '_IS_INSTALLED': True}
    with open(os.path.join(INSTALL, 'data', 'user-config.yaml'), 'w') as handle:
        yaml.safe_dump(cfg, handle)
    os.chmod(os.path.join(INSTALL, 'data', 'user-config.yaml'), 0o600)
    extdb.admin('DROP DATABASE IF EXISTS dataflux_func; CREATE DATABASE dataflux_func CHARACTER SET utf8mb4;')
    extdb.admin('CREATE TABLE biz_main_script (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id VARCHAR(64), '
                'code LONGTEXT) DEFAULT CHARSET=utf8mb4; '
                "INSERT INTO biz_main_script (id, code) VALUES ('s1', 'print(1) 😀'), ('s2', 'x');", 'dataflux_func')
    # the other tables every DataFlux Func database has (a restore refuses a dump without them)
    extdb.admin('CREATE TABLE wat_main_system_setting (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id VARCHAR(64), '
                'value LONGTEXT); CREATE TABLE wat_main_user (seq BIGINT AUTO_INCREMENT PRIMARY KEY, '
                'username VARCHAR(64)); CREATE TABLE biz_main_func (seq BIGINT AUTO_INCREMENT PRIMARY KEY, '
                "id VARCHAR(256)); INSERT INTO wat_main_system_setting (id, value) VALUES ('UPGRADE_DB_SEQ', '29');",
                'dataflux_func')
    return INSTALL


def backup(**kwargs):
    args = {'install_dir': INSTALL, 'mysql_transport': 'direct'}
    args.update(kwargs)
    return run_module('func_backup', args)


def grow(extdb, megabytes):
    """Add about `megabytes` MB of rows (64 KB each) in one statement."""
    extdb.admin('CREATE TABLE IF NOT EXISTS biz_main_file_blob (seq BIGINT AUTO_INCREMENT PRIMARY KEY, '
                'data MEDIUMBLOB) DEFAULT CHARSET=utf8mb4;', 'dataflux_func')
    extdb.admin('INSERT INTO biz_main_file_blob (data) WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL '
                'SELECT n + 1 FROM s WHERE n < %d) SELECT REPEAT(MD5(RAND()), 2048) FROM s;' % (megabytes * 16),
                'dataflux_func')


def looks_like_backup(directory):
    return sorted(n for n in os.listdir(directory) if n.startswith('dataflux-func-sqldump-'))


def test_docker_daemon_unreachable_is_explained(tmp_path):
    for module, args in (('func_stack', {'install_dir': str(tmp_path), 'state': 'absent'}),
                         ('func_info', {'install_dir': str(tmp_path), 'gather': ['services']})):
        res = run_module(module, dict(args, docker_host='unix:///tmp/dfft/no-such-docker.sock'))
        assert res.get('failed'), res
        assert 'Docker daemon' in res['msg'] and 'not reachable' in res['msg'], res['msg']
        assert 'Traceback' not in json.dumps(res)


def test_mysql_unreachable_names_host_and_port(install):
    res = backup(mysql_port=1)
    assert res.get('failed')
    assert re.search(r'127\.0\.0\.1:1\b', res['msg']), res['msg']      # host and port 1, not the configured one
    assert 'Traceback' not in json.dumps(res) and ROOT_PW not in json.dumps(res)
    assert looks_like_backup(SQLDUMP) == []


def test_redis_unreachable_names_host_and_port(install):
    res = run_module('func_queue', {'install_dir': INSTALL, 'redis_transport': 'direct'})
    assert res.get('failed')
    assert re.search(r'127\.0\.0\.1:1\b', res['msg']), res['msg']
    assert 'Traceback' not in json.dumps(res)


def test_disk_full_while_dumping_keeps_older_backups(install, extdb):
    small = os.path.join(BASE, 'small')
    os.makedirs(small, exist_ok=True)
    subprocess.run(['umount', small], capture_output=True, check=False)
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3m,mode=0700', 'tmpfs', small],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a small tmpfs here: %s' % mounted.stderr)
    try:
        older = backup(backup_dir=small, compress='none')     # plain: the grown rows must not fit
        assert not older.get('failed'), older.get('msg')
        before = {n: open(os.path.join(small, n), 'rb').read() for n in looks_like_backup(small)}
        assert older['path'] in [os.path.join(small, n) for n in before]
        grow(extdb, 6)                  # ~6 MB of incompressible rows: the next dump cannot fit
        # no waiting for a new file name: within the same second the module waits for a free name itself
        # (Backup.new_name)
        res = backup(backup_dir=small, compress='none')
        assert res.get('failed'), res
        assert 'space' in res['msg'].lower() or 'No space' in json.dumps(res), res['msg']
        after = {n: open(os.path.join(small, n), 'rb').read() for n in looks_like_backup(small)}
        assert after == before          # no new file that looks like a backup; the older one is byte-identical
        assert [n for n in os.listdir(small) if not n.startswith('dataflux-func-sqldump-')] == []
    finally:
        subprocess.run(['umount', small], capture_output=True, check=False)


def test_truncated_dump_is_refused_and_database_kept(install, extdb):
    dump = backup(extended_insert=True)
    assert not dump.get('failed'), dump.get('msg')
    truncated = os.path.join(BASE, 'truncated.sql')
    with open(dump['path'], 'rb') as src, open(truncated, 'wb') as dst:
        data = src.read()
        dst.write(data[: len(data) // 2])
    extdb.admin("INSERT INTO biz_main_script (id, code) VALUES ('after-dump', 'kept');", 'dataflux_func')
    before = extdb.query('SELECT id, code FROM biz_main_script ORDER BY seq', 'dataflux_func')
    res = backup(state='restore', src=truncated, confirm=True)
    assert res.get('failed'), res
    assert extdb.query('SELECT id, code FROM biz_main_script ORDER BY seq', 'dataflux_func') == before


def test_secrets_never_on_any_command_line_during_dump_restore_and_config(install, extdb):
    secrets = [ROOT_PW, 'faults-secret-value-42']
    with ProcWatch(secrets, interesting=('mysqldump', 'mariadb-dump', 'mysql', 'mariadb')) as watch:
        dump = backup()
        restore = backup(state='restore', src=dump['path'], confirm=True)
        cfg = run_module('func_config', {'install_dir': INSTALL, 'settings': {'LOG_LEVEL': 'ERROR'}}, diff=True)
    assert not dump.get('failed') and not restore.get('failed') and not cfg.get('failed')
    assert watch.samples > 5 and watch.seen, 'the sampler saw no client process'
    assert watch.hits == []
    for result in (dump, restore, cfg):
        assert not any(secret in json.dumps(result) for secret in secrets)
    for path in (dump['path'], dump['path'] + '.sha256', os.path.join(INSTALL, 'data', 'user-config.yaml')):
        assert os.stat(path).st_mode & 0o077 == 0, path


def test_verbose_playbook_output_has_no_secret(install, tmp_path):
    vars_file = tmp_path / 'vars.yml'
    vars_file.write_text(yaml.safe_dump({'func_install_dir': INSTALL, 'func_new_mysql_password': NEW_PW,
                                         'func_backup_options':
                                         {'mysql_transport': 'direct', 'mysql_password': ROOT_PW}}))
    os.chmod(vars_file, 0o600)
    res = run_playbook(os.path.join(REPO, 'tests', 'faults', 'verbose.yml'), json_output=False, verbosity=3,
                       extra_args=['-e', '@%s' % vars_file])
    out = res.stdout + res.stderr
    assert res.rc == 0, out[-4000:]
    assert 'dataflux-func-sqldump-' in out
    assert ROOT_PW not in out and 'faults-secret-value-42' not in out
    # func_config masks the value of a secret key given in settings, also in the -vvv invocation ...
    assert '"MYSQL_PASSWORD": "********"' in out and NEW_PW not in out
    assert '"LOG_LEVEL": "INFO"' in out             # ... and only those values
    with open(os.path.join(INSTALL, 'data', 'user-config.yaml')) as handle:
        assert yaml.safe_load(handle)['MYSQL_PASSWORD'] == NEW_PW
