"""Stand-in of worker/app.py: BRPOP consumer of DataFluxFunc-worker#workerQueue@N, heartbeats, tasks.

Task message (JSON, LPUSHed by producers): {"id": "...", "name": "test.echo", "kwargs": {...},
"triggerTime": <unix s>, "queue": N, "expires": <s, optional>}.
Tasks: test.echo (records kwargs), test.sleep (kwargs.seconds), test.fail, Internal.AutoBackupDB.
"""
import datetime
import json
import os
import socket
import sys
import threading
import time
import uuid
import zipfile
import zoneinfo

import dff_common as C

# Column types dumped as X'<hex>' (worker/tasks/internal.py AutoBackupDB.SQL_STR_TYPE_KEYWORDS: any type whose
# name contains one of these); JSON and everything else are written as escaped literals.
HEX_TYPE_KEYWORDS = ('char', 'text', 'blob')
SQL_ESCAPES = {'\0': '\\0', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\x1a': '\\Z', '"': '\\"',
               "'": "\\'", '\\': '\\\\'}


# ---------------------------------------------------------------------------------------------- backup
def sql_value(v, as_hex):
    if v is None:
        return 'NULL'
    if v is True or v is False:
        return str(v).upper()
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, datetime.datetime):
        v = v.strftime('%Y-%m-%d %H:%M:%S')
    if isinstance(v, bytes):
        v = v.decode('utf-8', 'replace')
    s = "'%s'" % ''.join(SQL_ESCAPES.get(c, c) for c in str(v))
    return 'X' + s if as_hex else s


def dump_header(now):
    """The first lines of every in-app backup (worker/tasks/internal.py AutoBackupDB.run_backup)."""
    rule = '-- %s\n' % ('-' * 50)
    return '%s-- DataFlux Func DB Backup\n-- Date: %s\n-- Version: %s\n%s' % (
        rule, now.strftime('%Y-%m-%d %H:%M:%S'), C.VERSION, rule)


def table_dump_parts(cur, table, schema_only):
    """DROP + CREATE, then (unless the table is data-limited or empty) LOCK, INSERTs of 20 rows, UNLOCK."""
    parts = ['DROP TABLE IF EXISTS `%s`;' % table]
    cur.execute('SHOW CREATE TABLE `%s`' % table)
    row = cur.fetchone()
    if not row:
        return None
    parts.append(row[1] + ';')
    if table in schema_only:
        return parts
    cur.execute('SELECT * FROM `%s` LIMIT 1' % table)
    if not cur.fetchall():
        return parts
    cur.execute('DESCRIBE `%s`' % table)
    fields = []
    for field, ftype in ((d[0], d[1]) for d in cur.fetchall()):
        ftype = (ftype.decode() if isinstance(ftype, bytes) else ftype).lower()
        fields.append((field, ftype != 'json' and any(k in ftype for k in HEX_TYPE_KEYWORDS)))
    select = ', '.join('HEX(`%s`) AS `%s`' % (f, f) if h else f for f, h in fields)
    parts += ['', 'LOCK TABLES `%s` WRITE;' % table]
    seq = 0
    seq_index = [f for f, _h in fields].index('seq')
    while True:
        cur.execute('SELECT %s FROM `%s` WHERE `seq` > %%s ORDER BY `seq` ASC LIMIT 20' % (select, table), (seq,))
        rows = cur.fetchall()
        if not rows:
            parts.append('UNLOCK TABLES;')
            break
        values = ',\n  '.join('(%s)' % ', '.join(sql_value(v, h) for v, (_f, h) in zip(r, fields)) for r in rows)
        columns = ', '.join('`%s`' % f for f, _h in fields)
        parts.append('INSERT INTO `%s` (%s)\nVALUES\n  %s;' % (table, columns, values))
        seq = rows[-1][seq_index]
    return parts


def dump_db(cfg, fobj, now):
    schema_only = set(cfg.get('_DBDATA_TABLE_LIMIT_MAP') or {}) | set(cfg.get('_DBDATA_TABLE_EXPIRE_MAP') or {})
    conn = C.mysql_connect(cfg)
    fobj.write(dump_header(now))
    with conn.cursor() as cur:
        cur.execute('SHOW TABLES')
        tables = [t for (t,) in cur.fetchall() if t.lower().startswith(('biz_', 'wat_'))]
        for table in tables:
            parts = table_dump_parts(cur, table, schema_only)
            if parts:
                fobj.write('\n'.join(parts) + '\n\n')
    conn.close()


def limit_backups(cfg, log):
    """Count-based retention, as upstream, including its bug with stray .sql files (TypeError)."""
    backup_dir, prefix = cfg['DB_AUTO_BACKUP_DIR'], cfg['_DB_AUTO_BACKUP_PREFIX']
    zip_file_names = []
    sql_file_names = []
    for f in sorted(os.scandir(backup_dir), key=lambda e: e.name):
        if not f.is_file() or not f.name.startswith(prefix):
            continue
        if f.name.endswith('.zip'):
            zip_file_names.append(f.name)
        elif f.name.endswith('.sql'):
            sql_file_names(f.name)  # upstream bug kept on purpose: should be .append()
    keep = int(cfg['DB_AUTO_BACKUP_LIMIT']) - 1
    old = zip_file_names[:-keep] if keep > 0 else zip_file_names
    for name in old:
        os.remove(os.path.join(backup_dir, name))
    for name in sql_file_names:
        os.remove(os.path.join(backup_dir, name))


def limit_backups_by_size(cfg, log):
    backup_dir, prefix = cfg['DB_AUTO_BACKUP_DIR'], cfg['_DB_AUTO_BACKUP_PREFIX']
    limit = C.parse_size(cfg['DB_AUTO_BACKUP_SIZE_LIMIT'])
    zips = sorted((e for e in os.scandir(backup_dir)
                   if e.is_file() and e.name.startswith(prefix) and e.name.endswith('.zip')),
                  key=lambda e: e.name, reverse=True)
    total = 0
    for e in zips:
        total += e.stat().st_size
        if total > limit:
            os.remove(e.path)


def safe_call(log, fn, *args):
    try:
        fn(*args)
    except Exception as e:
        log.error('%s failed: %s: %s', fn.__name__, type(e).__name__, e)


def task_auto_backup_db(cfg, log, r, kwargs):
    if cfg.get('_DISABLE_DB_AUTO_BACKUP'):
        log.warning('DB auto backup is disabled')
        return 'disabled'
    lock_key = C.key(cfg, 'worker', 'lock', 'task', 'task', 'Internal.AutoBackupDB')
    if not r.set(lock_key, 'locked', nx=True, ex=60):
        return 'locked'
    try:
        backup_dir = cfg['DB_AUTO_BACKUP_DIR']
        os.makedirs(backup_dir, exist_ok=True)
        safe_call(log, limit_backups, cfg, log)
        safe_call(log, limit_backups_by_size, cfg, log)
        now = datetime.datetime.now(zoneinfo.ZoneInfo(cfg['TIMEZONE']))
        base = '%s%s' % (cfg['_DB_AUTO_BACKUP_PREFIX'], now.strftime('%Y%m%d-%H%M%S'))
        sql_path = os.path.join(backup_dir, base + '.sql')
        zip_path = os.path.join(backup_dir, base + '.zip')
        with open(sql_path, 'w', encoding='utf-8') as f:
            dump_db(cfg, f, now)
        with zipfile.ZipFile(zip_path + '.tmp', 'w', zipfile.ZIP_DEFLATED) as z:
            z.write(sql_path, base + '.sql')
        os.rename(zip_path + '.tmp', zip_path)
        os.remove(sql_path)
        log.warning('DB backup written: %s', zip_path)
        return os.path.basename(zip_path)
    finally:
        r.delete(lock_key)


KNOWN_TASKS = ('test.echo', 'test.sleep', 'test.fail', 'Internal.AutoBackupDB')


def run_task(cfg, log, r, task, worker_id):
    name, kwargs = task.get('name'), task.get('kwargs') or {}
    if name not in KNOWN_TASKS:
        log.warning('No such task: %s', name)      # worker/app.py consume(): dropped, no task record
        return
    start = time.time()
    status, result, exc = 'success', None, None
    expires = task.get('expires', cfg['_TASK_EXPIRES_DEFAULT'])
    if task.get('triggerTime') and expires and start > float(task['triggerTime']) + float(expires):
        status = 'expire'
    else:
        try:
            if name == 'test.echo':
                result = kwargs
            elif name == 'test.sleep':
                time.sleep(float(kwargs.get('seconds', 1)))
                result = 'slept'
            elif name == 'test.fail':
                raise RuntimeError(kwargs.get('message', 'test failure'))
            else:
                result = task_auto_backup_db(cfg, log, r, kwargs)
        except Exception as e:
            status, exc = 'failure', '%s: %s' % (type(e).__name__, e)
            log.error('Task %s failed: %s', name, exc)
    try:
        conn = C.mysql_connect(cfg)
        with conn.cursor() as cur:
            cur.execute('INSERT INTO `biz_main_task_record` (`id`,`name`,`kwargsJSON`,`queue`,`status`,`workerId`,'
                        '`triggerTimeMs`,`startTimeMs`,`endTimeMs`,`result`,`exception`) '
                        'VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)',
                        (task.get('id') or 'task-' + uuid.uuid4().hex[:20], str(name), json.dumps(kwargs),
                         int(task.get('queue', 0)), status, worker_id,
                         int(float(task.get('triggerTime') or start) * 1000), int(start * 1000),
                         int(time.time() * 1000), json.dumps(result, ensure_ascii=False), exc))
        conn.close()
    except Exception as e:
        log.error('Writing task record failed: %s', e)


# ---------------------------------------------------------------------------------------------- main
def consumer(cfg, log, queues, worker_id, stop):
    r = C.redis_connect(cfg)
    keys = [C.key(cfg, 'worker', 'workerQueue', str(q)) for q in queues]
    timeout = int(cfg['_WORKER_FETCH_TASK_TIMEOUT'])
    while not stop.is_set():
        try:
            item = r.brpop(keys, timeout=timeout)
        except Exception as e:
            log.error('Redis error: %s', e)
            stop.set()
            return
        if not item:
            continue
        try:
            task = json.loads(item[1])
        except ValueError:
            task = None
        if not isinstance(task, dict):
            log.error('Bad task message: %r', item[1][:200])
            continue
        run_task(cfg, log, r, task, worker_id)


def write_heartbeats(cfg, r, queues, worker_id, concurrency, argv):
    now = int(time.time())
    # 'queues' is the sorted command line, as strings (worker/__init__.py)
    C.write_service_heartbeat(cfg, r, 'worker', {'queues': sorted(argv)})
    on_queue = C.key(cfg, 'monitor', 'heartbeat', 'workerOnQueue')
    for q in queues:
        r.hset(on_queue, 'workerQueue:%s:workerId:%s' % (q, worker_id),
               json.dumps({'ts': now, 'processCount': concurrency}))
    expires = int(cfg['_MONITOR_REPORT_EXPIRES'])
    workers, procs = {}, {}
    for field, value in r.hgetall(on_queue).items():
        try:
            info = json.loads(value)
            q = field.split(':')[1]
        except (ValueError, IndexError):
            continue
        if now - int(info.get('ts', 0)) > expires:
            r.hdel(on_queue, field)
            continue
        workers[q] = workers.get(q, 0) + 1
        procs[q] = procs.get(q, 0) + int(info.get('processCount', 0))
    for q in workers:
        r.hset(C.key(cfg, 'monitor', 'heartbeat', 'workerCountOnQueue'), q,
               json.dumps({'ts': now, 'workerCount': workers[q]}))
        r.hset(C.key(cfg, 'monitor', 'heartbeat', 'processCountOnQueue'), q,
               json.dumps({'ts': now, 'processCount': procs[q]}))


def main(argv):
    cfg = C.load_config()
    log = C.Logger(cfg, 'worker')
    argv = list(argv) or [str(q) for q in range(int(cfg['_WORKER_QUEUE_COUNT']))]   # run-worker.sh: no args = all
    queues = [int(q) for q in argv]
    concurrency = max(1, int(cfg['_WORKER_CONCURRENCY']))
    worker_id = 'WORKER-%s-%s' % (socket.gethostname(), os.getpid())
    r = C.redis_connect(cfg)
    stop = threading.Event()
    for _x in range(concurrency):
        threading.Thread(target=consumer, args=(cfg, log, queues, worker_id, stop), daemon=True).start()
    log.warning('Worker is listening on queues %s', ', '.join('#%s' % q for q in queues))
    last_hb = 0
    while not stop.is_set():
        try:
            if time.time() - last_hb >= int(cfg['_MONITOR_REPORT_INTERVAL']):
                write_heartbeats(cfg, r, queues, worker_id, concurrency, argv)
                last_hb = time.time()
            if C.restart_flag_set(cfg, r, 'restartAllWorkersAndBeat'):
                log.warning('Restart flag set, exiting with 8')
                break
        except Exception as e:
            log.error('Redis error: %s', e)
            break
        stop.wait(1)
    sys.stdout.flush()
    os._exit(C.EXIT_RESTART)


if __name__ == '__main__':
    main(sys.argv[1:])
