"""Backups of the real DataFlux Func 5.1.7: the product's own hourly in-app backup (.zip, written by its worker)
and a dump taken by func_backup, each restored into the running product, which keeps working on the result.

Names: stack dfft-real-backup, port 18110, /tmp/dfft/real-backup. The product's backup schedule is set to every
minute (_CRON_EXPR_AUTO_BACKUP_DB) so its first archive appears within about two minutes.
"""
import os
import time
import zipfile

import pytest

from tests.lib.ansible_runner import run_module
from tests.lib.funcenv import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.real]

STACK, PORT, DIR = 'dfft-real-backup', 18110, '/tmp/dfft/real-backup'
SQLDUMP = os.path.join(DIR, 'data', 'sqldump')


@pytest.fixture(scope='module')
def env(module_func_env):
    return module_func_env(STACK, PORT, DIR, up_timeout=300, version='5.1.7', real=True, worker_layout='mini',
                           user_config={'_CRON_EXPR_AUTO_BACKUP_DB': '* * * * *'})


def base(**kw):
    args = dict(install_dir=DIR, stack_name=STACK)
    args.update(kw)
    return args


def scripts(env):
    return sorted(r[0] for r in env.mysql_rows("SELECT id FROM biz_main_script WHERE id LIKE 'dfft-%'"))


def add_script(env, script_id):
    env.mysql("INSERT INTO biz_main_script (id, scriptSetId, title, code, codeMD5) "
              "VALUES ('%s', 'dfft', 'real backup test', 'def f():\\n    return 1', 'x')" % script_id)


def inapp_zips():
    return sorted(n for n in os.listdir(SQLDUMP) if n.startswith('dataflux-func-sqldump-') and n.endswith('.zip'))


def test_restore_the_products_own_hourly_backup(env):
    add_script(env, 'dfft-before-zip')
    start = time.time()
    # the product's worker writes the archive; take the first one made after the row existed
    newest = wait_for(lambda: [n for n in inapp_zips() if os.path.getmtime(os.path.join(SQLDUMP, n)) > start + 1],
                      240, interval=3, what="the product's in-app backup")[-1]
    path = os.path.join(SQLDUMP, newest)
    wait_for(lambda: zipfile.is_zipfile(path) and zipfile.ZipFile(path).testzip() is None, 30,
             what='a complete archive')
    with zipfile.ZipFile(path) as zf:
        sql = zf.read(zf.namelist()[0]).decode('utf-8')
    assert 'dfft-before-zip' in sql or '646666742d6265666f72652d7a6970' in sql.lower()   # text columns as HEX
    add_script(env, 'dfft-after-zip')

    listed = run_module('func_backup', base(state='inventory', backup_dir=SQLDUMP))
    entry = [b for b in listed['backups'] if b['name'] == newest][0]
    assert entry['kind'] == 'inapp', entry

    refused = run_module('func_backup', base(state='restore', src=path))
    assert refused.get('failed') and 'confirm' in refused['msg'], refused
    assert scripts(env) == ['dfft-after-zip', 'dfft-before-zip']

    res = run_module('func_backup', base(state='restore', src=path, confirm=True))
    assert not res.get('failed'), res
    assert res['changed'] is True
    assert scripts(env) == ['dfft-before-zip']          # the database is the archive's
    seq = env.mysql_rows("SELECT value FROM wat_main_system_setting WHERE id = 'UPGRADE_DB_SEQ'")
    assert seq == [('29',)]
    env.wait_ping(60)
    assert env.sign_in_ok() is True                      # the product works on the restored database


def test_restore_a_module_dump_into_the_real_product(env):
    dump = run_module('func_backup', base(state='dump', backup_dir=os.path.join(DIR, 'module-dumps'),
                                          compress='gzip'))
    assert not dump.get('failed') and dump['changed'] is True, dump
    add_script(env, 'dfft-after-dump')
    env.mysql("UPDATE wat_main_user SET username = 'renamed' WHERE id = 'u-admin'")
    assert env.sign_in_ok() is False

    res = run_module('func_backup', base(state='restore', src=dump['path'], confirm=True))
    assert not res.get('failed') and res['changed'] is True, res
    assert 'dfft-after-dump' not in scripts(env)
    assert env.mysql_rows("SELECT username FROM wat_main_user WHERE id = 'u-admin'") == [(env.admin_username,)]
    assert env.sign_in_ok() is True
    code, body, _h = env.http('GET', '/api/v1/image-info')
    assert code == 200 and body['data']['VERSION'] == '5.1.7'
