# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MySQL / MariaDB access for dataflux.func with two transports.

* ``container``: ``docker exec -i <mysql container> sh -c <script>``. The script reads a client option file of
  an exact byte count from stdin (``dd bs=1``, which never reads past it) into a 0600 temp file, runs
  ``mysql``/``mysqldump --defaults-extra-file=<file>`` (the option file first), removes the file and keeps the
  client's exit code. The rest of stdin belongs to the client (SQL for ``mysql``).
* ``direct``: the host's ``mysql``/``mysqldump`` (or ``mariadb``/``mariadb-dump``) with a 0600 option file in a
  private temp directory.

Passwords never go on any argv (host or container) and no shell string with secrets is ever built on the
host: every command is an argv list. Every exit code of a pipeline is checked.
"""


import os
import re
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError, redact_text
from ansible_collections.dataflux.func.plugins.module_utils._func_docker import stack_service_transport
from ansible_collections.dataflux.func.plugins.module_utils._func_sqldump import (
    CHUNK, TRAILER, DecompressedReader, DumpScanner, InsertMerger, write_all, compressor_argv, detect_format,
    find_binary, gzip_compressor, looks_like_mysqldump, zip_sql_member)

BUILTIN_SERVICE_HOST = 'mysql'
FOLLOW_CHUNK = 4 * 1024 * 1024
SYNC_STEP = 64 * 1024 * 1024

# Privileges the maintenance guide (section 7) lists for backups with mysqldump.
BACKUP_PRIVILEGES = ('SELECT', 'RELOAD', 'LOCK TABLES', 'REPLICATION CLIENT', 'SHOW VIEW', 'PROCESS')
_GLOBAL_ONLY = ('RELOAD', 'REPLICATION CLIENT', 'PROCESS')
# MariaDB >= 10.5 shows REPLICATION CLIENT as BINLOG MONITOR (same privilege bit).
_PRIV_ALIASES = {'BINLOG MONITOR': 'REPLICATION CLIENT'}

SERVER_VARIABLES = ('version', 'version_comment', 'character_set_server', 'collation_server',
                    'innodb_large_prefix', 'max_allowed_packet', 'time_zone', 'system_time_zone',
                    'lower_case_table_names', 'sql_mode', 'innodb_flush_log_at_trx_commit', 'log_bin')


# Option-file reader in the container. $1 = byte count of the option file on stdin, $2 = client program,
# the rest = its arguments. No secret is ever part of this text or of the arguments.
CONTAINER_SCRIPT = r'''umask 077
f=$(mktemp 2>/dev/null || echo /tmp/.dff-my.$$.cnf)
: > "$f" || exit 97
trap 'rm -f "$f"' EXIT
trap 'rm -f "$f"; exit 143' TERM INT HUP PIPE
n=$1; p=$2; shift 2
dd bs=1 count="$n" of="$f" 2>/dev/null
[ "$(wc -c < "$f")" -eq "$n" ] || { echo "dataflux.func: option file was not received" >&2; exit 98; }
if ! command -v "$p" >/dev/null 2>&1; then
  case "$p" in mysql) p=mariadb ;; mysqldump) p=mariadb-dump ;; esac
fi
"$p" --defaults-extra-file="$f" "$@"
rc=$?
rm -f "$f"
exit $rc
'''


TRANSPORTS = ('auto', 'container', 'direct', 'docker_run')
CLIENT_NAMES = ('mysql', 'mariadb')


class NoClientError(FuncError):
    """No way to run a MySQL client here (not the same as: the server is not reachable)."""


def mysql_argument_spec():
    return dict(
        mysql_transport=dict(type='str', default='auto', choices=list(TRANSPORTS)),
        mysql_client_image=dict(type='str'),
        mysql_service=dict(type='str', default='mysql'),
        mysql_host=dict(type='str'),
        mysql_port=dict(type='int'),
        mysql_user=dict(type='str'),
        mysql_password=dict(type='str', no_log=True),
        mysql_database=dict(type='str'),
        mysql_socket=dict(type='path'),
    )


_PLAIN_LITERAL_RE = re.compile(r'\A[A-Za-z0-9 _.,:;@#%&*+=/()\[\]{}<>!?^~|$-]*\Z')


def quote(value):
    """SQL literal (NULL for None) that means the same under every sql_mode: text of safe characters as a plain
    '...' literal, anything else (quotes, backslashes, control or non-ASCII characters) as _utf8mb4 X'<hex>',
    which neither NO_BACKSLASH_ESCAPES nor ANSI_QUOTES can change."""
    if value is None:
        return 'NULL'
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, (int, float)):
        return str(value)
    text = value.decode('utf-8') if isinstance(value, bytes) else str(value)
    if _PLAIN_LITERAL_RE.match(text):
        return "'%s'" % text
    return "_utf8mb4 X'%s'" % text.encode('utf-8').hex().upper()


def quote_ident(name):
    return '`%s`' % str(name).replace('`', '``')


def _option_value(value):
    text = str(value)
    text = text.replace('\\', '\\\\').replace('\n', '\\n').replace('\r', '\\r').replace('\t', '\\t')
    if '"' not in text:
        return '"%s"' % text
    if "'" not in text:
        return "'%s'" % text
    raise FuncError('The MySQL password contains both single and double quotes, which a MySQL option file '
                    'cannot hold. Use a password without one of them.')


def option_file_bytes(user=None, password=None, host=None, port=None, socket=None):
    lines = ['[client]']
    if user:
        lines.append('user=%s' % _option_value(user))
    if password not in (None, ''):
        lines.append('password=%s' % _option_value(password))
    if host:
        lines.append('host=%s' % _option_value(host))
    if port:
        lines.append('port=%d' % int(port))
    if socket:
        lines.append('socket=%s' % _option_value(socket))
    return ('\n'.join(lines) + '\n').encode('utf-8')


# --- grants ---------------------------------------------------------------------------------------------
_GRANT_RE = re.compile(r'^GRANT\s+(.+?)\s+ON\s+(\S+)\s+TO\s', re.IGNORECASE | re.DOTALL)


def _db_pattern_matches(pattern, database):
    pattern = pattern.strip('`')
    regex = ''
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == '\\' and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += '.*' if ch == '%' else '.' if ch == '_' else re.escape(ch)
        i += 1
    return re.match('^%s$' % regex, database) is not None


def missing_privileges(grants, database, required=BACKUP_PRIVILEGES):
    """Which of required are not granted by the SHOW GRANTS lines for database (list, in order)."""
    have_global, have_db = set(), set()
    for line in grants:
        match = _GRANT_RE.match(line.strip())
        if not match:
            continue
        privs, target = match.group(1), match.group(2)
        names = set()
        for part in re.split(r',\s*(?![^()]*\))', privs):
            name = re.sub(r'\s*\(.*\)$', '', part.strip()).upper()
            names.add(_PRIV_ALIASES.get(name, name))
        if 'ALL' in names or 'ALL PRIVILEGES' in names:
            names = set(required)
        db_part = target.split('.', 1)[0]
        if target.replace('`', '') == '*.*':
            have_global |= names
        elif db_part != '*' and target.split('.', 1)[1] == '*' and _db_pattern_matches(db_part, database):
            have_db |= names
    missing = []
    for priv in required:
        if priv in have_global:
            continue
        if priv not in _GLOBAL_ONLY and priv in have_db:
            continue
        missing.append(priv)
    return missing


def parse_xml_rows(text):
    """Rows of `mysql --xml` output (one or several result sets) as dicts; NULL -> None."""
    text = re.sub(r'<\?xml[^>]*\?>', '', text or '').strip()
    if not text:
        return []
    root = ET.fromstring('<results xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">%s</results>' % text)
    rows = []
    nil = '{http://www.w3.org/2001/XMLSchema-instance}nil'
    for row in root.iter('row'):
        item = {}
        for field in row.findall('field'):
            item[field.get('name')] = None if field.get(nil) == 'true' else (field.text or '')
        rows.append(item)
    return rows


class _Pipeline(object):
    """Processes started for one operation; all killed on error, every exit code checked."""

    def __init__(self, secrets):
        self.procs = []
        self.secrets = secrets

    def start(self, name, argv, **kwargs):
        errf = tempfile.TemporaryFile()
        kwargs.setdefault('stderr', errf)
        try:
            proc = subprocess.Popen(argv, **kwargs)
        except OSError as exc:
            errf.close()
            raise FuncError('Cannot run %s (%s): %s' % (name, argv[0], exc))
        self.procs.append((name, argv, proc, errf))
        return proc

    def kill(self):
        for _name, _argv, proc, _errf in self.procs:
            if proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass
        for _name, _argv, proc, _errf in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass

    def stderr(self, proc):
        for _name, _argv, pr, errf in self.procs:
            if pr is proc:
                errf.seek(0)
                return redact_text(errf.read().decode('utf-8', 'replace'), self.secrets)
        return ''

    def wait_all(self, what):
        failures = []
        for name, argv, proc, _errf in self.procs:
            rc = proc.wait()
            if rc != 0:
                failures.append((name, argv, rc, self.stderr(proc)))
        if failures:
            name, argv, rc, err = failures[0]
            hint = ''
            if re.search(r'errno:? 28\b|No space left on device', err, re.IGNORECASE):
                hint = ' (errno 28: no space left on the device that holds the output file)'
            raise FuncError('%s failed: %s exited with %s: %s%s'
                            % (what, name, rc, err.strip()[-2000:] or 'no error output', hint),
                            rc=rc, stderr=err[-4000:], cmd=[redact_text(a, self.secrets) for a in argv],
                            failed_commands=[{'name': f[0], 'rc': f[2], 'stderr': f[3][-2000:]}
                                             for f in failures])

    def close(self):
        for _name, _argv, _proc, errf in self.procs:
            errf.close()


# services of the product's own image that reach MySQL exactly as the server does (worker-0, worker-1-6, beat, ...)
FUNC_SIBLINGS = {'server': ('worker', 'beat')}


def client_image(docker, stack, service='mysql'):
    """An image of the installation that carries a MySQL client: the built-in MySQL service's, else the
    DataFlux Func server's (the product's image ships mysqldump for its in-app backups)."""
    for name in (service, 'server'):
        try:
            rows = docker.inspect('service', '%s_%s' % (stack, name))
        except FuncError:
            continue
        spec = ((rows or [{}])[0].get('Spec') or {}).get('TaskTemplate') or {}
        image = (spec.get('ContainerSpec') or {}).get('Image')
        if image:
            return image.split('@', 1)[0]
    return None


class MySQLClient(object):
    """One MySQL/MariaDB connection definition, used through the container or the host client."""

    def __init__(self, transport='direct', database=None, user=None, password=None, host=None, port=None,
                 socket=None, container=None, docker=None, module=None, image=None):
        if transport not in TRANSPORTS[1:]:
            raise FuncError('mysql transport must be container, direct or docker_run, not %r' % (transport,))
        if transport == 'container' and (not container or docker is None):
            raise FuncError('The container transport needs a container and a DockerCLI')
        if transport == 'docker_run' and (not image or docker is None):
            raise NoClientError('The docker_run transport needs an image with a MySQL client and Docker')
        self.transport = transport
        self.database = database
        self.user = user
        self.password = password
        self.host = host
        self.port = int(port) if port not in (None, '') else None
        self.socket = socket
        self.container = container
        self.image = image
        self.docker = docker
        self.module = module
        self.commands = []

    @classmethod
    def to_server(cls, host, port=None, user=None, password=None, database=None, docker=None, image=None,
                  transport='auto', module=None):
        """A server reached over TCP from this host: the host's mysql client when it has one (direct), else a
        short-lived client container of image on the host network (docker_run), so a managed host needs no
        MySQL client (the README's promise: python3, PyYAML, Docker)."""
        if transport in (None, '', 'auto'):
            transport = 'direct' if find_binary(*CLIENT_NAMES) or not (docker and image) else 'docker_run'
        if transport == 'direct' and not find_binary(*CLIENT_NAMES):
            raise NoClientError('No MySQL client to reach %s:%s: neither mysql nor mariadb is on this host, and no '
                                'image to run one from (mysql_client_image, or the installation\'s MySQL or '
                                'DataFlux Func image). This says nothing about whether the server is reachable.'
                                % (host, port or 3306))
        return cls(transport, database=database, user=user, password=password, host=host, port=port,
                   docker=docker, image=image, module=module)

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def for_installation(cls, module, installation, docker, params):
        """Connection from installation.effective_config('server'), overridden by explicit mysql_* params.

        auto = container when MYSQL_HOST is the built-in service name and the stack has that service,
        else direct.
        """
        params = params or {}
        config = installation.effective_config('server') if installation is not None else {}

        def pick(name, key):
            value = params.get(name)
            return value if value not in (None, '') else config.get(key)

        host = pick('mysql_host', 'MYSQL_HOST')
        port = pick('mysql_port', 'MYSQL_PORT')
        user = pick('mysql_user', 'MYSQL_USER')
        password = pick('mysql_password', 'MYSQL_PASSWORD')
        database = pick('mysql_database', 'MYSQL_DATABASE')
        service = params.get('mysql_service') or 'mysql'
        transport = params.get('mysql_transport') or 'auto'
        socket = params.get('mysql_socket')
        stack = getattr(installation, 'stack_name', None)

        if transport == 'auto' and host == BUILTIN_SERVICE_HOST:
            transport = stack_service_transport(docker, stack, host, service, 'MySQL',
                                                builtin=BUILTIN_SERVICE_HOST) or transport
        if transport == 'container':
            if docker is None or not stack:
                raise FuncError('mysql_transport=container needs the stack name and Docker')
            # Inside the MySQL server's own container (the service MYSQL_HOST names) the server is local: use its
            # socket unless told otherwise. From any other container (e.g. the server's, for an external MySQL)
            # connect to MYSQL_HOST:MYSQL_PORT, exactly as the application does.
            local = host == service
            c_host = params.get('mysql_host') or (None if local else host)
            c_port = (params.get('mysql_port') or (None if local else port)) if c_host else None
            try:
                container = docker.find_container(stack, service)
            except FuncError:
                # A service spread over a swarm need not run on this node (the leader of roles/swarm may run no
                # server). From the server's point of view, a worker or beat container of the stack on this node
                # is the same product image on the same networks; without one (a manager that runs no task), an
                # external MySQL is reached from a short-lived container of the service's image on the host network.
                sibling = None if local else docker.stack_service_container(stack, FUNC_SIBLINGS.get(service, ()))
                if sibling:
                    return cls('container', database=database, user=user or 'root', password=password,
                               host=c_host, port=c_port, socket=socket, container=sibling, docker=docker,
                               module=module)
                image = None if (local or c_host == BUILTIN_SERVICE_HOST) else client_image(docker, stack, service)
                if not image:
                    raise
                return cls.to_server(c_host, c_port, user, password, database, docker=docker, image=image,
                                     transport='docker_run', module=module)
            return cls('container', database=database, user=user or 'root', password=password,
                       host=c_host, port=c_port, socket=socket, container=container, docker=docker,
                       module=module)
        if host == BUILTIN_SERVICE_HOST and not socket:
            raise FuncError('MYSQL_HOST is %r, a name that resolves only inside the stack network; the direct '
                            'transport cannot reach it from the host. Use mysql_transport=container (or auto), '
                            'or give mysql_host/mysql_port.' % host)
        if socket:
            return cls('direct', database=database, user=user, password=password, socket=socket, module=module)
        image = params.get('mysql_client_image')
        wants_image = transport == 'docker_run' or (transport == 'auto' and not find_binary(*CLIENT_NAMES))
        if wants_image and not image and docker is not None and stack:
            image = client_image(docker, stack, service)
        return cls.to_server(host, port, user, password, database, docker=docker, image=image,
                             transport=transport, module=module)

    # --- plumbing ----------------------------------------------------------------------------
    @property
    def secrets(self):
        return [self.password] if self.password else []

    def describe(self):
        if self.transport == 'container':
            return 'container %s' % self.container
        if self.transport == 'docker_run':
            return '%s:%s (client container of %s)' % (self.host, self.port or 3306, self.image)
        if self.socket:
            return 'socket %s' % self.socket
        return '%s:%s' % (self.host, self.port or 3306)

    def _option_file(self):
        return option_file_bytes(self.user, self.password, self.host, self.port, self.socket)

    def _prepare(self, program, args):
        """(argv, stdin_prefix, cleanup). stdin_prefix must be written first to the process's stdin."""
        args = [str(a) for a in args]
        cnf = self._option_file()
        if self.transport in ('container', 'docker_run'):
            script = ['sh', '-c', CONTAINER_SCRIPT, 'sh', str(len(cnf)), program] + args
            if self.transport == 'container':
                argv = self.docker.exec_argv(self.container, script)
            else:
                argv = self.docker.run_argv(self.image, script[1:], entrypoint='sh', network='host')
            cut = argv.index(CONTAINER_SCRIPT) - 1
            shown = argv[:cut] + ['-c', '<option-file reader>', program, '--defaults-extra-file=<tmp>'] + args
            self.commands.append(' '.join(shown))
            return argv, cnf, lambda: None
        names = {'mysql': ('mysql', 'mariadb'), 'mysqldump': ('mysqldump', 'mariadb-dump')}[program]
        binary = find_binary(*names)
        if not binary:
            raise FuncError('Neither %s nor %s was found on this host; install the MySQL/MariaDB client '
                            '(Debian: apt-get install mariadb-client) or use mysql_transport=container or '
                            'docker_run.'
                            % names)
        tmpdir = tempfile.mkdtemp(prefix='dff-mysql-')
        os.chmod(tmpdir, 0o700)
        path = os.path.join(tmpdir, 'client.cnf')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as handle:
            handle.write(cnf)
        argv = [binary, '--defaults-extra-file=%s' % path] + args
        self.commands.append(' '.join([binary, '--defaults-extra-file=<tmp>'] + args))
        return argv, b'', lambda: shutil.rmtree(tmpdir, ignore_errors=True)

    def _run(self, program, args, sql=b'', timeout=None):
        argv, prefix, cleanup = self._prepare(program, args)
        try:
            try:
                proc = subprocess.run(argv, check=False, input=prefix + sql, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, timeout=timeout,
                                      env=self._env())
            except subprocess.TimeoutExpired:
                raise FuncError('%s did not finish within %s s (%s)' % (program, timeout, self.describe()))
            except OSError as exc:
                raise FuncError('Cannot run %s: %s' % (argv[0], exc))
        finally:
            cleanup()
        err = redact_text(proc.stderr.decode('utf-8', 'replace'), self.secrets)
        if proc.returncode != 0:
            detail = err.strip() or 'no error output'
            msg = 'MySQL command failed on %s (rc=%s): %s' % (self.describe(), proc.returncode, detail)
            raise FuncError(msg, rc=proc.returncode, stderr=err)
        return proc.stdout, err

    # --- API ---------------------------------------------------------------------------------
    def check_runnable(self, program='mysql'):
        """Raise NoClientError (naming what is missing) when program cannot be started this way; runs nothing."""
        if self.transport == 'direct':
            names = {'mysql': CLIENT_NAMES, 'mysqldump': ('mysqldump', 'mariadb-dump')}[program]
            if not find_binary(*names):
                raise NoClientError('%s is not on this host (neither %s); it is needed to reach MySQL %s. Install '
                                    'the MySQL/MariaDB client, or use mysql_transport=docker_run (a client '
                                    'container of the installation\'s image).'
                                    % (program, ' nor '.join(names), self.describe()), missing_tool=program)
        elif self.transport == 'docker_run':
            rc, _out, _err = self.docker.run('image', 'inspect', '--format', '{{.Id}}', self.image, check=False)
            if rc != 0:
                raise NoClientError('The client image %s for mysql_transport=docker_run is not on this host.'
                                    % self.image)

    def _env(self):
        return self.docker.env if self.transport in ('container', 'docker_run') else None

    def quote(self, value):
        return quote(value)

    def query(self, sql, database=None, timeout=600):
        """Rows of the statement(s) as dicts, column -> str or None."""
        db = self.database if database is None else (database or None)
        args = ['--xml', '--default-character-set=utf8mb4'] + ([db] if db else [])
        out, _err = self._run('mysql', args, sql.encode('utf-8'), timeout=timeout)
        try:
            return parse_xml_rows(out.decode('utf-8', 'replace'))
        except ET.ParseError as exc:
            raise FuncError('Cannot parse the MySQL client output: %s' % exc)

    def execute(self, sql, database=None, timeout=600):
        db = self.database if database is None else (database or None)
        args = ['--default-character-set=utf8mb4', '--batch'] + ([db] if db else [])
        self._run('mysql', args, sql.encode('utf-8'), timeout=timeout)

    def ping(self):
        return self.query('SELECT 1 AS ok', database='')

    def server_info(self):
        names = ', '.join(quote(v) for v in SERVER_VARIABLES)
        rows = self.query('SHOW GLOBAL VARIABLES WHERE Variable_name IN (%s)' % names, database='')
        variables = {r.get('Variable_name'): r.get('Value') for r in rows}
        version = variables.get('version') or ''
        comment = variables.get('version_comment') or ''
        is_mariadb = 'mariadb' in version.lower() or 'mariadb' in comment.lower()
        match = re.match(r'(\d+)\.(\d+)\.(\d+)', version)
        return {'version': version, 'is_mariadb': is_mariadb,
                'version_tuple': [int(x) for x in match.groups()] if match else [],
                'variables': variables}

    def grants(self):
        rows = self.query('SHOW GRANTS', database='')
        return [list(r.values())[0] for r in rows if r]

    def missing_privileges(self, required=BACKUP_PRIVILEGES, database=None):
        return missing_privileges(self.grants(), database or self.database, required)

    def tables(self, database=None):
        """Base tables and views of the database: {name: 'BASE TABLE' | 'VIEW'}."""
        db = database or self.database
        rows = self.query('SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES '
                          'WHERE TABLE_SCHEMA = %s' % quote(db), database='')
        return {r['name']: r['type'] for r in rows}

    def row_counts(self, tables, database=None):
        """Exact COUNT(*) per table (one query)."""
        db = database or self.database
        if not tables:
            return {}
        parts = ['SELECT %s AS t, COUNT(*) AS n FROM %s.%s' % (quote(t), quote_ident(db), quote_ident(t))
                 for t in sorted(tables)]
        rows = self.query(' UNION ALL '.join(parts), database='')
        return {r['t']: int(r['n']) for r in rows}

    # --- streaming ---------------------------------------------------------------------------
    def dump(self, out_path, databases=None, options=(), compress=None, compress_level=None, timeout=None):
        """Run mysqldump and stream its output to out_path (created 0600, truncated), optionally through
        gzip/zstd. Returns dict(raw_bytes, completed, sha256 (plain only), duration, tail).

        Every exit code (dump, compressor) is checked; a dump without the completion trailer raises.
        """
        import hashlib
        dbs = list(databases or ([self.database] if self.database else []))
        args = list(options) + ['--databases'] + dbs
        argv, prefix, cleanup = self._prepare('mysqldump', args)
        start = time.time()
        pipe = _Pipeline(self.secrets)
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        raw = 0
        tail = b''
        digest = None
        try:
            env = self._env()
            if not compress:
                # Plain: mysqldump writes straight into the file (the same data path as a dump by hand). This
                # process follows the growing file meanwhile: it hashes what was written (from the page cache)
                # and flushes it to disk every SYNC_STEP bytes, so when mysqldump exits only the last piece is
                # left to hash and to fsync.
                dump = pipe.start('mysqldump', argv, stdin=subprocess.PIPE if prefix else subprocess.DEVNULL,
                                  stdout=fd, env=env)
                if prefix:
                    dump.stdin.write(prefix)
                    dump.stdin.close()
                digest = hashlib.sha256()
                synced = 0
                with open(out_path, 'rb', buffering=0) as follow:
                    running = True
                    while True:
                        data = follow.read(FOLLOW_CHUNK)
                        if data:
                            digest.update(data)
                            raw += len(data)
                            tail = (tail + data[-512:])[-512:]
                            if raw - synced >= SYNC_STEP:
                                os.fdatasync(fd)
                                synced = raw
                            continue
                        if not running:
                            break
                        if dump.poll() is not None:
                            running = False         # one more read for what was written before the exit
                            continue
                        if timeout and time.time() - start > timeout:
                            raise FuncError('mysqldump did not finish within %s s' % timeout)
                        time.sleep(0.02)
                pipe.wait_all('mysqldump')
                os.fsync(fd)
            else:
                dump = pipe.start('mysqldump', argv, stdin=subprocess.PIPE if prefix else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, env=env)
                if prefix:
                    dump.stdin.write(prefix)
                    dump.stdin.close()
                comp_argv = compressor_argv(compress, compress_level)
                if comp_argv:
                    comp = pipe.start(compress, comp_argv, stdin=subprocess.PIPE, stdout=fd)
                    sink, zc = comp.stdin.fileno(), None
                else:
                    comp, sink, zc = None, fd, gzip_compressor(compress_level)
                src = dump.stdout.fileno()
                while True:
                    data = os.read(src, CHUNK)
                    if not data:
                        break
                    raw += len(data)
                    tail = (tail + data)[-512:]
                    write_all(sink, zc.compress(data) if zc else data)
                    if timeout and time.time() - start > timeout:
                        raise FuncError('mysqldump did not finish within %s s' % timeout)
                dump.stdout.close()
                if zc:
                    write_all(fd, zc.flush())
                else:
                    comp.stdin.close()
                pipe.wait_all('mysqldump')
                os.fsync(fd)
        except BaseException:
            pipe.kill()
            raise
        finally:
            os.close(fd)
            pipe.close()
            cleanup()
        completed = TRAILER in tail
        if not completed:
            raise FuncError('mysqldump exited 0 but its output has no completion trailer ("-- Dump completed"); '
                            'the dump is incomplete and was discarded.', raw_bytes=raw)
        return {'raw_bytes': raw, 'completed': completed, 'sha256': digest.hexdigest() if digest else None,
                'duration': time.time() - start, 'tail': tail.decode('utf-8', 'replace')}

    def restore(self, src, fmt=None, database=None, prefix_sql='', suffix_sql='', single_transaction=True,
                member=None, timeout=None, merge_inserts=True):
        """Stream a plain/gzip/zstd dump (or the .sql inside a .zip) into mysql.

        With single_transaction, the stream is wrapped in autocommit=0 / unique_checks=0 /
        foreign_key_checks=0 ... COMMIT, so rows are not committed (and fsynced) one by one; with
        merge_inserts, single-row INSERTs of a mysqldump file are joined into multi-row INSERTs.
        Returns the stream reader (InsertMerger for mysqldump output, else DumpScanner): exact per-table row
        counts of the INSERTs, tables, completion trailer.
        """
        fmt = fmt or detect_format(src)
        db = database or self.database
        args = ['--default-character-set=utf8mb4', '--binary-mode', '--max-allowed-packet=1073741824',
                '--batch'] + ([db] if db else [])
        argv, prefix, cleanup = self._prepare('mysql', args)
        pipe = _Pipeline(self.secrets)
        start = time.time()
        out = tempfile.TemporaryFile()
        reader = None
        zf = None
        try:
            env = self._env()
            client = pipe.start('mysql', argv, stdin=subprocess.PIPE, stdout=out, env=env)
            sink = client.stdin

            def send(data):
                try:
                    sink.write(data)
                except BrokenPipeError:
                    pipe.wait_all('Restore')
                    raise FuncError('The mysql client stopped reading the dump: %s' % pipe.stderr(client))

            send(prefix)
            head = prefix_sql
            if single_transaction:
                head += '\nSET autocommit=0;\nSET unique_checks=0;\nSET foreign_key_checks=0;\n'
            send(head.encode('utf-8'))
            if fmt == 'zip':
                import zipfile
                zf = zipfile.ZipFile(src)
                reader = zf.open(member or zip_sql_member(zf, src))
                read = reader.read
            elif fmt in ('gzip', 'zstd'):
                reader = DecompressedReader(fmt, src)
                read = reader.read
            else:
                reader = open(src, 'rb')
                read = reader.read
            data = read(CHUNK)
            while 0 < len(data) < 256:      # a pipe may hand over less than the header at first
                more = read(CHUNK)
                if not more:
                    break
                data += more
            if looks_like_mysqldump(data[:65536]):
                # one pass, by line: counts rows and (merge_inserts) joins single-row INSERTs
                scanner = merger = InsertMerger(limit=CHUNK if merge_inserts else 0)
            else:
                scanner, merger = DumpScanner(), None
            while data:
                if merger is not None:
                    send(merger.feed(data))
                else:
                    scanner.feed(data)
                    send(data)
                if timeout and time.time() - start > timeout:
                    raise FuncError('Restore did not finish within %s s' % timeout)
                data = read(CHUNK)
            if merger is not None:
                send(merger.finish())
            else:
                scanner.finish()
            if isinstance(reader, DecompressedReader):
                done, reader = reader, None
                done.close()            # raises when the compressed data was damaged, before COMMIT is sent
            tail = '\nCOMMIT;\n' if single_transaction else '\n'
            if single_transaction:
                tail += 'SET unique_checks=1;\nSET foreign_key_checks=1;\n'
            send((tail + suffix_sql).encode('utf-8'))
            sink.close()
            pipe.wait_all('Restore')
        except BaseException:
            pipe.kill()
            raise
        finally:
            if isinstance(reader, DecompressedReader):
                reader.close(check=False)
            elif reader is not None:
                reader.close()
            if zf is not None:
                zf.close()
            out.close()
            pipe.close()
            cleanup()
        scanner.duration = time.time() - start
        return scanner
