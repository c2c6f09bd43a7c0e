"""func_admin against a deployed test install of the real DataFlux Func 5.1.7 (built-in MariaDB and Redis through
their containers; sign-in through the product's captcha) and a private redis-server (external Redis, direct
transport).

Names: stack dfft-adm, port 18095, /tmp/dfft/adm; redis port 16381.
"""
import json
import os

import pytest

from tests.lib.ansible_runner import REPO, run_module, run_playbook
from tests.lib.procwatch import ProcWatch

pytestmark = [pytest.mark.integration, pytest.mark.real]

STACK, PORT, INSTALL_DIR = 'dfft-adm', 18095, '/tmp/dfft/adm'


@pytest.fixture(scope='module')
def env(module_func_env):
    return module_func_env(STACK, PORT, INSTALL_DIR, worker_layout='mini', real=True, admin_password='Old-pass#1')


def base(**kw):
    args = dict(install_dir=INSTALL_DIR, stack_name=STACK)
    args.update(kw)
    return args


def admin_row(env):
    return env.mysql_rows("SELECT username, passwordHash, roles, customPrivileges, isDisabled FROM wat_main_user "
                          "WHERE id = 'u-admin'")[0]


def test_reset_admin(env):
    assert env.sign_in_ok('admin', 'Old-pass#1') is True
    new = 'N3w pass "quoted" \\ $HOME'
    before = admin_row(env)
    res = run_module('func_admin', base(action='reset_admin', admin_password=new), check=True, diff=True)
    assert not res.get('failed'), res
    assert res['changed'] is True and res['password_changed'] is True
    assert res['diff']['after'] == {'username': 'admin', 'password': 'changed'}
    assert admin_row(env) == before
    assert env.sign_in_ok('admin', 'Old-pass#1') is True

    with ProcWatch([new, env.secret, env.mysql_password], interesting=('mysql',)) as watch:
        res = run_module('func_admin', base(action='reset_admin', admin_password=new), diff=True)
    assert watch.samples > 3 and watch.hits == []
    assert not res.get('failed'), res
    assert res['changed'] is True and res['admin_username'] == 'admin' and res['previous_admin_username'] == 'admin'
    assert env.sign_in_ok('admin', new) is True
    assert env.sign_in_ok('admin', 'Old-pass#1') is False
    out = json.dumps(res)
    assert new not in out and env.secret not in out and admin_row(env)[1] not in out

    again = run_module('func_admin', base(action='reset_admin', admin_password=new), diff=True)
    assert again['changed'] is False and again['password_changed'] is False, again
    assert again['diff']['after']['password'] == 'unchanged'


def test_reset_admin_rename(env):
    res = run_module('func_admin', base(action='reset_admin', admin_username='root-admin', admin_password='Pw-2'))
    assert res['changed'] is True and res['admin_username'] == 'root-admin', res
    assert env.sign_in_ok('root-admin', 'Pw-2') is True
    assert env.sign_in_ok('admin', 'Pw-2') is False
    # the username is kept when not given
    res = run_module('func_admin', base(action='reset_admin', admin_password='Pw-2'))
    assert res['changed'] is False and res['admin_username'] == 'root-admin', res


def seq(env):
    return env.mysql_rows("SELECT value FROM wat_main_system_setting WHERE id = 'UPGRADE_DB_SEQ'")[0][0]


def test_reset_db_upgrade_seq(env):
    start = seq(env)
    assert start == '29'
    res = run_module('func_admin', base(action='reset_db_upgrade_seq', upgrade_db_seq=28), check=True)
    assert res['changed'] is True and res['previous_upgrade_db_seq'] == 29 and seq(env) == '29', res
    res = run_module('func_admin', base(action='reset_db_upgrade_seq', upgrade_db_seq=28), diff=True)
    assert res['changed'] is True and res['previous_upgrade_db_seq'] == 29, res
    assert res['diff'] == {'before': {'UPGRADE_DB_SEQ': 29}, 'after': {'UPGRADE_DB_SEQ': 28}}
    assert seq(env) == '28'
    res = run_module('func_admin', base(action='reset_db_upgrade_seq', upgrade_db_seq=28))
    assert res['changed'] is False and res['previous_upgrade_db_seq'] == 28, res
    res = run_module('func_admin', base(action='reset_db_upgrade_seq', upgrade_db_seq=29))
    assert res['changed'] is True and seq(env) == '29'


def test_negative_seq_is_rejected(env):
    res = run_module('func_admin', base(action='reset_db_upgrade_seq', upgrade_db_seq=-1))
    assert res.get('failed') and 'non-negative integer' in res['msg'], res
    assert seq(env) == '29'


def test_clear_redis(env):
    env.exec('redis', ['redis-cli'], input='SELECT 5\nSET dfft:a 1\nRPUSH dfft:l x y\nSELECT 6\nSET dfft:keep 1\n'
                                           'SELECT 0\nSET dfft:keep0 1\n')
    res = run_module('func_admin', base(action='clear_redis'))
    assert res.get('failed') and 'confirm=true' in res['msg'], res
    assert env.redis('EXISTS', 'dfft:a') == '1'

    res = run_module('func_admin', base(action='clear_redis', confirm=True), check=True)
    assert res['changed'] is True and res['keys_removed'] >= 2, res
    assert env.redis('EXISTS', 'dfft:a') == '1' and env.redis('EXISTS', 'dfft:l') == '1'

    res = run_module('func_admin', base(action='clear_redis', confirm=True))
    assert res['changed'] is True and res['keys_removed'] >= 2 and res['method'] == 'FLUSHDB ASYNC', res
    assert res['database']['transport'] == 'container' and res['database']['database'] == 5
    assert env.redis('EXISTS', 'dfft:a') == '0' and env.redis('EXISTS', 'dfft:l') == '0'
    assert env.redis('GET', 'dfft:keep', db=6) == '1'
    assert env.redis('GET', 'dfft:keep0', db=0) == '1'


def test_clear_redis_external_with_password(ext_redis):
    server = ext_redis('/tmp/dfft/adm-redis', 16381, password='ext pw')
    c5, c3 = server.client(5), server.client(3)
    c5.mset({'k%d' % i: 'v' for i in range(500)})
    c3.set('keep', '1')
    args = base(install_dir='/tmp/dfft/adm-none', action='clear_redis', confirm=True, **server.params())
    res = run_module('func_admin', args, check=True)
    assert res['changed'] is True and res['keys_removed'] == 500 and c5.dbsize() == 500, res
    res = run_module('func_admin', args)
    assert res['changed'] is True and res['keys_removed'] == 500, res
    assert c5.dbsize() == 0 and c3.get('keep') == '1'
    res = run_module('func_admin', args)
    assert res['changed'] is False and res['keys_removed'] == 0, res


def test_admin_playbook_verbose_output_has_no_secret(env, tmp_path):
    """admin.yml with -vvv: the password (given in a vars file, as the playbook asks) never shows."""
    password = 'Vvv-secret-pw#9'
    vars_file = tmp_path / 'vault.yml'
    vars_file.write_text(json.dumps({'func_install_dir': INSTALL_DIR, 'func_stack_name': STACK,
                                     'func_admin_action': 'reset_admin', 'func_admin_username': 'admin',
                                     'func_admin_password': password}))
    os.chmod(vars_file, 0o600)
    res = run_playbook(os.path.join(REPO, 'playbooks', 'admin.yml'), json_output=False, verbosity=3,
                       extra_args=['-e', '@%s' % vars_file, '-e', 'ansible_become=false'])
    out = res.stdout + res.stderr
    assert res.rc == 0, out[-4000:]
    assert 'func_admin' in out and password not in out and env.secret not in out and env.mysql_password not in out
    assert env.sign_in_ok('admin', password) is True
