# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL dump files for dataflux.func: formats and compressors, the streaming scanner (DumpScanner, DumpSummary:
tables, rows, completeness, DATAFLUX_FUNC_ID, in-app header) and the INSERT merger used on restore.

No database connection here: _func_mysql's MySQLClient streams through these.
"""

import os
import re
import shutil
import subprocess
import tempfile

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError

CHUNK = 1024 * 1024
TRAILER = b'-- Dump completed'


def detect_format(path):
    """'gzip', 'zstd', 'zip' or 'plain' from the magic bytes of path."""
    with open(path, 'rb') as handle:
        head = handle.read(4)
    if head[:2] == b'\x1f\x8b':
        return 'gzip'
    if head == b'\x28\xb5\x2f\xfd':
        return 'zstd'
    if head[:4] == b'PK\x03\x04':
        return 'zip'
    return 'plain'


def find_binary(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


# --- SQL stream scanner -------------------------------------------------------------------------------
_STRING = rb"'[^'\\]*(?:\\.[^'\\]*)*'"                   # complete string literal
_TUPLE_SEP = rb"\)\s*,\s*\("                                # separator of two VALUES tuples
_IDENT = rb"`((?:[^`]|``)+)`"                              # quoted identifier (one group)
_CREATE = rb"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?" + _IDENT
_TOKENS = re.compile(
    _STRING
    + rb"|(?m:^--[^\n]*\n)"                                 # comment line
    + rb"|" + _TUPLE_SEP
    + rb"|INSERT\s+INTO\s+" + _IDENT                        # insert start (group 1)
    + rb"|" + _CREATE                                       # group 2
    + rb"|\nUSE\s+" + _IDENT                                # group 3
    + rb"|;"
    + rb"|'",                                               # unterminated string (needs more data)
    re.IGNORECASE)
_GUARD = 256
_CREATE_LINE = re.compile(_CREATE, re.IGNORECASE)
_USE_LINE = re.compile(rb"USE\s+" + _IDENT)
_SEPARATORS = re.compile(_STRING + rb"|" + _TUPLE_SEP)


INAPP_HEADER = b'-- DataFlux Func DB Backup'
_FUNC_ID_RE = re.compile(rb"'DATAFLUX_FUNC_ID'\s*,\s*'((?:[^'\\]|\\.|'')*)'")
_FUNC_ID_HEX_RE = re.compile(rb"X'" + b'DATAFLUX_FUNC_ID'.hex().encode() + rb"'\s*,\s*X'([0-9A-Fa-f]*)'",
                             re.IGNORECASE)
_FUNC_ID_HEX = b'DATAFLUX_FUNC_ID'.hex().upper().encode()
_FUNC_ID_MARKS = (b'DATAFLUX_FUNC_ID', _FUNC_ID_HEX, _FUNC_ID_HEX.lower())
_UNESCAPE = {b'0': b'\0', b'n': b'\n', b'r': b'\r', b't': b'\t', b'Z': b'\x1a', b'b': b'\b'}


def _sql_unescape(raw):
    out, i = bytearray(), 0
    while i < len(raw):
        c = raw[i:i + 1]
        if c == b'\\' and i + 1 < len(raw):
            nxt = raw[i + 1:i + 2]
            out += _UNESCAPE.get(nxt, nxt)
            i += 2
        elif c == b"'" and raw[i + 1:i + 2] == b"'":
            out += b"'"
            i += 2
        else:
            out += c
            i += 1
    return bytes(out)


class DumpSummary(object):
    """What a restore source holds, read line by line once before anything changes: the tables it creates,
    the DATAFLUX_FUNC_ID it carries, its origin (mysqldump, DataFlux Func's in-app backup, other) and whether it
    is complete (mysqldump's trailer; for the in-app format, whose writer has no trailer, every LOCK TABLES
    answered by UNLOCK TABLES and a last statement that ends with ';')."""

    def __init__(self):
        self.size = 0
        self.head = b''
        self.tail = b''
        self.created = []
        self.func_id = None
        self.locks = 0
        self.unlocks = 0
        self._rest = b''

    def feed(self, data):
        if not data:
            return
        self.size += len(data)
        if len(self.head) < 65536:
            self.head += data[:65536 - len(self.head)]
        self.tail = (self.tail + data)[-4096:]
        lines = (self._rest + data).split(b'\n')
        self._rest = lines.pop()
        for line in lines:
            self._line(line)

    def finish(self):
        if self._rest:
            self._line(self._rest)
            self._rest = b''
        return self

    def _line(self, line):
        first = line[:6].upper()
        if first == b'CREATE':
            match = _CREATE_LINE.match(line)
            if match:
                name = _ident(match.group(1))
                if name not in self.created:
                    self.created.append(name)
        elif first == b'LOCK T':
            self.locks += 1
        elif first == b'UNLOCK':
            self.unlocks += 1
        if self.func_id is None and any(mark in line for mark in _FUNC_ID_MARKS):
            self._func_id(line)

    def _func_id(self, line):
        match = _FUNC_ID_RE.search(line)
        raw = _sql_unescape(match.group(1)) if match else None
        if raw is None:
            match = _FUNC_ID_HEX_RE.search(line)
            if match:
                try:
                    raw = bytes.fromhex(match.group(1).decode('ascii'))
                except ValueError:
                    raw = None
        if raw is not None:
            self.func_id = raw.decode('utf-8', 'replace').strip().strip('"')

    @property
    def origin(self):
        if looks_like_mysqldump(self.head):
            return 'mysqldump'
        if self.head.lstrip(b'-\n\r ').startswith(INAPP_HEADER[3:]) or INAPP_HEADER in self.head[:400]:
            return 'inapp'
        return 'other'

    def incomplete(self):
        """Why the source is not complete, or None."""
        if self.origin == 'mysqldump':
            return None if TRAILER in self.tail else 'it has no mysqldump completion trailer ("-- Dump completed")'
        if self.origin == 'inapp':
            last = [ln.strip() for ln in self.tail.split(b'\n') if ln.strip() and not ln.strip().startswith(b'--')]
            if self.locks != self.unlocks:
                return 'it stops inside a table (%d LOCK TABLES, %d UNLOCK TABLES)' % (self.locks, self.unlocks)
            if not last or not last[-1].endswith(b';'):
                return 'its last statement is cut off'
            return None
        return ('it is neither a mysqldump file nor a DataFlux Func backup (no "-- MySQL dump", "-- MariaDB dump" '
                'or "-- DataFlux Func DB Backup" header), so its completeness cannot be checked')


def _ident(raw):
    return raw.replace(b'``', b'`').decode('utf-8', 'replace')


def looks_like_mysqldump(head):
    return head.startswith(b'-- MySQL dump') or head.startswith(b'-- MariaDB dump') \
        or b'\n-- MySQL dump' in head[:200] or b'-- MariaDB dump' in head[:200]


class _DumpStream(object):
    """What both readers of a dump stream record: rows per table, tables, databases, head, tail and size."""

    def __init__(self):
        self.counts = {}
        self.tables = []
        self.databases = []
        self.head = b''
        self.tail = b''
        self.bytes = 0

    def _observe(self, data):
        self.bytes += len(data)
        if len(self.head) < 65536:
            self.head += data[:65536 - len(self.head)]
        self.tail = (self.tail + data)[-512:]

    def _table(self, name):
        if name not in self.tables:
            self.tables.append(name)
        self.counts.setdefault(name, 0)

    @property
    def completed(self):
        return TRAILER in self.tail

    @property
    def is_mysqldump(self):
        return looks_like_mysqldump(self.head)


class DumpScanner(_DumpStream):
    """Counts rows per table in INSERT statements of a SQL dump while it streams (exact, string-aware).

    Works for mysqldump output (one or many rows per INSERT) and for DataFlux Func's own backup format.
    """

    def __init__(self):
        super(DumpScanner, self).__init__()
        self._carry = b''
        self._current = None

    def _process(self, buf, final):
        limit = len(buf) if final else max(0, len(buf) - _GUARD)
        pos = 0
        for match in _TOKENS.finditer(buf):
            tok_end = match.end()
            text = match.group(0)
            if (tok_end > limit and not final) or (text == b"'" and not final):
                return buf[match.start():]
            pos = tok_end
            first = text[:1]
            if first == b"'" or first == b'-':
                continue
            if first == b')':
                if self._current is not None:
                    self.counts[self._current] += 1
                continue
            if first == b';':
                self._current = None
                continue
            if match.group(1) is not None:
                name = _ident(match.group(1))
                self._current = name
                self.counts[name] = self.counts.get(name, 0) + 1
            elif match.group(2) is not None:
                self._table(_ident(match.group(2)))
            elif match.group(3) is not None:
                self.databases.append(_ident(match.group(3)))
        return b'' if final else buf[max(pos, limit):]

    def feed(self, data):
        if not data:
            return
        self._observe(data)
        self._carry = self._process(self._carry + data, False)

    def finish(self):
        self._process(self._carry, True)
        self._carry = b''
        return self


class InsertMerger(_DumpStream):
    """Stream filter for mysqldump output: counts rows per table and joins consecutive single-line INSERTs into
    the same table into multi-row INSERTs (<= limit bytes; limit=0 passes statements through unchanged).

    Only for mysqldump output, where no string holds a raw newline (mysqldump escapes them), so a line that starts
    with "INSERT INTO `" starts a statement and every other line of a multi-line INSERT (MariaDB's extended
    format: one tuple per line) holds whole tuples. Rows are counted by line: a line without the tuple separator
    "),(" starts one row (the guide's --skip-extended-insert format is one such INSERT per line); only lines that
    contain one are scanned string-aware (_SEPARATORS). It records what a DumpScanner does (counts, tables,
    databases, head, tail, completed, is_mysqldump), so a restore needs no second, byte-by-byte pass over the
    dump. Restoring a --skip-extended-insert dump this way parses like an extended one.
    """

    def __init__(self, limit=1024 * 1024):
        super(InsertMerger, self).__init__()
        self.limit = limit
        self.carry = b''
        self.prefix = None
        self.parts = []
        self.size = 0
        self._names = {}
        self._inside = None

    def _flush(self, out):
        if self.prefix is not None:
            out.append(self.prefix + b','.join(self.parts) + b';\n')
        self.prefix = None
        self.parts = []
        self.size = 0

    def _count(self, name, fragment):
        """Rows that start in fragment, a whole line of VALUES tuples: 1 + its tuple separators."""
        rows = 1
        if b'),(' in fragment:
            rows += sum(1 for t in _SEPARATORS.finditer(fragment) if t.group(0)[:1] == b')')
        self.counts[name] = self.counts.get(name, 0) + rows

    def feed(self, data):
        if not data:
            return b''
        self._observe(data)
        lines = (self.carry + data).split(b'\n')
        self.carry = lines.pop()
        out = []
        for line in lines:
            self._line(line, out)
        return b''.join(out)

    def _line(self, line, out):
        if self._inside is not None:
            # a row line of a multi-line INSERT (MariaDB's mysqldump writes one tuple per line)
            self._count(self._inside, line)
            if line.endswith(b';'):
                self._inside = None
        elif line.startswith(b'INSERT INTO `'):
            idx = line.find(b'` VALUES')
            if idx > 0:
                prefix = line[:idx + 9]
                name = self._names.get(prefix)
                if name is None:
                    name = self._names[prefix] = _ident(line[13:idx])
                body = line[idx + 9:]
                if body[:1] == b'(' and body.endswith(b');') and b'),(' not in body:
                    # one row, one line: the guide's --skip-extended-insert format
                    self.counts[name] = self.counts.get(name, 0) + 1
                    body = body[:-1]
                    if prefix == self.prefix and self.size + len(body) < self.limit:
                        self.parts.append(body)
                        self.size += len(body) + 1
                        return
                    self._flush(out)
                    if self.limit:
                        self.prefix, self.parts, self.size = prefix, [body], len(prefix) + len(body)
                        return
                    out.append(line + b'\n')
                    return
                body = body.strip()
                if body[:1] == b'(':
                    self._count(name, body)
                else:
                    self.counts.setdefault(name, 0)
                if not line.endswith(b';'):
                    self._inside = name
        elif line.startswith(b'CREATE'):
            match = _CREATE_LINE.match(line)
            if match:
                self._table(_ident(match.group(1)))
        elif line.startswith(b'USE `'):
            match = _USE_LINE.match(line)
            if match:
                self.databases.append(_ident(match.group(1)))
        self._flush(out)
        out.append(line + b'\n')

    def finish(self):
        """Remaining output (bytes). The counts are complete afterwards."""
        out = []
        carry, self.carry = self.carry, b''
        if carry:
            self._line(carry, out)
        self._flush(out)
        text = b''.join(out)
        return text[:-1] if carry else text     # the input's last line had no newline


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def zip_sql_member(zf, path='archive'):
    members = [n for n in zf.namelist() if n.endswith('.sql') and not n.endswith('/')]
    if len(members) != 1:
        raise FuncError('%s must hold exactly one .sql file (found %d)' % (path, len(members)))
    return members[0]


COMPRESSIONS = ('none', 'auto', 'gzip', 'zstd')
TOOL_HINT = {'zstd': 'Debian/Ubuntu: apt-get install zstd; EL: yum install zstd',
             'gzip': 'Debian/Ubuntu: apt-get install gzip; EL: yum install gzip'}


def resolve_compress(kind):
    """auto -> zstd where the host has it, else gzip (which never needs a tool: see compressor_argv)."""
    if kind == 'auto':
        return 'zstd' if find_binary('zstd') else 'gzip'
    return kind or 'none'


def missing_tools(compress):
    """Host tools that compress (none/auto/gzip/zstd) needs and this host lacks, as [(tool, hint)]."""
    if resolve_compress(compress) == 'zstd' and not find_binary('zstd'):
        return [('zstd', TOOL_HINT['zstd'])]
    return []


def compressor_argv(kind, level=None):
    """argv of the compressor, or None for gzip on a host without a gzip binary (Python's zlib does it)."""
    if kind == 'gzip':
        binary = find_binary('gzip')
        lvl = level if level is not None else 1
        return [binary, '-c', '-%d' % int(lvl)] if binary else None
    if kind == 'zstd':
        binary = find_binary('zstd')
        lvl = level if level is not None else 3
        if not binary:
            raise FuncError('zstd was not found on this host (%s), or use compress=gzip or auto'
                            % TOOL_HINT['zstd'], missing_tool='zstd')
        return [binary, '-q', '-c', '-%d' % int(lvl)]
    raise FuncError('Unknown compression %r' % (kind,))


def gzip_compressor(level=None):
    """In-process gzip stream (same format as gzip -c) for hosts without the gzip binary."""
    import zlib
    return zlib.compressobj(int(level if level is not None else 1), zlib.DEFLATED, 31)


def decompressor_argv(kind, path):
    if kind == 'gzip':
        binary = find_binary('gzip')
    elif kind == 'zstd':
        binary = find_binary('zstd')
    else:
        raise FuncError('Unknown compression %r' % (kind,))
    if not binary:
        raise FuncError('%s was not found on this host; it is needed to read %s (%s)'
                        % (kind, path, TOOL_HINT[kind]), missing_tool=kind)
    return [binary, '-dc', '-q', path] if kind == 'zstd' else [binary, '-dc', path]


class DecompressedReader(object):
    """read(n) over a gzip/zstd file: the host's gzip/zstd when present, Python's gzip module for gzip
    otherwise. close() raises FuncError when the data was damaged."""

    def __init__(self, kind, path):
        self.path = path
        self.proc = None
        self.handle = None
        if kind == 'gzip' and not find_binary('gzip'):
            import gzip
            self.handle = gzip.open(path, 'rb')
        else:
            self._err = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(decompressor_argv(kind, path), stdout=subprocess.PIPE, stderr=self._err)
            self._fd = self.proc.stdout.fileno()

    def read(self, n):
        if self.handle is not None:
            try:
                return self.handle.read(n)
            except (OSError, EOFError, ValueError) as exc:
                raise FuncError('%s cannot be decompressed: %s' % (self.path, exc))
        return os.read(self._fd, n)

    def close(self, check=True):
        if self.handle is not None:
            self.handle.close()
            return
        self.proc.stdout.close()
        if not check and self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait()
        self._err.seek(0)
        err = self._err.read().decode('utf-8', 'replace')
        self._err.close()
        if check and rc != 0:
            raise FuncError('%s cannot be decompressed: %s' % (self.path, err.strip() or 'rc=%s' % rc))
