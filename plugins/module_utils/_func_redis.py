# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis access for dataflux.func: one client, two transports.

* ``direct``: a small pure-Python RESP2 client over a TCP socket (TLS when asked), with real pipelining
  (every command of a batch is written first, then every reply is read). No redis-py on managed hosts.
* ``container``: ``docker exec -i <redis container> redis-cli --no-raw`` with the commands on stdin.
  ``AUTH`` (when needed) is the first stdin line and ``SELECT <db>`` the second, so no secret is ever on
  argv. A unique ``ECHO`` marker follows every command, which makes reply boundaries unambiguous; the
  ``--no-raw`` format keeps errors (``(error) ...``), nil, integers and strings apart.

Both transports prefix the first batch with the handshake (AUTH, SELECT), so a pipelined batch costs one
round trip (direct) or one redis-cli process (container).
"""


import re
import socket
import ssl
import uuid

from ansible_collections.dataflux.func.plugins.module_utils._func_app import to_boolean
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_docker import stack_service_transport

TRANSPORTS = ('auto', 'container', 'direct')
DEFAULT_DATABASE = 5

# redis-cli prints the reply of these commands raw, even with --no-raw (multi-line text, no quoting).
_RAW_OUTPUT_COMMANDS = ('INFO', 'LOLWUT', 'CLIENT LIST', 'CLIENT INFO', 'CLUSTER NODES', 'CLUSTER INFO',
                        'MEMORY DOCTOR', 'MEMORY MALLOC-STATS', 'LATENCY DOCTOR', 'LATENCY GRAPH',
                        'DEBUG HTSTATS', 'DEBUG HTSTATS-KEY')
_RAW_ERROR_RE = re.compile(r'^(ERR|NOAUTH|WRONGPASS|NOPERM|LOADING|BUSY|MISCONF|READONLY|MASTERDOWN|'
                           r'CLUSTERDOWN|MOVED|ASK|TRYAGAIN|NOSCRIPT|WRONGTYPE|EXECABORT)\b')
_CLUSTER_ERROR_RE = re.compile(r'^(MOVED|ASK|CLUSTERDOWN|CROSSSLOT|TRYAGAIN)\b')


def redis_argument_spec():
    """Connection options shared by every module that talks to the installation's Redis."""
    return dict(
        redis_transport=dict(type='str', default='auto', choices=list(TRANSPORTS)),
        redis_service=dict(type='str', default='redis'),
        redis_host=dict(type='str'),
        redis_port=dict(type='int'),
        redis_database=dict(type='int'),
        redis_user=dict(type='str'),
        redis_password=dict(type='str', no_log=True),
        redis_use_tls=dict(type='bool'),
        redis_timeout=dict(type='float', default=30.0),
    )


class RedisReplyError(Exception):
    """An error reply (-ERR ...) of one command. pipeline() returns these in place of the reply."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
        self.text = message.rstrip('.')

    @property
    def code(self):
        return self.message.split(' ', 1)[0] if self.message else ''

    def __repr__(self):
        return 'RedisReplyError(%r)' % self.message


def _to_bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b'1' if value else b'0'
    if isinstance(value, (int, float)):
        return repr(value).encode('ascii')
    return str(value).encode('utf-8')


def _decode(data):
    return data.decode('utf-8', 'surrogateescape')


def command_text(args, secret_from=None):
    """Human form of one command for audit trails; arguments from index secret_from on are masked."""
    parts = []
    for index, arg in enumerate(args):
        if secret_from is not None and index >= secret_from:
            parts.append('********')
        else:
            text = _decode(_to_bytes(arg))
            parts.append(text if re.match(r'^[\w@#:.\-]+$', text) else repr(text))
    return ' '.join(parts)


# --- RESP2 over a socket ---------------------------------------------------------------------------
def encode_command(args):
    out = [b'*%d\r\n' % len(args)]
    for arg in args:
        data = _to_bytes(arg)
        out.append(b'$%d\r\n' % len(data))
        out.append(data)
        out.append(b'\r\n')
    return b''.join(out)


class RespReader(object):
    """Incremental RESP2 parser over a recv() callable."""

    def __init__(self, recv):
        self._recv = recv
        self._buf = bytearray()
        self._pos = 0

    def _fill(self):
        chunk = self._recv(1024 * 1024)
        if not chunk:
            raise ConnectionError('connection closed by the server')
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += chunk

    def _line(self):
        while True:
            end = self._buf.find(b'\r\n', self._pos)
            if end >= 0:
                line = bytes(self._buf[self._pos:end])
                self._pos = end + 2
                return line
            self._fill()

    def _exact(self, size):
        while len(self._buf) - self._pos < size + 2:
            self._fill()
        data = bytes(self._buf[self._pos:self._pos + size])
        self._pos += size + 2
        return data

    def read(self):
        line = self._line()
        if not line:
            raise ValueError('empty RESP line')
        kind, rest = line[:1], line[1:]
        if kind == b'+':
            return _decode(rest)
        if kind == b'-':
            return RedisReplyError(_decode(rest))
        if kind == b':':
            return int(rest)
        if kind == b'$':
            size = int(rest)
            return None if size < 0 else _decode(self._exact(size))
        if kind == b'*':
            count = int(rest)
            return None if count < 0 else [self.read() for _i in range(count)]
        raise ValueError('unexpected RESP reply type %r' % line[:40])


class DirectTransport(object):
    name = 'direct'

    def __init__(self, host, port, use_tls=False, timeout=30.0):
        self.host = host
        self.port = port
        self.use_tls = use_tls
        self.timeout = timeout
        self.sock = None
        self.reader = None

    def where(self):
        return '%s:%s' % (self.host, self.port)

    def connect(self):
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.use_tls:
                # Like DataFlux Func itself (REDIS_USE_TLS): encrypted, certificate not verified.
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(sock, server_hostname=self.host)
        except socket.gaierror as exc:
            hint = ''
            if '.' not in str(self.host):
                hint = (' "%s" looks like a service name of the docker stack, which only resolves inside the '
                        'stack network: use redis_transport=container (with redis_service) or give '
                        'redis_host an address reachable from this host.' % self.host)
            raise FuncError('Cannot connect to Redis at %s: cannot resolve host name (%s).%s'
                            % (self.where(), exc, hint), redis_host=self.host, redis_port=self.port)
        except ssl.SSLError as exc:
            raise FuncError('Cannot connect to Redis at %s: TLS handshake failed (%s). Check REDIS_USE_TLS / '
                            'redis_use_tls: does this Redis really speak TLS on this port?'
                            % (self.where(), exc), redis_host=self.host, redis_port=self.port)
        except (OSError, socket.timeout) as exc:
            raise FuncError('Cannot connect to Redis at %s: %s. Check that Redis is running and reachable from '
                            'this host (firewall, bind address), and REDIS_HOST/REDIS_PORT in user-config.yaml '
                            'or redis_host/redis_port.' % (self.where(), exc),
                            redis_host=self.host, redis_port=self.port)
        self.sock = sock
        self.reader = RespReader(sock.recv)

    def exchange(self, commands):
        """Send every command, then read every reply (one round trip)."""
        if self.sock is None:
            self.connect()
        payload = b''.join(encode_command(cmd) for cmd in commands)
        try:
            self.sock.sendall(payload)
            return [self.reader.read() for _cmd in commands]
        except (OSError, socket.timeout, ConnectionError, ValueError) as exc:
            self.close()
            hint = ''
            if self.use_tls is False and isinstance(exc, (ConnectionError, ValueError)):
                hint = ' If this Redis requires TLS, set REDIS_USE_TLS / redis_use_tls.'
            raise FuncError('Redis at %s stopped answering: %s.%s' % (self.where(), exc, hint),
                            redis_host=self.host, redis_port=self.port)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.reader = None

    def audit(self, count):
        return 'redis %s://%s/ (%d commands, one pipeline)' % ('rediss' if self.use_tls else 'redis',
                                                               self.where(), count)


# --- redis-cli inside the Redis container ---------------------------------------------------------
def cli_quote(arg):
    """One argument as a redis-cli input token: always double-quoted, bytes outside ASCII as \\xHH."""
    out = ['"']
    for byte in _to_bytes(arg):
        if byte in (0x22, 0x5c):
            out.append('\\' + chr(byte))
        elif 0x20 <= byte <= 0x7e:
            out.append(chr(byte))
        else:
            out.append('\\x%02x' % byte)
    out.append('"')
    return ''.join(out)


_ESCAPES = {'n': '\n', 'r': '\r', 't': '\t', 'a': '\a', 'b': '\b', '"': '"', '\\': '\\'}


def cli_unquote(text):
    """Reverse of redis-cli's quoted string output ("..." with \\n, \\", \\xHH escapes)."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError('not a quoted string: %r' % text[:60])
    body = text[1:-1]
    raw = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char == '\\' and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == 'x' and re.match(r'^[0-9a-fA-F]{2}$', body[i + 2:i + 4]):
                raw.append(int(body[i + 2:i + 4], 16))
                i += 4
                continue
            if nxt in _ESCAPES:
                raw += _ESCAPES[nxt].encode('ascii')
                i += 2
                continue
        raw += char.encode('utf-8', 'surrogateescape')
        i += 1
    return _decode(bytes(raw))


def _parse_scalar(line):
    if line.startswith('(error) '):
        return RedisReplyError(line[len('(error) '):])
    if line.startswith('(integer) '):
        return int(line[len('(integer) '):])
    if line.startswith('(double) '):
        return float(line[len('(double) '):])
    if line == '(nil)':
        return None
    if line in ('(empty array)', '(empty list or set)', '(empty set)', '(empty hash)'):
        return []
    if line.startswith('"') and line.endswith('"') and len(line) >= 2:
        return cli_unquote(line)
    return line   # status reply (OK, QUEUED, PONG, ...)


def parse_cli_reply(lines):
    """Parse the --no-raw (TTY format) output of ONE reply, given as its lines."""
    if not lines:
        raise ValueError('no output for a reply')
    first = lines[0]
    match = re.match(r'^( *)1\) ', first)
    if not match:
        if len(lines) != 1:
            raise ValueError('unexpected multi-line reply: %r' % lines[:3])
        return _parse_scalar(first)
    width = len(match.group(1)) + 1
    indent = ' ' * (width + 2)
    items = []
    current = None
    expected = 1
    for line in lines:
        header = str(expected).rjust(width) + ') '
        if line.startswith(header):
            if current is not None:
                items.append(parse_cli_reply(current))
            current = [line[len(header):]]
            expected += 1
        elif line.startswith(indent) and current is not None:
            current.append(line[len(indent):])
        else:
            raise ValueError('cannot parse redis-cli array line %r' % line[:80])
    items.append(parse_cli_reply(current))
    return items


def _is_raw_output(args):
    words = [_decode(_to_bytes(a)).upper() for a in args[:2]]
    return words[0] in _RAW_OUTPUT_COMMANDS or ' '.join(words) in _RAW_OUTPUT_COMMANDS


def _units(commands):
    """Group commands: MULTI ... EXEC/DISCARD is one unit, every other command its own unit."""
    units = []
    group = None
    for cmd in commands:
        name = _decode(_to_bytes(cmd[0])).upper() if cmd else ''
        if group is not None:
            group.append(cmd)
            if name in ('EXEC', 'DISCARD'):
                units.append(group)
                group = None
        elif name == 'MULTI':
            group = [cmd]
        else:
            units.append([cmd])
    if group is not None:
        units.append(group)
    return units


class ContainerTransport(object):
    name = 'container'

    def __init__(self, docker, stack_name, service, port=6379, use_tls=False, timeout=30.0):
        self.docker = docker
        self.stack_name = stack_name
        self.service = service
        self.port = port
        self.use_tls = use_tls
        self.timeout = timeout
        self.container = None
        self.host = '%s_%s' % (stack_name, service)

    def where(self):
        return 'service %s (container %s, 127.0.0.1:%s inside it)' % (
            self.host, (self.container or '?')[:12], self.port)

    def cli_argv(self):
        argv = ['redis-cli', '-p', str(self.port), '--no-raw']
        if self.use_tls:
            argv += ['--tls', '--insecure']
        return argv

    def exchange(self, commands):
        if self.container is None:
            self.container = self.docker.find_container(self.stack_name, self.service)
        marker = '__dff_%s__' % uuid.uuid4().hex
        units = _units(commands)
        lines = []
        for unit in units:
            lines.extend(' '.join(cli_quote(a) for a in cmd) for cmd in unit)
            # Inside MULTI an ECHO would be queued, so a whole MULTI ... EXEC block gets one marker.
            lines.append('ECHO %s' % cli_quote(marker))
        data = ('\n'.join(lines) + '\n').encode('ascii')
        argv = self.docker.exec_argv(self.container, self.cli_argv(), interactive=True)
        rc, out, err = self.docker.run(*argv[1:], data=data, timeout=self.timeout, check=False)
        return self._split(units, out, err, marker, rc)

    def _split(self, units, out, err, marker, rc):
        markers = ('"%s"' % marker, marker)
        blocks = []
        block = []
        for line in out.split('\n'):
            if line.rstrip('\r') in markers:
                blocks.append(block)
                block = []
            else:
                block.append(line)
        if len(blocks) != len(units):
            first = out.split('\n', 1)[0].rstrip('\r')
            if first.startswith('(error) '):
                # Typically NOAUTH/WRONGPASS: every command (the markers too) failed the same way.
                error = RedisReplyError(first[len('(error) '):])
                return [error for unit in units for _cmd in unit]
            detail = ((err or '').strip() or (out or '').strip()[-300:] or 'no output').splitlines()[0]
            msg = 'Cannot talk to Redis through redis-cli in %s: %s.' % (self.where(), detail)
            if 'Could not connect' in detail or 'Connection refused' in detail:
                msg += (' Check that the Redis container is running and listens on port %s (REDIS_PORT / '
                        'redis_port).' % self.port)
            elif rc != 0:
                msg += ' docker exec exited with %s.' % rc
            raise FuncError(msg, stderr=err, rc=rc, redis_service=self.host)
        parsed = []
        for unit, block in zip(units, blocks):
            if len(unit) == 1:
                parsed.append(self._parse(unit[0], block))
                continue
            # MULTI, queued commands (one line each: QUEUED or an error), then EXEC's (multi-line) reply.
            if len(block) < len(unit):
                raise FuncError('Cannot parse the redis-cli output of a MULTI block: %r' % block[:5],
                                redis_service=self.host)
            for cmd, line in zip(unit[:-1], block[:len(unit) - 1]):
                parsed.append(self._parse(cmd, [line]))
            parsed.append(self._parse(unit[-1], block[len(unit) - 1:]))
        return parsed

    def _parse(self, cmd, block):
        if _is_raw_output(cmd):
            text = '\n'.join(line.rstrip('\r') for line in block)
            return RedisReplyError(text.strip()) if _RAW_ERROR_RE.match(text) else text
        try:
            return parse_cli_reply(block)
        except ValueError as exc:
            raise FuncError('Cannot parse the redis-cli output for %s: %s' % (command_text(cmd[:2]), exc),
                            redis_service=self.host)

    def close(self):
        pass

    def audit(self, count):
        return '%s (stdin: %d commands, one process)' % (
            ' '.join(self.docker.exec_argv(self.container or '<redis container>', self.cli_argv())), count)


# --- the client -----------------------------------------------------------------------------------
def _effective_redis_settings(config, params):
    params = params or {}

    def pick(param, key, default=None):
        value = params.get(param)
        if value is not None and value != '':
            return value
        value = config.get(key)
        return default if value is None else value

    settings = dict(
        host=str(pick('redis_host', 'REDIS_HOST', '127.0.0.1')),
        port=int(pick('redis_port', 'REDIS_PORT', 6379)),
        database=int(pick('redis_database', 'REDIS_DATABASE', DEFAULT_DATABASE)),
        user=pick('redis_user', 'REDIS_USER', '') or None,
        password=pick('redis_password', 'REDIS_PASSWORD', '') or None,
        use_tls=bool(params.get('redis_use_tls') if params.get('redis_use_tls') is not None
                     else to_boolean(config.get('REDIS_USE_TLS', False))),
    )
    if params.get('redis_user') is None and params.get('redis_password') is None:
        # DataFlux Func's "aliyun" auth type sends "user:password" as the password.
        if str(config.get('REDIS_AUTH_TYPE') or 'default').lower() == 'aliyun' and settings['user']:
            settings['password'] = '%s:%s' % (settings['user'], settings['password'] or '')
            settings['user'] = None
    return settings


class RedisClient(object):
    """client.call(*args), client.pipeline([[args...], ...]), client.info(section)."""

    def __init__(self, transport, database=DEFAULT_DATABASE, user=None, password=None):
        self.transport = transport
        self.database = int(database)
        self.user = user
        self.password = password
        self.round_trips = 0
        self.commands = []
        self._ready = False

    # construction -------------------------------------------------------------------------------
    @classmethod
    def direct(cls, host='127.0.0.1', port=6379, database=DEFAULT_DATABASE, user=None, password=None,
               use_tls=False, timeout=30.0):
        return cls(DirectTransport(host, port, use_tls, timeout), database, user, password)

    @classmethod
    def container(cls, docker, stack_name, service='redis', port=6379, database=DEFAULT_DATABASE, user=None,
                  password=None, use_tls=False, timeout=30.0):
        return cls(ContainerTransport(docker, stack_name, service, port, use_tls, timeout), database, user,
                   password)

    @classmethod
    def for_installation(cls, module, installation, docker, params=None):
        """Client for the installation's Redis: effective config (server service) overridden by params."""
        params = dict(params if params is not None else (module.params if module is not None else {}))
        config = installation.effective_config('server')
        settings = _effective_redis_settings(config, params)
        transport = params.get('redis_transport') or 'auto'
        service = params.get('redis_service') or 'redis'
        timeout = float(params.get('redis_timeout') or 30.0)
        if transport == 'auto':
            transport = stack_service_transport(docker, installation.stack_name, settings['host'], service,
                                                'Redis') or 'direct'
        if transport == 'container':
            if docker is None:
                raise FuncError('redis_transport=container needs the docker CLI')
            return cls.container(docker, installation.stack_name, service, settings['port'], settings['database'],
                                 settings['user'], settings['password'], settings['use_tls'], timeout)
        return cls.direct(settings['host'], settings['port'], settings['database'], settings['user'],
                          settings['password'], settings['use_tls'], timeout)

    # description --------------------------------------------------------------------------------
    def describe(self):
        out = dict(transport=self.transport.name, database=self.database, tls=bool(self.transport.use_tls))
        if self.transport.name == 'container':
            out.update(service=self.transport.host, port=self.transport.port)
        else:
            out.update(host=self.transport.host, port=self.transport.port)
        return out

    @property
    def secrets(self):
        return [s for s in (self.password,) if s]

    # handshake ----------------------------------------------------------------------------------
    def _handshake(self):
        cmds = []
        if self.password:
            cmds.append(['AUTH', self.user, self.password] if self.user else ['AUTH', self.password])
        cmds.append(['SELECT', self.database])
        return cmds

    def _check_handshake(self, cmds, replies):
        for cmd, reply in zip(cmds, replies):
            if not isinstance(reply, RedisReplyError):
                continue
            where = self.transport.where()
            if cmd[0] == 'AUTH':
                raise FuncError('Redis at %s refused the credentials: %s. Check REDIS_PASSWORD (and REDIS_USER) '
                                'in user-config.yaml or redis_password / redis_user.' % (where, reply.text),
                                redis_error=reply.message)
            if reply.code == 'NOAUTH':
                raise FuncError('Redis at %s requires a password: %s. Set REDIS_PASSWORD in user-config.yaml '
                                'or redis_password.' % (where, reply.text), redis_error=reply.message)
            if 'cluster' in reply.message.lower():
                raise FuncError('Redis at %s runs in cluster mode, which has only database 0, but this '
                                'installation uses database %s (REDIS_DATABASE). DataFlux Func needs a '
                                'standalone Redis (or a proxy that accepts SELECT).' % (where, self.database),
                                redis_error=reply.message)
            raise FuncError('Redis at %s rejected SELECT %s: %s. Check REDIS_DATABASE / redis_database (the '
                            'server may have fewer databases, see its "databases" setting).'
                            % (where, self.database, reply.text), redis_error=reply.message)

    # API ----------------------------------------------------------------------------------------
    def pipeline(self, commands, raise_on_error=True):
        """Run every command in one round trip; return the replies (RedisReplyError for error replies).

        raise_on_error=True turns the first error reply into a FuncError.
        """
        commands = [list(cmd) for cmd in commands]
        handshake = self._handshake() if (not self._ready or self.transport.name == 'container') else []
        replies = self.transport.exchange(handshake + commands)
        self.round_trips += 1
        self.commands.append(self.transport.audit(len(handshake) + len(commands)))
        self._check_handshake(handshake, replies[:len(handshake)])
        self._ready = True
        replies = replies[len(handshake):]
        if raise_on_error:
            for cmd, reply in zip(commands, replies):
                if isinstance(reply, RedisReplyError):
                    raise self.error(cmd, reply)
        return replies

    def call(self, *args):
        return self.pipeline([list(args)])[0]

    def error(self, cmd, reply):
        msg = 'Redis at %s answered %s with an error: %s' % (
            self.transport.where(), command_text(cmd[:2]), reply.text)
        if _CLUSTER_ERROR_RE.match(reply.message):
            msg += ('. This Redis runs in cluster mode, which DataFlux Func (one database, REDIS_DATABASE) does '
                    'not support.')
        elif reply.code == 'NOAUTH':
            msg += '. Set REDIS_PASSWORD in user-config.yaml or redis_password.'
        return FuncError(msg, redis_error=reply.message)

    def info(self, section=None):
        text = self.call(*(['INFO', section] if section else ['INFO']))
        return parse_info(text)

    def close(self):
        self.transport.close()


def _info_value(value):
    if re.match(r'^-?\d+$', value):
        return int(value)
    if re.match(r'^-?\d+\.\d+$', value):
        return float(value)
    if '=' in value and ',' in value or re.match(r'^\w+=[^,]*$', value):
        out = {}
        for part in value.split(','):
            key, _sep, val = part.partition('=')
            out[key] = _info_value(val)
        return out
    return value


def parse_info(text):
    """INFO text -> flat dict (ints/floats converted; 'db5:keys=1,expires=0' -> nested dict)."""
    out = {}
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#') or ':' not in line:
            continue
        key, _sep, value = line.partition(':')
        out[key] = _info_value(value)
    return out
