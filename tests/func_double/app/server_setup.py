"""Stand-in of server/setup.js: first-time setup (web form / POST /setup / AUTO_SETUP) and the DB upgrade."""
import json
import os
import random
import re
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

import dff_common as C

# server/setup.js SKIP_CONFIGS_TO_WRITE: posted keys never written into user-config.yaml
SKIP_CONFIGS_TO_WRITE = ('ADMIN_USERNAME', 'ADMIN_PASSWORD', 'ADMIN_PASSWORD_REPEAT', 'AUTO_SETUP',
                         'AUTO_SETUP_ADMIN_USERNAME', 'AUTO_SETUP_ADMIN_PASSWORD', 'AUTO_SETUP_AK_ID',
                         'AUTO_SETUP_AK_SECRET', 'GUANCE_NODE', 'GUANCE_OPENAPI_URL', 'GUANCE_OPENWAY_URL',
                         'GUANCE_WEBSOCKET_URL', 'GUANCE_API_KEY_ID', 'GUANCE_API_KEY')
ADMIN_DEFAULT_USERNAME = ADMIN_DEFAULT_PASSWORD = 'admin'


class SetupErrors:
    """server/setup.js SetupErrorWrap: {key: [{"message": ..., "error": ...}]}."""

    def __init__(self):
        self.errors = {}

    def set(self, key, message, error=None):
        line = {'message': str(message)}
        if error is not None:
            line['error'] = str(error)
        self.errors.setdefault(key, []).append(line)

    def __bool__(self):
        return bool(self.errors)


SETUP_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>DataFlux Func Setup</title></head>
<body><h1>DataFlux Func (stand-in %s) setup</h1>
<form id="setup"><p>POST /setup with JSON {"userConfig": {...}}</p>
<input name="MYSQL_HOST"><input name="REDIS_HOST"><input name="ADMIN_USERNAME"><input name="ADMIN_PASSWORD">
</form></body></html>"""


def version_tuple(text):
    return tuple(int(x) for x in re.findall(r'\d+', text)[:3])


def check_mysql(cfg, retries=10, delay=3):
    last = None
    for i in range(retries):
        try:
            conn = C.mysql_connect(cfg)
            break
        except Exception as e:
            last = e
            if i < retries - 1:
                time.sleep(delay)
    else:
        return 'Connecting to MySQL failed', last
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT VERSION()')
            version = cur.fetchone()[0]
            if version_tuple(version) < (5, 7):
                return 'MySQL 5.7 or above is required', None
            cur.execute("SHOW VARIABLES LIKE 'innodb_large_prefix'")
            row = cur.fetchone()
            if row and str(row[1]).upper() != 'ON':
                return 'MySQL system variable "innodb_large_prefix" should be ON', None
    finally:
        conn.close()
    return None


def check_redis(cfg):
    try:
        r = C.redis_connect(cfg, socket_timeout=5)
        info = r.info()
    except Exception as e:
        return 'Connecting to Redis failed', e
    if version_tuple(str(info.get('redis_version', '0'))) < (5,):
        return 'Redis 5.0 or above is required', 'redis_version: %s' % info.get('redis_version')
    gib = 1024 ** 3
    if int(info.get('total_system_memory', gib)) < gib:
        return 'Redis requires at least 1GB of memory', 'total_system_memory: %s' % info.get('total_system_memory')
    maxmemory = int(info.get('maxmemory', 0))
    if 0 < maxmemory < gib:
        return 'Redis requires at least 1GB of memory', 'maxmemory: %s' % maxmemory
    if int(info.get('cluster_enabled', 0)) != 0:
        return 'DataFlux Func does not support Redis Cluster', 'cluster_enabled: %s' % info.get('cluster_enabled')
    return None


def do_setup(cfg, log, admin_username, admin_password):
    """Create the schema, seed rows and set the admin; raises on error."""
    conn = C.mysql_connect(cfg)
    try:
        with conn.cursor() as cur:
            for stmt in C.latest_schema_statements():
                cur.execute(stmt)
            C.set_system_setting(cur, 'UPGRADE_DB_SEQ', str(C.UPGRADE_DB_SEQ_LAST))
            C.reset_admin(cur, cfg['SECRET'], admin_username, admin_password)
    finally:
        conn.close()
    log.warning('Setup done: schema created, UPGRADE_DB_SEQ=%s', C.UPGRADE_DB_SEQ_LAST)


def write_user_config(path, file_config, user_config):
    """Merge the posted config into the file's content, drop SKIP_CONFIGS_TO_WRITE, add _IS_INSTALLED and rewrite
    the file in place as a plain YAML dump: comments go, mode and owner stay (server/setup.js _doSetup)."""
    data = dict(file_config)
    data.update(user_config)
    data['_IS_INSTALLED'] = True
    for k in SKIP_CONFIGS_TO_WRITE:
        data.pop(k, None)
    text = yaml.safe_dump(data, default_flow_style=False, allow_unicode=True, sort_keys=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, 'w') as f:
        f.write(text)


def admin_from(user_config):
    """(username, password, repeat) as server/setup.js picks them: ADMIN_* when ADMIN_USERNAME is given, else
    AUTO_SETUP_ADMIN_*, else admin/admin."""
    if user_config.get('ADMIN_USERNAME'):
        return (user_config['ADMIN_USERNAME'], user_config.get('ADMIN_PASSWORD'),
                user_config.get('ADMIN_PASSWORD_REPEAT'))
    if user_config.get('AUTO_SETUP_ADMIN_USERNAME') or user_config.get('AUTO_SETUP_ADMIN_PASSWORD'):
        password = user_config.get('AUTO_SETUP_ADMIN_PASSWORD') or ADMIN_DEFAULT_PASSWORD
        return user_config.get('AUTO_SETUP_ADMIN_USERNAME') or ADMIN_DEFAULT_USERNAME, password, password
    return ADMIN_DEFAULT_USERNAME, ADMIN_DEFAULT_PASSWORD, ADMIN_DEFAULT_PASSWORD


def setup_input(user_config):
    """What the setup connects and hashes with: the posted userConfig ONLY (server/setup.js _doSetup reads
    userConfig.MYSQL_*, REDIS_*, SECRET), neither user-config.yaml nor DFF_ env. An absent key falls back to the
    image default (the drivers' defaults upstream: 127.0.0.1), an absent SECRET salts the admin hash with
    'undefined' (toolkit.strf), as upstream."""
    eff = C.load_defaults()
    eff.update(user_config)
    eff['SECRET'] = user_config.get('SECRET', 'undefined')
    return eff


def check_setup(user_config, eff, log):
    """Every check of server/setup.js _doSetup, then the schema and the admin; returns SetupErrors."""
    errors = SetupErrors()
    username, password, repeat = admin_from(user_config)
    if not username or not password:
        errors.set('adminUser', 'Administrator username or password is not inputed')
    elif repeat not in (None, '') and password != repeat:
        errors.set('adminUser', 'Repeated administrator password not match')
    err = check_mysql(eff, retries=1)
    if err:
        errors.set('mysql', *err)
    err = check_redis(eff)
    if err:
        errors.set('redis', *err)
    if not errors:
        try:
            do_setup(eff, log, str(username), str(password))
        except Exception as e:
            errors.set('mysqlInit', 'Initializing MySQL database failed', e)
    return errors


def run_setup_server(cfg, log):
    path = C.user_config_path()
    done = threading.Event()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, fmt, *args):
            log.debug('setup %s', fmt % args)

        def send(self, code, body=b'', ctype='application/json', headers=None):
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            self.send_response(code)
            self.send_header(cfg['_WEB_SERVER_VERSION_HEADER'], C.VERSION)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def redirect_home(self):
            """Express' res.redirect('/') of the setup app's catch-all (server/setup.js)."""
            self.send(302, b'Found. Redirecting to /', 'text/plain; charset=utf-8', {'Location': '/'})

        def do_GET(self):
            if self.path.split('?')[0] == '/':
                self.send(200, SETUP_PAGE % C.VERSION, 'text/html; charset=utf-8')
            else:
                self.redirect_home()

        def do_HEAD(self):
            self.redirect_home()

        do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD

        def do_POST(self):
            if self.path.split('?')[0] != '/setup':
                self.redirect_home()
                return
            try:
                length = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(length) or b'{}')
                user_config = (body.get('userConfig') if isinstance(body, dict) else None) or {}
                if not isinstance(user_config, dict):
                    raise ValueError('userConfig must be an object')
            except ValueError as e:
                self.send(400, {'setupErrors': {'body': [{'message': str(e)}]}})
                return
            with lock:
                if done.is_set():
                    self.send(400, {'setupErrors': {'setup': [{'message': 'Already installed'}]}})
                    return
                file_config = C.load_user_config(path)
                errors = check_setup(user_config, setup_input(user_config), log)
                if not errors:
                    try:
                        write_user_config(path, file_config, user_config)
                    except Exception as e:
                        errors.set('setup', 'Writing user config failed', e)
                if errors:
                    log.error('Setup failed: %s', errors.errors)
                    self.send(400, {'setupErrors': errors.errors})
                    return
                done.set()
                log.warning('DataFlux Func Installed.')
            self.send(200, {'redirectURL': user_config.get('WEB_BASE_URL') or cfg.get('WEB_BASE_URL') or None})

    httpd = ThreadingHTTPServer((cfg['WEB_BIND'], int(cfg['WEB_PORT'])), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    log.warning('Setup server listening on %s:%s', cfg['WEB_BIND'], cfg['WEB_PORT'])
    while not done.is_set():
        # other replicas: leave once the shared config says installed
        if done.wait(3):
            break
        if C.load_config().get('_IS_INSTALLED'):
            log.warning('Installed by another instance')
            break
    time.sleep(0.5)  # let the response go out
    httpd.shutdown()
    httpd.server_close()


def auto_setup(cfg, log):
    """AUTO_SETUP: the file's own content is the setup input, with a new random SECRET (server/setup.js)."""
    path = C.user_config_path()
    file_config = C.load_user_config(path)
    user_config = dict(file_config)
    user_config['SECRET'] = ''.join(random.SystemRandom().choice(string.ascii_letters + string.digits)
                                    for _x in range(16))
    errors = check_setup(user_config, setup_input(user_config), log)
    if errors:
        log.error('Auto setup failed: %s', errors.errors)
        return 1
    write_user_config(path, file_config, user_config)
    log.warning('Auto setup finished.')
    return 0


def run_upgrade(cfg, log):
    r = C.redis_connect(cfg)
    lock_key = '%s#upgradeLock' % cfg['APP_NAME']
    lock_value = '%s:%s' % (os.uname().nodename, os.getpid())
    if not r.set(lock_key, lock_value, nx=True, ex=30):
        log.warning('Another server is upgrading the DB, waiting')
        while r.exists(lock_key):
            time.sleep(3)
        return 0
    try:
        conn = C.mysql_connect(cfg)
        with conn.cursor() as cur:
            current = C.get_system_setting(cur, 'UPGRADE_DB_SEQ')
            current = int(current) if current is not None else None
            items = [i for i in C.upgrade_items() if current is None or i['seq'] > current]
            last = None
            if not items:
                log.warning('Already up to date, skip.')
            else:
                log.warning('Run upgrade: %s -> %s', 'BASE' if current is None else current, items[-1]['seq'])
            for item in items:
                log.warning('Upgading to SEQ %s...', item['seq'])      # sic, server/setup.js
                try:
                    cur.execute(item['database'])
                except Exception as e:
                    log.error('DB upgrade seq %s failed: %s', item['seq'], e)
                    return 1
                last = item['seq']
                r.expire(lock_key, 30)
            if last is not None:
                C.set_system_setting(cur, 'UPGRADE_DB_SEQ', str(last))
                log.warning('Upgrading completed.')
        conn.close()
    finally:
        if r.get(lock_key) == lock_value:
            r.delete(lock_key)
    return 0


def main():
    cfg = C.load_config()
    log = C.Logger(cfg, 'server-setup')
    if cfg.get('_DISABLE_SETUP'):
        return 0
    if not cfg.get('_IS_INSTALLED'):
        if cfg.get('AUTO_SETUP'):
            rc = auto_setup(cfg, log)
            if rc:
                return rc
        else:
            run_setup_server(cfg, log)
        return 0
    try:
        return run_upgrade(cfg, log)
    except Exception as e:
        log.error('DB upgrade failed: %s', e)
        return 1


if __name__ == '__main__':
    sys.exit(main())
