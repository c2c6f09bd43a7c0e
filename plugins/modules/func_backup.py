#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_backup
short_description: Dump, restore, list and prune backups of the DataFlux Func database
version_added: 0.1.0
description:
  - Dumps the DataFlux Func database with C(mysqldump) to a file on the managed host, for the built-in MySQL
    container (through the container, like the maintenance guide's C(docker exec ... mysqldump)) and for an
    external MySQL (with the host's client).
  - The defaults reproduce the guide's export options (C(--hex-blob --default-character-set=utf8mb4
    --skip-extended-insert --databases dataflux_func)) plus C(--single-transaction) for a consistent snapshot.
  - Dumps are named like DataFlux Func's own backups, C(dataflux-func-sqldump-YYYYMMDD-hhmmss.sql[.gz|.zst])
    (time in the installation's C(TIMEZONE)), written atomically (hidden temporary file, fsync, rename) with
    mode 0600, a SHA-256 sidecar C(<file>.sha256) (C(sha256sum -c) format) and a metadata sidecar
    C(<file>.meta.json). A dump whose output lacks the C(-- Dump completed) trailer is an error and leaves
    no file that looks like a backup.
  - Restores plain, gzip or zstd dumps and DataFlux Func's in-app backup archives (C(.zip) holding one
    C(.sql)), after an explicit confirmation, with a safety backup first, exact verification afterwards
    (same tables, C(COUNT(*)) per table equal to the rows in the dump) and an automatic roll-back to the
    safety backup when anything fails.
  - Lists and prunes the collection's dumps and the in-app backups (count, age and size limits).
  - Passwords never appear on a command line, on the host or inside containers.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
  - dataflux.func.mysql
options:
  state:
    description:
      - V(dump) writes a new dump. It always reports a change.
      - V(restore) replaces the database with the content of O(src). Requires O(confirm=true).
      - V(inventory) lists every backup in O(backup_dir) in RV(backups). Never changes anything.
      - V(prune) applies the retention limits O(keep_count), O(keep_days) and O(keep_size).
    type: str
    choices: [dump, restore, inventory, prune]
    default: dump
  backup_dir:
    description:
      - Directory of the backups. Default is C(<install_dir>/data/sqldump), where DataFlux Func also keeps its
        in-app backups.
    type: path
    aliases: [dest_dir]
  compress:
    description:
      - Compression of new dumps (also of the safety backup taken by O(state=restore)).
      - V(zstd) is fast and small and needs the C(zstd) tool on the host; V(gzip) uses the host's C(gzip) or,
        where there is none, Python's own zlib, so it needs no tool; V(auto) is V(zstd) where the host has
        C(zstd), else V(gzip); V(none) writes plain C(.sql). Every tool a dump needs is checked before
        anything is written, in check mode too.
      - V(none) is refused when O(backup_dir) is DataFlux Func's own C(data/sqldump), because the product's hourly
        rotation deletes a plain prefixed C(.sql) there and, through an upstream bug, then stops pruning its
        backups by count. The safety backup of O(state=restore) is compressed there for the same reason.
    type: str
    choices: [none, auto, gzip, zstd]
    default: auto
  compress_level:
    description:
      - Compression level. Default V(1) for gzip (C(gzip -6) is several times slower for a few percent),
        V(3) for zstd.
    type: int
  extended_insert:
    description:
      - Write multi-row C(INSERT) statements (smaller, faster to restore). The default V(false) is the guide's
        C(--skip-extended-insert).
    type: bool
    default: false
  check_privileges:
    description:
      - For an external MySQL (O(mysql_transport=direct)), check the user's grants before dumping and fail
        naming each missing privilege of C(SELECT), C(RELOAD), C(LOCK TABLES), C(REPLICATION CLIENT),
        C(SHOW VIEW), C(PROCESS) (maintenance guide section 7).
    type: bool
    default: true
  src:
    description:
      - The backup to restore with O(state=restore), a plain, gzip or zstd dump, or an in-app C(.zip). A bare
        file name is looked up in O(backup_dir).
      - Before anything changes (no safety backup, nothing dropped) the whole source is read once and refused
        unless it is a complete DataFlux Func dump, with a message saying why; an empty or comment-only file,
        one without C(CREATE TABLE), a mysqldump file without its completion trailer, an in-app backup cut off
        inside a table, SQL of unknown origin, or a dump without the tables every DataFlux Func database has
        (C(wat_main_system_setting), C(wat_main_user), C(biz_main_script), C(biz_main_func)).
    type: path
  confirm:
    description:
      - Must be V(true) for O(state=restore), which replaces the tables the dump holds.
    type: bool
    default: false
  allow_foreign_dump:
    description:
      - Restore a dump whose C(DATAFLUX_FUNC_ID) differs from the installation's. Such a dump is refused by
        default, because it replaces the installation's identity, and its users' password hashes were made with the
        other installation's SECRET, so nobody can sign in until the admin password is reset.
    type: bool
    default: false
  exact:
    description:
      - With V(false) (default), as the maintenance guide's import, only the tables the dump holds are
        replaced; other tables of the database are kept and listed in RV(kept_tables).
      - With V(true) the database is made to equal the dump; every other table is dropped and listed in
        RV(dropped_tables).
    type: bool
    default: false
  safety_backup:
    description:
      - Take a dump of the current database before restoring, and restore it if the restore or its
        verification fails.
    type: bool
    default: true
  verify:
    description:
      - After a restore, compare the tables and the exact row count of each table with the dump.
    type: bool
    default: true
  keep_count:
    description:
      - O(state=prune) keeps at most this many of the collection's dumps, and this many in-app backups
        (DataFlux Func's C(DB_AUTO_BACKUP_LIMIT) default). V(0) means no limit.
    type: int
    default: 168
  keep_days:
    description:
      - O(state=prune) deletes backups older than this many days. V(0) means no limit.
    type: int
    default: 7
  keep_size:
    description:
      - O(state=prune) keeps, newest first, backups until their total size exceeds this (per kind; like
        C(DB_AUTO_BACKUP_SIZE_LIMIT)). Sizes like V(5GB), V(500MB) or a number of bytes. V(0) means no limit.
    type: str
    default: 5GB
  prune_inapp:
    description:
      - O(state=prune) also applies the limits to the in-app C(.zip) backups and removes stray in-app
        C(.sql) leftovers (files without a C(.sha256) sidecar), which stop DataFlux Func's own pruning.
    type: bool
    default: true
  verify_checksums:
    description:
      - O(state=inventory) reads every dump to compare it with its C(.sha256) sidecar (and tests every C(.zip)).
    type: bool
    default: true
  timeout:
    description:
      - Seconds a dump or restore may take. V(0) means no limit.
    type: int
    default: 0
notes:
  - The newest valid backup of each kind is never deleted by O(state=prune), whatever the limits say.
  - Restoring a C(--skip-extended-insert) dump row by row with autocommit is slow (every row is a commit);
    this module streams the dump inside C(SET autocommit=0) ... C(COMMIT) instead.
  - Expected row counts come from the dump itself (rows of its C(INSERT) statements, counted while
    streaming), and are compared with C(COUNT(*)), not with C(information_schema) estimates.
seealso:
  - name: DataFlux Func maintenance guide
    description: Export and import of MySQL data, automatic database backups.
    link: https://func.guance.com/doc/maintenance-guide-maintenance/
attributes:
  check_mode:
    support: full
    details:
      - O(state=dump) and O(state=restore) report a change without touching anything; O(state=prune)
        returns exactly the files it would delete in RV(deleted).
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - O(state=dump) always creates a new file; O(state=inventory) never changes anything; O(state=prune) is
        idempotent.
'''

EXAMPLES = r'''
- name: Dump the DataFlux Func database (built-in MySQL container or external MySQL, picked automatically)
  dataflux.func.func_backup:
    state: dump
    compress: zstd
  register: dump

- name: Restore the newest dump (replaces the database)
  dataflux.func.func_backup:
    state: restore
    src: "{{ dump.path }}"
    confirm: true

- name: Restore an in-app backup archive
  dataflux.func.func_backup:
    state: restore
    src: dataflux-func-sqldump-20241012-100000.zip
    confirm: true

- name: Show what retention would delete
  dataflux.func.func_backup:
    state: prune
    keep_count: 48
    keep_days: 2
  check_mode: true

- name: List backups and whether their checksums still match
  dataflux.func.func_backup:
    state: inventory
  register: backups
'''

RETURN = r'''
path:
  description: The new dump (O(state=dump)), or the restored file (O(state=restore)).
  returned: state is dump or restore
  type: str
  sample: /usr/local/dataflux-func/data/sqldump/dataflux-func-sqldump-20241012-100000.sql.zst
size:
  description: Size of the dump file in bytes.
  returned: state is dump and not in check mode
  type: int
checksum:
  description: SHA-256 of the dump file (also in RV(sha256_path)).
  returned: state is dump and not in check mode
  type: str
sha256_path:
  description: The SHA-256 sidecar file.
  returned: state is dump and not in check mode
  type: str
raw_bytes:
  description: Uncompressed size of the dump.
  returned: state is dump and not in check mode
  type: int
duration:
  description: Seconds the dump or restore took.
  returned: state is dump or restore
  type: float
version:
  description: DataFlux Func version of the running server service's image, when it can be read.
  returned: state is dump or restore
  type: str
  sample: 5.1.7
upgrade_seq:
  description: C(UPGRADE_DB_SEQ) of the database at the time of the dump (V(null) if the table or row is absent).
  returned: state is dump or restore
  type: int
  sample: 29
transport:
  description: The MySQL transport used.
  returned: state is dump or restore
  type: str
  sample: container
database:
  description: The database dumped or restored.
  returned: state is dump or restore
  type: str
tables:
  description: Tables found in the restored dump.
  returned: state is restore and not in check mode
  type: list
  elements: str
row_counts:
  description: Rows per table in the dump, equal to C(COUNT(*)) after the restore when O(verify=true).
  returned: state is restore and not in check mode
  type: dict
safety_backup:
  description: Path of the safety backup taken before the restore.
  returned: state is restore and O(safety_backup=true) and not in check mode
  type: str
backups:
  description: Every backup in the backup directory, newest first.
  returned: state is inventory
  type: list
  elements: dict
  contains:
    name:
      description: File name.
      type: str
    path:
      description: Full path.
      type: str
    kind:
      description: V(dump) (this collection), V(inapp) (DataFlux Func's C(.zip)) or V(stray) (an in-app C(.sql)
        leftover or a plain dump without a sidecar).
      type: str
    time:
      description: Time of the backup from its name (ISO 8601, in the installation's C(TIMEZONE)).
      type: str
    size:
      description: Size in bytes.
      type: int
    checksum:
      description: V(ok), V(mismatch) or V(missing) (no sidecar) for dumps; V(ok) or V(bad) (archive test)
        for C(.zip); V(null) when not verified.
      type: str
    valid:
      description: Whether the backup can be trusted (checksum or archive test passed).
      type: bool
    version:
      description: DataFlux Func version the dump was taken at (from its C(.meta.json); dumps of this collection).
      type: str
    upgrade_seq:
      description: C(UPGRADE_DB_SEQ) of the database when the dump was taken (from its C(.meta.json)).
      type: int
deleted:
  description: Files deleted (or, in check mode, that would be deleted) by O(state=prune).
  returned: state is prune
  type: list
  elements: str
kept:
  description: Backups kept by O(state=prune).
  returned: state is prune
  type: list
  elements: str
commands:
  description: Commands run (no secrets).
  returned: always
  type: list
  elements: str
kept_tables:
  description: Tables of the database that the dump does not hold, kept by O(state=restore) (O(exact=false)).
  returned: state is restore
  type: list
  elements: str
dropped_tables:
  description: Tables of the database that the dump does not hold, dropped by O(state=restore) with O(exact=true).
  returned: state is restore
  type: list
  elements: str
origin:
  description: Kind of the restored source, V(mysqldump) or V(inapp) (DataFlux Func's own backup).
  returned: state is restore
  type: str
dump_func_id:
  description: The C(DATAFLUX_FUNC_ID) the restored dump carries, if any.
  returned: state is restore
  type: str
'''

import datetime
import json
import os
import re
import signal
import time
import zlib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dataflux.func.plugins.module_utils._func_common import (
    FuncError, atomic_write, fail_from, fsync_dir, sha256_file, zone)
from ansible_collections.dataflux.func.plugins.module_utils._func_docker import DockerCLI, install_argument_spec
from ansible_collections.dataflux.func.plugins.module_utils._func_install import Installation, check_path, parse_size
from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import (
    COMPRESSIONS, DecompressedReader, DumpScanner, DumpSummary, MySQLClient, detect_format, missing_tools,
    mysql_argument_spec, quote, quote_ident, resolve_compress, zip_sql_member)

PREFIX = 'dataflux-func-sqldump-'
# Tables every DataFlux Func database has (since 1.x): a source without them is not a DataFlux Func dump.
REQUIRED_TABLES = ('wat_main_system_setting', 'wat_main_user', 'biz_main_script', 'biz_main_func')
CHUNK = 1024 * 1024
NAME_RE = re.compile(r'^dataflux-func-sqldump-(\d{8})-(\d{6})\.(sql|sql\.gz|sql\.zst|zip)$')
TMP_RE = re.compile(r'^\.dataflux-func-sqldump-.*\.tmp$')
EXT = {'none': '.sql', 'gzip': '.sql.gz', 'zstd': '.sql.zst'}
STALE_TMP_SECONDS = 12 * 3600


class _Terminated(BaseException):
    pass


def _on_term(signum, frame):
    raise _Terminated('terminated by signal %d' % signum)


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
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.installation = Installation(self.params['install_dir'], self.params['stack_name'])
        self.docker = DockerCLI(module, self.params['docker_cli'], self.params['docker_host'])
        self.config = {}
        try:
            self.config = self.installation.effective_config('server')
        except FuncError:
            self.config = {}
        self.tz = zone(self.config.get('TIMEZONE') or 'Asia/Shanghai')
        self.backup_dir = (check_path(self.params['backup_dir'], 'backup_dir') if self.params['backup_dir']
                           else self.installation.path('sqldump_dir'))
        self.client = None
        self.commands = []

    @property
    def secrets(self):
        out = [self.params.get('mysql_password'), self.config.get('MYSQL_PASSWORD')]
        return [s for s in out if s]

    def connect(self):
        if self.client is None:
            self.client = MySQLClient.for_installation(self.module, self.installation, self.docker,
                                                       self.params)
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
    def system_setting(client, key):
        """A value of wat_main_system_setting (JSON string quotes stripped), None when unreadable or absent."""
        try:
            rows = client.query('SELECT value FROM wat_main_system_setting WHERE id = %s' % quote(key))
        except FuncError:
            return None
        if not rows or rows[0].get('value') is None:
            return None
        return rows[0]['value'].strip().strip('"') or None

    def upgrade_seq(self, client):
        try:
            return int(self.system_setting(client, 'UPGRADE_DB_SEQ'))
        except (TypeError, ValueError):
            return None

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
        return self.system_setting(client, 'DATAFLUX_FUNC_ID')

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


def main():
    argument_spec = install_argument_spec()
    argument_spec.update(dict(
        state=dict(type='str', default='dump', choices=['dump', 'restore', 'inventory', 'prune']),
        backup_dir=dict(type='path', aliases=['dest_dir']),
        compress=dict(type='str', default='auto', choices=list(COMPRESSIONS)),
        compress_level=dict(type='int'),
        extended_insert=dict(type='bool', default=False),
        check_privileges=dict(type='bool', default=True),
        src=dict(type='path'),
        confirm=dict(type='bool', default=False),
        allow_foreign_dump=dict(type='bool', default=False),
        exact=dict(type='bool', default=False),
        safety_backup=dict(type='bool', default=True),
        verify=dict(type='bool', default=True),
        keep_count=dict(type='int', default=168),
        keep_days=dict(type='int', default=7),
        keep_size=dict(type='str', default='5GB'),
        prune_inapp=dict(type='bool', default=True),
        verify_checksums=dict(type='bool', default=True),
        timeout=dict(type='int', default=0),
    ))
    argument_spec.update(mysql_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'restore', ('src',))])
    signal.signal(signal.SIGTERM, _on_term)
    state = module.params['state']
    backup = None
    secrets = [module.params.get('mysql_password')]
    try:
        if state == 'restore' and not module.params['confirm']:
            raise FuncError('state=restore replaces the whole DataFlux Func database; set confirm=true to do '
                            'it. Nothing was changed.')
        backup = Backup(module)
        secrets = backup.secrets
        if state == 'dump':
            result = backup.dump(module.check_mode)
            result['changed'] = True
        elif state == 'restore':
            result = backup.restore(module.check_mode)
            result['changed'] = True
        elif state == 'inventory':
            result = backup.list()
            result['changed'] = False
        else:
            result = backup.prune(module.check_mode)
        result['commands'] = (backup.client.commands if backup.client else []) + backup.docker.commands
        module.exit_json(**result)
    except (FuncError, _Terminated, Exception) as exc:
        if backup is not None and isinstance(exc, FuncError):
            exc.details.setdefault('commands', (backup.client.commands if backup.client else []))
        fail_from(module, exc, secrets)


if __name__ == '__main__':
    main()
