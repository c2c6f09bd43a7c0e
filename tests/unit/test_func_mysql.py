"""Pure logic of the MySQL client: quoting, option files, grants, dump scanning, XML rows."""
import gzip
import os
import zipfile

import pytest

from ansible_collections.dataflux.func.plugins.module_utils import _func_mysql as m
from ansible_collections.dataflux.func.plugins.module_utils import _func_sqldump as sd
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError


def test_quote_escapes_everything_dangerous():
    assert m.quote(None) == 'NULL'
    assert m.quote(5) == '5'
    assert m.quote("a'b\\c\n\0\x1a") == "_utf8mb4 X'6127625C630A001A'"
    assert m.quote('plain text, 1.2 @x') == "'plain text, 1.2 @x'"
    assert m.quote('') == "''"
    assert m.quote('多') == "_utf8mb4 X'E5A49A'"
    assert m.quote('"ansi"') == "_utf8mb4 X'22616E736922'"
    assert m.quote_ident('we`ird') == '`we``ird`'


def test_option_file_quotes_values_and_never_loses_bytes():
    data = m.option_file_bytes('root', 'p#a ss\\w"d', '127.0.0.1', 3306).decode()
    assert data.startswith('[client]\n')
    assert "password='p#a ss\\\\w\"d'" in data
    assert 'port=3306' in data and 'host="127.0.0.1"' in data
    with pytest.raises(FuncError):
        m.option_file_bytes('root', 'a\'b"c')


def test_argument_spec_names_and_no_log():
    spec = m.mysql_argument_spec()
    for name in ('mysql_transport', 'mysql_service', 'mysql_host', 'mysql_port', 'mysql_user',
                 'mysql_password', 'mysql_database'):
        assert name in spec
    assert spec['mysql_password']['no_log'] is True
    assert spec['mysql_transport']['default'] == 'auto'
    assert spec['mysql_service']['default'] == 'mysql'


def test_container_script_keeps_secrets_off_argv():
    assert 'password' not in m.CONTAINER_SCRIPT.lower()
    assert 'dd bs=1 count="$n"' in m.CONTAINER_SCRIPT
    assert '--defaults-extra-file="$f" "$@"' in m.CONTAINER_SCRIPT


@pytest.mark.parametrize('grants,missing', [
    (["GRANT ALL PRIVILEGES ON *.* TO `root`@`%` WITH GRANT OPTION"], []),
    (["GRANT USAGE ON *.* TO `u`@`%`", "GRANT SELECT ON `dataflux_func`.* TO `u`@`%`"],
     ['RELOAD', 'LOCK TABLES', 'REPLICATION CLIENT', 'SHOW VIEW', 'PROCESS']),
    (["GRANT RELOAD, PROCESS, BINLOG MONITOR ON *.* TO `u`@`%`",
      "GRANT SELECT, LOCK TABLES, SHOW VIEW ON `dataflux\\_func`.* TO `u`@`%`"], []),
    (["GRANT RELOAD ON *.* TO `u`@`%`", "GRANT ALL PRIVILEGES ON `other`.* TO `u`@`%`"],
     ['SELECT', 'LOCK TABLES', 'REPLICATION CLIENT', 'SHOW VIEW', 'PROCESS']),
    # PROCESS granted on a database does not count: it is a global privilege
    (["GRANT ALL PRIVILEGES ON `dataflux_func`.* TO `u`@`%`"], ['RELOAD', 'REPLICATION CLIENT', 'PROCESS']),
    (["GRANT SELECT (a, b), INSERT ON `dataflux_func`.`t` TO `u`@`%`"], list(m.BACKUP_PRIVILEGES)),
])
def test_missing_privileges(grants, missing):
    assert m.missing_privileges(grants, 'dataflux_func') == missing


def _scan(data, chunk):
    sc = sd.DumpScanner()
    for i in range(0, len(data), chunk):
        sc.feed(data[i:i + chunk])
    return sc.finish()


DUMP = (b"-- MariaDB dump 10.19\n--\n-- Host: x    Database: db\n"
        b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `db`;\n\nUSE `db`;\n"
        b"DROP TABLE IF EXISTS `t`;\nCREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `s` text,\n"
        b"  PRIMARY KEY (`id`),\n  KEY `k` (`s`(10))\n) ENGINE=InnoDB;\n"
        b"LOCK TABLES `t` WRITE;\n"
        b"INSERT INTO `t` VALUES (1,'a),(b');\n"
        b"INSERT INTO `t` VALUES (2,'it\\'s; \\\\'),(3,NULL),(4,'\xf0\x9f\x98\x80'),(5,0x00FF);\n"
        b"UNLOCK TABLES;\n"
        b"DROP TABLE IF EXISTS `empty``t`;\nCREATE TABLE `empty``t` (`a` int);\n"
        b"-- comment with an apostrophe it's here\n"
        b"-- Dump completed on 2024-10-12 10:00:00\n")


@pytest.mark.parametrize('chunk', [1, 2, 3, 7, 64, 100000])
def test_scanner_counts_rows_across_chunk_boundaries(chunk):
    sc = _scan(DUMP, chunk)
    assert sc.counts == {'t': 5, 'empty`t': 0}
    assert sc.tables == ['t', 'empty`t']
    assert sc.databases == ['db']
    assert sc.completed and sc.is_mysqldump


def test_scanner_inapp_style_multiline_inserts():
    data = (b"-- DataFlux Func DB Backup\nDROP TABLE IF EXISTS `biz_main_script`;\n"
            b"CREATE TABLE `biz_main_script` (`seq` bigint, `code` longtext);\n"
            b"INSERT INTO `biz_main_script` VALUES\n(1, X'6869'),\n(2, '{\"a\": \"),(\"}');\n"
            b"INSERT INTO `biz_main_script` VALUES\n(3, X'00');\n")
    sc = _scan(data, 5)
    assert sc.counts == {'biz_main_script': 3}
    assert not sc.is_mysqldump and not sc.completed


def test_parse_xml_rows_null_and_multiple_results():
    text = ('<?xml version="1.0"?>\n<resultset statement="x" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n  <row>\n'
            '\t<field name="a">1</field>\n\t<field name="b" xsi:nil="true" />\n\t<field name="c"></field>\n'
            '  </row>\n</resultset>\n<?xml version="1.0"?>\n<resultset statement="y" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
            '  <row><field name="d">&lt;&amp;</field></row></resultset>\n')
    assert m.parse_xml_rows(text) == [{'a': '1', 'b': None, 'c': ''}, {'d': '<&'}]
    assert m.parse_xml_rows('') == []


def test_detect_format(tmp_path):
    plain = tmp_path / 'a.sql'
    plain.write_bytes(b'-- x\n')
    gz = tmp_path / 'a.sql.gz'
    gz.write_bytes(gzip.compress(b'x'))
    zst = tmp_path / 'a.sql.zst'
    zst.write_bytes(b'\x28\xb5\x2f\xfd' + b'\0' * 8)
    zp = tmp_path / 'a.zip'
    with zipfile.ZipFile(zp, 'w') as zf:
        zf.writestr('a.sql', 'x')
    assert [sd.detect_format(str(p)) for p in (plain, gz, zst, zp)] == ['plain', 'gzip', 'zstd', 'zip']


def test_compressor_argv_levels():
    assert sd.compressor_argv('gzip')[-1] == '-1'
    assert sd.compressor_argv('zstd', 9)[-1] == '-9'
    with pytest.raises(FuncError):
        sd.compressor_argv('bzip2')


@pytest.mark.parametrize('chunk', [1, 5, 64, 100000])
def test_insert_merger_joins_single_row_inserts(chunk):
    src = (b"-- MariaDB dump\nLOCK TABLES `t` WRITE;\n"
           b"INSERT INTO `t` VALUES (1,'a);\\nb');\nINSERT INTO `t` VALUES (2,NULL);\n"
           b"INSERT INTO `u` VALUES (3);\nINSERT INTO `u` VALUES (4),(5);\nUNLOCK TABLES;\n-- Dump completed")
    merger = sd.InsertMerger()
    out = b''.join(merger.feed(src[i:i + chunk]) for i in range(0, len(src), chunk)) + merger.finish()
    assert out == (b"-- MariaDB dump\nLOCK TABLES `t` WRITE;\n"
                   b"INSERT INTO `t` VALUES (1,'a);\\nb'),(2,NULL);\n"
                   b"INSERT INTO `u` VALUES (3);\nINSERT INTO `u` VALUES (4),(5);\nUNLOCK TABLES;\n-- Dump completed")
    assert merger.counts == {'t': 2, 'u': 3}
    small = sd.InsertMerger(limit=10)
    out = small.feed(b"INSERT INTO `t` VALUES (1);\nINSERT INTO `t` VALUES (2);\n") + small.finish()
    assert out.count(b'INSERT') == 2


@pytest.mark.parametrize('limit', [0, 10, 1024 * 1024])
@pytest.mark.parametrize('chunk', [1, 3, 7, 64, 100000])
def test_insert_merger_counts_like_the_scanner(chunk, limit):
    """The restore's one-pass line counter agrees with the byte-exact scanner, also where a string holds "),(",
    a quote or a statement keyword, and for multi-row lines; limit=0 passes the dump through unchanged."""
    data = DUMP + (b"INSERT INTO `t` VALUES (6,'INSERT INTO `t` VALUES (7);');\n"
                   b"INSERT INTO `t` VALUES (8,'),(');\nINSERT INTO `t` VALUES (9,'x'),(10,'),(');\n"
                   # MariaDB >= 10.x mysqldump, extended inserts: one tuple per line
                   b"INSERT INTO `t` VALUES\n(11,'a;'),\n(12,'),('),(13,0x00),\n(14,'x\\');');\n"
                   b"INSERT INTO `t` VALUES (15),\n(16);\n")
    merger = sd.InsertMerger(limit=limit)
    out = b''.join(merger.feed(data[i:i + chunk]) for i in range(0, len(data), chunk)) + merger.finish()
    exact = _scan(data, 100000)
    assert merger.counts == exact.counts == {'t': 15, 'empty`t': 0}
    assert merger.tables == exact.tables and merger.databases == exact.databases == ['db']
    assert merger.completed and merger.is_mysqldump and merger.bytes == len(data)
    assert _scan(out, 100000).counts == exact.counts
    if limit == 0:
        assert out == data


class _FakeInstallation:
    stack_name = 'st'

    def __init__(self, host):
        self.host = host

    def effective_config(self, service='server'):
        return {'MYSQL_HOST': self.host, 'MYSQL_PORT': 3306, 'MYSQL_USER': 'u', 'MYSQL_PASSWORD': 'p',
                'MYSQL_DATABASE': 'dataflux_func'}


class _FakeDocker:
    def stack_services(self, stack):
        return ['st_mysql', 'st_server']

    def find_container(self, stack, service):
        return 'ctr-' + service


def test_container_transport_uses_socket_only_inside_the_mysql_service():
    from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import MySQLClient
    own = MySQLClient.for_installation(None, _FakeInstallation('mysql'), _FakeDocker(), {})
    assert (own.transport, own.container, own.host, own.port) == ('container', 'ctr-mysql', None, None)
    via_server = MySQLClient.for_installation(None, _FakeInstallation('mysql'), _FakeDocker(),
                                              {'mysql_transport': 'container', 'mysql_service': 'server'})
    assert (via_server.container, via_server.host, via_server.port) == ('ctr-server', 'mysql', 3306)
    external = MySQLClient.for_installation(None, _FakeInstallation('10.1.2.3'), _FakeDocker(),
                                            {'mysql_transport': 'container', 'mysql_service': 'server'})
    assert (external.host, external.port) == ('10.1.2.3', 3306)
    direct = MySQLClient.for_installation(None, _FakeInstallation('10.1.2.3'), _FakeDocker(), {})
    assert (direct.transport, direct.host) == ('direct', '10.1.2.3')


class _SwarmNodeDocker(_FakeDocker):
    """A swarm node that runs no task of the service (the leader of roles/swarm need not run a server)."""

    def find_container(self, stack, service):
        from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
        raise FuncError('No running container of service %s_%s was found on this host.' % (stack, service))

    def inspect(self, kind, name):
        return [{'Spec': {'TaskTemplate': {'ContainerSpec': {'Image': 'func:5.1.7@sha256:abc'}}}}]

    def stack_service_container(self, stack, prefixes):
        return None


class _SwarmWorkerNodeDocker(_SwarmNodeDocker):
    """A swarm worker node that runs a worker of the stack but no server (and cannot inspect services)."""

    def inspect(self, kind, name):
        raise AssertionError('a worker node cannot inspect services')

    def stack_service_container(self, stack, prefixes):
        return 'ctr-worker' if 'worker' in prefixes else None


def test_container_transport_without_a_local_task_uses_a_client_container_of_the_service_image():
    from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
    from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import MySQLClient
    inst = _FakeInstallation('10.1.2.3')
    inst.stack_name = 'st'
    external = MySQLClient.for_installation(None, inst, _SwarmNodeDocker(),
                                            {'mysql_transport': 'container', 'mysql_service': 'server'})
    assert (external.transport, external.image, external.host, external.port) == (
        'docker_run', 'func:5.1.7', '10.1.2.3', 3306)
    # the built-in MySQL is reached only through the stack network: no fallback, the missing container is the error
    builtin = _FakeInstallation('mysql')
    builtin.stack_name = 'st'
    with pytest.raises(FuncError, match='No running container'):
        MySQLClient.for_installation(None, builtin, _SwarmNodeDocker(),
                                     {'mysql_transport': 'container', 'mysql_service': 'server'})


def test_container_transport_without_a_server_uses_a_worker_of_the_same_stack_on_this_node():
    from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import MySQLClient
    for host in ('10.1.2.3', 'mysql'):        # external, and the built-in one the stack network reaches
        inst = _FakeInstallation(host)
        inst.stack_name = 'st'
        client = MySQLClient.for_installation(None, inst, _SwarmWorkerNodeDocker(),
                                              {'mysql_transport': 'container', 'mysql_service': 'server'})
        assert (client.transport, client.container, client.host, client.port) == ('container', 'ctr-worker', host, 3306)


# --- a managed host with nothing but python3, PyYAML and Docker --------------------------------------------
@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    """PATH with no gzip, zstd, mysql or mariadb (docker is not needed by these tests)."""
    empty = tmp_path / 'bin'
    empty.mkdir()
    monkeypatch.setenv('PATH', str(empty))
    return empty


def _read_all(reader, size):
    """Everything a DecompressedReader yields, read size bytes at a time, then closed (which checks the data)."""
    got = b''
    while True:
        piece = reader.read(size)
        if not piece:
            break
        got += piece
    reader.close()
    return got


def test_gzip_without_the_gzip_tool_round_trips(bare_path, tmp_path):
    assert sd.compressor_argv('gzip') is None
    assert sd.resolve_compress('auto') == 'gzip'
    assert sd.missing_tools('gzip') == [] and sd.missing_tools('auto') == []
    data = b''.join(b"INSERT INTO `t` VALUES (%d,'%s');\n" % (i, b'x' * (i % 97)) for i in range(20000))
    zc = sd.gzip_compressor()
    path = tmp_path / 'd.sql.gz'
    path.write_bytes(zc.compress(data) + zc.flush())
    assert gzip.decompress(path.read_bytes()) == data            # what `gzip -dc` would read
    assert sd.detect_format(str(path)) == 'gzip'
    reader = sd.DecompressedReader('gzip', str(path))
    assert _read_all(reader, 4096) == data


def test_damaged_gzip_is_an_error_without_the_tool(bare_path, tmp_path):
    path = tmp_path / 'bad.sql.gz'
    path.write_bytes(gzip.compress(os.urandom(100000))[:2000])
    reader = sd.DecompressedReader('gzip', str(path))
    with pytest.raises(FuncError, match='cannot be decompressed'):
        while reader.read(4096):
            pass


def test_zstd_without_the_tool_is_named(bare_path):
    assert sd.missing_tools('zstd') == [('zstd', sd.TOOL_HINT['zstd'])]
    with pytest.raises(FuncError, match='zstd was not found'):
        sd.compressor_argv('zstd')
    with pytest.raises(FuncError, match='zstd was not found'):
        sd.decompressor_argv('zstd', '/x.sql.zst')


class _RunOnlyDocker(object):
    docker_cli = 'docker'
    env = {'PATH': '/usr/bin'}

    def run_argv(self, image, argv, entrypoint=None, network=None):
        from ansible_collections.dataflux.func.plugins.module_utils._func_docker import DockerCLI
        return DockerCLI.run_argv(self, image, argv, entrypoint=entrypoint, network=network)


def test_no_client_on_the_host_uses_a_client_container(bare_path):
    client = m.MySQLClient.to_server('10.0.0.5', 3306, 'func', 's3cret-pw', 'dataflux_func', docker=_RunOnlyDocker(),
                                     image='mariadb:10.11')
    assert client.transport == 'docker_run'
    argv, stdin, _cleanup = client._prepare('mysql', ['-e', 'SELECT 1'])
    assert argv[:6] == ['docker', 'run', '--rm', '-i', '--log-driver', 'none']
    assert ['--network', 'host'] == argv[argv.index('--network'):argv.index('--network') + 2]
    assert 'mariadb:10.11' in argv and 's3cret-pw' not in ' '.join(argv)
    assert b's3cret-pw' in stdin                                  # the option file travels on stdin only
    assert 's3cret-pw' not in ' '.join(client.commands)


def test_no_client_and_no_image_says_so(bare_path):
    with pytest.raises(m.NoClientError, match='neither mysql nor mariadb is on this host'):
        m.MySQLClient.to_server('10.0.0.5', 3306, 'func', 'pw', 'db', docker=None, image=None)
    client = m.MySQLClient('direct', host='10.0.0.5', user='u')
    with pytest.raises(m.NoClientError, match='mysqldump is not on this host'):
        client.check_runnable('mysqldump')


def test_decompressed_reader_with_the_tools(tmp_path):
    """The same reader over the host's gzip binary (this machine has one): data intact, damage reported."""
    data = os.urandom(300000)
    good, bad = tmp_path / 'g.sql.gz', tmp_path / 'b.sql.gz'
    good.write_bytes(gzip.compress(data))
    bad.write_bytes(gzip.compress(data)[:5000])
    reader = sd.DecompressedReader('gzip', str(good))
    assert reader.proc is not None
    assert _read_all(reader, 65536) == data
    reader = sd.DecompressedReader('gzip', str(bad))
    while reader.read(65536):
        pass
    with pytest.raises(FuncError, match='cannot be decompressed'):
        reader.close()


# --- what a restore source holds, before anything changes ----------------------------------------------------
MYSQLDUMP = (b"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n--\n-- Host: x    Database: dataflux_func\n"
             b"CREATE TABLE `wat_main_system_setting` (\n  `seq` bigint\n);\n"
             b"INSERT INTO `wat_main_system_setting` VALUES (1,'UPGRADE_DB_SEQ','29',1,1),"
             b"(2,'DATAFLUX_FUNC_ID','\\\"fn-abc\\'d\\\"',1,1);\n"
             b"CREATE TABLE IF NOT EXISTS `biz_main_script` (\n  `id` int\n);\n"
             b"-- Dump completed on 2026-11-30 12:00:00\n")
INAPP = (b"-- --------------------------------------------------\n-- DataFlux Func DB Backup\n-- Date: x\n"
         b"-- --------------------------------------------------\n"
         b"DROP TABLE IF EXISTS `wat_main_system_setting`;\n"
         b"CREATE TABLE `wat_main_system_setting` (\n `seq` int\n);\n\n"
         b"LOCK TABLES `wat_main_system_setting` WRITE;\nINSERT INTO `wat_main_system_setting` VALUES\n"
         b"(1, X'" + b'DATAFLUX_FUNC_ID'.hex().upper().encode() + b"', X'" + b'"fn-xyz"'.hex().upper().encode()
         + b"', 1, 1);\nUNLOCK TABLES;\n\n")


def _summary(data, chunk=7):
    summary = sd.DumpSummary()
    for i in range(0, len(data), chunk):
        summary.feed(data[i:i + chunk])
    return summary.finish()


@pytest.mark.parametrize('chunk', [1, 7, 4096])
def test_summary_of_a_mysqldump(chunk):
    s = _summary(MYSQLDUMP, chunk)
    assert s.origin == 'mysqldump' and s.incomplete() is None
    assert s.created == ['wat_main_system_setting', 'biz_main_script']
    assert s.func_id == "fn-abc'd"
    cut = _summary(MYSQLDUMP[:-40], chunk)
    assert 'completion trailer' in cut.incomplete()


@pytest.mark.parametrize('chunk', [1, 7, 4096])
def test_summary_of_an_inapp_backup(chunk):
    s = _summary(INAPP, chunk)
    assert s.origin == 'inapp' and s.incomplete() is None
    assert s.created == ['wat_main_system_setting'] and s.func_id == 'fn-xyz'
    inside = _summary(INAPP[:INAPP.index(b'UNLOCK')], chunk)
    assert 'stops inside a table' in inside.incomplete()
    cut = _summary(INAPP.rstrip(b'\n')[:-3], chunk)
    assert cut.incomplete() is not None


def test_summary_refuses_what_it_cannot_check():
    for data in (b'', b'-- just a comment\n', b'SELECT 1;\n', b'CREATE TABLE `t` (a int);\n'):
        s = _summary(data)
        assert s.origin == 'other' and 'neither a mysqldump file nor a DataFlux Func backup' in s.incomplete()
    assert _summary(b'').created == [] and _summary(b'-- just a comment\n').created == []
