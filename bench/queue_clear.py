"""Benchmark: clearing a DataFlux Func work queue, the guide's LTRIM vs func_queue's method, and the round trips
of func_queue state=info.

    . scripts/env.sh && python bench/queue_clear.py [--items 1000000] [--reps 3] [--port 16380]

A private redis-server (host binary, --save '' --appendonly no, slowlog-log-slower-than 0) on 127.0.0.1:<port>.
For each rep the queue DataFluxFunc-worker#workerQueue@1 (DB 5) is filled with N ~200-byte JSON task items and
cleared, alternating methods (paired):
  * guide:  LTRIM key -1 0                                    (maintenance guide section 13.1)
  * DEL:    DEL key                                           (reference)
  * module: MULTI; LLEN key; UNLINK key; EXEC                 (func_queue clear(), through its RedisClient)
Measured: the server-side time of the clearing command (SLOWLOG, microseconds) and the worst latency that a
concurrent client sees (a separate process sending PING every millisecond; max over the pings that overlap the
clear, and as a noise floor the max outside it).
Round trips of state=info are counted by a TCP proxy between client and server (a round trip = a burst of
client->server bytes after a server reply).
"""
import argparse
import json
import multiprocessing
import os
import socket
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.environ.get('DFF_COLLECTIONS', os.path.join(ROOT, '.cache', 'collections')))

from ansible_collections.dataflux.func.plugins.module_utils._func_redis import RedisClient  # noqa: E402
from ansible_collections.dataflux.func.plugins.modules import func_queue  # noqa: E402
from tests.lib.extredis import ExtRedis  # noqa: E402

KEY = 'DataFluxFunc-worker#workerQueue@1'


# --- concurrent prober --------------------------------------------------------------------------------------
def _prober(port, stop, out_queue, interval=0.001):
    sock = socket.create_connection(('127.0.0.1', port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    next_at = time.perf_counter()
    while not stop.is_set():
        start = time.perf_counter()
        sock.sendall(b'PING\r\n')
        buf = b''
        while not buf.endswith(b'\r\n'):
            buf += sock.recv(64)
        end = time.perf_counter()
        samples.append((start, end - start))
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = time.perf_counter()
    sock.close()
    out_queue.put(samples)


class Prober(object):
    def __init__(self, port):
        self.port = port

    def __enter__(self):
        self.stop = multiprocessing.Event()
        self.queue = multiprocessing.Queue()
        self.proc = multiprocessing.Process(target=_prober, args=(self.port, self.stop, self.queue))
        self.proc.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)
        self.stop.set()
        self.samples = self.queue.get(timeout=30)
        self.proc.join(timeout=30)

    def window(self, t0, t1, margin=0.3):
        """(max ms of pings overlapping [t0, t1], max ms of pings outside it within +-margin s)."""
        inside, outside = [0.0], [0.0]
        for start, lat in self.samples:
            if start <= t1 and start + lat >= t0:
                inside.append(lat * 1000)
            elif t0 - margin <= start <= t1 + margin:
                outside.append(lat * 1000)
        return max(inside), max(outside)


def slowlog_us(raw, names):
    """Largest SLOWLOG duration (us) among entries whose command is in names."""
    best = 0
    for entry in raw.slowlog_get(100000):
        cmd = entry['command']
        cmd = cmd.decode() if isinstance(cmd, bytes) else cmd
        if cmd.split(' ', 1)[0].upper() in names:
            best = max(best, int(entry['duration']))
    return best


def fill_queue(raw, count, batch=1000):
    item = json.dumps({'id': 'task-0000000000000000', 'name': 'Func.Runner', 'kwargs': {'funcId': 'demo__main.run',
                       'callKwargs': {'a': 1, 'b': 'xxxxxxxxxxxxxxxx'}}, 'triggerTime': 1732700000,
                       'queue': 1, 'timeout': 30, 'expires': 3600, 'pad': 'p' * 16})
    raw.delete(KEY)
    pipe = raw.pipeline(transaction=False)
    for start in range(0, count, batch):
        pipe.rpush(KEY, *([item] * min(batch, count - start)))
        if (start // batch) % 50 == 49:
            pipe.execute()
    pipe.execute()
    return len(item)


def clear_guide(port):
    c = RedisClient.direct(port=port, database=5)
    t0 = time.perf_counter()
    c.call('LTRIM', KEY, -1, 0)
    t1 = time.perf_counter()
    c.close()
    return t0, t1, ('LTRIM',)


def clear_del(port):
    c = RedisClient.direct(port=port, database=5)
    t0 = time.perf_counter()
    c.call('DEL', KEY)
    t1 = time.perf_counter()
    c.close()
    return t0, t1, ('DEL',)


def clear_module(port):
    c = RedisClient.direct(port=port, database=5)
    plan = {('workerQueue', 1): ('list', 0)}
    t0 = time.perf_counter()
    dropped, method = func_queue.clear(c, 'DataFluxFunc', plan)
    t1 = time.perf_counter()
    c.close()
    assert method == 'UNLINK' and list(dropped.values())[0] > 0
    return t0, t1, ('UNLINK', 'EXEC', 'LLEN')


METHODS = [('guide LTRIM key -1 0', clear_guide), ('DEL', clear_del), ('module MULTI/LLEN/UNLINK/EXEC', clear_module)]


# --- round trips --------------------------------------------------------------------------------------------
class CountingProxy(object):
    """TCP proxy that counts client->server bursts (a burst starts when the client sends after a reply)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.bursts = 0
        self._last = 'server'
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(('127.0.0.1', self.target_port))
            threading.Thread(target=self._pump, args=(client, server, 'client'), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, 'server'), daemon=True).start()

    def _pump(self, src, dst, side):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b''
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self._lock:
                if side == 'client' and self._last == 'server':
                    self.bursts += 1
                self._last = side
            dst.sendall(data)


def count_info_round_trips(port, iterations=300):
    """Round trips of func_queue's info read on a fresh connection (handshake included), counted on the wire,
    and warm per-read timings: one pipeline vs one command per round trip."""
    proxy = CountingProxy(port)
    client = RedisClient.direct(port=proxy.port, database=5)
    lengths = func_queue.read_all_lengths(client, 'DataFluxFunc')
    time.sleep(0.2)
    module_trips = proxy.bursts
    client.close()
    proxy.bursts = 0
    proxy._last = 'server'
    client = RedisClient.direct(port=proxy.port, database=5)
    for i in range(10):
        client.call('LLEN', 'DataFluxFunc-worker#workerQueue@%d' % i)
    for i in range(10):
        client.call('ZCARD', 'DataFluxFunc-worker#delayQueue@%d' % i)
    time.sleep(0.2)
    naive_trips = proxy.bursts
    client.close()
    proxy.listener.close()
    # warm timings, direct to the server
    client = RedisClient.direct(port=port, database=5)
    client.call('PING')
    pipe_ms, naive_ms = [], []
    for _n in range(iterations):
        t0 = time.perf_counter()
        func_queue.read_all_lengths(client, 'DataFluxFunc')
        t1 = time.perf_counter()
        for i in range(10):
            client.call('LLEN', 'DataFluxFunc-worker#workerQueue@%d' % i)
        for i in range(10):
            client.call('ZCARD', 'DataFluxFunc-worker#delayQueue@%d' % i)
        t2 = time.perf_counter()
        pipe_ms.append((t1 - t0) * 1000)
        naive_ms.append((t2 - t1) * 1000)
    client.close()
    return len(lengths), module_trips, naive_trips, statistics.median(pipe_ms), statistics.median(naive_ms)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--items', type=int, default=1000000)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--port', type=int, default=16380)
    args = parser.parse_args()
    import redis   # bench side only (fill + SLOWLOG)

    server = ExtRedis(base='/tmp/dfft/ops-bench-redis', port=args.port,
                      extra_config={'slowlog-log-slower-than': 1000000, 'slowlog-max-len': 100000}).start()
    try:
        raw = redis.Redis(port=args.port, db=5)
        version = raw.info('server')['redis_version']
        results = {name: {'server_us': [], 'stall_ms': [], 'noise_ms': [], 'wall_ms': []} for name, _f in METHODS}
        item_size = None
        for rep in range(args.reps):
            for name, func in METHODS:
                item_size = fill_queue(raw, args.items)
                assert raw.llen(KEY) == args.items
                raw.config_set('slowlog-log-slower-than', 0)
                raw.slowlog_reset()
                with Prober(args.port) as prober:
                    t0, t1, names = func(args.port)
                assert raw.exists(KEY) == 0
                stall, noise = prober.window(t0, t1)
                res = results[name]
                res['server_us'].append(slowlog_us(raw, names))
                raw.config_set('slowlog-log-slower-than', 1000000)
                res['stall_ms'].append(stall)
                res['noise_ms'].append(noise)
                res['wall_ms'].append((t1 - t0) * 1000)
                print('rep %d %-32s server %8.0f us  concurrent max %7.2f ms  (noise %5.2f ms)  client %7.2f ms'
                      % (rep + 1, name, res['server_us'][-1], stall, noise, res['wall_ms'][-1]), flush=True)
                time.sleep(0.5)   # let the lazyfree thread finish before the next fill
        nq, module_trips, naive_trips, module_ms, naive_ms = count_info_round_trips(args.port)
    finally:
        server.cleanup()

    def med(values):
        return statistics.median(values)

    guide, module = results['guide LTRIM key -1 0'], results['module MULTI/LLEN/UNLINK/EXEC']
    print()
    print('Redis %s, %d items of %d bytes, %d reps (paired, alternating), medians:' % (
        version, args.items, item_size, args.reps))
    for name, _f in METHODS:
        res = results[name]
        print('  %-32s server %8.0f us   concurrent max %7.2f ms   noise floor %5.2f ms   client wall %7.2f ms'
              % (name, med(res['server_us']), med(res['stall_ms']), med(res['noise_ms']), med(res['wall_ms'])))
    server_ratio = med(guide['server_us']) / max(med(module['server_us']), 1)
    stall_ratio = med(guide['stall_ms']) / max(med(module['stall_ms']), 1e-3)
    worst_ratio = max(guide['stall_ms']) / max(*module['stall_ms'], 1e-3)
    print('  server-side stall ratio LTRIM/module: %.0fx' % server_ratio)
    print('  concurrent worst-latency ratio LTRIM/module: median %.1fx, worst-of-reps %.1fx'
          % (stall_ratio, worst_ratio))
    print('info: %d queues read in %d round trip(s) on a fresh connection (AUTH/SELECT included), counted on the '
          'wire; one command per round trip: %d round trips. Warm median per read: pipeline %.3f ms vs %.3f ms '
          '(%.1fx)' % (nq, module_trips, naive_trips, module_ms, naive_ms, naive_ms / module_ms))


if __name__ == '__main__':
    main()
