"""A private redis-server on the host, for tests and benchmarks that need an "external" Redis.

Reusable by any suite: each instance owns a base directory and a TCP port.

    r = ExtRedis(base='/tmp/dfft/ops-redis', port=16379, password='s3cret pw')
    r.start()
    r.cli('LLEN', 'key', db=5)        # -> reply text (redis-cli raw output)
    r.client(db=5)                    # redis-py client (test side only)
    r.stop()

The password goes into a 0600 config file (never argv), and redis-cli gets it through REDISCLI_AUTH
(environment, not argv). Persistence is off (--save '' --appendonly no). cluster=True starts the server
with --cluster-enabled yes (no slots assigned: every key command fails with CLUSTERDOWN, SELECT n>0 fails).
"""
import os
import shutil
import signal
import socket
import subprocess
import time

REDIS_SERVER = shutil.which('redis-server') or '/usr/bin/redis-server'
REDIS_CLI = shutil.which('redis-cli') or '/usr/bin/redis-cli'


class ExtRedis(object):
    def __init__(self, base='/tmp/dfft/ops-redis', port=16379, password=None, cluster=False, extra_config=None):
        self.base = base
        self.port = int(port)
        self.password = password
        self.cluster = cluster
        self.extra_config = dict(extra_config or {})
        self.conf = os.path.join(base, 'redis.conf')
        self.pidfile = os.path.join(base, 'redis.pid')
        self.logfile = os.path.join(base, 'redis.log')
        self.proc = None

    def _config_text(self):
        lines = [
            'port %d' % self.port,
            'bind 127.0.0.1',
            'save ""',
            'appendonly no',
            'dir %s' % self.base,
            'pidfile %s' % self.pidfile,
            'logfile %s' % self.logfile,
            'daemonize no',
        ]
        if self.password:
            lines.append('requirepass "%s"' % self.password.replace('\\', '\\\\').replace('"', '\\"'))
        if self.cluster:
            lines += ['cluster-enabled yes', 'cluster-config-file %s' % os.path.join(self.base, 'nodes.conf')]
        for key, value in self.extra_config.items():
            lines.append('%s %s' % (key, value))
        return '\n'.join(lines) + '\n'

    def start(self, timeout=15):
        if self.running():
            return self
        os.makedirs(self.base, exist_ok=True)
        for stale in ('nodes.conf', 'dump.rdb'):
            path = os.path.join(self.base, stale)
            if os.path.exists(path):
                os.unlink(path)
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as handle:
            handle.write(self._config_text())
        os.chmod(self.conf, 0o600)
        self.proc = subprocess.Popen([REDIS_SERVER, self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('redis-server on port %d exited: %s' % (self.port, self.log_tail()))
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('redis-server on port %d did not start: %s' % (self.port, self.log_tail()))

    def log_tail(self, n=20):
        try:
            with open(self.logfile) as handle:
                return ''.join(handle.readlines()[-n:])
        except OSError:
            return ''

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    # --- access (test side) ----------------------------------------------------------
    def cli(self, *args, db=0, stdin=None):
        env = dict(os.environ)
        if self.password:
            env['REDISCLI_AUTH'] = self.password
        argv = [REDIS_CLI, '-p', str(self.port), '-n', str(db)] + [str(a) for a in args]
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, timeout=120,
                              check=False)
        if proc.returncode != 0:
            raise RuntimeError('redis-cli %s failed: %s' % (args[:1], proc.stderr))
        return proc.stdout.strip()

    def client(self, db=0):
        import redis  # test dependency only
        return redis.Redis(host='127.0.0.1', port=self.port, db=db, password=self.password,
                           decode_responses=True)

    def params(self, db=5):
        """Module options pointing at this server (direct transport)."""
        out = dict(redis_transport='direct', redis_host='127.0.0.1', redis_port=self.port, redis_database=db)
        if self.password:
            out['redis_password'] = self.password
        return out

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
