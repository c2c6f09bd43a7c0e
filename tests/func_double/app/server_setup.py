"""Stand-in of server/setup.js: first-time setup (web form / POST /setup / AUTO_SETUP) and the DB upgrade."""
import json
import os
import random
import re
import string
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

import dff_common as C

NOT_WRITTEN_BACK = ('ADMIN_USERNAME', 'ADMIN_PASSWORD', 'ADMIN_PASSWORD_REPEAT', 'GUANCE_NODE', 'GUANCE_OPENAPI_URL',
                    'GUANCE_OPENWAY_URL', 'GUANCE_WEBSOCKET_URL', 'GUANCE_API_KEY_ID', 'GUANCE_API_KEY')

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
        return 'Connecting to MySQL failed: %s' % last
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT VERSION()')
            version = cur.fetchone()[0]
            if 'mariadb' not in version.lower() and version_tuple(version) < (5, 7):
                return 'MySQL 5.7 or later is required, got %s' % version
            cur.execute("SHOW VARIABLES LIKE 'innodb_large_prefix'")
            row = cur.fetchone()
            if row and str(row[1]).upper() not in ('ON', '1'):
                return 'MySQL innodb_large_prefix must be ON'
    finally:
        conn.close()
    return None


def check_redis(cfg):
    try:
        r = C.redis_connect(cfg, socket_timeout=5)
        info = r.info()
    except Exception as e:
        return 'Connecting to Redis failed: %s' % e
    if version_tuple(str(info.get('redis_version', '0'))) < (5,):
        return 'Redis 5.0 or later is required'
    if int(info.get('cluster_enabled', 0)) != 0:
        return 'Redis Cluster is not supported'
    gib = 1024 ** 3
    if int(info.get('total_system_memory', gib)) < gib:
        return 'Redis needs at least 1 GiB of memory'
    maxmemory = int(info.get('maxmemory', 0))
    if 0 < maxmemory < gib:
        return 'Redis maxmemory must be at least 1 GiB'
    return None


def do_setup(cfg, log, admin_username, admin_password):
    """Create the schema, seed rows and set the admin; raises on error."""
    conn = C.mysql_connect(cfg)
    try:
        with conn.cursor() as cur:
            for stmt in C.latest_schema_statements():
                cur.execute(stmt)
            C.set_system_setting(cur, 'UPGRADE_DB_SEQ', str(C.UPGRADE_DB_SEQ_LAST))
            C.set_system_setting(cur, 'DATAFLUX_FUNC_ID', json.dumps('DFF' + uuid.uuid4().hex))
            C.reset_admin(cur, cfg['SECRET'], admin_username, admin_password)
    finally:
        conn.close()
    log.warning('Setup done: schema created, UPGRADE_DB_SEQ=%s', C.UPGRADE_DB_SEQ_LAST)


def write_user_config(path, file_config, form):
    data = dict(file_config)
    data.update({k: v for k, v in form.items() if k not in NOT_WRITTEN_BACK and not k.startswith('AUTO_SETUP')})
    for k in list(data):
        if k.startswith('AUTO_SETUP') or k in NOT_WRITTEN_BACK:
            del data[k]
    data['_IS_INSTALLED'] = True
    text = yaml.safe_dump(data, default_flow_style=False, allow_unicode=True)
    # rewrite in place: keeps the file's mode and owner
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, 'w') as f:
        f.write(text)


def admin_from(form, cfg):
    username = form.get('ADMIN_USERNAME') or cfg.get('AUTO_SETUP_ADMIN_USERNAME') or 'admin'
    password = form.get('ADMIN_PASSWORD') or cfg.get('AUTO_SETUP_ADMIN_PASSWORD') or 'admin'
    return str(username), str(password)


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

        def do_GET(self):
            if self.path.split('?')[0] == '/' or self.path.startswith('/statics'):
                self.send(200, SETUP_PAGE % C.VERSION, 'text/html; charset=utf-8')
            else:
                self.send(302, b'', 'text/plain', {'Location': '/'})

        def do_POST(self):
            if self.path.split('?')[0] != '/setup':
                self.send(302, b'', 'text/plain', {'Location': '/'})
                return
            try:
                length = int(self.headers.get('Content-Length') or 0)
                body = json.loads(self.rfile.read(length) or b'{}')
                form = body.get('userConfig') or {}
                if not isinstance(form, dict):
                    raise ValueError('userConfig must be an object')
            except ValueError as e:
                self.send(400, {'setupErrors': {'body': str(e)}})
                return
            with lock:
                if done.is_set():
                    self.send(400, {'setupErrors': {'setup': 'Already installed'}})
                    return
                file_config = C.load_user_config(path)
                eff = C.load_config()
                eff.update(form)
                errors = {}
                err = check_mysql(eff, retries=1)
                if err:
                    errors['mysql'] = err
                err = check_redis(eff)
                if err:
                    errors['redis'] = err
                if form.get('ADMIN_PASSWORD_REPEAT') not in (None, '') and \
                        form.get('ADMIN_PASSWORD_REPEAT') != form.get('ADMIN_PASSWORD'):
                    errors['adminPasswordRepeat'] = 'Passwords do not match'
                if not errors:
                    try:
                        username, password = admin_from(form, eff)
                        do_setup(eff, log, username, password)
                        write_user_config(path, file_config, form)
                    except Exception as e:
                        errors['setup'] = str(e)
                if errors:
                    log.error('Setup failed: %s', errors)
                    self.send(400, {'setupErrors': errors})
                    return
                done.set()
            self.send(200, {'redirectURL': eff.get('WEB_BASE_URL') or '/'})

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
    path = C.user_config_path()
    file_config = C.load_user_config(path)
    secret = ''.join(random.SystemRandom().choice(string.ascii_letters + string.digits) for _x in range(16))
    cfg = dict(cfg)
    cfg['SECRET'] = secret
    errors = [e for e in (check_mysql(cfg), check_redis(cfg)) if e]
    if errors:
        log.error('Auto setup failed: %s', '; '.join(errors))
        return 1
    username, password = admin_from({}, cfg)
    do_setup(cfg, log, username, password)
    write_user_config(path, file_config, {'SECRET': secret})
    log.warning('Auto setup done')
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
            for item in items:
                log.warning('Applying DB upgrade seq %s', item['seq'])
                try:
                    cur.execute(item['database'])
                except Exception as e:
                    log.error('DB upgrade seq %s failed: %s', item['seq'], e)
                    return 1
                last = item['seq']
                r.expire(lock_key, 30)
            if last is not None:
                C.set_system_setting(cur, 'UPGRADE_DB_SEQ', str(last))
                log.warning('DB upgraded to seq %s', last)
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
