"""Stand-in of server/app.js: the HTTP API subset ops tooling uses. Exit 8 = restart requested."""
import json
import os
import platform
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dff_common as C

TEMP_FLAGS = ('restartAllServers', 'restartAllWorkersAndBeat', 'pauseCronJobs')


def main():
    cfg = C.load_config()
    log = C.Logger(cfg, 'server')
    if C.IMAGE_INFO.get('BROKEN'):
        log.error('Server start failed (broken test image %s)', C.VERSION)
        return 1
    r = C.redis_connect(cfg)
    r_lock = threading.Lock()

    # DATAFLUX_FUNC_ID is created at the first server start
    try:
        conn = C.mysql_connect(cfg)
        with conn.cursor() as cur:
            if C.get_system_setting(cur, 'DATAFLUX_FUNC_ID') is None:
                import uuid
                C.set_system_setting(cur, 'DATAFLUX_FUNC_ID', json.dumps('DFF' + uuid.uuid4().hex))
        conn.close()
    except Exception as e:
        log.error('MySQL not ready: %s', e)
        return 1

    token_path = cfg['_WEB_LOCALHOST_AUTH_TOKEN_PATH']

    def localhost_token():
        try:
            with open(token_path) as f:
                return f.read().strip()
        except OSError:
            return None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, fmt, *args):
            log.debug('http %s', fmt % args)

        def send(self, code, body=None, headers=None):
            data = b'' if body is None else json.dumps(body, ensure_ascii=False).encode('utf-8')
            self.send_response(code)
            self.send_header(cfg['_WEB_SERVER_VERSION_HEADER'], C.VERSION)
            self.send_header(cfg['_WEB_SERVER_RELEASE_TIMESTAMP_HEADER'], str(C.IMAGE_INFO['RELEASE_TIMESTAMP']))
            self.send_header('Content-Type', 'application/json; charset=utf-8')
            self.send_header('Content-Length', str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def ok(self, data=None):
            self.send(200, {'ok': True, 'error': 200, 'message': '', 'data': data,
                            'clientId': None, 'reqTime': time.strftime('%Y-%m-%dT%H:%M:%S')})

        def fail(self, code, reason, message=''):
            self.send(code, {'ok': False, 'error': code, 'reason': reason, 'message': message, 'data': None})

        def body(self):
            length = int(self.headers.get('Content-Length') or 0)
            raw = self.rfile.read(length) if length else b''
            return json.loads(raw) if raw else {}

        def authed(self):
            tok = localhost_token()
            if tok and self.headers.get(cfg['_WEB_LOCALHOST_AUTH_TOKEN_HEADER']) == tok:
                return True
            x = self.headers.get(cfg['_WEB_AUTH_HEADER'])
            if x:
                with r_lock:
                    return bool(r.exists(C.key(cfg, 'server', 'token', 'xAuthToken', xAuthToken=x)))
            return False

        def do_GET(self):
            path = self.path.split('?')[0]
            if path == '/':
                self.send(302, None, {'Location': '/client-app'})
            elif path == '/api/v1/do/ping':
                self.ok('pong')
            elif path == '/api/v1/image-info':
                self.ok({k: C.IMAGE_INFO[k] for k in ('VERSION', 'EDITION', 'RELEASE_TIMESTAMP')})
            elif path == '/api/v1/system-info':
                self.ok({'VERSION': C.VERSION, 'EDITION': C.IMAGE_INFO['EDITION'],
                         'RELEASE_TIMESTAMP': C.IMAGE_INFO['RELEASE_TIMESTAMP'],
                         'UPGRADE_DB_SEQ_LAST': C.UPGRADE_DB_SEQ_LAST, 'PYTHON_VERSION': platform.python_version(),
                         'HOSTNAME': socket.gethostname(), 'WEB_BASE_URL': cfg.get('WEB_BASE_URL')})
            elif path.startswith('/client-app'):
                self.send(200, {'app': 'client-app stand-in'})
            else:
                self.fail(404, 'EClientNotFound', 'No such route')

        def do_POST(self):
            path = self.path.split('?')[0]
            try:
                body = self.body()
            except ValueError:
                self.fail(400, 'EClientBadRequest', 'Invalid JSON')
                return
            if path == '/api/v1/auth/do/sign-in':
                self.sign_in(body)
            elif path.startswith('/api/v1/temporary-flags/') and path.endswith('/do/set'):
                flag = path.split('/')[4]
                if not self.authed():
                    self.fail(401, 'EUserAuth', 'Not signed in')
                elif flag not in TEMP_FLAGS:
                    self.fail(404, 'EClientNotFound', 'No such flag')
                else:
                    with r_lock:
                        r.set(C.key(cfg, 'global', 'tempFlag', flag), json.dumps(int(time.time())))
                    self.ok()
            elif path == '/api/v1/debug/worker-queues/do/clear':
                if not self.authed():
                    self.fail(401, 'EUserAuth', 'Not signed in')
                    return
                with r_lock:
                    for q in range(int(cfg['_WORKER_QUEUE_COUNT'])):
                        r.delete(C.key(cfg, 'worker', 'workerQueue', str(q)))
                self.ok()
            else:
                self.fail(404, 'EClientNotFound', 'No such route')

        def sign_in(self, body):
            sign = body.get('signIn') or {}
            username, password = sign.get('username'), sign.get('password')
            if not username or password is None:
                self.fail(400, 'EClientBadRequest', 'username and password required')
                return
            try:
                conn = C.mysql_connect(cfg)
                with conn.cursor() as cur:
                    cur.execute('SELECT `id`,`passwordHash`,`isDisabled` FROM `wat_main_user` WHERE `username`=%s',
                                (username,))
                    row = cur.fetchone()
                conn.close()
            except Exception as e:
                self.fail(500, 'ESys', str(e))
                return
            ok = False
            if row:
                user_id, pw_hash, disabled = row
                if pw_hash is None:
                    ok = password == username
                else:
                    ok = C.salted_password_hash(user_id, password, cfg['SECRET']) == pw_hash
                if disabled and user_id != 'u-admin':
                    ok = False
            if not ok:
                self.fail(401, 'EUserPassword', 'Invalid username or password')
                return
            token = secrets.token_hex(16)
            with r_lock:
                r.set(C.key(cfg, 'server', 'token', 'xAuthToken', xAuthToken=token), user_id,
                      ex=int(cfg['_WEB_AUTH_EXPIRES']))
            self.ok({'xAuthToken': token})

    httpd = ThreadingHTTPServer((cfg['WEB_BIND'], int(cfg['WEB_PORT'])), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    log.warning('Server listening on %s:%s (version %s)', cfg['WEB_BIND'], cfg['WEB_PORT'], C.VERSION)

    interval = int(cfg['_RESTART_FLAG_CHECK_INTERVAL'])
    last_hb = 0
    while True:
        time.sleep(interval)
        try:
            with r_lock:
                if C.restart_flag_set(cfg, r, 'restartAllServers'):
                    log.warning('Restart flag set, exiting with 8')
                    httpd.server_close()
                    return C.EXIT_RESTART
                if time.time() - last_hb >= int(cfg['_MONITOR_REPORT_INTERVAL']):
                    C.write_service_heartbeat(cfg, r, 'server')
                    last_hb = time.time()
        except Exception as e:
            log.error('Redis error: %s', e)
            return C.EXIT_RESTART


if __name__ == '__main__':
    sys.stdout.flush()
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    sys.exit(main())
