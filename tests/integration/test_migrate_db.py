"""migrate_db role (maintenance guide section 10): built-in MySQL/Redis -> external MariaDB and Redis on this host.

One real DataFlux Func 5.1.7 installation (stack dfft-migrate, port 18087, /tmp/dfft/migrate, legacy worker layout with
worker-8-9 at 0 replicas so that items of work queue 8 are not consumed and can be checked after the move) is
shared by the tests of this file, in order: preflight failures first (nothing may change), then check mode, the
migration itself and a second run that must report no change.

External servers: a private MariaDB on 0.0.0.0:13316 and Redis on 0.0.0.0:16390 (password), reached by the
containers through the docker bridge gateway; a cluster-enabled Redis on 16391 for the preflight failure.
"""
import hashlib
import json
import os
import subprocess

import pytest

from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib.extdb import ExtDB
from tests.lib.extredis import ExtRedis
from tests.lib.funcenv import FuncEnv, docker, wait_for
from tests.lib.procwatch import ProcWatch
from tests.lib.realimages import require_real

pytestmark = [pytest.mark.integration, pytest.mark.real]

STACK = 'dfft-migrate'
PORT = 18087
DIR = '/tmp/dfft/migrate'
PLAYBOOK = os.path.join(REPO, 'playbooks', 'migrate_db.yml')
DB_PORT = 13316
REDIS_PORT = 16390
CLUSTER_PORT = 16391
FUNC_PW = 'func-Pw#1 "x"'
REDIS_PW = 'redis-Pw#2'
APP = 'DataFluxFunc-worker#'
WORK8 = APP + 'workerQueue@8'
DELAY1 = APP + 'delayQueue@1'
FAR_FUTURE = 4102444800  # 2100-01-01: beat never releases these


def gateway():
    out = docker('network', 'inspect', 'bridge', '--format', '{{(index .IPAM.Config 0).Gateway}}').stdout.strip()
    return out or '172.17.0.1'


class MigrateEnv(FuncEnv):
    def stack_config(self):
        cfg = super().stack_config()
        cfg['services']['worker-8-9']['deploy']['replicas'] = 0
        return cfg


def md5(path):
    with open(path, 'rb') as handle:
        return hashlib.md5(handle.read()).hexdigest()


@pytest.fixture(scope='module')
def servers():
    db = ExtDB(base='/tmp/dfft/migrate-extdb', port=DB_PORT, extra_args=['--bind-address=0.0.0.0'])
    db.start()
    db.drop_database('dataflux_func')
    db.create_user('func', FUNC_PW, database='dataflux_func', host='%')
    db.create_user('weak', FUNC_PW, database='dataflux_func', grants=('SELECT',), host='%')
    redis = ExtRedis(base='/tmp/dfft/migrate-redis', port=REDIS_PORT, password=REDIS_PW,
                     extra_config={'bind': '0.0.0.0', 'protected-mode': 'no'})
    redis.start()
    redis.cli('FLUSHALL')
    cluster = ExtRedis(base='/tmp/dfft/migrate-redis-cluster', port=CLUSTER_PORT, cluster=True,
                       extra_config={'bind': '0.0.0.0', 'protected-mode': 'no'})
    cluster.start()
    yield db, redis, cluster
    cluster.cleanup()
    redis.cleanup()
    db.destroy()


@pytest.fixture(scope='module')
def env(docker_swarm, servers):
    require_real('5.1.7')
    e = MigrateEnv(stack=STACK, port=PORT, install_dir=DIR, version='5.1.7', worker_layout='legacy', real=True)
    e.up(timeout=300)
    yield e
    if os.environ.get('DFFT_KEEP') != '1':
        e.down()


def role_vars(**over):
    out = {'func_install_dir': DIR, 'func_stack_name': STACK, 'func_port': PORT,
           'func_migrate_mysql_host': gateway(), 'func_migrate_mysql_port': DB_PORT,
           'func_migrate_mysql_user': 'func', 'func_migrate_mysql_password': FUNC_PW,
           'func_migrate_create_database': True,
           'func_migrate_redis_host': gateway(), 'func_migrate_redis_port': REDIS_PORT,
           'func_migrate_redis_password': REDIS_PW, 'func_wait_delay': 1}
    out.update(over)
    return out


def snapshot(env):
    return {'config': md5(env.user_config_path), 'stack': md5(env.stack_file), 'services': env.services(),
            'backups': sorted(os.listdir(DIR))}


def failed_msgs(result):
    return ' '.join(str(res.get('msg', '')) for _name, res in result.task_results() if res.get('failed'))


@pytest.mark.parametrize('case', ['charset', 'cluster', 'privileges'])
def test_preflight_failure_changes_nothing(env, servers, case):
    db, _redis, _cluster = servers
    before = snapshot(env)
    extra = {}
    if case == 'charset':
        db.admin('SET GLOBAL character_set_server = latin1;')
    elif case == 'cluster':
        extra = {'func_migrate_redis_port': CLUSTER_PORT, 'func_migrate_redis_password': ''}
    else:
        extra = {'func_migrate_mysql_user': 'weak'}
    try:
        result = run_playbook(PLAYBOOK, role_vars(**extra))
    finally:
        if case == 'charset':
            db.admin('SET GLOBAL character_set_server = utf8mb4; SET GLOBAL collation_server = utf8mb4_unicode_ci;')
    assert result.rc != 0, result.stdout[-3000:]
    msg = failed_msgs(result)
    expected = {'charset': ['character_set_server is latin1', 'character-set-server=utf8mb4'],
                'cluster': ['cluster mode', 'cluster_enabled:1'],
                'privileges': ['lacks the privilege', 'GRANT ALL PRIVILEGES ON `dataflux_func`']}[case]
    for text in expected:
        assert text in msg, msg
    assert 'nothing was changed' in msg
    assert FUNC_PW not in result.stdout and REDIS_PW not in result.stdout
    assert snapshot(env) == before
    assert db.query("SHOW DATABASES LIKE 'dataflux_func'") == []


def test_failure_after_stop_rolls_back(env, servers):
    """The external Redis refuses writes (NOREPLICAS) when the queues are carried over: the services were
    already stopped and the dump imported; everything must be put back and started again."""
    _db, redis, _cluster = servers
    env.redis('LPUSH', WORK8, json.dumps({'id': 'task-before-rollback', 'queue': 8}))
    before = snapshot(env)
    redis.cli('CONFIG', 'SET', 'min-replicas-to-write', '1')
    try:
        result = run_playbook(PLAYBOOK, role_vars())
    finally:
        redis.cli('CONFIG', 'SET', 'min-replicas-to-write', '0')
    assert result.rc != 0, result.stdout[-3000:]
    msg = failed_msgs(result)
    assert 'Carry the pending' in msg and 'NOREPLICAS' in msg and 'Rolled back' in msg, msg
    assert 'answers again' in msg, msg
    assert FUNC_PW not in result.stdout and REDIS_PW not in result.stdout
    after = snapshot(env)
    assert after['config'] == before['config'] and after['stack'] == before['stack']
    wait_for(lambda: env.services() == before['services'], 90, what='services back to %r' % before['services'])
    assert env.ping() == 200
    assert env.redis('LLEN', WORK8) == '1'
    assert redis.cli('EXISTS', WORK8, db=5) == '0'


def test_check_mode_predicts_and_changes_nothing(env):
    before = snapshot(env)
    result = run_playbook(PLAYBOOK, role_vars(), check=True)
    assert result.rc == 0, result.stdout[-4000:]
    assert result.changed() > 0
    assert snapshot(env) == before


def test_migrate(env, servers):
    db, redis, _cluster = servers
    env.mysql("SET NAMES utf8mb4; INSERT INTO biz_main_script (id, scriptSetId, title, code, codeMD5) VALUES "
              "('dfft_mig_a', 'dfft_mig', 'caf\u00e9 \U0001f600', 'print(1)\\n', 'x'),"
              "('dfft_mig_b', 'dfft_mig', NULL, REPEAT('y', 70000), 'z');"
              "INSERT INTO biz_main_func (id, scriptSetId, scriptId, name, definition) "
              "VALUES ('dfft_mig_a.f', 'dfft_mig', 'dfft_mig_a', 'f', 'f()');")
    items = [json.dumps({'id': 'task-mig-%d' % n, 'name': 'Demo.Noop', 'queue': 8}) for n in range(3)]
    for item in items:
        env.redis('LPUSH', WORK8, item)
    env.redis('ZADD', DELAY1, FAR_FUTURE, json.dumps({'id': 'delay-a', 'queue': 1}),
              FAR_FUTURE + 0.5, json.dumps({'id': 'delay-b', 'queue': 1}))
    src_work = env.redis('LRANGE', WORK8, 0, -1).splitlines()
    src_delay = env.redis('ZRANGE', DELAY1, 0, -1, 'WITHSCORES').splitlines()
    assert len(src_work) == 4 and len(src_delay) == 4
    tables = [r[0] for r in env.mysql_rows('SHOW TABLES')]
    src_rows = {t: env.mysql_rows('SET NAMES utf8mb4; SELECT * FROM `%s` ORDER BY 1' % t) for t in tables
                if t.startswith('biz_main_script') or t == 'biz_main_func' or t.startswith('wat_main_user')}
    seq = env.mysql_rows("SELECT value FROM wat_main_system_setting WHERE id = 'UPGRADE_DB_SEQ'")
    old_secret = env.config('SECRET')
    # a signed-in session (server/utils/auth.js: a JWT signed with SECRET + a field of the Redis hash
    # DataFluxFunc-server#token@xAuthToken) that must survive the move
    code, body, _h = env.sign_in()
    profile = {'X-Dff-Auth-Token': body['data']['xAuthToken']}
    assert env.http('GET', '/api/v1/auth/profile/do/get', headers=profile)[0] == 200

    # every process on the host (containers included) is sampled for secrets while the migration runs
    with ProcWatch([FUNC_PW, REDIS_PW, old_secret, env.mysql_password],
                   interesting=('mysqldump', 'mariadb-dump', 'redis-cli', 'mysql ')) as watch:
        result = run_playbook(PLAYBOOK, role_vars())
    assert result.rc == 0, result.stdout[-6000:]
    assert FUNC_PW not in result.stdout and REDIS_PW not in result.stdout
    assert watch.samples > 20 and watch.seen, 'the sampler saw no database client while migrating'
    assert watch.hits == []

    # stack: no built-in services any more; everything else as before
    services = env.services()
    assert 'mysql' not in [s[len(STACK) + 1:] for s in services]
    assert sorted(s[len(STACK) + 1:] for s in services) == ['beat', 'server', 'worker-0', 'worker-1-6', 'worker-7',
                                                            'worker-8-9']
    import yaml
    cfg = yaml.safe_load(open(env.user_config_path))
    assert cfg['MYSQL_HOST'] == gateway() and cfg['MYSQL_PORT'] == DB_PORT and cfg['MYSQL_USER'] == 'func'
    assert cfg['REDIS_PORT'] == REDIS_PORT and cfg['REDIS_PASSWORD'] == REDIS_PW
    assert cfg['_IS_INSTALLED'] is True and cfg['SECRET'] == old_secret
    assert oct(os.stat(env.user_config_path).st_mode & 0o777) == '0o600'
    copies = [n for n in os.listdir(DIR) if '.before-migrate-' in n] + \
        [n for n in os.listdir(env.data_dir) if '.before-migrate-' in n]
    assert len(copies) == 4   # the rolled-back attempt and this one
    for name in copies:
        path = os.path.join(DIR if name.startswith('docker-stack') else env.data_dir, name)
        assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.path.isdir(os.path.join(DIR, 'mysql')) and os.listdir(os.path.join(DIR, 'mysql'))
    assert os.path.isdir(os.path.join(DIR, 'redis'))
    new_stack = yaml.safe_load(open(env.stack_file))
    old_stack = yaml.safe_load(open(os.path.join(DIR, sorted(n for n in copies if n.startswith('docker-stack'))[-1])))
    for name in ('mysql', 'redis'):
        old_stack['services'].pop(name)
    assert new_stack == old_stack

    # data identical on the external MariaDB
    for table, rows in src_rows.items():
        got = [tuple(r) for r in db.query('SELECT * FROM `%s` ORDER BY 1' % table, database='dataflux_func')]
        assert got == rows, table
    assert db.query("SELECT value FROM wat_main_system_setting WHERE id = 'UPGRADE_DB_SEQ'",
                    database='dataflux_func') == seq
    # queue items carried over, in order and with their scores
    assert redis.cli('LRANGE', WORK8, 0, -1, db=5).splitlines() == src_work
    assert redis.cli('ZRANGE', DELAY1, 0, -1, 'WITHSCORES', db=5).splitlines() == src_delay
    # the application runs on the new servers
    assert env.ping() == 200
    # the session carried over: the token taken before the move still works, nobody has to sign in again
    assert redis.cli('HLEN', 'DataFluxFunc-server#token@xAuthToken', db=5) not in ('', '0')
    code, body, _h = env.http('GET', '/api/v1/auth/profile/do/get', headers=profile)
    assert code == 200 and body['data']['id'] == 'u-admin', body
    # sign in through the captcha, whose code now lives in the external Redis (server/utils/captcha.js)
    token = os.urandom(12).hex()
    assert env.http('GET', '/api/v1/captcha/do/get?captchaCategory=signIn&captchaToken=' + token)[0] == 200
    code = redis.cli('GET', 'DataFluxFunc-server#captcha@signIn:captchaToken:%s:' % token, db=5)
    status, body, _hdrs = env.http('POST', '/api/v1/auth/do/sign-in', {
        'captchaToken': token, 'captcha': code,
        'signIn': {'username': env.admin_username, 'password': env.admin_password}})
    assert status == 200 and body['data']['xAuthToken'], body
    assert env.config('MYSQL_HOST', service='server') == gateway()
    # workers heartbeat into the external Redis
    assert redis.cli('HLEN', 'DataFluxFunc-monitor#heartbeat@serviceInfo', db=5) not in ('', '0')


def test_second_run_changes_nothing(env):
    before = snapshot(env)
    result = run_playbook(PLAYBOOK, role_vars())
    assert result.rc == 0, result.stdout[-4000:]
    assert result.changed() == 0, [n for n, r in result.task_results() if r.get('changed')]
    assert snapshot(env) == before
    assert env.ping() == 200


def test_redis_protected_by_password(servers):
    # sanity of the fixture: the external Redis really needs the password (so the role had to pass it)
    _db, redis, _cluster = servers
    proc = subprocess.run(['redis-cli', '-p', str(REDIS_PORT), 'PING'], capture_output=True, text=True, check=False)
    assert 'NOAUTH' in proc.stdout + proc.stderr
