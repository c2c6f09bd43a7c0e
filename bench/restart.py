"""Benchmark: restarting DataFlux Func three ways, measured in the same run on the same install.

  manual   the maintenance guide / run-portable.sh procedure: docker stack rm, loop `docker ps | grep <stack>_`
           with sleep 3 until nothing is left, docker stack deploy --resolve-image never
  full     dataflux.func.func_stack state=restarted restart_mode=full (through ansible, overhead included)
  rolling  dataflux.func.func_stack state=restarted restart_mode=rolling

For each: total time from the start of the procedure until /api/v1/do/ping answers 200 again, and the window
in which ping fails (a probe every 100 ms, 0.5 s timeout). Targets: full within 1.1x of manual; rolling with
no failed probe.

The installation is the func double (tests/lib/funcenv.FuncEnv, image dff-test/dataflux-func:5.1.7 with the
test MariaDB and Redis), upstream 5.1.7 service layout, on this single-node swarm with a host-mode published
port (no IPVS here). Usage: bench/restart.py [--rounds N] [--port 18090] [--layout default|legacy|mini]
"""
import argparse
import os
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, ROOT)

from tests.lib.ansible_runner import run_module  # noqa: E402
from tests.lib.funcenv import FuncEnv  # noqa: E402


class Prober(threading.Thread):
    """GET /api/v1/do/ping every 100 ms; keeps (start time, ok) per probe."""

    def __init__(self, url, interval=0.1, timeout=0.5):
        super().__init__(daemon=True)
        self.url, self.interval, self.timeout = url, interval, timeout
        self.samples = []
        self.stop = threading.Event()

    def probe(self):
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as resp:
                return resp.status == 200
        except Exception:
            return False

    def run(self):
        while not self.stop.is_set():
            t = time.time()
            self.samples.append((t, self.probe()))
            time.sleep(max(0.0, self.interval - (time.time() - t)))

    def last_ok_after(self, t0):
        return next((t for t, ok in self.samples if t >= t0 and ok), None)

    def window(self, t0, t1):
        """(failed probes, seconds from the first failed probe to the next good one) in [t0, t1]."""
        rows = [(t, ok) for t, ok in self.samples if t0 <= t <= t1]
        failed = [t for t, ok in rows if not ok]
        if not failed:
            return 0, 0.0
        recovered = next((t for t, ok in rows if ok and t > failed[-1]), t1)
        return len(failed), recovered - failed[0]


def docker(*args, cwd=None):
    return subprocess.run(['docker'] + list(args), check=False, capture_output=True, text=True, cwd=cwd)


def manual(env):
    """The guide: stack rm; while docker ps | grep <stack>_ ; sleep 3; stack deploy --resolve-image never."""
    docker('stack', 'rm', env.stack)
    while any(line.split()[-1].startswith(env.stack + '_') for line in docker('ps').stdout.splitlines()[1:]
              if line.split()):
        time.sleep(3)
    retries = 0
    while True:   # the guide does not wait for the stack network; a deploy racing its removal fails
        proc = docker('stack', 'deploy', env.stack, '-c', env.stack_file, '--resolve-image', 'never',
                      cwd=env.install_dir)
        if proc.returncode == 0:
            return 'deploy retries: %d' % retries
        retries += 1
        time.sleep(1)


def module(env, mode):
    res = run_module('func_stack', {'install_dir': env.install_dir, 'stack_name': env.stack,
                                    'state': 'restarted', 'restart_mode': mode, 'timeout': 300})
    if res.get('failed'):
        raise RuntimeError('func_stack %s failed: %s' % (mode, res.get('msg')))
    return '; '.join(res.get('actions', []))


def measure(env, prober, name, action):
    env.wait_ping(timeout=180)
    time.sleep(1.0)
    t0 = time.time()
    note = action()
    t_done = time.time()
    deadline = t_done + 180
    while time.time() < deadline and prober.last_ok_after(t_done) is None:
        time.sleep(0.05)
    t_ok = prober.last_ok_after(t_done) or time.time()
    failed, window = prober.window(t0, t_ok)
    return {'name': name, 'total': t_ok - t0, 'procedure': t_done - t0, 'failed': failed, 'window': window,
            'note': note}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--rounds', type=int, default=1)
    parser.add_argument('--port', type=int, default=18090)
    parser.add_argument('--stack', default='dfft-bench-restart')
    parser.add_argument('--layout', default='default', choices=['default', 'legacy', 'mini'])
    parser.add_argument('--keep', action='store_true', help='leave the install running')
    opts = parser.parse_args()

    env = FuncEnv(stack=opts.stack, port=opts.port, install_dir='/tmp/dfft/bench/restart',
                  worker_layout=opts.layout)
    print('install: func double dff-test/dataflux-func:5.1.7 (FuncEnv, layout %s), stack %s, host-mode port %s'
          % (opts.layout, opts.stack, opts.port))
    env.up()
    prober = Prober('http://127.0.0.1:%d/api/v1/do/ping' % opts.port)
    prober.start()
    results = {'manual': [], 'full': [], 'rolling': []}
    try:
        for rnd in range(opts.rounds):
            for name, action in (('manual', lambda: manual(env)), ('full', lambda: module(env, 'full')),
                                 ('rolling', lambda: module(env, 'rolling'))):
                r = measure(env, prober, name, action)
                results[name].append(r)
                print('round %d %-7s total %6.1f s (procedure %5.1f s) ping failed %3d probes, window %5.1f s  [%s]'
                      % (rnd + 1, name, r['total'], r['procedure'], r['failed'], r['window'], r['note'][:160]),
                      flush=True)
    finally:
        prober.stop.set()
        if not opts.keep:
            env.down()

    def median(name, key):
        values = sorted(r[key] for r in results[name])
        return values[len(values) // 2]

    manual_total = median('manual', 'total')
    print()
    print('%-8s %9s %13s %14s' % ('method', 'total s', 'failed probes', 'fail window s'))
    for name in ('manual', 'full', 'rolling'):
        print('%-8s %9.1f %13d %14.1f' % (name, median(name, 'total'), median(name, 'failed'),
                                          median(name, 'window')))
    ratio = median('full', 'total') / manual_total
    print()
    print('full / manual total time: %.2fx (target <= 1.10x): %s' % (ratio, 'OK' if ratio <= 1.1 else 'MISSED'))
    print('rolling / manual total time: %.2fx' % (median('rolling', 'total') / manual_total))
    rolling_failed = median('rolling', 'failed')
    print('rolling failed probes: %d (target 0): %s%s' % (
        rolling_failed, 'OK' if rolling_failed == 0 else 'MISSED',
        '' if rolling_failed == 0 else ' - the server publishes its port in host mode (no IPVS on this host), so '
        'it is restarted stop-first; see func_stack docs'))


if __name__ == '__main__':
    main()
