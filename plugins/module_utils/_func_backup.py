# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database backups of an installation (the use cases behind func_backup): dump, restore, inventory, prune.

Names and retention follow the product's own backups (data/sqldump/dataflux-func-sqldump-YYYYMMDD-HHMMSS.*,
time in TIMEZONE); func_info lists them with the same scan.
"""

import datetime
import json
import os
import re
import time
import zlib

from ansible_collections.dataflux.func.plugins.module_utils._func_app import SYSTEM_SETTING_TABLE, read_system_settings
from ansible_collections.dataflux.func.plugins.module_utils._func_common import (
    FuncError, atomic_write, fsync_dir, sha256_file, zone)
from ansible_collections.dataflux.func.plugins.module_utils._func_install import (
    CONFIG_DEFAULTS, check_path, parse_size)
from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import quote_ident
from ansible_collections.dataflux.func.plugins.module_utils._func_sqldump import (
    DecompressedReader, DumpScanner, DumpSummary, detect_format, missing_tools, resolve_compress, zip_sql_member)

PREFIX = 'dataflux-func-sqldump-'
# Tables every DataFlux Func database has (since 1.x): a source without them is not a DataFlux Func dump.
REQUIRED_TABLES = (SYSTEM_SETTING_TABLE, 'wat_main_user', 'biz_main_script', 'biz_main_func')
CHUNK = 1024 * 1024
NAME_RE = re.compile(r'^dataflux-func-sqldump-(\d{8})-(\d{6})\.(sql|sql\.gz|sql\.zst|zip)$')
TMP_RE = re.compile(r'^\.dataflux-func-sqldump-.*\.tmp$')
EXT = {'none': '.sql', 'gzip': '.sql.gz', 'zstd': '.sql.zst'}
STALE_TMP_SECONDS = 12 * 3600


def backup_zone(config):
    """The time zone of backup names: the installation's TIMEZONE (the product's default when unset)."""
    return zone((config or {}).get('TIMEZONE') or CONFIG_DEFAULTS['TIMEZONE'])


def backup_name(now, tz, compress):
    when = datetime.datetime.fromtimestamp(now, tz) if tz else datetime.datetime.fromtimestamp(now)
    return '%s%s%s' % (PREFIX, when.strftime('%Y%m%d-%H%M%S'), EXT[compress])


def name_time(name, tz):
    match = NAME_RE.match(name)
    if not match:
        return None, None
    dt = datetime.datetime.strptime(match.group(1) + match.group(2), '%Y%m%d%H%M%S')
    if tz is not None:
        dt = dt.replace(tzinfo=tz)
        return dt.timestamp(), dt.isoformat()
    return time.mktime(dt.timetuple()), dt.isoformat()


def read_sidecar(path):
    try:
        with open(path + '.sha256') as handle:
            return handle.read().split()[0].strip().lower()
    except (OSError, IndexError):
        return None


def scan_dir(directory, tz):
    """Backups in directory (newest first) plus stale temporary files; no file content is read."""
    entries, temps = [], []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return entries, temps
    for name in names:
        path = os.path.join(directory, name)
        if TMP_RE.match(name):
            temps.append(path)
            continue
        epoch, iso = name_time(name, tz)
        if epoch is None or not os.path.isfile(path):
            continue
        if name.endswith('.zip'):
            kind = 'inapp'
        elif name.endswith('.sql') and not os.path.exists(path + '.sha256'):
            kind = 'stray'
        else:
            kind = 'dump'
        st = os.stat(path)
        entries.append({'name': name, 'path': path, 'kind': kind, 'time': iso, 'epoch': epoch,
                        'size': st.st_size, 'checksum': None, 'valid': None})
    entries.sort(key=lambda e: (e['epoch'], e['name']), reverse=True)
    return entries, temps


def check_entry(entry):
    """Fill checksum/valid of one entry by reading it."""
    if entry['kind'] == 'inapp':
        import zipfile
        try:
            with zipfile.ZipFile(entry['path']) as zf:
                zip_sql_member(zf, entry['path'])
                bad = zf.testzip()
            entry['checksum'] = 'ok' if bad is None else 'bad'
        except Exception:
            entry['checksum'] = 'bad'
        entry['valid'] = entry['checksum'] == 'ok'
        return entry
    expected = read_sidecar(entry['path'])
    if expected is None:
        entry['checksum'] = 'missing'
        entry['valid'] = False
        return entry
    entry['checksum'] = 'ok' if sha256_file(entry['path']) == expected else 'mismatch'
    entry['valid'] = entry['checksum'] == 'ok'
    meta = read_meta(entry['path'])
    if meta:
        entry['version'] = meta.get('version')
        entry['upgrade_seq'] = meta.get('upgrade_seq')
    return entry


def read_meta(path):
    try:
        with open(path + '.meta.json') as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def plan_retention(entries, keep_count, keep_days, keep_size, now, is_valid):
    """Names to delete for one kind of backups (entries newest first).

    A backup goes when it is beyond the newest keep_count, older than keep_days, or beyond a cumulative
    keep_size; the newest valid backup is never deleted. is_valid(entry) is called lazily, newest first.
    """
    protected = None
    for entry in entries:
        if is_valid(entry):
            protected = entry['name']
            break
    delete, total, kept = [], 0, 0
    for entry in entries:
        reasons = []
        if keep_count and kept >= keep_count:
            reasons.append('count')
        if keep_days and now - entry['epoch'] > keep_days * 86400:
            reasons.append('age')
        if keep_size and total + entry['size'] > keep_size:
            reasons.append('size')
        if reasons and entry['name'] != protected:
            delete.append((entry, reasons))
            continue
        kept += 1
        total += entry['size']
    return delete, protected


class Backup(object):
    """The backups of one installation, run inside a module context (_func_module.FuncModule)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.params = ctx.params
        self.installation = ctx.installation
        self.docker = ctx.docker
        try:
            self.config = ctx.config()
        except FuncError:
            self.config = {}
        ctx.add_secret(self.config.get('MYSQL_PASSWORD'))
        self.tz = backup_zone(self.config)
        self.backup_dir = (check_path(self.params['backup_dir'], 'backup_dir') if self.params['backup_dir']
                           else self.installation.path('sqldump_dir'))
        self.client = None
        self.commands = []

    def connect(self):
        if self.client is None:
            self.client = self.ctx.mysql()
        return self.client

    # --- facts ---------------------------------------------------------------------------
    def func_version(self):
        try:
            rows = self.docker.inspect('service', '%s_server' % self.installation.stack_name)
        except FuncError:
            return None
        except Exception:
            return None
        if not rows:
            return None
        image = (((rows[0].get('Spec') or {}).get('TaskTemplate') or {}).get('ContainerSpec') or {}).get('Image')
        if not image:
            return None
        image = image.split('@', 1)[0]
        tag = image.rsplit(':', 1)[1] if ':' in image.rsplit('/', 1)[-1] else None
        return tag

    @staticmethod
    def settings(client):
        """UPGRADE_DB_SEQ and DATAFLUX_FUNC_ID ({} when the database cannot be read, e.g. no such table yet)."""
        try:
            return read_system_settings(client)
        except FuncError:
            return {}

    def upgrade_seq(self, client):
        return self.settings(client).get('upgrade_seq')

    # --- dump ----------------------------------------------------------------------------
    def new_name(self, compress):
        name = backup_name(time.time(), self.tz, compress)
        for _i in range(3):
            if not os.path.exists(os.path.join(self.backup_dir, name)):
                return name
            time.sleep(1.0)
            name = backup_name(time.time(), self.tz, compress)
        raise FuncError('A backup named %s already exists in %s' % (name, self.backup_dir))

    def in_product_dir(self):
        """Whether backup_dir is DataFlux Func's own DB_AUTO_BACKUP_DIR (data/sqldump), whose hourly rotation
        deletes any plain prefixed .sql and, through an upstream bug, then stops pruning by count."""
        own = self.installation.path('sqldump_dir')
        return os.path.realpath(self.backup_dir) == os.path.realpath(own)

    def safety_compress(self):
        compress = self.params['compress']
        return 'auto' if compress == 'none' and self.in_product_dir() else compress

    def dump(self, check_mode=False, compress=None):
        p = self.params
        client = self.connect()
        compress = resolve_compress(compress or p['compress'])
        if compress == 'none' and self.in_product_dir():
            raise FuncError('compress=none would write a plain dataflux-func-sqldump-*.sql into %s, DataFlux Func\'s '
                            'own backup directory: its hourly rotation deletes such a file and, through an upstream '
                            'bug, then stops pruning its backups by count. Use compress=auto, gzip or zstd, or '
                            'another backup_dir. Nothing was written.' % self.backup_dir)
        # every tool this dump needs, checked before anything is written (check mode included)
        client.check_runnable('mysqldump')
        for tool, hint in missing_tools(compress):
            raise FuncError('%s is not on this host; it is needed to write a %s-compressed backup (%s). Install it, '
                            'or use compress=auto or gzip (gzip needs no tool).' % (tool, compress, hint),
                            missing_tool=tool)
        if client.transport == 'direct' and p['check_privileges']:
            missing = client.missing_privileges()
            if missing:
                raise FuncError(
                    'MySQL user %s lacks the privilege(s) %s needed to back up database %s (maintenance guide '
                    'section 7 lists SELECT, RELOAD, LOCK TABLES, REPLICATION CLIENT, SHOW VIEW, PROCESS). '
                    'Grant them, e.g. GRANT %s ON *.* TO <user>, or set check_privileges=false.'
                    % (client.user, ', '.join(missing), client.database, ', '.join(missing)),
                    missing_privileges=missing)
        seq = self.upgrade_seq(client)
        version = self.func_version()
        name = self.new_name(compress)
        path = os.path.join(self.backup_dir, name)
        result = {'path': path, 'transport': client.transport, 'database': client.database,
                  'upgrade_seq': seq, 'version': version, 'compress': compress}
        if check_mode:
            return result
        if not os.path.isdir(self.backup_dir):
            os.makedirs(self.backup_dir, 0o700)
        options = ['--single-transaction', '--hex-blob', '--default-character-set=utf8mb4',
                   '--extended-insert' if p['extended_insert'] else '--skip-extended-insert']
        tmp = os.path.join(self.backup_dir, '.%s.%d.tmp' % (name, os.getpid()))
        try:
            info = client.dump(tmp, options=options, compress=None if compress == 'none' else compress,
                               compress_level=p['compress_level'], timeout=p['timeout'] or None)
            checksum = info['sha256'] or sha256_file(tmp)
            size = os.path.getsize(tmp)
            meta = {'name': name, 'sha256': checksum, 'size': size, 'raw_bytes': info['raw_bytes'],
                    'database': client.database, 'transport': client.transport, 'compress': compress,
                    'options': options, 'version': version, 'upgrade_seq': seq,
                    'created': datetime.datetime.now(self.tz).isoformat(), 'duration': info['duration']}
            atomic_write(path + '.sha256', '%s  %s\n' % (checksum, name), mode=0o600)
            atomic_write(path + '.meta.json', json.dumps(meta, indent=2, sort_keys=True) + '\n', mode=0o600)
            os.rename(tmp, path)
            fsync_dir(self.backup_dir)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        result.update({'size': size, 'checksum': checksum, 'sha256_path': path + '.sha256',
                       'raw_bytes': info['raw_bytes'], 'duration': round(info['duration'], 3)})
        return result

    # --- restore -------------------------------------------------------------------------
    def resolve_src(self):
        src = self.params['src']
        if not src:
            raise FuncError('state=restore needs src (a dump or an in-app .zip backup)')
        if any(c in src for c in '\0\n\r'):
            raise FuncError('src must be a file name or an absolute path, not %r' % (src,))
        if os.sep not in src:
            src = os.path.join(self.backup_dir, src)     # a bare name is looked up in backup_dir
        src = check_path(src, 'src')
        if not os.path.isfile(src):
            raise FuncError('src: the backup to restore, %s, does not exist (or is not a file)' % src)
        return src

    def read_source(self, src, fmt):
        """Read the whole source once (decompressing it; the .sql inside a .zip) into a DumpSummary."""
        summary = DumpSummary()
        if fmt == 'zip':
            import zipfile
            try:
                with zipfile.ZipFile(src) as zf:
                    member = zip_sql_member(zf, src)
                    with zf.open(member) as handle:
                        while True:
                            data = handle.read(CHUNK)
                            if not data:
                                break
                            summary.feed(data)
            except zipfile.BadZipFile as exc:
                raise FuncError('%s is not a readable zip archive: %s' % (src, exc))
            except (zlib.error, EOFError) as exc:
                raise FuncError('%s is damaged: %s' % (src, exc))
            return summary.finish()
        reader = open(src, 'rb') if fmt == 'plain' else DecompressedReader(fmt, src)
        try:
            while True:
                data = reader.read(CHUNK)
                if not data:
                    break
                summary.feed(data)
        except BaseException:
            reader.close() if fmt == 'plain' else reader.close(check=False)
            raise
        reader.close()
        return summary.finish()

    def precheck_src(self, src, client):
        """Everything that can be known about the source, checked before anything changes (no safety backup,
        nothing dropped): checksum, a complete DataFlux Func dump, the target database, the installation."""
        fmt = detect_format(src)
        expected = read_sidecar(src)
        if expected is not None and sha256_file(src) != expected:
            raise FuncError('%s does not match its checksum sidecar %s.sha256; refusing to restore a damaged '
                            'backup' % (src, src))
        if os.path.getsize(src) == 0:
            raise FuncError('src %s is empty; nothing was restored and nothing was changed.' % src)
        if fmt == 'zip' and not self._zip_intact(src):
            raise FuncError('%s is damaged (CRC error); nothing was changed.' % src)
        summary = self.read_source(src, fmt)
        why = None
        if summary.size == 0:
            why = 'it holds no SQL'
        elif not summary.created:
            why = 'it holds no CREATE TABLE statement'
        else:
            why = summary.incomplete()
        if why:
            raise FuncError('src %s is not a complete DataFlux Func dump: %s. Nothing was restored and nothing was '
                            'changed.' % (src, why), origin=summary.origin)
        missing = [t for t in REQUIRED_TABLES if t not in summary.created]
        if missing:
            raise FuncError('src %s is not a DataFlux Func dump: it does not create %s, which every DataFlux Func '
                            'database has. Nothing was changed.' % (src, ', '.join(missing)),
                            missing_tables=missing)
        head = DumpScanner()
        head.feed(summary.head)
        database = client.database
        if head.databases and database and head.databases[0] != database:
            raise FuncError('%s is a dump of database %s, but the installation uses %s; restoring it would not '
                            'replace the installation\'s database' % (src, head.databases[0], database))
        ours = self.func_id(client)
        if summary.func_id and ours and summary.func_id != ours and not self.params['allow_foreign_dump']:
            raise FuncError(
                '%s is a dump of another DataFlux Func installation (DATAFLUX_FUNC_ID %s; this one is %s). Restored '
                'here, it replaces this installation\'s identity, and its users\' password hashes were made with the '
                'other installation\'s SECRET, so nobody can sign in until the admin password is reset '
                '(dataflux.func.func_admin action=reset_admin, or the admin tool). Set allow_foreign_dump=true to '
                'restore it anyway. Nothing was changed.' % (src, summary.func_id, ours),
                dump_func_id=summary.func_id, func_id=ours)
        return fmt, summary

    @staticmethod
    def _zip_intact(src):
        import zipfile
        try:
            with zipfile.ZipFile(src) as zf:
                return zf.testzip() is None
        except (zipfile.BadZipFile, zlib.error, EOFError):
            return False

    def func_id(self, client):
        return self.settings(client).get('func_id')

    def _drop_sql(self, client, tables=None):
        """DROP statements for the given tables (those the dump creates), or for every table and view (None)."""
        objects = client.tables()
        if tables is not None:
            objects = {n: t for n, t in objects.items() if n in set(tables)}
        if not objects:
            return ''
        views = [n for n, t in objects.items() if t == 'VIEW']
        tables = [n for n, t in objects.items() if t != 'VIEW']
        db = quote_ident(client.database)
        sql = 'SET foreign_key_checks=0;\n'
        if views:
            sql += 'DROP VIEW IF EXISTS %s;\n' % ', '.join('%s.%s' % (db, quote_ident(v)) for v in views)
        if tables:
            sql += 'DROP TABLE IF EXISTS %s;\n' % ', '.join('%s.%s' % (db, quote_ident(t)) for t in tables)
        return sql

    def _load(self, client, src, fmt, tables=None):
        """Restore src; tables=None drops everything first (the dump is the whole database), else only tables."""
        scanner = client.restore(src, fmt=fmt, prefix_sql=self._drop_sql(client, tables),
                                 timeout=self.params['timeout'] or None)
        problems = []
        if self.params['verify']:
            problems = self.verify(client, scanner, exact=tables is None)
        return scanner, problems

    def verify(self, client, scanner, exact=True):
        problems = []
        live = {n for n, t in client.tables().items() if t != 'VIEW'}
        expected = set(scanner.tables) | set(scanner.counts)
        missing, unexpected = expected - live, (live - expected) if exact else set()
        if missing or unexpected:
            problems.append('tables differ: missing %s, unexpected %s' % (sorted(missing), sorted(unexpected)))
        counts = client.row_counts(sorted(live & expected))
        for table in sorted(live & expected):
            want = scanner.counts.get(table, 0)
            if counts.get(table) != want:
                problems.append('table %s has %s rows, the dump has %s' % (table, counts.get(table), want))
        return problems

    def restore(self, check_mode=False):
        p = self.params
        if not p['confirm']:
            raise FuncError('state=restore replaces the whole DataFlux Func database; set confirm=true to do '
                            'it. Nothing was changed.')
        src = self.resolve_src()
        client = self.connect()
        fmt, summary = self.precheck_src(src, client)
        live = sorted(n for n, t in client.tables().items() if t != 'VIEW')
        outside = [n for n in live if n not in summary.created]
        result = {'path': src, 'format': fmt, 'transport': client.transport, 'database': client.database,
                  'version': self.func_version(), 'origin': summary.origin, 'dump_func_id': summary.func_id,
                  'kept_tables': [] if p['exact'] else outside, 'dropped_tables': outside if p['exact'] else []}
        if check_mode:
            return result
        start = time.time()
        safety = None
        if p['safety_backup']:
            safety = self.dump(compress=self.safety_compress())
            result['safety_backup'] = safety['path']
        failure = None
        try:
            scanner, problems = self._load(client, src, fmt, None if p['exact'] else summary.created)
            if problems:
                failure = 'verification failed: %s' % '; '.join(problems)
        except FuncError as exc:
            failure = exc.msg
        if failure is None:
            result.update({'tables': sorted(set(scanner.tables) | set(scanner.counts)),
                           'row_counts': scanner.counts, 'duration': round(time.time() - start, 3),
                           'upgrade_seq': self.upgrade_seq(client)})
            return result
        if not safety:
            raise FuncError('Restore of %s failed (%s). No safety backup was taken (safety_backup=false): the '
                            'database may be partly restored.' % (src, failure), rolled_back=False)
        try:
            _sc, problems = self._load(client, safety['path'], detect_format(safety['path']))
        except FuncError as exc:
            raise FuncError('Restore of %s failed (%s), and rolling back to the safety backup %s failed too '
                            '(%s). Restore the safety backup by hand.' % (src, failure, safety['path'], exc.msg),
                            rolled_back=False, safety_backup=safety['path'])
        if problems:
            raise FuncError('Restore of %s failed (%s); the roll-back to %s did not verify: %s'
                            % (src, failure, safety['path'], '; '.join(problems)), rolled_back=False,
                            safety_backup=safety['path'])
        raise FuncError('Restore of %s failed (%s). The database was rolled back to the safety backup %s.'
                        % (src, failure, safety['path']), rolled_back=True, safety_backup=safety['path'])

    # --- list / prune --------------------------------------------------------------------
    def list(self):
        entries, _temps = scan_dir(self.backup_dir, self.tz)
        if self.params['verify_checksums']:
            for entry in entries:
                if entry['kind'] != 'stray':
                    check_entry(entry)
                else:
                    entry['checksum'] = 'missing'
                    entry['valid'] = False
        for entry in entries:
            entry.pop('epoch', None)
            meta = read_meta(entry['path']) or {}
            entry.setdefault('version', meta.get('version'))
            entry.setdefault('upgrade_seq', meta.get('upgrade_seq'))
        return {'backups': entries, 'backup_dir': self.backup_dir}

    def prune(self, check_mode=False):
        p = self.params
        keep_size = parse_size(p['keep_size']) if p['keep_size'] not in (None, '', '0') else 0
        entries, temps = scan_dir(self.backup_dir, self.tz)
        now = time.time()
        cache = {}

        def is_valid(entry):
            if entry['name'] not in cache:
                cache[entry['name']] = bool(check_entry(dict(entry))['valid'])
            return cache[entry['name']]

        deletions = []
        reasons = {}
        protected = []
        kinds = ['dump'] + (['inapp'] if p['prune_inapp'] else [])
        for kind in kinds:
            group = [e for e in entries if e['kind'] == kind]
            delete, keep_newest = plan_retention(group, p['keep_count'], p['keep_days'], keep_size, now, is_valid)
            if keep_newest:
                protected.append(keep_newest)
            for entry, why in delete:
                deletions.append(entry['path'])
                reasons[entry['name']] = why
        if p['prune_inapp']:
            for entry in entries:
                if entry['kind'] == 'stray':
                    deletions.append(entry['path'])
                    reasons[entry['name']] = ['stray']
        for path in temps:
            try:
                if now - os.path.getmtime(path) > STALE_TMP_SECONDS:
                    deletions.append(path)
            except OSError:
                pass
        files = []
        for path in deletions:
            files.append(path)
            for side in ('.sha256', '.meta.json'):
                if os.path.exists(path + side):
                    files.append(path + side)
        kept = [e['name'] for e in entries if e['path'] not in deletions]
        if not check_mode:
            for path in files:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            if files:
                fsync_dir(self.backup_dir)
        return {'changed': bool(files), 'deleted': files, 'kept': kept, 'reasons': reasons,
                'protected': protected, 'backup_dir': self.backup_dir}
