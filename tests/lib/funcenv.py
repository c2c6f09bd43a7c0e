"""Deploy a running DataFlux Func test installation (func double + MariaDB + Redis) WITHOUT the install role.

    env = FuncEnv(stack='dfft-x', port=18081, install_dir='/tmp/dfft/x', version='5.1.7')
    env.up()                  # layout, user-config.yaml (0600), docker-stack.yaml, deploy, headless setup, ping 200
    env.mysql('SELECT 1')     # stdout of the mysql client (-N -B), password never on argv
    env.mysql_rows('SELECT id, value FROM wat_main_system_setting')   # [('UPGRADE_DB_SEQ', '29'), ...]
    env.redis('LLEN', 'DataFluxFunc-worker#workerQueue@0')             # str
    env.down()                # stack rm, wait until containers + networks are gone, remove install_dir

The layout mirrors a portable install (install_dir/{data/{resources/extra-python-packages,logs,sqldump},
mysql,redis}, docker-stack.yaml). Stack services mirror the upstream file, with the settings this CI host
needs: deploy.endpoint_mode dnsrr, host-mode published port, init: true, short stop_grace_period.
"""
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import yaml

DOCKER = shutil.which('docker') or 'docker'
FUNC_IMAGE = 'dff-test/dataflux-func'           # the func double (tests/func_double)
REAL_IMAGE = 'dff-real/dataflux-func'           # the real product, built from source by tests/images/real/build
MYSQL_IMAGE = 'dff-test/mariadb:10.11'
REDIS_IMAGE = 'dff-test/redis:7.0'
MYSQL_COMMAND = ('--tls-version=TLSv1.2 --innodb-large-prefix=on --character-set-server=utf8mb4 '
                 '--collation-server=utf8mb4_unicode_ci --performance-schema=off --table-open-cache=400')

# (service, command, labels, extra env) per worker layout
WORKER_LAYOUTS = {
    'default': [
        ('worker-0', './run-worker-by-queue.sh 0 4 7 8 9',
         ['worker-0', 'queue-0', 'system-task', 'queue-4', 'queue-7', 'queue-8', 'queue-9', 'reserved-for-guance'],
         {'DFF__WORKER_CONCURRENCY': '2'}),
        ('worker-1', './run-worker-by-queue.sh 1', ['worker-1', 'queue-1', 'user-task-general'], {}),
        ('worker-2', './run-worker-by-queue.sh 2', ['worker-2', 'queue-2', 'user-task-cron-job'], {}),
        ('worker-3', './run-worker-by-queue.sh 3', ['worker-3', 'queue-3', 'user-task-async-api'], {}),
        ('worker-5', './run-worker-by-queue.sh 5', ['worker-5', 'queue-5', 'debugger'],
         {'DFF__WORKER_CONCURRENCY': '2'}),
        ('worker-6', './run-worker-by-queue.sh 6', ['worker-6', 'queue-6', 'user-task-sub'], {}),
    ],
    'mini': [('worker', './run-worker.sh', ['worker'], {})],
    'legacy': [
        ('worker-0', './run-worker-by-queue.sh 0', ['worker-0'], {'DFF__WORKER_CONCURRENCY': '2'}),
        ('worker-1-6', './run-worker-by-queue.sh 1 2 3 4 5 6', ['worker-1-6'], {}),
        ('worker-7', './run-worker-by-queue.sh 7', ['worker-7'], {'DFF__WORKER_CONCURRENCY': '2'}),
        ('worker-8-9', './run-worker-by-queue.sh 8 9', ['worker-8-9'], {}),
    ],
}


def docker(*args, input=None, check=True, timeout=120):
    proc = subprocess.run([DOCKER, *args], check=False, input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError('docker %s failed (rc=%s): %s' % (args[0], proc.returncode, proc.stderr.strip()))
    return proc


def remove_stack(stack, *paths, timeout=180):
    """Remove a test's stack, wait until its containers are gone, then remove paths (files or directories)."""
    docker('stack', 'rm', stack, check=False)
    wait_for(lambda: not docker('ps', '-aq', '--filter', 'label=com.docker.stack.namespace=%s' % stack).stdout.strip(),
             timeout, what='the containers of stack %s to go' % stack)
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)


def wait_for(predicate, timeout, interval=1.0, what='condition'):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # keep polling
            last = e
        time.sleep(interval)
    raise TimeoutError('timed out after %ss waiting for %s (last: %r)' % (timeout, what, last))


class FuncEnv:
    def __init__(self, stack='dfft-x', port=18081, install_dir='/tmp/dfft/x', version='5.1.7', mysql=True,
                 redis=True, worker_layout='default', image=None, admin_username='admin', admin_password=None,
                 user_config=None, setup=True, mysql_image=MYSQL_IMAGE, redis_image=REDIS_IMAGE, real=False):
        if worker_layout not in WORKER_LAYOUTS:
            raise ValueError('worker_layout must be one of %s' % sorted(WORKER_LAYOUTS))
        self.stack = stack
        self.port = int(port)
        self.install_dir = install_dir
        self.version = version
        self.real = real
        self.image = image or '%s:%s' % (REAL_IMAGE if real else FUNC_IMAGE, version)
        self.with_mysql = mysql
        self.with_redis = redis
        self.worker_layout = worker_layout
        self.mysql_image = mysql_image
        self.redis_image = redis_image
        self.admin_username = admin_username
        self.admin_password = admin_password or secrets.token_hex(8)
        self.secret = secrets.token_hex(8)
        self.mysql_password = secrets.token_hex(8)
        self.user_config_extra = dict(user_config or {})
        self.do_setup = setup
        self.base_url = 'http://127.0.0.1:%s' % self.port
        self.data_dir = os.path.join(install_dir, 'data')
        self.stack_file = os.path.join(install_dir, 'docker-stack.yaml')
        self.user_config_path = os.path.join(self.data_dir, 'user-config.yaml')

    # ------------------------------------------------------------------------------------------ files
    def user_config(self):
        cfg = {
            'SECRET': self.secret,
            'MYSQL_HOST': 'mysql', 'MYSQL_PORT': 3306, 'MYSQL_USER': 'root', 'MYSQL_PASSWORD': self.mysql_password,
            'MYSQL_DATABASE': 'dataflux_func',
            'REDIS_HOST': 'redis', 'REDIS_PORT': 6379, 'REDIS_DATABASE': 5, 'REDIS_PASSWORD': '',
            'REDIS_USE_TLS': False,
        }
        cfg.update(self.user_config_extra)
        return cfg

    def stack_config(self):
        func_common = {
            'image': self.image,
            'init': True,
            'stop_grace_period': '3s',
            'volumes': ['%s:/data' % self.data_dir],
            'networks': ['datafluxfunc'],
            'logging': {'driver': 'json-file', 'options': {'max-size': '10m', 'max-file': '10'}},
        }
        services = {}
        if self.with_mysql:
            services['mysql'] = {
                'image': self.mysql_image, 'init': True, 'stop_grace_period': '10s',
                'labels': ['mysql'],
                'logging': {'driver': 'json-file', 'options': {'max-size': '1m', 'max-file': '10'}},
                'networks': ['datafluxfunc'],
                'volumes': ['%s:/var/lib/mysql' % os.path.join(self.install_dir, 'mysql')],
                'environment': {'MYSQL_ROOT_PASSWORD': self.mysql_password, 'MYSQL_DATABASE': 'dataflux_func'},
                'command': MYSQL_COMMAND,
                'deploy': {'endpoint_mode': 'dnsrr'},
            }
        if self.with_redis:
            services['redis'] = {
                'image': self.redis_image, 'init': True, 'stop_grace_period': '3s',
                'labels': ['redis'],
                'logging': {'driver': 'json-file', 'options': {'max-size': '1m', 'max-file': '10'}},
                'networks': ['datafluxfunc'],
                'volumes': ['%s:/data' % os.path.join(self.install_dir, 'redis')],
                'command': '--stop-writes-on-bgsave-error yes',
                'deploy': {'endpoint_mode': 'dnsrr'},
            }
        for name, command, labels, env in WORKER_LAYOUTS[self.worker_layout]:
            svc = dict(func_common, labels=labels, command=command,
                       environment=dict({'HOST_HOSTNAME': '{{.Node.Hostname}}'}, **env),
                       deploy={'endpoint_mode': 'dnsrr', 'replicas': 2 if name == 'worker' else 1})
            services[name] = svc
        services['beat'] = dict(func_common, labels=['beat'], command='./run-beat.sh',
                                environment={'HOST_HOSTNAME': '{{.Node.Hostname}}'},
                                deploy={'endpoint_mode': 'dnsrr'})
        services['server'] = dict(func_common, labels=['server'], command='./run-server.sh',
                                  environment={'HOST_HOSTNAME': '{{.Node.Hostname}}'},
                                  deploy={'endpoint_mode': 'dnsrr', 'replicas': 1},
                                  ports=[{'target': 8088, 'published': self.port, 'mode': 'host'}])
        return {'version': '3.7', 'services': services,
                'networks': {'datafluxfunc': {'driver': 'overlay'}}}

    def write_files(self):
        for sub in ('data/resources/extra-python-packages', 'data/logs', 'data/sqldump', 'mysql', 'redis'):
            os.makedirs(os.path.join(self.install_dir, sub), exist_ok=True)
        fd = os.open(self.user_config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            yaml.safe_dump(self.user_config(), f, default_flow_style=False)
        os.chmod(self.user_config_path, 0o600)
        with open(self.stack_file, 'w') as f:
            yaml.safe_dump(self.stack_config(), f, default_flow_style=False, sort_keys=False)

    # ------------------------------------------------------------------------------------------ lifecycle
    def deploy(self):
        docker('stack', 'deploy', '--resolve-image', 'never', '-c', self.stack_file, self.stack, timeout=180)

    def up(self, timeout=180):
        self.down(remove_dir=True)
        self.write_files()
        self.deploy()
        if self.do_setup:
            self.setup(timeout=timeout)
            self.wait_ping(timeout=timeout)
        return self

    def setup(self, timeout=180):
        """Headless first-time setup through POST /setup (retried until MySQL/Redis are ready)."""
        wait_for(lambda: self.http('GET', '/')[0] == 200, timeout, what='setup page of %s' % self.stack)
        # the setup page posts every field of its form (connection settings included: the product checks the
        # posted values, not the file's) plus the admin; so does this
        body = {'userConfig': dict(self.user_config(), ADMIN_USERNAME=self.admin_username,
                                   ADMIN_PASSWORD=self.admin_password, ADMIN_PASSWORD_REPEAT=self.admin_password)}
        last = []

        def post():
            code, data, _x = self.http('POST', '/setup', body)
            last[:] = [code, data]
            return code == 200
        wait_for(post, timeout, interval=2, what='POST /setup of %s (%r)' % (self.stack, last))

    def wait_ping(self, timeout=120):
        return wait_for(lambda: self.ping() == 200, timeout, what='ping 200 of %s' % self.stack)

    def ping(self):
        try:
            return self.http('GET', '/api/v1/do/ping')[0]
        except OSError:
            return None

    def down(self, remove_dir=True, timeout=240):
        if docker('stack', 'ls', '--format', '{{.Name}}', check=False).stdout.split().count(self.stack):
            docker('stack', 'rm', self.stack, check=False)
        label = 'label=com.docker.stack.namespace=%s' % self.stack

        def leftovers():
            ctrs = docker('ps', '-aq', '--filter', label, check=False).stdout.split()
            nets = docker('network', 'ls', '-q', '--filter', label, check=False).stdout.split()
            return ctrs, nets

        def gone():
            ctrs, nets = leftovers()
            return not ctrs and not nets
        try:
            wait_for(gone, timeout / 2, what='removal of stack %s' % self.stack)
        except TimeoutError:
            # a loaded dockerd (real images loading into DinD hosts next door) can take minutes to reap a
            # stack; the test is over, so what is left is removed by force, then waited for again
            ctrs, nets = leftovers()
            if ctrs:
                docker('rm', '-f', '-v', *ctrs, check=False, timeout=180)
            if nets:
                docker('network', 'rm', *nets, check=False)
            wait_for(gone, timeout / 2, what='forced removal of stack %s' % self.stack)
        if remove_dir and os.path.isdir(self.install_dir):
            shutil.rmtree(self.install_dir)

    # ------------------------------------------------------------------------------------------ helpers
    def http(self, method, path, body=None, headers=None, timeout=10):
        """(status, parsed JSON or text, headers) without following redirects."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header('Content-Type', 'application/json')
        for k, v in (headers or {}).items():
            req.add_header(k, v)

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **kw):
                return None
        opener = urllib.request.build_opener(NoRedirect)
        try:
            resp = opener.open(req, timeout=timeout)
            status, raw, hdrs = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode('utf-8', 'replace')
        return status, parsed, hdrs

    def captcha(self, category='signIn'):
        """(captchaToken, code): fetch a captcha as the web client does (a random token of the client's choosing)
        and read its code back where the product keeps it, the Redis key
        DataFluxFunc-server#captcha@<category>:captchaToken:<token>: (server/utils/captcha.js)."""
        token = secrets.token_hex(12)
        code, _body, _h = self.http('GET', '/api/v1/captcha/do/get?captchaCategory=%s&captchaToken=%s'
                                    % (category, token))
        if code != 200:
            raise RuntimeError('GET captcha answered %s' % code)
        value = self.redis('GET', 'DataFluxFunc-server#captcha@%s:captchaToken:%s:' % (category, token))
        if not value:
            raise RuntimeError('no captcha code in Redis for token %s' % token)
        return token, value

    def sign_in(self, username=None, password=None, captcha=True):
        """POST /api/v1/auth/do/sign-in through the captcha flow (captcha=False sends none)."""
        body = {'signIn': {'username': username or self.admin_username,
                           'password': self.admin_password if password is None else password}}
        if captcha:
            body['captchaToken'], body['captcha'] = self.captcha()
        return self.http('POST', '/api/v1/auth/do/sign-in', body)

    def sign_in_ok(self, username=None, password=None):
        """True when the credentials sign in (200 with an xAuthToken); False for a wrong username or password
        (the product's EUserPassword). Anything else raises."""
        code, body, _h = self.sign_in(username, password)
        if code == 200 and (body.get('data') or {}).get('xAuthToken'):
            return True
        if isinstance(body, dict) and body.get('reason') == 'EUserPassword':
            return False
        raise RuntimeError('sign-in answered %s: %r' % (code, body))

    def container(self, service, timeout=60):
        """Id of a running container of <stack>_<service>."""
        def find():
            out = docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=%s_%s' % (self.stack, service),
                         '--filter', 'status=running', check=False).stdout.split()
            return out[0] if out else None
        return wait_for(find, timeout, what='running container of %s_%s' % (self.stack, service))

    def exec(self, service, argv, input=None, check=True, timeout=120):
        """Run argv in a container of the service; returns CompletedProcess (text)."""
        return docker('exec', '-i', self.container(service), *argv, input=input, check=check, timeout=timeout)

    def mysql(self, sql, database='dataflux_func', check=True):
        """Run SQL (stdin) with the mysql client in the mysql container; returns stdout (-N -B format).

        The password is taken from the container's MYSQL_ROOT_PASSWORD env and written by the shell builtin
        printf into a 0600 option file (--defaults-extra-file), so it never appears on any argv."""
        script = ('umask 077; f=$(mktemp); printf "[client]\\nuser=root\\npassword=\\"%s\\"\\n" '
                  '"$MYSQL_ROOT_PASSWORD" > "$f"; mysql --defaults-extra-file="$f" -N -B ' +
                  (database or '') + '; rc=$?; rm -f "$f"; exit $rc')
        proc = self.exec('mysql', ['sh', '-c', script], input=sql, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError('mysql failed: %s' % proc.stderr.strip())
        return proc.stdout

    def mysql_rows(self, sql, database='dataflux_func'):
        return [tuple(None if c == 'NULL' else c for c in line.split('\t'))
                for line in self.mysql(sql, database).splitlines() if line != '']

    def wait_mysql(self, timeout=120):
        return wait_for(lambda: self.mysql('SELECT 1', check=False).strip() == '1', timeout, what='mysql')

    def redis(self, *args, db=5):
        """redis-cli in the redis container against REDIS_DATABASE; returns stripped stdout."""
        proc = self.exec('redis', ['redis-cli', '-n', str(db), *[str(a) for a in args]])
        return proc.stdout.strip()

    def admin_tool(self, *args, input=None, service='server'):
        """python admin-tool.py ARGS in a func container; returns CompletedProcess (rc is always 0)."""
        return self.exec(service, ['python', 'admin-tool.py', *args], input=input, check=False)

    def config(self, key, service='server'):
        """Effective config value in a func container (python _config.py KEY)."""
        return self.exec(service, ['python', '_config.py', key]).stdout.strip()

    def push_task(self, name, kwargs=None, queue=0):
        task = {'id': 'task-' + secrets.token_hex(8), 'name': name, 'kwargs': kwargs or {},
                'triggerTime': int(time.time()), 'queue': queue}
        self.redis('LPUSH', 'DataFluxFunc-worker#workerQueue@%s' % queue, json.dumps(task))
        return task['id']

    def services(self):
        out = docker('stack', 'services', '--format', '{{.Name}} {{.Replicas}}', self.stack, check=False).stdout
        return dict(line.split(' ', 1) for line in out.splitlines() if line)

    def set_image(self, image):
        """Rewrite the Func image in the stack file (as run-portable's upgrade sed) and redeploy."""
        self.image = image
        cfg = yaml.safe_load(open(self.stack_file))
        for name, svc in cfg['services'].items():
            if name not in ('mysql', 'redis'):
                svc['image'] = image
        with open(self.stack_file, 'w') as f:
            yaml.safe_dump(cfg, f, default_flow_style=False, sort_keys=False)
        self.deploy()

    # ------------------------------------------------------------------------------------------ contract helpers
    def setup_user_config(self, **overrides):
        """The userConfig a complete POST /setup carries, as the setup page (server/views/setup.ejs) and the install
        role send it: SECRET, the MySQL and Redis connection and the admin. The product connects with the POSTED
        values only (server/setup.js _doSetup), so a post of ADMIN_* alone fails there. None drops a key."""
        cfg = self.user_config()
        body = {k: cfg[k] for k in ('SECRET', 'MYSQL_HOST', 'MYSQL_PORT', 'MYSQL_USER', 'MYSQL_PASSWORD',
                                    'MYSQL_DATABASE', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_DATABASE', 'REDIS_PASSWORD',
                                    'REDIS_USE_TLS')}
        body.update({'ADMIN_USERNAME': self.admin_username, 'ADMIN_PASSWORD': self.admin_password,
                     'ADMIN_PASSWORD_REPEAT': self.admin_password})
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    def redis_hash(self, key, db=5):
        """HGETALL of a Redis hash as a dict (field -> value)."""
        lines = self.redis('HGETALL', key, db=db).splitlines()
        return dict(zip(lines[0::2], lines[1::2]))
