"""Stand-in of worker/beat.py: ticks only while holding DataFluxFunc-worker#lock@beatMaster."""
import datetime
import json
import os
import socket
import sys
import time
import uuid
import zoneinfo

import dff_common as C

RELEASE_DUE = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, item in ipairs(items) do
  redis.call('LPUSH', KEYS[2], item)
  redis.call('ZREM', KEYS[1], item)
end
return #items
"""

FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def parse_field(text, lo, hi):
    values = set()
    for part in text.split(','):
        step = 1
        if '/' in part:
            part, step = part.split('/', 1)
            step = int(step)
        if part in ('*', ''):
            a, b = lo, hi
        elif '-' in part:
            a, b = (int(x) for x in part.split('-', 1))
        else:
            a = int(part)
            b = hi if step > 1 else a
        values.update(range(a, b + 1, step))
    return values


def cron_match(expr, dt):
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError('Bad cron expression: %r' % expr)
    sets = [parse_field(f, lo, hi) for f, (lo, hi) in zip(fields, FIELD_RANGES)]
    dow = {d % 7 for d in sets[4]}
    dom_ok, dow_ok = dt.day in sets[2], (dt.isoweekday() % 7) in dow
    if fields[2] != '*' and fields[4] != '*':
        day_ok = dom_ok or dow_ok
    else:
        day_ok = dom_ok and dow_ok
    return dt.minute in sets[0] and dt.hour in sets[1] and dt.month in sets[3] and day_ok


def main():
    cfg = C.load_config()
    log = C.Logger(cfg, 'beat')
    r = C.redis_connect(cfg)
    tz = zoneinfo.ZoneInfo(cfg['TIMEZONE'])
    lock_key = C.key(cfg, 'worker', 'lock', 'beatMaster')
    me = 'beat-%s-%s' % (socket.gethostname(), os.getpid())
    expire = int(cfg['_BEAT_LOCK_EXPIRE'])
    release = r.register_script(RELEASE_DUE)
    log.warning('Beat is running')
    last_minute, last_hb = None, 0
    while True:
        try:
            if C.restart_flag_set(cfg, r, 'restartAllWorkersAndBeat'):
                log.warning('Restart flag set, exiting with 8')
                return C.EXIT_RESTART
            if time.time() - last_hb >= int(cfg['_MONITOR_REPORT_INTERVAL']):
                C.write_service_heartbeat(cfg, r, 'beat')
                last_hb = time.time()
            master = r.set(lock_key, me, nx=True, ex=expire) or r.get(lock_key) == me
            if master:
                r.expire(lock_key, expire)
                now = datetime.datetime.now(tz).replace(second=0, microsecond=0)
                if now != last_minute:
                    last_minute = now
                    if cron_match(cfg['_CRON_EXPR_AUTO_BACKUP_DB'], now):
                        task = {'id': 'task-' + uuid.uuid4().hex[:20], 'name': 'Internal.AutoBackupDB',
                                'kwargs': {}, 'triggerTime': int(time.time()), 'queue': int(cfg['_TASK_QUEUE_DEFAULT']),
                                'expires': int(cfg['_TASK_EXPIRES_DEFAULT'])}
                        r.lpush(C.key(cfg, 'worker', 'workerQueue', str(task['queue'])), json.dumps(task))
                        log.info('Queued Internal.AutoBackupDB')
                for q in range(int(cfg['_WORKER_QUEUE_COUNT'])):
                    release(keys=[C.key(cfg, 'worker', 'delayQueue', str(q)),
                                  C.key(cfg, 'worker', 'workerQueue', str(q))], args=[time.time()])
        except Exception as e:
            log.error('Beat error: %s', e)
            return C.EXIT_RESTART
        time.sleep(1)


if __name__ == '__main__':
    sys.exit(main())
