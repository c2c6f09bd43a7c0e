"""Benchmark: a single-node upgrade of the real DataFlux Func 5.1.6 -> 5.1.7, the guide's way and the role's way,
measured in the same run on the same kind of installation.

  manual  the maintenance guide, section 1: `docker stack rm`, wait until `docker ps` shows none of its containers,
          then run the installer again into the same directory, which is what run-portable.sh does: `docker load`
          of the bundle's images, the new image in docker-stack.yaml, `docker stack deploy`.
  role    playbooks/upgrade.yml -e func_version=5.1.7 from the same portable bundle: the image is loaded, the
          pre-upgrade backup taken, files rendered and checked while the old version still serves; then the new
          server first, the workers and beat after it.

Each method starts from a fresh `playbooks/install.yml` of 5.1.6 (real image, built-in MariaDB/Redis, host-mode port)
with the 5.1.7 image removed from Docker, so both have to load it from the bundle. A probe asks
/api/v1/do/ping every 100 ms. Reported per method: total time until 5.1.7 answers, the window of failed probes,
and the new server's own start-up time (its container's StartedAt to its first answer). Goal: the role's window is
at most that start-up time + 5 s (everything that can happen before the old server stops happens before it).

Usage: bench/upgrade.py [--rounds N] [--port 18097]   (needs scripts/build-images --only real)
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, ROOT)

from bench.restart import Prober  # noqa: E402
from tests.lib.ansible_runner import CACHE, run_playbook  # noqa: E402

STACK, DIR = 'dfft-bench-upgrade', '/tmp/dfft/bench/upgrade'
MARKER, LOGROTATE = '/tmp/dfft/bench-upgrade.marker', '/tmp/dfft/bench-upgrade-logrotate'
IMAGE = 'dff-real/dataflux-func'
BUNDLES = os.path.join(CACHE, 'bundle', 'real')


def docker(*args, cwd=None, check=False):
    proc = subprocess.run(['docker'] + list(args), check=False, capture_output=True, text=True, cwd=cwd)
    if check and proc.returncode:
        raise RuntimeError('docker %s: %s' % (' '.join(args), proc.stderr.strip()))
    return proc


def bundle(version):
    return os.path.join(BUNDLES, 'dataflux-func-portable-x86_64-%s' % version)


def role_vars(port, version):
    return {'func_hosts': 'localhost', 'func_install_dir': DIR, 'func_stack_name': STACK, 'func_port': port,
            'func_marker_file': MARKER, 'func_logrotate_file': LOGROTATE, 'func_image': IMAGE,
            'func_version': version, 'func_image_source': 'bundle', 'func_bundle_dir': bundle(version),
            'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
            'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host', 'func_service_init': True,
            'func_stop_grace_period': '5s', 'func_admin_password': 'bench-Upgrade-7', 'func_min_free_disk_gb': 1,
            'func_wait_delay': 2, 'func_wait_retries': 120, 'func_upgrade_retries': 90}


def stack_gone():
    while docker('ps', '-aq', '--filter', 'label=com.docker.stack.namespace=%s' % STACK).stdout.strip() \
            or docker('network', 'ls', '-q', '--filter', 'label=com.docker.stack.namespace=%s' % STACK).stdout.strip():
        time.sleep(1)


def clean():
    docker('stack', 'rm', STACK)
    stack_gone()
    shutil.rmtree(DIR, ignore_errors=True)
    for path in (MARKER, LOGROTATE):
        if os.path.exists(path):
            os.unlink(path)


def fresh_516(port):
    clean()
    res = run_playbook(os.path.join(ROOT, 'playbooks', 'install.yml'), role_vars(port, '5.1.6'))
    if res.rc != 0:
        raise RuntimeError('install 5.1.6 failed: %s' % res.stdout[-3000:])
    docker('rmi', '%s:5.1.7' % IMAGE)          # both methods load it from the bundle


def version(port):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/api/v1/image-info' % port, timeout=1) as resp:
            return json.loads(resp.read())['data']['VERSION']
    except Exception:  # not answering (yet)
        return None


def manual(port):
    """Guide section 1, with the installer's own steps (run-portable.sh) for the reinstall."""
    docker('stack', 'rm', STACK)
    while any(name.startswith(STACK + '_') for name in docker('ps', '--format', '{{.Names}}').stdout.split()):
        time.sleep(3)
    for tar in ('dataflux-func.tar.gz', 'mysql.tar.gz', 'redis.tar.gz'):
        docker('load', '-i', os.path.join(bundle('5.1.7'), tar), check=True)
    stack_file = os.path.join(DIR, 'docker-stack.yaml')
    with open(stack_file) as handle:
        text = handle.read()
    with open(stack_file, 'w') as handle:
        handle.write(text.replace('%s:5.1.6' % IMAGE, '%s:5.1.7' % IMAGE))
    retries = 0
    while docker('stack', 'deploy', STACK, '-c', stack_file, '--resolve-image', 'never', cwd=DIR).returncode:
        retries += 1                    # a deploy racing the old network's removal fails; the guide retries by hand
        time.sleep(1)
    return 'deploy retries %d' % retries


def role(port):
    res = run_playbook(os.path.join(ROOT, 'playbooks', 'upgrade.yml'), role_vars(port, '5.1.7'))
    if res.rc != 0:
        raise RuntimeError('upgrade.yml failed: %s' % res.stdout[-3000:])
    return 'changed=%d' % res.changed()


def server_started_at():
    ids = docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=%s_server' % STACK).stdout.split()
    if not ids:
        return None
    raw = docker('inspect', '--format', '{{.State.StartedAt}}', ids[0]).stdout.strip()
    stamp = datetime.datetime.strptime(raw[:26].rstrip('Z'), '%Y-%m-%dT%H:%M:%S.%f')
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def measure(name, action, port, prober):
    time.sleep(1.0)
    t0 = time.time()
    note = action(port)
    t_done = time.time()
    while version(port) != '5.1.7' and time.time() < t_done + 300:
        time.sleep(0.1)
    t_ok = prober.last_ok_after(max(t_done, time.time() - 0.2)) or time.time()
    started = server_started_at()
    first_ok = prober.last_ok_after(started) if started else None
    failed, window = prober.window(t0, t_ok)
    return {'name': name, 'total': t_ok - t0, 'failed': failed, 'window': window,
            'startup': (first_ok - started) if started and first_ok else float('nan'), 'note': note}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--rounds', type=int, default=1)
    parser.add_argument('--port', type=int, default=18097)
    opts = parser.parse_args()
    for v in ('5.1.6', '5.1.7'):
        if not os.path.isfile(os.path.join(bundle(v), 'dataflux-func.tar.gz')):
            sys.exit('missing %s: run scripts/build-images --only real' % bundle(v))
    prober = Prober('http://127.0.0.1:%d/api/v1/do/ping' % opts.port)
    prober.start()
    rows = []
    try:
        for rnd in range(opts.rounds):
            for name, action in (('manual', manual), ('role', role)):
                fresh_516(opts.port)
                r = measure(name, action, opts.port, prober)
                rows.append(r)
                print('round %d %-6s total %6.1f s, ping failed %4d probes, window %5.1f s, new server start-up '
                      '%5.1f s  [%s]' % (rnd + 1, name, r['total'], r['failed'], r['window'], r['startup'],
                                         r['note']), flush=True)
    finally:
        prober.stop.set()
        clean()
        docker('load', '-i', os.path.join(bundle('5.1.7'), 'dataflux-func.tar.gz'))

    def median(name, key):
        values = sorted(r[key] for r in rows if r['name'] == name)
        return values[len(values) // 2]

    print()
    print('%-7s %8s %14s %16s %18s' % ('method', 'total s', 'failed probes', 'fail window s', 'server start-up s'))
    for name in ('manual', 'role'):
        row = (name, median(name, 'total'), median(name, 'failed'), median(name, 'window'), median(name, 'startup'))
        print('%-7s %8.1f %14d %16.1f %18.1f' % row)
    print()
    print('role / manual failed-ping window: %.2fx; role / manual total: %.2fx'
          % (median('role', 'window') / max(median('manual', 'window'), 0.001),
             median('role', 'total') / median('manual', 'total')))
    extra = median('role', 'window') - median('role', 'startup')
    print('role window - its server start-up: %.1f s (goal <= 5 s): %s' % (extra, 'OK' if extra <= 5 else 'MISSED'))


if __name__ == '__main__':
    main()
