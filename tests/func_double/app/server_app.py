"""Stand-in of server/app.js: the HTTP API subset ops tooling uses. Exit 8 = restart requested."""
import json
import os
import platform
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dff_common as C
import server_api as A

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
                # JSON string "DFF<32 upper-case hex>" (server/appInit.js)
                C.set_system_setting(cur, 'DATAFLUX_FUNC_ID', json.dumps('DFF' + uuid.uuid4().hex.upper()))
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

    def find_user(username):
        conn = C.mysql_connect(cfg)
        try:
            with conn.cursor() as cur:
                cur.execute('SELECT `id`,`username`,`passwordHash`,`name`,`email`,`isDisabled` FROM `wat_main_user` '
                            'WHERE `username`=%s', (username,))
                row = cur.fetchone()
        finally:
            conn.close()
        if not row:
            return None
        return dict(zip(('id', 'username', 'passwordHash', 'name', 'email', 'isDisabled'), row))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, fmt, *args):
            log.debug('http %s', fmt % args)

        def send(self, code, body=None, headers=None, ctype='application/json; charset=utf-8'):
            if body is None:
                data = b''
            elif isinstance(body, str):
                data = body.encode('utf-8')
            else:
                data = json.dumps(body, ensure_ascii=False).encode('utf-8')
            self.send_response(code)
            self.send_header(cfg['_WEB_SERVER_VERSION_HEADER'], C.VERSION)
            self.send_header(cfg['_WEB_SERVER_RELEASE_TIMESTAMP_HEADER'], str(C.IMAGE_INFO['RELEASE_TIMESTAMP']))
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def req_info(self):
            """What server/utils/responseInitialize.js appends to every JSON answer."""
            now = time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime())
            return {'traceId': 'TRACE-' + str(uuid.uuid4()).upper(), 'clientTime': None, 'reqTime': now,
                    'respTime': now, 'reqCost': 0}

        def ok(self, data=None):
            self.send(200, dict({'ok': True, 'error': 200, 'message': '', 'data': data}, **self.req_info()))

        def fail(self, err, req_body=None):
            self.send(err.status, dict(err.body(self.command, self.path, req_body), **self.req_info()))

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
                    return A.token_valid(cfg, r, x)
            return False

        def not_found(self):
            self.fail(A.ApiError('EClientNotFound', 'No such router. Please make sure that the METHOD is correct and '
                                 'no spelling missing in the URL', {'method': self.command, 'url': self.path}))

        def do_GET(self):
            path = self.path.split('?')[0]
            if path == '/':
                self.send(302, None, {'Location': '/client-app'})
            elif path == '/api/v1/do/ping':
                self.ok('pong')
            elif path == '/api/v1/image-info':
                self.ok({k: v for k, v in C.IMAGE_INFO.items() if k != 'BROKEN'})
            elif path == '/api/v1/system-info':
                self.ok({'VERSION': C.VERSION, 'EDITION': C.IMAGE_INFO['EDITION'],
                         'RELEASE_TIMESTAMP': C.IMAGE_INFO['RELEASE_TIMESTAMP'],
                         'UPGRADE_DB_SEQ_LAST': C.UPGRADE_DB_SEQ_LAST, 'PYTHON_VERSION': platform.python_version(),
                         'HOSTNAME': socket.gethostname(), 'WEB_BASE_URL': cfg.get('WEB_BASE_URL')})
            elif path == '/api/v1/captcha/do/get':
                raw_query = urllib.parse.urlsplit(self.path).query
                query = {k: v[0] for k, v in urllib.parse.parse_qs(raw_query, keep_blank_values=True).items()}
                try:
                    with r_lock:
                        svg = A.get_captcha(cfg, r, query)
                except A.ApiError as e:
                    self.fail(e)
                    return
                self.send(200, svg, ctype='image/svg+xml; charset=utf-8')
            elif path.startswith('/client-app'):
                self.send(200, {'app': 'client-app stand-in'})
            else:
                self.not_found()

        def do_POST(self):
            path = self.path.split('?')[0]
            try:
                body = self.body()
            except ValueError:
                self.fail(A.ApiError('EClientBadRequest', 'Invalid JSON'))
                return
            if path == '/api/v1/auth/do/sign-in':
                try:
                    with r_lock:
                        data = A.sign_in(cfg, r, body, find_user)
                except A.ApiError as e:
                    self.fail(e, body)
                    return
                except Exception as e:
                    log.error('Sign-in failed: %s: %s', type(e).__name__, e)
                    self.fail(A.ApiError('ESys', 'A System error occured. Please report this response to the '
                                         'administrator'), body)
                    return
                self.ok(data)
            elif path.startswith('/api/v1/temporary-flags/') and path.endswith('/do/set'):
                flag = path.split('/')[4]
                if not self.authed():
                    self.fail(A.ApiError('EUserAuth', 'Not signed in'))
                elif flag not in TEMP_FLAGS:
                    self.not_found()
                else:
                    with r_lock:
                        r.set(C.key(cfg, 'global', 'tempFlag', flag), json.dumps(int(time.time())))
                    self.ok()
            elif path == '/api/v1/debug/worker-queues/do/clear':
                if not self.authed():
                    self.fail(A.ApiError('EUserAuth', 'Not signed in'))
                    return
                with r_lock:
                    for q in range(int(cfg['_WORKER_QUEUE_COUNT'])):
                        r.delete(C.key(cfg, 'worker', 'workerQueue', str(q)))
                self.ok()
            else:
                self.not_found()

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
