"""What the func double must do beyond the product contract (docs/dev/DESIGN.md).

The facts it shares with the real DataFlux Func (setup mode, setup errors and the user-config rewrite, sign-in and
captcha, Redis key shapes, the in-app backup header) are asserted on both in tests/contract/test_contract.py. This
module keeps what only the double can show on demand: its test tasks, two beats, admin-tool, an upgrade between its
images and the broken image.

One installation (stack dfft-double, port 18080, /tmp/dfft/double) goes through: headless setup -> API / workers /
beat / backup / admin-tool -> upgrade 5.1.6 -> 5.1.7 -> broken 5.1.8. Tests run in file order.
"""
import io
import json
import os
import time
import zipfile

import pytest
import yaml

from tests.lib.funcenv import FuncEnv, docker, wait_for

pytestmark = pytest.mark.integration

Q = 'DataFluxFunc-worker#workerQueue@%s'
HB = 'DataFluxFunc-monitor#heartbeat@%s'


@pytest.fixture(scope='module')
def env(docker_swarm):
    e = FuncEnv(stack='dfft-double', port=18080, install_dir='/tmp/dfft/double', version='5.1.6', setup=False,
                user_config={'_CRON_EXPR_AUTO_BACKUP_DB': '* * * * *', 'LOG_LEVEL': 'INFO'})
    e.up()
    yield e
    if os.environ.get('DFFT_KEEP') != '1':
        e.down()


def hgetall(env, key):
    lines = env.redis('HGETALL', key).splitlines()
    return dict(zip(lines[0::2], lines[1::2]))


def test_headless_setup(env):
    wait_for(lambda: env.http('GET', '/')[0] == 200, 60, what='setup page')
    env.setup()
    env.wait_ping(60)
    # a binary row for the backup test (any backup from now on must carry it as a HEX literal)
    env.mysql("INSERT INTO biz_main_file_blob (id, name, content) VALUES ('blob-1', 'bin', X'00FF0A27')")
    env.blob_time = time.time()
    cfg = yaml.safe_load(open(env.user_config_path))
    assert cfg['_IS_INSTALLED'] is True and cfg['SECRET'] == env.secret
    rows = dict(env.mysql_rows("SELECT id, value FROM wat_main_system_setting"))
    assert rows['UPGRADE_DB_SEQ'] == '29'                 # 5.1.6 ends at 29, like upstream's upgrade-info.yaml
    assert env.config('_IS_INSTALLED') == 'true'
    assert len(open(os.path.join(env.data_dir, 'localhost-auth-token')).read().strip()) == 16


def test_api_headers_and_system_info(env):
    code, body, headers = env.http('GET', '/api/v1/image-info')
    assert code == 200 and body['data']['VERSION'] == '5.1.6'
    assert headers['X-Dff-Version'] == '5.1.6'
    assert env.http('GET', '/api/v1/system-info')[0] == 200
    assert env.sign_in_ok() is True
    # schema is utf8mb4 everywhere
    colls = env.mysql_rows("SELECT DISTINCT TABLE_COLLATION FROM information_schema.TABLES "
                           "WHERE TABLE_SCHEMA='dataflux_func'")
    assert colls and all(c[0].startswith('utf8mb4') for c in colls)


def test_worker_consumes_queue_and_heartbeats(env):
    task_id = env.push_task('test.echo', {'hello': 'world'}, queue=1)
    wait_for(lambda: env.mysql_rows("SELECT status FROM biz_main_task_record WHERE id='%s'" % task_id), 30,
             what='task record')
    assert env.mysql_rows("SELECT name, status, queue FROM biz_main_task_record WHERE id='%s'" % task_id) == \
        [('test.echo', 'success', '1')]
    assert env.redis('LLEN', Q % 1) == '0'

    def heartbeats():
        infos = [json.loads(v) for v in hgetall(env, HB % 'serviceInfo').values()]
        names = sorted(i['name'] for i in infos if time.time() - i['ts'] < 60)
        return names if names.count('worker') == 6 and 'beat' in names and 'server' in names else None
    wait_for(heartbeats, 30, what='heartbeats of 6 workers, beat and server')
    per_queue = hgetall(env, HB % 'workerCountOnQueue')
    assert sorted(per_queue, key=int) == [str(q) for q in range(10)]
    assert env.config('_WORKER_CONCURRENCY', service='worker-0') == '2'     # DFF__ env, typed
    assert env.config('_WORKER_CONCURRENCY', service='worker-1') == '5'


def test_beat_lock_held_by_one_beat(env):
    holder = env.redis('GET', 'DataFluxFunc-worker#lock@beatMaster')
    assert holder.startswith('beat-')
    docker('service', 'scale', '-d', 'dfft-double_beat=2')
    try:
        def two_beats():
            infos = [json.loads(v) for v in hgetall(env, HB % 'serviceInfo').values()]
            return sum(1 for i in infos if i['name'] == 'beat' and time.time() - i['ts'] < 10) >= 2
        wait_for(two_beats, 40, what='two beats running')
        for _x in range(6):
            assert env.redis('GET', 'DataFluxFunc-worker#lock@beatMaster') == holder
            time.sleep(1)
    finally:
        docker('service', 'scale', '-d', 'dfft-double_beat=1')


def test_auto_backup_zip_from_cron(env):
    sqldump = os.path.join(env.data_dir, 'sqldump')
    zips = wait_for(lambda: [f for f in os.listdir(sqldump) if f.endswith('.zip') and
                             os.path.getmtime(os.path.join(sqldump, f)) > env.blob_time + 1], 90, interval=2,
                    what='backup zip')
    name = sorted(zips)[-1]
    assert name.startswith('dataflux-func-sqldump-') and len(name) == len('dataflux-func-sqldump-20240101-000000.zip')
    with zipfile.ZipFile(os.path.join(sqldump, name)) as z:
        assert z.namelist() == [name[:-4] + '.sql']
        sql = io.TextIOWrapper(z.open(z.namelist()[0]), encoding='utf-8').read()
    assert 'DROP TABLE IF EXISTS `wat_main_user`' in sql and 'LOCK TABLES `wat_main_user` WRITE' in sql
    assert "X'00FF0A27'" in sql
    assert 'INSERT INTO `biz_main_task_record`' not in sql     # schema only
    assert not [f for f in os.listdir(sqldump) if f.endswith('.sql')]
    assert env.mysql_rows("SELECT status FROM biz_main_task_record WHERE name='Internal.AutoBackupDB'")[0] == \
        ('success',)


def test_admin_tool(env):
    new_pw = 'new-' + env.admin_password
    p = env.admin_tool('reset_admin', '--admin-username', 'root-admin', '--admin-password', new_pw, input='no\n')
    assert p.returncode == 0 and 'Are you sure you want to do this? (yes/no):' in p.stdout and 'Canceled' in p.stdout
    p = env.admin_tool('reset_admin', '--admin-username', 'root-admin', '--admin-password', new_pw, input='yes\n')
    assert p.returncode == 0 and 'Done' in p.stdout
    assert env.sign_in_ok('root-admin', new_pw) is True
    assert env.sign_in_ok(env.admin_username, env.admin_password) is False
    # a wrong password locks its username for a second (as upstream): wait until the lock is gone
    wait_for(lambda: env.redis('EXISTS', 'DataFluxFunc-server#cache@signInWait:username:%s:' % env.admin_username)
             == '0', 10, interval=0.1, what='sign-in lock to expire')
    p = env.admin_tool('reset_admin', '-f', '--admin-username', env.admin_username,
                       '--admin-password', env.admin_password)
    assert p.returncode == 0 and 'Done' in p.stdout
    assert env.sign_in_ok() is True
    p = env.admin_tool('reset_upgrade_db_seq', '-f', input='not-a-number\n')
    assert p.returncode == 0 and 'Error' in p.stdout
    env.redis('SET', 'dfft-probe', '1')
    assert env.admin_tool('clear_redis', '-f').returncode == 0
    assert env.redis('EXISTS', 'dfft-probe') == '0'


def test_upgrade_516_to_517(env):
    env.mysql("INSERT INTO biz_main_script (id, scriptSetId, title, code) VALUES ('demo__main', 'demo', "
              "'Demo ✓', 'print(1)')")
    before = env.mysql_rows('SELECT id, username, passwordHash FROM wat_main_user')
    env.set_image('dff-test/dataflux-func:5.1.7')
    wait_for(lambda: env.http('GET', '/api/v1/image-info')[1]['data']['VERSION'] == '5.1.7', 90,
             what='5.1.7 server')
    # both releases end at seq 29: nothing to upgrade (the seq moves of the double are in the broken-image test)
    assert env.mysql_rows("SELECT value FROM wat_main_system_setting WHERE id='UPGRADE_DB_SEQ'") == [('29',)]
    assert env.mysql_rows("SELECT title FROM biz_main_script WHERE id='demo__main'") == [('Demo ✓',)]
    assert env.mysql_rows('SELECT id, username, passwordHash FROM wat_main_user') == before
    assert env.mysql_rows("SHOW TABLES LIKE 'biz_main_cron_job'") == [('biz_main_cron_job',)]
    assert env.sign_in_ok() is True


def test_broken_image_never_answers_ping(env):
    env.set_image('dff-test/dataflux-func:5.1.8-broken')
    wait_for(lambda: env.mysql_rows("SELECT value FROM wat_main_system_setting WHERE id='UPGRADE_DB_SEQ'") ==
             [('30',)], 90, what='seq 30 applied')
    assert env.mysql_rows("SHOW TABLES LIKE 'biz_main_broken_upgrade'") == [('biz_main_broken_upgrade',)]
    deadline = time.time() + 15
    while time.time() < deadline:
        assert env.ping() != 200
        time.sleep(1)
    # workers keep running on the broken image
    task_id = env.push_task('test.echo', {'after': 'broken'}, queue=2)
    wait_for(lambda: env.mysql_rows("SELECT status FROM biz_main_task_record WHERE id='%s'" % task_id), 60,
             what='task on broken image')
