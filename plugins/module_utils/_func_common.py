# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small helpers shared by every dataflux.func module: secret masking, atomic writes, errors.

Private to the collection (leading underscore): no compatibility promise to other collections.
"""


import calendar
import datetime
import hashlib
import os
import re
import tempfile
import time

MASK = '********'

# Keys of user-config.yaml (and environment names) whose values are secrets.
_SECRET_KEY_RE = re.compile(r'(SECRET|PASSWORD|PASSWD|TOKEN|_AK_|API_KEY|CIPHER)', re.IGNORECASE)


class FuncError(Exception):
    """An expected, explainable failure. Modules turn it into fail_json(msg=..., **details)."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


def is_secret_key(key):
    return bool(_SECRET_KEY_RE.search(str(key)))


def mask_value(key, value):
    if is_secret_key(key) and value not in (None, ''):
        return MASK
    return value


def mask_mapping(data):
    """Copy of a flat or nested mapping with every secret value replaced by MASK."""
    if isinstance(data, dict):
        return {k: (MASK if is_secret_key(k) and v not in (None, '') and not isinstance(v, (dict, list))
                    else mask_mapping(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_mapping(v) for v in data]
    return data


def mask_env_list(env):
    """Mask 'KEY=value' strings (docker service env) whose KEY is secret."""
    out = []
    for item in env or []:
        key, sep, value = str(item).partition('=')
        out.append('%s=%s' % (key, MASK) if sep and is_secret_key(key) and value else item)
    return out


def redact_text(text, secrets):
    """Replace every occurrence of each known secret in text (error messages, command output)."""
    if not text:
        return text
    for secret in sorted({s for s in secrets if s and len(str(s)) >= 3}, key=len, reverse=True):
        text = text.replace(str(secret), MASK)
    return text


_TEXT_KEY_LINE_RE = re.compile(r'''^([ \t]*(?:-[ \t]+)?["']?([A-Za-z0-9_.-]+)["']?[ \t]*[:=][ \t]*)(\S.*)$''',
                               re.MULTILINE)


def mask_secret_lines(text, secrets=()):
    """A YAML / env text (a stack file) for a diff: the value of every line whose key is secret (``KEY: value``,
    ``- KEY=value``) replaced by MASK, and every known secret redacted wherever else it appears."""
    if not text:
        return text
    text = _TEXT_KEY_LINE_RE.sub(lambda m: m.group(1) + MASK if is_secret_key(m.group(2)) else m.group(0), text)
    return redact_text(text, secrets)


def read_file(path, binary=False):
    """The content of a file (bytes with binary), None when it cannot be read."""
    try:
        with open(path, 'rb' if binary else 'r') as handle:
            return handle.read()
    except (OSError, IOError):
        return None


def sha256_file(path, bufsize=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            chunk = handle.read(bufsize)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path, data, mode=0o600, owner=None, group=None):
    """Write bytes/str to path atomically: temp file in the same directory, fsync, rename.

    The file never exists with a wider mode than asked, not even for a moment.
    """
    if isinstance(data, str):
        data = data.encode('utf-8')
    directory = os.path.dirname(os.path.abspath(path)) or '.'
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        os.fchmod(fd, mode)
        if owner is not None or group is not None:
            os.fchown(fd, -1 if owner is None else owner, -1 if group is None else group)
        with os.fdopen(fd, 'wb') as handle:
            fd = None
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, path)
        fsync_dir(directory)
    except BaseException:
        if fd is not None:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fsync_dir(directory):
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def file_mode(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return None


def fail_from(module, exc, secrets=()):
    """fail_json for a FuncError (or any exception) with secrets redacted from every string."""
    if isinstance(exc, FuncError):
        details = {}
        for key, value in exc.details.items():
            details[key] = redact_text(value, secrets) if isinstance(value, str) else value
        module.fail_json(msg=redact_text(exc.msg, secrets), **details)
    module.fail_json(msg=redact_text('%s: %s' % (type(exc).__name__, exc), secrets))


# --- time zones on every supported Python ------------------------------------------------------------------
ZONEINFO_DIRS = ('/usr/share/zoneinfo', '/usr/lib/zoneinfo', '/usr/share/lib/zoneinfo', '/etc/zoneinfo')
_ZONE_NAME_RE = re.compile(r'\A[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*\Z')


class SystemZone(datetime.tzinfo):
    """An IANA zone read through the C library (TZ=<name> + time.localtime), for Pythons without zoneinfo
    (3.6-3.8, the system Python of EL8 / Alibaba Cloud Linux 3). Same rules as zoneinfo.ZoneInfo: both read the
    host's compiled zone files, so a backup name made here equals the one made on 3.9+ for the same instant."""

    def __init__(self, name):
        super(SystemZone, self).__init__()
        self.key = name

    def _with_tz(self, func, *args):
        old = os.environ.get('TZ')
        os.environ['TZ'] = self.key
        time.tzset()
        try:
            return func(*args)
        finally:
            if old is None:
                del os.environ['TZ']
            else:
                os.environ['TZ'] = old
            time.tzset()

    def fromutc(self, dt):
        epoch = calendar.timegm(dt.replace(tzinfo=None).timetuple())
        local = self._with_tz(time.localtime, epoch)
        return datetime.datetime(*local[:6], microsecond=dt.microsecond, tzinfo=self)

    def utcoffset(self, dt):
        if dt is None:
            return None
        naive = dt.replace(tzinfo=None)
        tt = naive.timetuple()[:8] + (-1,)
        epoch = self._with_tz(time.mktime, tt)
        return datetime.timedelta(seconds=calendar.timegm(tt[:6] + (0, 0, 0)) - int(epoch))

    def dst(self, dt):
        return None

    def tzname(self, dt):
        return self.key

    def __repr__(self):
        return 'SystemZone(%r)' % self.key


def zone(name):
    """tzinfo for an IANA zone name (zoneinfo where the Python has it, else SystemZone), None if unknown."""
    if not name or not _ZONE_NAME_RE.match(str(name)):
        return None
    try:
        from zoneinfo import ZoneInfo  # novermin (3.9+; SystemZone below on older Pythons)
    except ImportError:
        ZoneInfo = None
    if ZoneInfo is not None:
        try:
            return ZoneInfo(name)
        except Exception:
            return None
    for base in ZONEINFO_DIRS:
        if os.path.isfile(os.path.join(base, name)):
            return SystemZone(name)
    return None
