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

import signal

from ansible_collections.dataflux.func.plugins.module_utils._func_backup import Backup
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule
from ansible_collections.dataflux.func.plugins.module_utils._func_sqldump import COMPRESSIONS


class _Terminated(BaseException):
    pass


def _on_term(signum, frame):
    raise _Terminated('terminated by signal %d' % signum)


def main():
    FuncModule(dict(
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
    ), mysql=True, required_if=[('state', 'restore', ('src',))]).run(run)


def run(ctx):
    signal.signal(signal.SIGTERM, _on_term)
    state = ctx.params['state']
    if state == 'restore' and not ctx.params['confirm']:
        raise FuncError('state=restore replaces the whole DataFlux Func database; set confirm=true to do '
                        'it. Nothing was changed.')
    backup = Backup(ctx)
    if state == 'dump':
        result = backup.dump(ctx.check_mode)
        result['changed'] = True
    elif state == 'restore':
        result = backup.restore(ctx.check_mode)
        result['changed'] = True
    elif state == 'inventory':
        result = backup.list()
        result['changed'] = False
    else:
        result = backup.prune(ctx.check_mode)
    result['commands'] = ctx.commands
    return result


if __name__ == '__main__':
    main()
