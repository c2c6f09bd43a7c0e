"""Benchmark: emptying the installation's Redis database, FLUSHDB (what admin-tool.py clear_redis does) vs
func_admin action=clear_redis (MULTI; DBSIZE; FLUSHDB ASYNC; EXEC through its RedisClient).

    . scripts/env.sh && python bench/clear_redis.py [--keys 1000000] [--reps 3] [--port 16380]

A private redis-server on 127.0.0.1:<port> (slowlog-log-slower-than 0, enable-debug-command yes). Each rep fills
DB 5 with N string keys (DEBUG POPULATE, 120-byte values, key prefix DataFluxFunc-cache@func:) plus a canary key
in DB 6, then empties DB 5, alternating methods. Measured: the server-side time of the flush (SLOWLOG) and the
worst latency a concurrent client sees (PING every millisecond from another process). The canary in DB 6 must
survive.
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'bench'))
sys.path.insert(0, os.environ.get('DFF_COLLECTIONS', os.path.join(ROOT, '.cache', 'collections')))

from ansible_collections.dataflux.func.plugins.module_utils._func_redis import RedisClient  # noqa: E402
from ansible_collections.dataflux.func.plugins.modules import func_admin  # noqa: E402
from queue_clear import Prober, slowlog_us  # noqa: E402
from tests.lib.extredis import ExtRedis  # noqa: E402


def flush_sync(port):
    c = RedisClient.direct(port=port, database=5)
    c.call('PING')
    t0 = time.perf_counter()
    c.call('FLUSHDB')
    t1 = time.perf_counter()
    c.close()
    return t0, t1, ('FLUSHDB',)


def flush_module(port):
    c = RedisClient.direct(port=port, database=5)
    c.call('PING')
    t0 = time.perf_counter()
    removed, method = func_admin.flush(c)
    t1 = time.perf_counter()
    c.close()
    assert method == 'FLUSHDB ASYNC' and removed > 0
    return t0, t1, ('FLUSHDB', 'EXEC', 'DBSIZE')


METHODS = [('FLUSHDB (admin-tool)', flush_sync), ('module MULTI/DBSIZE/FLUSHDB ASYNC/EXEC', flush_module)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--keys', type=int, default=1000000)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--port', type=int, default=16380)
    args = parser.parse_args()
    import redis   # bench side only

    server = ExtRedis(base='/tmp/dfft/ops-bench-redis', port=args.port,
                      extra_config={'slowlog-log-slower-than': 1000000, 'slowlog-max-len': 100000,
                                    'enable-debug-command': 'yes'}).start()
    try:
        raw = redis.Redis(port=args.port, db=5)
        canary = redis.Redis(port=args.port, db=6)
        version = raw.info('server')['redis_version']
        results = {name: {'server_us': [], 'stall_ms': [], 'noise_ms': []} for name, _f in METHODS}
        for rep in range(args.reps):
            for name, func in METHODS:
                raw.execute_command('DEBUG', 'POPULATE', args.keys, 'DataFluxFunc-cache@func:', 120)
                canary.set('canary', 'keep')
                assert raw.dbsize() == args.keys
                raw.config_set('slowlog-log-slower-than', 0)
                raw.slowlog_reset()
                with Prober(args.port) as prober:
                    t0, t1, names = func(args.port)
                assert raw.dbsize() == 0 and canary.get('canary') == b'keep'
                stall, noise = prober.window(t0, t1)
                res = results[name]
                res['server_us'].append(slowlog_us(raw, names))
                raw.config_set('slowlog-log-slower-than', 1000000)
                res['stall_ms'].append(stall)
                res['noise_ms'].append(noise)
                print('rep %d %-42s server %9.0f us  concurrent max %8.2f ms  (noise %5.2f ms)'
                      % (rep + 1, name, res['server_us'][-1], stall, noise), flush=True)
                time.sleep(1.0)   # let the lazyfree thread finish
    finally:
        server.cleanup()

    def med(values):
        return statistics.median(values)

    sync, module = results['FLUSHDB (admin-tool)'], results['module MULTI/DBSIZE/FLUSHDB ASYNC/EXEC']
    print()
    print('Redis %s, %d keys in DB 5, %d reps (paired, alternating), medians:' % (version, args.keys, args.reps))
    for name, _f in METHODS:
        res = results[name]
        print('  %-42s server %9.0f us   concurrent max %8.2f ms   noise floor %5.2f ms'
              % (name, med(res['server_us']), med(res['stall_ms']), med(res['noise_ms'])))
    print('  server-side stall ratio FLUSHDB/module: %.0fx (worst module rep %.0f us)'
          % (med(sync['server_us']) / max(med(module['server_us']), 1), max(module['server_us'])))
    print('  concurrent worst-latency ratio FLUSHDB/module: %.0fx'
          % (med(sync['stall_ms']) / max(med(module['stall_ms']), 1e-3)))


if __name__ == '__main__':
    main()
