"""Values reach MySQL intact under every sql_mode: the collection's literals mean the same with
NO_BACKSLASH_ESCAPES and ANSI_QUOTES (a setting an external MySQL may have) as without them.
A private mariadbd on 127.0.0.1:13326; the client is the collection's MySQLClient (direct transport)."""
import os

import pytest

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import MySQLClient, quote

pytestmark = pytest.mark.integration

BASE, PORT, ROOT_PW = '/tmp/dfft/sqlmodes', 13326, 'dfft-Modes#pw1'
VALUES = ["it's", 'back\\slash', 'both \\\' mixed', '"double"', 'new\nline\ttab\r', 'nul\0byte', '\x1a',
          '多字节 😀', "'; DROP TABLE t; --", '\\', "'", '', 'plain text 1.2', '$2b$10$abc/def.ghi']


@pytest.fixture(scope='module')
def db(ext_db):
    return ext_db(os.path.join(BASE, 'db'), PORT, ROOT_PW, database='modes')


@pytest.mark.parametrize('mode', ['', 'NO_BACKSLASH_ESCAPES', 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'])
def test_values_round_trip_in_every_sql_mode(db, mode):
    client = MySQLClient('direct', database='modes', user='root', password=ROOT_PW, host='127.0.0.1', port=PORT)
    client.execute("SET GLOBAL sql_mode = '%s'" % mode)
    try:
        assert set(client.query('SELECT @@SESSION.sql_mode AS m')[0]['m'].split(',')) == set(mode.split(','))
        if 'NO_BACKSLASH_ESCAPES' in mode:          # the old backslash-escaped literal breaks here (negative control)
            with pytest.raises(FuncError):
                client.query("SELECT 'it\\'s' AS v")
        client.execute('DROP TABLE IF EXISTS t; CREATE TABLE t (k INT PRIMARY KEY, v LONGTEXT) '
                       'DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci')
        client.execute(';'.join('INSERT INTO t VALUES (%d, %s)' % (i, quote(v)) for i, v in enumerate(VALUES)))
        rows = client.query('SELECT k, HEX(v) AS h FROM t ORDER BY k')      # HEX: the client's XML has no NUL
        assert [bytes.fromhex(r['h']).decode('utf-8') for r in rows] == VALUES
        for i, value in enumerate(VALUES):                       # and as the right-hand side of a comparison
            assert client.query('SELECT k FROM t WHERE v = %s AND k = %d' % (quote(value), i)) == [{'k': str(i)}]
        assert client.query('SELECT COUNT(*) AS n FROM t')[0]['n'] == str(len(VALUES))
    finally:
        client.execute("SET GLOBAL sql_mode = DEFAULT")
