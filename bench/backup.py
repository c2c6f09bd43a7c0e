"""Benchmark of dataflux.func.func_backup against the same commands run by hand (ratios from one run).

    . scripts/env.sh && python bench/backup.py [--mb 600] [--keep]

A private mariadbd (tests/lib/extdb.py, /tmp/dfft/bench/extdb, 127.0.0.1:13306) gets a database of about
--mb MB, built with INSERT ... SELECT doubling: compressible text rows plus random binary blobs. Then:

1. dump: the module (plain, skip-extended-insert, the guide's options) vs the identical mysqldump command
   run by hand into a file, --pairs interleaved runs (medians); module wall (ansible process) and the module's
   own dump time (RV duration). Every timed step starts after a sync, so no step pays for writing back the
   dirty pages of the one before (the module fsyncs its dumps; a dump by hand leaves them to the kernel);
2. size and time of plain / gzip / zstd dumps (module);
3. restore of the skip-extended-insert dump: plain `mysql < dump` vs the module's transaction-wrapped
   restore (safety backup off, verification on); and of an extended-insert dump (both ways).
Not part of the test suite.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, '.cache', 'collections'))

from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import (  # noqa: E402
    MySQLClient, option_file_bytes)
from tests.lib.ansible_runner import run_module  # noqa: E402
from tests.lib.extdb import ExtDB  # noqa: E402

BASE = '/tmp/dfft/bench'
PORT = 13306
PW = 'bench-Root#pw9'
DB = 'dataflux_func'
DUMP_OPTS = ['--single-transaction', '--hex-blob', '--default-character-set=utf8mb4']


def build(client, mb):
    # many small rows, like the application's task records (perf-anchors: 734k rows per 1.2 GB): the per-row
    # commits of a skip-extended-insert restore are what the module's restore saves
    text_rows = int(mb * 0.55 * 1024 * 1024 / 1150)
    blob_rows = int(mb * 0.45 * 1024 * 1024 / 40960)
    client.execute(
        'DROP TABLE IF EXISTS biz_main_task_record, biz_main_file_blob, wat_main_system_setting;'
        'CREATE TABLE wat_main_system_setting (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id VARCHAR(64), '
        'value LONGTEXT) DEFAULT CHARSET=utf8mb4;'
        "INSERT INTO wat_main_system_setting (id, value) VALUES ('UPGRADE_DB_SEQ', '29');"
        'CREATE TABLE biz_main_task_record (seq BIGINT AUTO_INCREMENT PRIMARY KEY, func VARCHAR(64), '
        'log LONGTEXT, KEY k_func (func)) DEFAULT CHARSET=utf8mb4;'
        'CREATE TABLE biz_main_file_blob (seq BIGINT AUTO_INCREMENT PRIMARY KEY, data MEDIUMBLOB) '
        'DEFAULT CHARSET=utf8mb4;')
    client.execute("INSERT INTO biz_main_task_record (func, log) VALUES ('f0', CONCAT(REPEAT(CONCAT(MD5(RAND()), "
                   "' 多字节 😀 it''s \\n'), 21)));")
    client.execute('INSERT INTO biz_main_file_blob (data) VALUES (CONCAT(%s));'
                   % ', '.join(['RANDOM_BYTES(1024)'] * 40))
    for table, cols, sel, target in (
            ('biz_main_task_record', 'func, log', "CONCAT('f', seq % 50), log", text_rows),
            ('biz_main_file_blob', 'data', 'data', blob_rows)):
        n = 1
        while n < target:
            step = min(n, target - n)
            client.execute('INSERT INTO %s (%s) SELECT %s FROM %s LIMIT %d;' % (table, cols, sel, table, step),
                           timeout=3600)
            n += step
    client.execute('ANALYZE TABLE biz_main_task_record, biz_main_file_blob, wat_main_system_setting;')
    rows = client.query('SELECT SUM(data_length + index_length) AS b FROM information_schema.TABLES '
                        "WHERE table_schema = '%s'" % DB, database='')
    return text_rows, blob_rows, int(rows[0]['b'])


def timed(fn):
    start = time.time()
    out = fn()
    return time.time() - start, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--mb', type=int, default=600)
    ap.add_argument('--keep', action='store_true', help='keep the server and data afterwards')
    ap.add_argument('--pairs', type=int, default=3, help='interleaved (by hand, module) dump pairs; medians are used')
    args = ap.parse_args()

    db = ExtDB(base=os.path.join(BASE, 'extdb'), port=PORT, root_password=PW)
    db.start()
    try:
        db.create_database(DB, drop=True)
        client = MySQLClient('direct', database=DB, user='root', password=PW, host='127.0.0.1', port=PORT)
        t_build, (text_rows, blob_rows, size) = timed(lambda: build(client, args.mb))
        print('built %d text rows + %d blobs, %.0f MB InnoDB in %.1f s' % (text_rows, blob_rows, size / 1e6, t_build))

        inst = os.path.join(BASE, 'inst')
        shutil.rmtree(inst, ignore_errors=True)
        os.makedirs(os.path.join(inst, 'data'))
        with open(os.path.join(inst, 'data', 'user-config.yaml'), 'w') as handle:
            handle.write("MYSQL_HOST: 127.0.0.1\nMYSQL_PORT: %d\nMYSQL_USER: root\nMYSQL_PASSWORD: '%s'\n"
                         'MYSQL_DATABASE: %s\n' % (PORT, PW, DB))
        work = os.path.join(BASE, 'work')
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work, mode=0o700)
        cnf = os.path.join(work, 'client.cnf')
        fd = os.open(cnf, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, option_file_bytes('root', PW, '127.0.0.1', PORT))
        os.close(fd)

        def module(**kw):
            a = {'install_dir': inst, 'stack_name': 'dfft-bench-none', 'backup_dir': os.path.join(work, 'dumps')}
            a.update(kw)
            os.sync()
            wall, res = timed(lambda: run_module('func_backup', a, timeout=7200))
            if res.get('failed'):
                raise SystemExit('module failed: %s' % res.get('msg'))
            return wall, res

        def hand_dump(extra, out):
            os.sync()       # every timed step starts without dirty pages of an earlier one to write back
            with open(out, 'wb') as handle:
                return timed(lambda: subprocess.run(['mysqldump', '--defaults-extra-file=' + cnf] + DUMP_OPTS
                                                    + extra + ['--databases', DB], stdout=handle, check=True))[0]

        def hand_restore(path):
            client.execute('DROP DATABASE %s; CREATE DATABASE %s CHARACTER SET utf8mb4;' % (DB, DB), database='')
            os.sync()
            with open(path, 'rb') as handle:
                return timed(lambda: subprocess.run(['mysql', '--defaults-extra-file=' + cnf, DB], stdin=handle,
                                                    check=True))[0]

        rows = []
        # 1. dump throughput: --pairs interleaved (by hand, module) runs, medians
        hand_t, mod_wall, mod_dur = [], [], []
        plain = None
        for _i in range(args.pairs):
            hand_t.append(hand_dump(['--skip-extended-insert'], os.path.join(work, 'hand.sql')))
            wall, res = module(compress='none')
            mod_wall.append(wall)
            mod_dur.append(res['duration'])
            if plain:
                os.unlink(plain['path'])
            plain = res
        hand_size = os.path.getsize(os.path.join(work, 'hand.sql'))
        print('dump pairs (s): by hand %s; module %s' % ([round(x, 2) for x in hand_t], [round(x, 2) for x in mod_dur]))
        h, w, d = statistics.median(hand_t), statistics.median(mod_wall), statistics.median(mod_dur)
        rows.append(('dump skip-ext, by hand (mysqldump > file)', h, hand_size, 1.0))
        rows.append(('dump skip-ext, module (its dump time)', d, plain['size'], h / d))
        rows.append(('dump skip-ext, module (whole ansible run)', w, plain['size'], h / w))
        # 2. compression
        comp = {}
        for kind in ('gzip', 'zstd'):
            wall, res = module(compress=kind)
            comp[kind] = res
            rows.append(('dump skip-ext + %s, module (dump time)' % kind, res['duration'], res['size'],
                         h / res['duration']))
        wall, ext = module(compress='none', extended_insert=True)
        rows.append(('dump extended, module (dump time)', ext['duration'], ext['size'], h / ext['duration']))
        # 3. restores
        r_plain = hand_restore(plain['path'])
        rows.append(('restore skip-ext, mysql < dump (by hand)', r_plain, plain['size'], 1.0))
        wall, res = module(state='restore', src=plain['path'], confirm=True, safety_backup=False)
        rows.append(('restore skip-ext, module (txn-wrapped + verify)', res['duration'], plain['size'],
                     r_plain / res['duration']))
        r_ext = hand_restore(ext['path'])
        rows.append(('restore extended, mysql < dump (by hand)', r_ext, ext['size'], r_plain / r_ext))
        wall, res = module(state='restore', src=ext['path'], confirm=True, safety_backup=False)
        rows.append(('restore extended, module', res['duration'], ext['size'], r_plain / res['duration']))

        print()
        print('| step | seconds | file MB | speed ratio |')
        print('|---|---|---|---|')
        for name, secs, fsize, ratio in rows:
            print('| %s | %.2f | %.1f | %.2fx |' % (name, secs, fsize / 1e6, ratio))
        print()
        print('dump ratio = by-hand time / this time (>= 0.95 wanted); restore ratio = plain skip-ext restore '
              'time / this time (>= 3 wanted for the module\'s skip-ext restore).')
    finally:
        if not args.keep:
            db.stop()
            shutil.rmtree(BASE, ignore_errors=True)


if __name__ == '__main__':
    main()
