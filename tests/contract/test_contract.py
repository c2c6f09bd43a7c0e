"""Contract of DataFlux Func 5.1.7 that the collection and its tests rely on, asserted the same way on the func double
(dff-test/dataflux-func:5.1.7, tests/func_double) and on the real product built from upstream's source
(dff-real/dataflux-func:5.1.7, tests/images/real/build). docs/dev/upstream-facts.md lists each fact with its upstream
file and line and names the test here that checks it.

One installation per kind, both deployed when the module starts (the real server needs 40-75 s before its setup page
answers) and set up through POST /setup by the tests below, in file order. DFFT_KEEP=1 leaves them running.
"""
import base64
import io
import json
import os
import re
import secrets
import time
import zipfile

import pytest
import yaml

from ansible_collections.dataflux.func.plugins.module_utils._func_sqldump import DumpSummary
from tests.lib.funcenv import FuncEnv, docker, wait_for
from tests.lib.realimages import image_present, require_real

pytestmark = pytest.mark.integration

VERSION = '5.1.7'
KINDS = {
    'double': dict(stack='dfft-contract-double', port=18100, install_dir='/tmp/dfft/contract-double'),
    'real': dict(stack='dfft-contract-real', port=18101, install_dir='/tmp/dfft/contract-real', real=True),
}
TIMEOUT = {'double': 120, 'real': 240}
USER_CONFIG = {'_CRON_EXPR_AUTO_BACKUP_DB': '* * * * *'}
COMMENT = '# written by the contract test; the setup rewrite drops comments\n'

APP = 'DataFluxFunc'
WORKER_QUEUE = APP + '-worker#workerQueue@%s'
SERVICE_INFO = APP + '-monitor#heartbeat@serviceInfo'
BEAT_LOCK = APP + '-worker#lock@beatMaster'
TOKENS = APP + '-server#token@xAuthToken'
CAPTCHA = APP + '-server#captcha@signIn:captchaToken:%s:'
BAD_COUNT = APP + '-server#cache@badSignInCount:username:%s:'
SIGN_IN_WAIT = APP + '-server#cache@signInWait:username:%s:'
SIGN_IN = '/api/v1/auth/do/sign-in'
ERROR_KEYS = {'ok', 'error', 'reason', 'message', 'detail', 'status'}


@pytest.fixture(scope='module')
def stacks(docker_swarm):
    """Deploy both installations at once (files as FuncEnv.up() writes them, plus a comment line in
    user-config.yaml), without the setup; the real one only when its image exists."""
    envs = {}
    for kind, args in KINDS.items():
        if args.get('real') and not image_present('dff-real/dataflux-func:%s' % VERSION):
            continue
        env = FuncEnv(version=VERSION, setup=False, user_config=USER_CONFIG, **args)
        env.kind, env.timeout = kind, TIMEOUT[kind]
        env.down(remove_dir=True)
        env.write_files()
        with open(env.user_config_path, 'a') as f:
            f.write(COMMENT)
        env.deploy()
        envs[kind] = env
    yield envs
    if os.environ.get('DFFT_KEEP') != '1':
        for env in envs.values():
            env.down()


@pytest.fixture(scope='module', params=[pytest.param('double'), pytest.param('real', marks=pytest.mark.real)])
def env(request, stacks):
    if request.param == 'real':
        require_real(VERSION)
    return stacks[request.param]


# ------------------------------------------------------------------------------------------------ helpers
def post_sign_in(env, username, password, token=None, code=None):
    body = {'signIn': {'username': username, 'password': password}}
    if token is not None:
        body.update(captchaToken=token, captcha=code)
    return env.http('POST', SIGN_IN, body)


def assert_error(resp, status, reason, message=None):
    code, body, _h = resp
    assert code == status and isinstance(body, dict), resp
    assert ERROR_KEYS <= set(body), body
    assert (body['ok'], body['status'], body['reason'], int(body['error'])) == (False, status, reason, status), body
    if message is not None:
        assert body['message'] == message, body
    return body


def settle(env, *usernames):
    """Wait out the one-second lock a wrong password sets on its username (until its signInWait key is gone)."""
    wait_for(lambda: all(env.redis('EXISTS', SIGN_IN_WAIT % name) == '0' for name in usernames), 10, interval=0.1,
             what='sign-in lock of %s to expire' % ', '.join(usernames))


def other_code(code):
    return '1111' if code == '0000' else '0000'


def jwt_payload(token):
    part = token.split('.')[1]
    return json.loads(base64.urlsafe_b64decode(part + '=' * (-len(part) % 4)))


def last_upgrade_seq(image):
    text = docker('run', '--rm', '--entrypoint', 'cat', image, '/usr/src/app/upgrade-info.yaml').stdout
    return max(item['seq'] for item in yaml.safe_load(text)['upgradeInfo'])


def func_id(env):
    rows = env.mysql_rows("SELECT value FROM wat_main_system_setting WHERE id = 'DATAFLUX_FUNC_ID'")
    return rows[0][0] if rows else None


# ------------------------------------------------------------------------------------------------ setup mode
def test_setup_mode_redirects_everything_but_the_page(env):
    wait_for(lambda: env.http('GET', '/')[0] == 200, env.timeout, interval=2, what='setup page of %s' % env.stack)
    code, body, headers = env.http('GET', '/')
    assert code == 200 and headers['Content-Type'].startswith('text/html') and '<html' in body.lower()
    probe = '/dfft-contract-%s' % secrets.token_hex(4)
    for method, path in (('GET', '/api/v1/do/ping'), ('GET', '/api/v1/image-info'), ('GET', probe),
                         ('POST', probe), ('GET', '/setup'), ('PUT', '/setup'), ('POST', SIGN_IN),
                         ('GET', '/api/v1/captcha/do/get?captchaCategory=signIn&captchaToken=x')):
        code, _body, headers = env.http(method, path, {} if method != 'GET' else None)
        assert (code, headers.get('Location')) == (302, '/'), (method, path, code)


def test_setup_errors(env):
    env.wait_mysql(env.timeout)
    mismatch = env.setup_user_config(ADMIN_PASSWORD_REPEAT='not-' + env.admin_password)
    code, body, _h = env.http('POST', '/setup', {'userConfig': mismatch}, timeout=120)
    assert (code, body) == (400, {'setupErrors': {'adminUser': [
        {'message': 'Repeated administrator password not match'}]}})
    missing = env.setup_user_config(ADMIN_PASSWORD='', ADMIN_PASSWORD_REPEAT='')
    code, body, _h = env.http('POST', '/setup', {'userConfig': missing}, timeout=120)
    assert (code, body) == (400, {'setupErrors': {'adminUser': [
        {'message': 'Administrator username or password is not inputed'}]}})
    # the setup connects with the POSTED values only: the admin alone is not enough (upstream retries MySQL ~30 s)
    admin_only = {k: v for k, v in env.setup_user_config().items() if k.startswith('ADMIN_')}
    code, body, _h = env.http('POST', '/setup', {'userConfig': admin_only}, timeout=120)
    assert code == 400 and sorted(body['setupErrors']) == ['mysql', 'redis'], body
    [line] = body['setupErrors']['mysql']
    assert line['message'] == 'Connecting to MySQL failed' and line['error'], line
    assert 'Connecting to Redis failed' in [e['message'] for e in body['setupErrors']['redis']], body
    assert env.http('GET', '/api/v1/do/ping')[0] == 302          # nothing was installed
    assert '_IS_INSTALLED' not in yaml.safe_load(open(env.user_config_path))


def test_setup_rewrites_user_config(env):
    assert os.stat(env.user_config_path).st_mode & 0o777 == 0o600
    code, body, _h = env.http('POST', '/setup', {'userConfig': env.setup_user_config()}, timeout=120)
    assert (code, body) == (200, {'redirectURL': None})

    def installed():
        return (yaml.safe_load(open(env.user_config_path)) or {}).get('_IS_INSTALLED') is True
    wait_for(installed, 30, what='_IS_INSTALLED in %s' % env.user_config_path)
    text = open(env.user_config_path).read()
    cfg = yaml.safe_load(text)
    assert '#' not in text                                             # comments dropped
    assert os.stat(env.user_config_path).st_mode & 0o777 == 0o600     # mode kept
    assert cfg['SECRET'] == env.secret and cfg['MYSQL_PASSWORD'] == env.mysql_password
    assert cfg['_CRON_EXPR_AUTO_BACKUP_DB'] == '* * * * *'             # the file's own keys stay
    assert not [k for k in cfg if k.startswith(('ADMIN_', 'AUTO_SETUP'))]
    env.wait_ping(env.timeout)


def test_image_info_and_upgrade_seq(env):
    code, body, _h = env.http('GET', '/api/v1/image-info')
    assert code == 200 and body['ok'] is True and body['data']['VERSION'] == VERSION
    code, body, _h = env.http('GET', '/api/v1/do/ping')
    assert code == 200 and (body['ok'], body['error'], body['message'], body['data']) == (True, 200, '', 'pong')
    seq = env.mysql_rows("SELECT value FROM wat_main_system_setting WHERE id = 'UPGRADE_DB_SEQ'")
    assert seq == [(str(last_upgrade_seq(env.image)),)] == [('29',)]
    value = wait_for(lambda: func_id(env), 60, what='DATAFLUX_FUNC_ID')
    assert re.match(r'^"DFF[0-9A-F]{32}"$', value), value


# ------------------------------------------------------------------------------------------------ sign-in
def test_captcha_is_stored_in_redis(env):
    token = secrets.token_hex(12)
    url = '/api/v1/captcha/do/get?captchaCategory=signIn&captchaToken=%s' % token
    code, body, _h = env.http('GET', url)
    assert code == 200 and '<svg' in body
    assert re.match(r'^\d{4}$', env.redis('GET', CAPTCHA % token))
    assert 0 < int(env.redis('TTL', CAPTCHA % token)) <= 300
    assert_error(env.http('GET', url), 400, 'EUserCaptcha', 'This captcha token is already used')


def test_sign_in_without_captcha_is_refused(env):
    body = assert_error(env.sign_in(captcha=False), 400, 'EClientBadRequest', 'Invalid request body')
    assert body['detail'] == {'message': 'Field `captchaToken` is missing.'}
    assert_error(post_sign_in(env, env.admin_username, env.admin_password, 'dfft-unknown-token', '1234'),
                 400, 'EUserCaptcha', 'Can not found captcha token')


def test_wrong_captcha_is_refused_and_spent(env):
    token, code = env.captcha()
    assert_error(post_sign_in(env, env.admin_username, env.admin_password, token, other_code(code)),
                 400, 'EUserCaptcha', 'Invalid captcha')
    assert env.redis('EXISTS', CAPTCHA % token) == '0'
    assert_error(post_sign_in(env, env.admin_username, env.admin_password, token, code),
                 400, 'EUserCaptcha', 'Can not found captcha token')


def test_sign_in_stores_a_token(env):
    token, code = env.captcha()
    status, body, _h = post_sign_in(env, env.admin_username, env.admin_password, token, code)
    assert status == 200 and body['ok'] is True and body['data']['userId'] == 'u-admin', body
    payload = jwt_payload(body['data']['xAuthToken'])
    assert payload['v'] == 3 and payload['uid'] == 'u-admin' and payload['xatid'].startswith('xat-'), payload
    assert env.redis('TYPE', TOKENS) == 'hash'
    value = env.redis_hash(TOKENS)['userId:u-admin:xAuthTokenId:%s' % payload['xatid']]
    assert abs(json.loads(value)['ts'] - time.time()) < 120
    # the captcha was spent by the sign-in
    assert env.redis('EXISTS', CAPTCHA % token) == '0'
    assert_error(post_sign_in(env, env.admin_username, env.admin_password, token, code),
                 400, 'EUserCaptcha', 'Can not found captcha token')


def test_wrong_password_is_eu_user_password_400(env):
    spare = env.captcha()
    body = assert_error(env.sign_in(password='wrong-' + env.admin_password), 400, 'EUserPassword',
                        'Invalid username or password')
    assert body['detail'] == {'signInWaitTimeout': 0}
    # ... but every wrong password locks the username for a second (RedisHelper.setex makes 0 a 1)
    body = assert_error(post_sign_in(env, env.admin_username, env.admin_password, *spare), 401, 'EUserLocked')
    assert body['detail'] == {'signInWaitTimeout': 1}
    assert env.redis('GET', BAD_COUNT % env.admin_username) == '1'
    assert_error(env.sign_in(username='dfft-nobody'), 400, 'EUserPassword')
    settle(env, env.admin_username)
    assert env.sign_in_ok()                                            # a good sign-in resets the count
    assert env.redis('EXISTS', BAD_COUNT % env.admin_username) == '0'


def test_username_longer_than_30_is_a_validation_error(env):
    token, code = env.captcha()
    name = 'u' * 31
    body = assert_error(post_sign_in(env, name, 'x', token, code), 400, 'EClientBadRequest', 'Invalid request body')
    assert body['detail'] == {'message': 'Field `username` value `"%s"` is not valid. (maxLength = 30)' % name}
    assert env.redis('EXISTS', CAPTCHA % token) == '1'                 # validation runs before the captcha check
    assert_error(env.sign_in(username='u' * 30), 400, 'EUserPassword')


def test_null_password_hash_rule(env):
    def user(uid, username, pw_hash, disabled=0):
        env.mysql("INSERT INTO wat_main_user (id, username, passwordHash, name, roles, customPrivileges, isDisabled) "
                  "VALUES ('%s', '%s', %s, 'dfft', 'user', '', %d)"
                  % (uid, username, "'%s'" % pw_hash if pw_hash else 'NULL', disabled))

    def pw_hash(uid, password):
        return env.mysql("SELECT SHA2(CONCAT('~', '%s', '~', '%s', '~', '%s', '~'), 512)"
                         % (uid, password, env.secret)).strip()

    admin = env.admin_username
    env.mysql("UPDATE wat_main_user SET passwordHash = NULL WHERE id = 'u-admin'")
    assert env.sign_in_ok(admin, admin) is True                        # only u-admin: the username is the password
    assert env.sign_in_ok(admin, env.admin_password) is False
    settle(env, admin)
    env.mysql("UPDATE wat_main_user SET isDisabled = 1 WHERE id = 'u-admin'")
    assert env.sign_in_ok(admin, admin) is True                        # u-admin is never disabled
    env.mysql("UPDATE wat_main_user SET passwordHash = '%s', isDisabled = 0 WHERE id = 'u-admin'"
              % pw_hash('u-admin', env.admin_password))
    assert env.sign_in_ok() is True

    user('u-dfft-null', 'dfft-null', None)
    assert env.sign_in_ok('dfft-null', 'dfft-null') is False
    settle(env, 'dfft-null')
    user('u-dfft-hashed', 'dfft-hashed', pw_hash('u-dfft-hashed', 'Pw-1'))
    assert env.sign_in_ok('dfft-hashed', 'Pw-1') is True               # sha512('~<user id>~<password>~<SECRET>~')
    user('u-dfft-off', 'dfft-off', pw_hash('u-dfft-off', 'Pw-1'), disabled=1)
    assert_error(env.sign_in('dfft-off', 'Pw-1'), 401, 'EUserDisabled', 'Current user has been disabled')
    assert_error(env.sign_in('dfft-off', 'wrong'), 401, 'EUserDisabled')    # checked before the password


def test_ten_bad_sign_ins_lock_the_username(env):
    name = 'dfft-lock-%s' % secrets.token_hex(3)
    for n in range(1, 10):
        body = assert_error(env.sign_in(name, 'bad'), 400, 'EUserPassword')
        assert body['detail'] == {'signInWaitTimeout': 0}, n
        settle(env, name)
    body = assert_error(env.sign_in(name, 'bad'), 400, 'EUserPassword')
    assert body['detail'] == {'signInWaitTimeout': 60}
    assert env.redis('GET', BAD_COUNT % name) == '10' and 0 < int(env.redis('TTL', SIGN_IN_WAIT % name)) <= 60
    body = assert_error(env.sign_in(name, 'bad'), 401, 'EUserLocked', 'User has been temporarily locked')
    assert 0 < body['detail']['signInWaitTimeout'] <= 60


# ------------------------------------------------------------------------------------------------ Redis
def test_queue_heartbeat_and_beat_lock_keys(env):
    item = json.dumps({'id': 'task-dfft-contract', 'name': 'DfftContract.NoSuchTask', 'kwargs': {},
                       'triggerTime': int(time.time()), 'queue': 9})
    assert env.redis('LPUSH', WORKER_QUEUE % 9, item) == '1'          # a list, producers LPUSH
    wait_for(lambda: env.redis('LLEN', WORKER_QUEUE % 9) == '0', 60, what='worker-0 taking the item of queue 9')

    def fresh_services():
        fields = env.redis_hash(SERVICE_INFO)
        infos = {f: json.loads(v) for f, v in fields.items()}
        fresh = {f: i for f, i in infos.items() if time.time() - i['ts'] < 60}
        return fresh if {'server', 'worker', 'beat'} <= {i['name'] for i in fresh.values()} else None
    assert env.redis('TYPE', SERVICE_INFO) == 'hash'
    fresh = wait_for(fresh_services, 60, interval=3, what='heartbeats of server, workers and beat')
    for field, info in fresh.items():
        assert re.match(r'^hostname:[^:]+:pid:\d+$', field), field
        assert {'ts', 'name', 'version', 'edition', 'uptime'} <= set(info) and info['version'] == VERSION, info
    queues = sorted(i['queues'] for i in fresh.values() if i['name'] == 'worker')
    assert ['0', '4', '7', '8', '9'] in queues and ['1'] in queues, queues    # the command line, as strings

    assert env.redis('TYPE', BEAT_LOCK) == 'string'
    assert 0 < int(env.redis('TTL', BEAT_LOCK)) <= 5


# ------------------------------------------------------------------------------------------------ backup
def test_inapp_backup_header(env):
    sqldump = os.path.join(env.data_dir, 'sqldump')

    def zips():
        return sorted(f for f in os.listdir(sqldump) if f.endswith('.zip'))
    name = wait_for(zips, 180, interval=3, what='an in-app backup in %s' % sqldump)[-1]
    assert re.match(r'^dataflux-func-sqldump-\d{8}-\d{6}\.zip$', name), name
    with zipfile.ZipFile(os.path.join(sqldump, name)) as z:
        assert z.namelist() == [name[:-4] + '.sql']
        sql = io.TextIOWrapper(z.open(z.namelist()[0]), encoding='utf-8').read()
    lines = sql.split('\n')
    rule = '-- ' + '-' * 50
    assert lines[0] == rule and lines[1] == '-- DataFlux Func DB Backup', lines[:6]
    assert re.match(r'^-- Date: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$', lines[2]), lines[2]
    assert lines[3] == '-- Version: %s' % VERSION and lines[4] == rule
    assert lines[5].startswith('DROP TABLE IF EXISTS `') and lines[6].startswith('CREATE TABLE `'), lines[5:7]
    assert 'LOCK TABLES `wat_main_user` WRITE;' in sql and 'UNLOCK TABLES;' in sql
    summary = DumpSummary()
    summary.feed(sql.encode('utf-8'))
    summary.finish()
    assert summary.origin == 'inapp' and summary.incomplete() is None
    assert summary.func_id == json.loads(func_id(env))
    assert 'wat_main_user' in summary.created and 'wat_main_system_setting' in summary.created
