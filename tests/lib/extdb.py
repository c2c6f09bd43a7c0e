"""A private MariaDB server on the host, for tests that need an "external" MySQL.

Reusable by any suite (backup, migration, ...): each instance owns a base directory and a TCP port.

    db = ExtDB(base='/tmp/dfft/extdb', port=13306, root_password='...')
    db.start()
    db.create_database('dataflux_func')
    db.create_user('func', 'pw', database='dataflux_func', grants=('ALL PRIVILEGES',))
    rows = db.query('SELECT 1')          # list of tuples of str/None
    db.stop()

Administration goes through the UNIX socket as the OS root user (unix_socket authentication), so no
password is ever placed on a command line. Clients of the server under test connect over TCP to
127.0.0.1:<port> with the users created here ('root'@'127.0.0.1' gets root_password).
"""
import os
import shutil
import signal
import subprocess
import time

MARIADBD = shutil.which('mariadbd') or '/usr/sbin/mariadbd'
INSTALL_DB = shutil.which('mariadb-install-db') or shutil.which('mysql_install_db') or 'mariadb-install-db'
CLIENT = shutil.which('mariadb') or shutil.which('mysql') or 'mariadb'


def _ident(name):
    return '`%s`' % str(name).replace('`', '``')


def _lit(value):
    if value is None:
        return 'NULL'
    text = str(value).replace('\\', '\\\\').replace("'", "\\'")
    return "'%s'" % text


class ExtDBError(RuntimeError):
    pass


class ExtDB(object):
    def __init__(self, base='/tmp/dfft/extdb', port=13306, root_password='dfft-Root#pw1', extra_args=()):
        self.base = base
        self.port = int(port)
        self.root_password = root_password
        self.extra_args = list(extra_args)
        self.datadir = os.path.join(base, 'data')
        self.rundir = os.path.join(base, 'run')
        self.socket = os.path.join(self.rundir, 'mysqld.sock')
        self.pidfile = os.path.join(self.rundir, 'mysqld.pid')
        self.logfile = os.path.join(base, 'mysqld.log')
        self.proc = None

    # --- lifecycle -------------------------------------------------------------------
    def _chown_mysql(self, path):
        subprocess.run(['chown', '-R', 'mysql:mysql', path], check=True)

    def initialized(self):
        return os.path.isdir(os.path.join(self.datadir, 'mysql'))

    def running(self):
        pid = self.pid()
        if not pid:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True

    def pid(self):
        if self.proc is not None and self.proc.poll() is None:
            return self.proc.pid
        try:
            with open(self.pidfile) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def start(self, port=None, root_password=None, timeout=90):
        """Initialise (first time) and start mariadbd; set the root password for TCP clients."""
        if port is not None:
            self.port = int(port)
        if root_password is not None:
            self.root_password = root_password
        os.makedirs(self.rundir, exist_ok=True)
        os.makedirs(self.datadir, exist_ok=True)
        self._chown_mysql(self.base)
        if self.running():
            self._wait_ready(timeout)
            self._setup_root()
            return self
        if not self.initialized():
            proc = subprocess.run([INSTALL_DB, '--user=mysql', '--datadir=%s' % self.datadir,
                                   '--auth-root-authentication-method=socket', '--skip-test-db'],
                                  check=False, capture_output=True, text=True)
            if proc.returncode != 0:
                raise ExtDBError('mariadb-install-db failed: %s' % proc.stderr[-2000:])
        log = open(self.logfile, 'ab')
        argv = [MARIADBD, '--no-defaults', '--user=mysql', '--datadir=%s' % self.datadir,
                '--socket=%s' % self.socket, '--pid-file=%s' % self.pidfile, '--port=%d' % self.port,
                '--bind-address=127.0.0.1', '--skip-name-resolve', '--skip-log-bin',
                '--character-set-server=utf8mb4', '--collation-server=utf8mb4_unicode_ci',
                '--max-allowed-packet=256M', '--innodb-buffer-pool-size=512M',
                '--innodb-log-file-size=256M'] + self.extra_args
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        self._wait_ready(timeout)
        self._setup_root()
        return self

    def _wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ExtDBError('mariadbd exited with %s; see %s' % (self.proc.returncode, self.logfile))
            if os.path.exists(self.socket):
                rc = subprocess.run([CLIENT, '--no-defaults', '--socket=%s' % self.socket, '-uroot',
                                     '-e', 'SELECT 1'], check=False, capture_output=True).returncode
                if rc == 0:
                    return
            time.sleep(0.3)
        raise ExtDBError('mariadbd did not become ready within %ss; see %s' % (timeout, self.logfile))

    def _setup_root(self):
        pw = _lit(self.root_password)
        self.admin("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY %s;"
                   "ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY %s;"
                   "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" % (pw, pw))

    def stop(self, timeout=60):
        pid = self.pid()
        if not pid:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.pid == pid:
                if self.proc.poll() is not None:
                    break
            else:
                try:
                    os.kill(pid, 0)
                except OSError:
                    break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
        self.proc = None

    def kill(self):
        """SIGKILL the server (simulates a crash / database stopped mid-run)."""
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
            if self.proc is not None:
                self.proc.wait()
            self.proc = None

    def destroy(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    # --- administration (socket, unix_socket auth, no password anywhere) --------------
    def admin(self, sql, database=None):
        argv = [CLIENT, '--no-defaults', '--socket=%s' % self.socket, '-uroot', '--batch',
                '--skip-column-names', '--default-character-set=utf8mb4']
        if database:
            argv.append(database)
        proc = subprocess.run(argv, check=False, input=sql.encode('utf-8'), capture_output=True)
        if proc.returncode != 0:
            raise ExtDBError('SQL failed (%s): %s' % (proc.returncode, proc.stderr.decode('utf-8', 'replace')))
        return proc.stdout.decode('utf-8', 'replace')

    def query(self, sql, database=None):
        out = self.admin(sql, database)
        rows = []
        for line in out.splitlines():
            rows.append(tuple(None if v == 'NULL' else v for v in line.split('\t')))
        return rows

    def create_database(self, name, drop=False):
        sql = ''
        if drop:
            sql += 'DROP DATABASE IF EXISTS %s;' % _ident(name)
        sql += ('CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;'
                % _ident(name))
        self.admin(sql)

    def drop_database(self, name):
        self.admin('DROP DATABASE IF EXISTS %s;' % _ident(name))

    def create_user(self, user, password, database=None, grants=('ALL PRIVILEGES',), global_grants=(),
                    host='127.0.0.1', recreate=True):
        """Create user@host; grants on database.*, global_grants on *.* (e.g. RELOAD, PROCESS)."""
        who = '%s@%s' % (_lit(user), _lit(host))
        sql = ''
        if recreate:
            sql += 'DROP USER IF EXISTS %s;' % who
        sql += 'CREATE USER %s IDENTIFIED BY %s;' % (who, _lit(password))
        if database and grants:
            sql += 'GRANT %s ON %s.* TO %s;' % (', '.join(grants), _ident(database), who)
        if global_grants:
            sql += 'GRANT %s ON *.* TO %s;' % (', '.join(global_grants), who)
        self.admin(sql)

    def drop_user(self, user, host='127.0.0.1'):
        self.admin('DROP USER IF EXISTS %s@%s;' % (_lit(user), _lit(host)))

    def client_config(self, user='root', password=None, database='dataflux_func'):
        """MYSQL_* keys of a DataFlux Func user-config.yaml pointing at this server."""
        return {'MYSQL_HOST': '127.0.0.1', 'MYSQL_PORT': self.port, 'MYSQL_USER': user,
                'MYSQL_PASSWORD': self.root_password if password is None and user == 'root' else password,
                'MYSQL_DATABASE': database}
