"""func_backup against real MariaDB servers: a private mariadbd on the host ("external", direct transport)
and the built-in MySQL service of a test stack (container transport).

Names: stack dfft-backup, dirs under /tmp/dfft/backup, host mariadbd on 127.0.0.1:13306.
"""
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
import zipfile

import pytest

from ansible_collections.dataflux.func.plugins.module_utils._func_docker import DockerCLI
from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import MySQLClient
from tests.lib.ansible_runner import run_module

pytestmark = pytest.mark.integration

BASE = '/tmp/dfft/backup'
STACK = 'dfft-backup'
EXT_PORT = 13306
EXT_ROOT_PW = "dfft-ExtRoot#pw'7713"
CTR_ROOT_PW = 'dfft-CtrRoot#pw"8824'
NAME_RE = re.compile(r'^dataflux-func-sqldump-\d{8}-\d{6}\.(sql|sql\.gz|sql\.zst|zip)$')
MARIADB_IMAGE = 'dff-test/mariadb:10.11'


def write_yaml(path, data):
    import yaml
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        yaml.safe_dump(data, handle)


class Target(object):
    """One DataFlux Func-like installation whose database the module backs up."""

    def __init__(self, kind, install_dir, client, password, kill_db, revive_db, stack='dfft-backup-none'):
        self.kind = kind
        self.install_dir = install_dir
        self.client = client
        self.password = password
        self.kill_db = kill_db
        self.revive_db = revive_db
        self.stack = stack

    @property
    def sqldump(self):
        return os.path.join(self.install_dir, 'data', 'sqldump')

    def args(self, **kw):
        out = {'install_dir': self.install_dir, 'stack_name': self.stack}
        out.update(kw)
        return out

    def module(self, check=False, **kw):
        return run_module('func_backup', self.args(**kw), check=check)

    def sql(self, text):
        self.client.execute(text)

    def fingerprint(self):
        """Tables, exact row counts and a content checksum per table."""
        tables = sorted(n for n, t in self.client.tables().items() if t != 'VIEW')
        counts = self.client.row_counts(tables)
        sums = {r['Table'].split('.', 1)[1]: r['Checksum']
                for r in self.client.query('CHECKSUM TABLE %s EXTENDED' % ', '.join('`%s`' % t for t in tables))}
        return {'tables': tables, 'counts': counts, 'checksums': sums}


def seed(target, big_rows=0):
    rnd = random.Random(7)
    blobs = [bytes(rnd.getrandbits(8) for _x in range(n)) + b"\x00'\"\\),(" for n in (0, 1, 300, 70000)]
    text = "多字节 😀🎉 it's \"quoted\" \\ back),(slash;\nline2\ttab\x1a"
    sql = ['SET NAMES utf8mb4;',
           'DROP TABLE IF EXISTS wat_main_system_setting, biz_main_script, biz_main_file_blob, '
           'biz_main_task_record, biz_main_empty, wat_main_user, biz_main_func, unrelated;',
           'CREATE TABLE wat_main_user (seq BIGINT AUTO_INCREMENT PRIMARY KEY, username VARCHAR(64), '
           'passwordHash TEXT) DEFAULT CHARSET=utf8mb4;',
           "INSERT INTO wat_main_user (username, passwordHash) VALUES ('admin', 'x');",
           'CREATE TABLE biz_main_func (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id VARCHAR(256)) '
           'DEFAULT CHARSET=utf8mb4;',
           "INSERT INTO biz_main_func (id) VALUES ('demo__main.f');",
           'CREATE TABLE wat_main_system_setting (seq BIGINT AUTO_INCREMENT PRIMARY KEY, '
           'id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL UNIQUE, value LONGTEXT NOT NULL) '
           'DEFAULT CHARSET=utf8mb4;',
           "INSERT INTO wat_main_system_setting (id, value) VALUES ('UPGRADE_DB_SEQ', '29'), "
           "('DATAFLUX_FUNC_ID', '\"DFF0123\"');",
           'CREATE TABLE biz_main_script (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id VARCHAR(64), code LONGTEXT, '
           'meta JSON) DEFAULT CHARSET=utf8mb4;',
           'CREATE TABLE biz_main_file_blob (seq BIGINT AUTO_INCREMENT PRIMARY KEY, data MEDIUMBLOB) '
           'DEFAULT CHARSET=utf8mb4;',
           'CREATE TABLE biz_main_task_record (seq BIGINT AUTO_INCREMENT PRIMARY KEY, func VARCHAR(64), '
           'payload TEXT, KEY k_func (func)) DEFAULT CHARSET=utf8mb4;',
           'CREATE TABLE biz_main_empty (a INT) DEFAULT CHARSET=utf8mb4;']
    for i in range(20):
        sql.append("INSERT INTO biz_main_script (id, code, meta) VALUES (%s, %s, %s);"
                   % (target.client.quote('s%d' % i), target.client.quote(text * (i + 1)),
                      target.client.quote(json.dumps({'k': text, 'i': i}))))
    sql.append("INSERT INTO biz_main_script (id, code, meta) VALUES (NULL, NULL, NULL), ('', '', '{}');")
    for blob in blobs:
        sql.append('INSERT INTO biz_main_file_blob (data) VALUES (0x%s);' % (blob.hex() or "''"))
    sql.append('INSERT INTO biz_main_file_blob (data) VALUES (NULL);')
    if big_rows:
        sql.append("INSERT INTO biz_main_task_record (func, payload) VALUES ('f', REPEAT('x😀', 90));")
        n = 1
        while n < big_rows:
            sql.append('INSERT INTO biz_main_task_record (func, payload) SELECT CONCAT(func, seq %% 7), payload '
                       'FROM biz_main_task_record LIMIT %d;' % min(n, big_rows - n))
            n += min(n, big_rows - n)
    target.sql('\n'.join(sql))


# --- external (host mariadbd) ----------------------------------------------------------------------
@pytest.fixture(scope='module')
def extdb(ext_db):
    return ext_db(os.path.join(BASE, 'extdb'), EXT_PORT, EXT_ROOT_PW)


def _ext_target(extdb):
    install = os.path.join(BASE, 'ext')
    shutil.rmtree(install, ignore_errors=True)
    cfg = {'MYSQL_HOST': '127.0.0.1', 'MYSQL_PORT': EXT_PORT, 'MYSQL_USER': 'root', 'MYSQL_PASSWORD': EXT_ROOT_PW,
           'MYSQL_DATABASE': 'dataflux_func', '_IS_INSTALLED': True, 'SECRET': 'x' * 16}
    write_yaml(os.path.join(install, 'data', 'user-config.yaml'), cfg)
    client = MySQLClient('direct', database='dataflux_func', user='root', password=EXT_ROOT_PW,
                         host='127.0.0.1', port=EXT_PORT)

    def revive():
        extdb.start()

    return Target('external', install, client, EXT_ROOT_PW, extdb.kill, revive)


# --- container (built-in MySQL service of a stack) ---------------------------------------------------
def _have_image(name):
    return subprocess.run(['docker', 'image', 'inspect', name], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope='module')
def ctr_stack():
    if not _have_image(MARIADB_IMAGE):
        pytest.skip('%s is not built (scripts/build-images)' % MARIADB_IMAGE)
    install = os.path.join(BASE, 'ctr')
    subprocess.run(['docker', 'stack', 'rm', STACK], capture_output=True, check=False)
    _wait_gone()
    shutil.rmtree(install, ignore_errors=True)
    os.makedirs(os.path.join(install, 'mysql'))
    stack = {'version': '3.8', 'services': {'mysql': {
        'image': MARIADB_IMAGE,
        'environment': {'MYSQL_ROOT_PASSWORD': CTR_ROOT_PW, 'MYSQL_DATABASE': 'dataflux_func'},
        'command': ['--character-set-server=utf8mb4', '--collation-server=utf8mb4_unicode_ci',
                    '--max-allowed-packet=256M'],
        'volumes': ['%s/mysql:/var/lib/mysql' % install],
        'deploy': {'endpoint_mode': 'dnsrr'}}}}
    write_yaml(os.path.join(install, 'docker-stack.yaml'), stack)
    write_yaml(os.path.join(install, 'data', 'user-config.yaml'),
               {'MYSQL_HOST': 'mysql', 'MYSQL_PORT': 3306, 'MYSQL_USER': 'root', 'MYSQL_PASSWORD': CTR_ROOT_PW,
                'MYSQL_DATABASE': 'dataflux_func', '_IS_INSTALLED': True})
    subprocess.run(['docker', 'stack', 'deploy', '-c', os.path.join(install, 'docker-stack.yaml'), STACK],
                   check=True, capture_output=True)
    docker = DockerCLI()
    client = _wait_ctr_client(docker)
    yield install, docker, client
    subprocess.run(['docker', 'stack', 'rm', STACK], capture_output=True, check=False)


def _wait_gone(timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(['docker', 'ps', '-aq', '--filter', 'label=com.docker.stack.namespace=%s' % STACK],
                             capture_output=True, text=True, check=False).stdout.split()
        if not out:
            return
        time.sleep(1)


def _wait_ctr_client(docker, timeout=180):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            container = docker.find_container(STACK, 'mysql')
            client = MySQLClient('container', database='dataflux_func', user='root', password=CTR_ROOT_PW,
                                 container=container, docker=docker)
            client.query('SELECT 1 AS ok')
            return client
        except Exception as exc:  # container not there or server still initialising
            last = exc
            time.sleep(1)
    raise AssertionError('built-in MySQL of %s did not come up: %s' % (STACK, last))


def _ctr_target(ctr_stack):
    install, docker, _client = ctr_stack
    client = _wait_ctr_client(docker)    # a previous test may have killed the container
    state = {'client': client}

    def kill():
        subprocess.run(['docker', 'kill', state['client'].container], capture_output=True, check=False)

    def revive():
        fresh = _wait_ctr_client(docker)
        target.client = fresh
        state['client'] = fresh

    target = Target('container', install, client, CTR_ROOT_PW, kill, revive, stack=STACK)
    return target


@pytest.fixture(params=['external', 'container'])
def target(request):
    if request.param == 'external':
        t = _ext_target(request.getfixturevalue('extdb'))
    else:
        t = _ctr_target(request.getfixturevalue('ctr_stack'))
    shutil.rmtree(t.sqldump, ignore_errors=True)
    return t


def _backups(directory):
    try:
        return sorted(n for n in os.listdir(directory) if NAME_RE.match(n))
    except FileNotFoundError:
        return []


# --- tests -------------------------------------------------------------------------------------------
@pytest.mark.parametrize('compress,extended', [('none', False), ('gzip', False), ('zstd', True)])
def test_round_trip_binary_and_multibyte(target, compress, extended):
    seed(target, big_rows=2000)
    before = target.fingerprint()
    # a plain .sql never goes into the product's own data/sqldump (its rotation trips over it): elsewhere
    where = os.path.join(target.install_dir, 'dumps') if compress == 'none' else target.sqldump
    res = target.module(compress=compress, extended_insert=extended,
                        **({'backup_dir': where} if compress == 'none' else {}))
    assert not res.get('failed'), res.get('msg')
    assert res['changed'] is True and res['transport'] == ('direct' if target.kind == 'external' else 'container')
    assert res['upgrade_seq'] == 29
    path = res['path']
    assert NAME_RE.match(os.path.basename(path)) and path.startswith(where + '/')
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path, 'rb') as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == res['checksum']
    with open(path + '.sha256') as handle:
        assert handle.read() == '%s  %s\n' % (res['checksum'], os.path.basename(path))
    assert res['size'] == os.path.getsize(path)
    assert target.password not in json.dumps(res)

    # drop the dump's tables, add one it does not hold, then restore: the dump's tables come back, the other stays
    target.sql('DROP TABLE %s;' % ', '.join(before['tables']))
    target.sql('CREATE TABLE unrelated (a INT); INSERT INTO unrelated VALUES (1);')
    res2 = target.module(state='restore', src=path, confirm=True)
    assert not res2.get('failed'), res2.get('msg')
    assert res2['changed'] is True
    assert res2['row_counts']['biz_main_task_record'] == 2000
    assert res2['row_counts']['biz_main_empty'] == 0
    assert res2['kept_tables'] == ['unrelated'] and res2['dropped_tables'] == []
    assert os.path.exists(res2['safety_backup'])
    assert not res2['safety_backup'].endswith('.sql')            # never a plain .sql in the product's directory
    after = target.fingerprint()
    assert after['counts'].pop('unrelated') == 1 and after['checksums'].pop('unrelated')
    after['tables'].remove('unrelated')
    assert after == before


def test_restore_requires_confirm_and_changes_nothing(target):
    seed(target)
    before = target.fingerprint()
    res = target.module(state='restore', src='/nonexistent.sql')
    assert res.get('failed') and 'confirm=true' in res['msg']
    assert _backups(target.sqldump) == []
    assert target.fingerprint() == before
    # check mode: changed, nothing written
    dump = target.module(check=True)
    assert dump['changed'] is True and not os.path.exists(dump['path'])


def test_failing_dump_leaves_no_backup_and_keeps_older(target):
    seed(target, big_rows=200000)
    first = target.module(compress='zstd')
    assert not first.get('failed'), first.get('msg')
    older = _backups(target.sqldump)
    result = {}

    def run():
        result['res'] = target.module()

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.time() + 60
    killed = False
    while time.time() < deadline and thread.is_alive():
        tmps = [n for n in os.listdir(target.sqldump) if n.endswith('.tmp')]
        if tmps and os.path.getsize(os.path.join(target.sqldump, tmps[0])) > 0:
            target.kill_db()
            killed = True
            break
        time.sleep(0.005)
    thread.join(120)
    try:
        assert killed, 'the dump finished before the database could be stopped'
        res = result['res']
        assert res.get('failed'), res
        assert target.password not in json.dumps(res)
        assert _backups(target.sqldump) == older
        assert not [n for n in os.listdir(target.sqldump) if n.endswith('.tmp')]
    finally:
        target.revive_db()
    listing = target.module(state='inventory')
    assert [b['checksum'] for b in listing['backups']] == ['ok']


def test_ps_shows_no_password_during_dump(target):
    seed(target, big_rows=100000)
    seen, hits, stop = [], [], threading.Event()

    def sample():
        while not stop.is_set():
            out = subprocess.run(['ps', '-eww', '-o', 'args='], capture_output=True, text=True,
                                 check=False).stdout
            for line in out.splitlines():
                if 'mysqldump' in line or 'mariadb-dump' in line:
                    seen.append(line)
                if target.password in line:
                    hits.append(line)
            time.sleep(0.01)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        res = target.module()
    finally:
        stop.set()
        thread.join()
    assert not res.get('failed'), res.get('msg')
    assert seen, 'ps never saw the dump running'
    assert any('--defaults-extra-file=' in line for line in seen)
    assert hits == []


def test_missing_privileges_are_named(extdb):
    t = _ext_target(extdb)
    seed(t)
    extdb.create_user('dfft_ro', 'ro-pass-1', database='dataflux_func', grants=('SELECT', 'SHOW VIEW'))
    res = t.module(mysql_user='dfft_ro', mysql_password='ro-pass-1')
    assert res.get('failed')
    assert res['missing_privileges'] == ['RELOAD', 'LOCK TABLES', 'REPLICATION CLIENT', 'PROCESS']
    assert 'RELOAD, LOCK TABLES, REPLICATION CLIENT, PROCESS' in res['msg']
    assert _backups(t.sqldump) == []
    extdb.create_user('dfft_bk', 'bk-pass-1', database='dataflux_func', grants=('SELECT', 'LOCK TABLES', 'SHOW VIEW'),
                      global_grants=('RELOAD', 'PROCESS', 'BINLOG MONITOR'))
    res = t.module(mysql_user='dfft_bk', mysql_password='bk-pass-1')
    assert not res.get('failed'), res.get('msg')


def _make_backup_files(directory, now):
    """Collection dumps (with sidecars), in-app zips and a stray .sql, hourly, newest first."""
    os.makedirs(directory, exist_ok=True)
    names = []
    for i in range(6):
        stamp = time.strftime('%Y%m%d-%H%M%S', time.gmtime(now - i * 86400 * 2))
        dump = 'dataflux-func-sqldump-%s.sql.zst' % stamp
        data = b'\x28\xb5\x2f\xfd' + os.urandom(100)
        with open(os.path.join(directory, dump), 'wb') as handle:
            handle.write(data)
        with open(os.path.join(directory, dump + '.sha256'), 'w') as handle:
            handle.write('%s  %s\n' % (hashlib.sha256(data).hexdigest(), dump))
        stamp2 = time.strftime('%Y%m%d-%H%M%S', time.gmtime(now - i * 86400 * 2 - 60))
        zname = 'dataflux-func-sqldump-%s.zip' % stamp2
        with zipfile.ZipFile(os.path.join(directory, zname), 'w') as zf:
            zf.writestr(zname[:-4] + '.sql', 'SELECT 1;\n')
        names += [dump, zname]
    stray = 'dataflux-func-sqldump-%s.sql' % time.strftime('%Y%m%d-%H%M%S', time.gmtime(now - 30))
    with open(os.path.join(directory, stray), 'w') as handle:
        handle.write('-- partial\n')
    return names, stray


def test_retention_check_mode_then_prune(extdb):
    t = _ext_target(extdb)
    user_cfg = os.path.join(t.install_dir, 'data', 'user-config.yaml')
    import yaml
    with open(user_cfg) as handle:
        cfg = yaml.safe_load(handle)
    cfg['TIMEZONE'] = 'UTC'
    write_yaml(user_cfg, cfg)
    now = time.time()
    names, stray = _make_backup_files(t.sqldump, now)
    # age 0, 2, 4, 6, 8, 10 days; keep_days=5 -> the three older of each kind go (with sidecars)
    res = t.module(check=True, state='prune', keep_days=5)
    assert res['changed'] is True
    expected = set()
    for i in (3, 4, 5):
        expected.add(os.path.join(t.sqldump, names[2 * i]))
        expected.add(os.path.join(t.sqldump, names[2 * i] + '.sha256'))
        expected.add(os.path.join(t.sqldump, names[2 * i + 1]))
    expected.add(os.path.join(t.sqldump, stray))
    assert set(res['deleted']) == expected
    assert all(os.path.exists(p) for p in expected)      # check mode deleted nothing
    res = t.module(state='prune', keep_days=5)
    assert set(res['deleted']) == expected and res['changed'] is True
    assert not any(os.path.exists(p) for p in expected)
    again = t.module(state='prune', keep_days=5)
    assert again['changed'] is False and again['deleted'] == []
    # newest valid backups are kept whatever the limits say; a damaged newest one is not protected
    with open(os.path.join(t.sqldump, names[0]), 'ab') as handle:
        handle.write(b'damage')
    res = t.module(state='prune', keep_count=1, keep_days=1, keep_size='1')
    kept = set(res['kept'])
    assert names[2] in kept and names[1] in kept and names[0] not in kept
    listing = t.module(state='inventory')
    assert {b['name']: b['checksum'] for b in listing['backups']} == {names[2]: 'ok', names[1]: 'ok'}


def test_restore_inapp_zip(target):
    seed(target)
    before = target.fingerprint()
    # An in-app style backup: DROP/CREATE + batched INSERTs with X'' literals, zipped.
    rows = target.client.query('SELECT seq, id, HEX(code) AS code, meta FROM biz_main_script ORDER BY seq')
    lines = ['-- --------------------------------------------------', '-- DataFlux Func DB Backup',
             '-- Version: 5.1.7', '-- --------------------------------------------------', 'SET NAMES utf8mb4;',
             'DROP TABLE IF EXISTS `biz_main_script`;',
             'CREATE TABLE `biz_main_script` (`seq` bigint NOT NULL AUTO_INCREMENT, `id` varchar(64), '
             '`code` longtext, `meta` json, PRIMARY KEY (`seq`)) DEFAULT CHARSET=utf8mb4;',
             'LOCK TABLES `biz_main_script` WRITE;']
    values = []
    for r in rows:
        values.append("(%s, %s, %s, %s)" % (r['seq'], target.client.quote(r['id']),
                                            "X'%s'" % r['code'] if r['code'] is not None else 'NULL',
                                            target.client.quote(r['meta'])))
    for i in range(0, len(values), 5):
        lines.append('INSERT INTO `biz_main_script` VALUES\n%s;' % ',\n'.join(values[i:i + 5]))
    lines += ['UNLOCK TABLES;', 'DROP TABLE IF EXISTS `wat_main_system_setting`;',
              'CREATE TABLE `wat_main_system_setting` (`seq` bigint NOT NULL AUTO_INCREMENT, `id` varchar(64) '
              'COLLATE utf8mb4_bin NOT NULL, `value` longtext NOT NULL, PRIMARY KEY (`seq`)) '
              'DEFAULT CHARSET=utf8mb4;',
              "INSERT INTO `wat_main_system_setting` VALUES (1, 'UPGRADE_DB_SEQ', '29');",
              'DROP TABLE IF EXISTS `wat_main_user`;',
              'CREATE TABLE `wat_main_user` (`seq` bigint NOT NULL AUTO_INCREMENT, PRIMARY KEY (`seq`));',
              'DROP TABLE IF EXISTS `biz_main_func`;',
              'CREATE TABLE `biz_main_func` (`seq` bigint NOT NULL AUTO_INCREMENT, PRIMARY KEY (`seq`));']
    os.makedirs(target.sqldump, exist_ok=True)
    zname = 'dataflux-func-sqldump-20240101-000000.zip'
    with zipfile.ZipFile(os.path.join(target.sqldump, zname), 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zname[:-4] + '.sql', '\n'.join(lines) + '\n')
    target.sql('DELETE FROM biz_main_script WHERE seq > 3;')
    res = target.module(state='restore', src=zname, confirm=True)
    assert not res.get('failed'), res.get('msg')
    assert res['origin'] == 'inapp'
    assert res['row_counts'] == {'biz_main_script': len(rows), 'wat_main_system_setting': 1, 'wat_main_user': 0,
                                 'biz_main_func': 0}
    others = ['biz_main_empty', 'biz_main_file_blob', 'biz_main_task_record']
    assert res['kept_tables'] == others                      # as the guide's import: the zip drops only its own
    after = target.fingerprint()
    assert after['tables'] == sorted(before['tables'])
    assert after['checksums']['biz_main_script'] == before['checksums']['biz_main_script']
    assert all(after['checksums'][t] == before['checksums'][t] for t in others)
    # exact: the database is made to equal the dump, and says what it dropped
    res = target.module(state='restore', src=zname, confirm=True, exact=True)
    assert not res.get('failed'), res.get('msg')
    assert res['dropped_tables'] == others and res['kept_tables'] == []
    assert target.fingerprint()['tables'] == ['biz_main_func', 'biz_main_script', 'wat_main_system_setting',
                                              'wat_main_user']


def test_failed_restore_rolls_back(extdb):
    t = _ext_target(extdb)
    seed(t)
    # a complete DataFlux Func dump (it passes every check made before the restore) with a statement that fails
    good = t.module(backup_dir=os.path.join(t.install_dir, 'dumps'), compress='none')
    assert not good.get('failed'), good.get('msg')
    with open(good['path'], 'rb') as handle:
        text = handle.read()
    cut = text.index(b'INSERT INTO `biz_main_script`')
    bad = os.path.join(t.install_dir, 'dumps', 'bad.sql')
    with open(bad, 'wb') as handle:
        handle.write(text[:cut] + b'THIS IS NOT SQL;\n' + text[cut:])
    t.sql('CREATE TABLE unrelated (a INT); INSERT INTO unrelated VALUES (7);')
    before = t.fingerprint()
    res = t.module(state='restore', src=bad, confirm=True)
    assert res.get('failed') and res['rolled_back'] is True, res
    assert 'rolled back' in res['msg']
    assert t.fingerprint() == before


def _write_source(path, data, fmt):
    import gzip as _gzip
    if fmt == 'gzip':
        data = _gzip.compress(data)
    elif fmt == 'zstd':
        data = subprocess.run(['zstd', '-q', '-c'], input=data, capture_output=True, check=True).stdout
    elif fmt == 'zip':
        import io
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(os.path.basename(path)[:-4] + '.sql', data)
        data = buf.getvalue()
    with open(path, 'wb') as handle:
        handle.write(data)


def _refused(t, src, must_say, **kw):
    """The restore is refused with a message that says must_say, and nothing at all changed."""
    before, files = t.fingerprint(), sorted(os.listdir(t.sqldump)) if os.path.isdir(t.sqldump) else []
    res = t.module(state='restore', src=src, confirm=True, **kw)
    assert res.get('failed') and must_say in res['msg'], res.get('msg')
    assert 'Traceback' not in json.dumps(res)
    assert t.fingerprint() == before
    assert (sorted(os.listdir(t.sqldump)) if os.path.isdir(t.sqldump) else []) == files   # no safety backup
    return res


@pytest.mark.parametrize('fmt', ['plain', 'gzip', 'zstd', 'zip'])
def test_restore_refuses_what_is_not_a_complete_func_dump(extdb, fmt):
    t = _ext_target(extdb)
    seed(t)
    good = t.module(backup_dir=os.path.join(t.install_dir, 'dumps'), compress='none')
    with open(good['path'], 'rb') as handle:
        dump = handle.read()
    ext = {'plain': '.sql', 'gzip': '.sql.gz', 'zstd': '.sql.zst', 'zip': '.zip'}[fmt]
    src = os.path.join(t.install_dir, 'dumps', 'source' + ext)
    cases = [
        (b'', 'empty' if fmt == 'plain' else 'holds no SQL'),
        (b'-- just a comment\n', 'holds no CREATE TABLE'),
        (b'DROP TABLE IF EXISTS x;\nSELECT 1;\n', 'holds no CREATE TABLE'),
        (dump[:len(dump) // 2], 'completion trailer'),                               # cut off
        (b'CREATE TABLE `t` (a INT);\nINSERT INTO `t` VALUES (1);\n', 'neither a mysqldump file nor'),
        (re.sub(rb'(?s)CREATE TABLE `wat_main_user`.*?;\n', b'', dump), 'does not create wat_main_user'),
    ]
    for data, must_say in cases:
        _write_source(src, data, fmt)
        _refused(t, src, must_say)
    # the seeded tables survived every attempt
    assert t.client.row_counts(['wat_main_user'])['wat_main_user'] == 1


def test_restore_refuses_a_dump_of_another_installation(extdb):
    t = _ext_target(extdb)
    seed(t)
    good = t.module(backup_dir=os.path.join(t.install_dir, 'dumps'), compress='none')
    with open(good['path'], 'rb') as handle:
        dump = handle.read()
    assert b'DFF0123' in dump
    foreign = os.path.join(t.install_dir, 'dumps', 'foreign.sql')
    with open(foreign, 'wb') as handle:
        handle.write(dump.replace(b'DFF0123', b'DFF9999'))
    res = _refused(t, foreign, 'another DataFlux Func installation')
    assert res['dump_func_id'] == 'DFF9999' and res['func_id'] == 'DFF0123'
    assert 'reset' in res['msg'] and 'allow_foreign_dump=true' in res['msg']
    res = t.module(state='restore', src=foreign, confirm=True, allow_foreign_dump=True)
    assert not res.get('failed'), res.get('msg')
    assert res['dump_func_id'] == 'DFF9999'
    assert t.client.query("SELECT value FROM wat_main_system_setting WHERE id='DATAFLUX_FUNC_ID'")[0]['value'] \
        == '"DFF9999"'


def test_plain_dump_into_the_products_directory_is_refused(extdb):
    t = _ext_target(extdb)
    seed(t)
    res = t.module(compress='none')
    assert res.get('failed') and 'own backup directory' in res['msg'], res.get('msg')
    assert not os.path.isdir(t.sqldump) or not [n for n in os.listdir(t.sqldump) if n.endswith('.sql')]


def test_backup_playbook_fetches_and_verifies(extdb, tmp_path):
    from tests.lib.ansible_runner import run_playbook
    t = _ext_target(extdb)
    seed(t)
    fetch_dir = str(tmp_path / 'ctl')
    res = run_playbook('playbooks/backup.yml', extra_vars={
        'func_install_dir': t.install_dir, 'func_stack_name': t.stack, 'func_backup_compress': 'zstd',
        'func_backup_fetch': True, 'func_backup_fetch_dir': fetch_dir}, extra_args=['-e', 'ansible_become=false'])
    assert res.rc == 0, res.stdout[-3000:] + res.stderr[-3000:]
    dumps = _backups(t.sqldump)
    assert len(dumps) == 1, res.stdout[-3000:] + res.stderr[-3000:]
    copy = os.path.join(fetch_dir, 'localhost', dumps[0])
    with open(copy, 'rb') as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    with open(copy + '.sha256') as handle:
        assert handle.read().split()[0] == digest
    # restore.yml refuses without confirmation
    res = run_playbook('playbooks/restore.yml',
                       extra_vars={'func_install_dir': t.install_dir, 'func_restore_src': dumps[0]},
                       extra_args=['-e', 'ansible_become=false'])
    assert res.rc != 0 and 'func_restore_confirm' in res.stdout
