"""Benchmark: a fleet of managed hosts converged from one controller. How long does a no-op re-run of
playbooks/install.yml take per host when Ansible runs the hosts in parallel (-f N) rather than one at a time
(-f 1), and do `strategy: free` or mitogen help?

    . scripts/env.sh && python bench/fleet.py [--hosts 4] [--reps 2] [--no-free] [--no-mitogen] [--keep | --reuse]

The hosts are plain Docker-in-Docker managed hosts (tests/lib/plainhost.PlainHost, image dff-test/plain:1,
reached over `docker exec` as ops + sudo) named dfft-bfl-1..N on the network dfft-bfl-net (172.29.92.0/24). Each
gets the func double (dff-test/dataflux-func:5.1.7, mini worker layout) exactly as the plain-host tests put it
there: PlainHost mounts .cache/bundle at /bundle, and install.yml loads the images from the portable bundle
(func_image_source: bundle). The first, converging run uses -f N; every measured run after it must report
changed=0 on every host. Controller files live under /tmp/dfft/bfl; everything is removed at the end (--keep
leaves the converged fleet; --reuse measures a fleet a --keep run left, skipping creation and the first install).

mitogen (optional) is installed with pip --target into /tmp/dfft/bfl/mitogen, never into the venv, and used only
when a one-task probe play runs over the fleet with its mitogen_linear strategy (it refuses an ansible-core it does
not support); otherwise the row is skipped with the reason.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from tests.lib.ansible_runner import ansible_env  # noqa: E402
from tests.lib.plainhost import PlainHost, _docker  # noqa: E402

PREFIX = 'dfft-bfl'
NETWORK, SUBNET, GATEWAY = 'dfft-bfl-net', '172.29.92.0/24', '172.29.92.1'
BASE = '/tmp/dfft/bfl'
PORT = 18480                    # inside each host (its own dockerd); 18480-18489 are this bench's
GROUP = 'dataflux_func'
VERSION = '5.1.7'
VARS = {
    'func_image': 'dff-test/dataflux-func', 'func_version': VERSION, 'func_image_source': 'bundle',
    'func_bundle_dir': '/bundle/dataflux-func-portable-x86_64-%s' % VERSION,
    'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
    'func_port': PORT, 'func_admin_password': 'dfft-Bfl-Admin-1', 'func_worker_layout': 'mini',
    'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host',     # no IPVS on this machine
    'func_min_free_disk_gb': 1, 'func_stop_grace_period': '5s', 'func_deploy_timeout': 300,
    'func_wait_delay': 2, 'func_wait_retries': 120,
}
BIN = os.path.dirname(sys.executable)
MITOGEN_DIR = os.path.join(BASE, 'mitogen')


def host_name(i):
    return '%s-%d' % (PREFIX, i)


def host_ip(i):
    return '172.29.92.%d' % (10 + i)


def write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as handle:
        json.dump(data, handle)


def run_install(inventory, vars_file, forks, strategy=None, extra_env=None, timeout=3600):
    """ansible-playbook install.yml over the fleet; (wall seconds, per-host stats, rc, tail of output)."""
    argv = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, '-e', '@' + vars_file, '-f', str(forks),
            os.path.join(REPO, 'playbooks', 'install.yml')]
    env = {'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json', 'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json',
           'ANSIBLE_PIPELINING': 'true'}
    if strategy:
        env['ANSIBLE_STRATEGY'] = strategy
    env.update(extra_env or {})
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=ansible_env(env), capture_output=True, text=True, check=False,
                          timeout=timeout)
    wall = time.monotonic() - start
    try:
        stats = json.loads(proc.stdout)['stats']
    except (ValueError, KeyError):
        stats = {}
    return wall, stats, proc.returncode, (proc.stdout + proc.stderr)[-3000:]


def mitogen_setup():
    """(env for a mitogen run, None) or (None, why not)."""
    if not os.path.isdir(MITOGEN_DIR):
        proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--target', MITOGEN_DIR, 'mitogen'],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return None, 'pip install mitogen failed: %s' % proc.stderr.strip()[-300:]
    strategy_dir = os.path.join(MITOGEN_DIR, 'ansible_mitogen', 'plugins', 'strategy')
    if not os.path.isdir(strategy_dir):
        return None, 'no ansible_mitogen strategy plugins in %s' % MITOGEN_DIR
    version = subprocess.run([sys.executable, '-c', 'import mitogen; print(".".join(map(str, mitogen.__version__)))'],
                             env=dict(os.environ, PYTHONPATH=MITOGEN_DIR), capture_output=True, text=True,
                             check=False).stdout.strip()
    env = {'ANSIBLE_STRATEGY_PLUGINS': strategy_dir, 'PYTHONPATH': MITOGEN_DIR}
    return env, 'mitogen %s' % version


def mitogen_probe(inventory, env):
    """Can mitogen_linear run one module on the fleet? (ok, detail)"""
    play = os.path.join(BASE, 'mitogen-probe.yml')
    with open(play, 'w') as handle:
        handle.write('- hosts: %s\n  gather_facts: false\n  become: true\n  tasks:\n'
                     '    - ansible.builtin.command: id -un\n      changed_when: false\n' % GROUP)
    full = dict(env, ANSIBLE_STRATEGY='mitogen_linear')
    proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', inventory, play], cwd=REPO,
                          env=ansible_env(full), capture_output=True, text=True, check=False, timeout=600)
    text = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, text[-600:]


def summarise(stats):
    changed = {h: s.get('changed', 0) for h, s in stats.items()}
    failed = {h: s.get('failures', 0) + s.get('unreachable', 0) for h, s in stats.items()}
    tasks = {h: s.get('ok', 0) + s.get('changed', 0) for h, s in stats.items()}
    return changed, failed, tasks


def measure(label, reps, inventory, vars_file, n_hosts, forks, strategy=None, extra_env=None):
    walls = []
    tasks = None
    for _rep in range(reps):
        wall, stats, rc, tail = run_install(inventory, vars_file, forks, strategy, extra_env)
        changed, failed, tasks = summarise(stats)
        if rc != 0 or len(stats) != n_hosts or any(failed.values()):
            raise RuntimeError('%s: run failed (rc %s, failed %s):\n%s' % (label, rc, failed, tail))
        if any(changed.values()):
            raise RuntimeError('%s: a no-op re-run reported changes: %s' % (label, changed))
        walls.append(wall)
        print('  %-28s %6.1f s  changed=0 on %d hosts' % (label, wall, n_hosts), flush=True)
    return {'label': label, 'walls': walls, 'median': statistics.median(walls), 'tasks': tasks}


def cleanup(hosts):
    for host in hosts:
        host.stop()
    _docker('network', 'rm', NETWORK, check=False)
    shutil.rmtree(BASE, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--hosts', type=int, default=4)
    parser.add_argument('--reps', type=int, default=2)
    parser.add_argument('--no-free', action='store_true')
    parser.add_argument('--no-mitogen', action='store_true')
    parser.add_argument('--keep', action='store_true', help='leave hosts, network and files (for --reuse)')
    parser.add_argument('--reuse', action='store_true', help='measure the converged fleet a --keep run left')
    args = parser.parse_args()
    if not 1 <= args.hosts <= 10:
        raise SystemExit('--hosts must be 1..10 (addresses .11-.20 of %s)' % SUBNET)

    hosts = [PlainHost(host_name(i), image='dff-test/plain:1', network=NETWORK, ip=host_ip(i))
             for i in range(1, args.hosts + 1)]
    results = []
    notes = []
    inventory = os.path.join(BASE, 'inventory.json')
    vars_file = os.path.join(BASE, 'vars.json')
    n = len(hosts)
    try:
        if args.reuse:
            missing = [h.name for h in hosts if h.exec('true').returncode != 0]
            if missing or not os.path.exists(inventory):
                raise SystemExit('--reuse: no converged fleet of %d hosts left by --keep (missing %s)' % (n, missing))
        else:
            cleanup(hosts)      # leftovers of an interrupted run of this bench (only dfft-bfl-* objects)
            os.makedirs(BASE, mode=0o700)
            _docker('network', 'create', '--label', 'dfft.bfl=1', '--subnet', SUBNET, '--gateway', GATEWAY,
                    NETWORK)
            t0 = time.monotonic()
            for host in hosts:
                host.start()
            print('%d plain hosts up in %.1f s' % (n, time.monotonic() - t0), flush=True)
            write_private(inventory, {'all': {'children': {GROUP: {'hosts': {
                h.name: h.inventory_vars() for h in hosts}}}}})
        write_private(vars_file, VARS)
        if not args.reuse:
            wall, stats, rc, tail = run_install(inventory, vars_file, n)
            changed, failed, _tasks = summarise(stats)
            if rc != 0 or any(failed.values()) or len(stats) != n:
                raise SystemExit('first install failed (rc %s, failed %s):\n%s' % (rc, failed, tail))
            print('first install (bundle load, deploy, setup) of %d hosts with -f %d: %.1f s, changed %s'
                  % (n, n, wall, sorted(set(changed.values()))), flush=True)

        results.append(measure('-f %d (linear)' % n, args.reps, inventory, vars_file, n, n))
        results.append(measure('-f 1 (linear)', args.reps, inventory, vars_file, n, 1))
        if not args.no_free:
            results.append(measure('-f %d strategy free' % n, args.reps, inventory, vars_file, n, n, 'free'))
        if not args.no_mitogen:
            env, detail = mitogen_setup()
            if env is None:
                notes.append('mitogen skipped: %s' % detail)
            else:
                ok, why = mitogen_probe(inventory, env)
                if not ok:
                    notes.append('mitogen skipped (%s does not run here): %s' % (detail, why))
                else:
                    results.append(measure('-f %d mitogen_linear' % n, args.reps, inventory, vars_file, n, n,
                                           'mitogen_linear', env))
                    notes.append('mitogen: %s' % detail)

        load = os.getloadavg()
        base = results[0]['median']
        serial = results[1]['median']
        print()
        print('no-op re-run of install.yml over %d hosts, %d reps each, %d tasks per host executed'
              % (n, args.reps, max(results[0]['tasks'].values())))
        print('%-28s %9s %13s %12s %10s' % ('mode', 'median s', 's per host', 'vs -f 1', 'vs -f N'))
        for row in results:
            med = row['median']
            print('%-28s %9.1f %13.1f %11.2fx %9.2fx' % (row['label'], med, med / n, serial / med, base / med))
        print('parallel speed-up -f %d over -f 1: %.2fx (ideal %dx); load average at the end %.1f / %.1f / %.1f'
              % (n, serial / base, n, load[0], load[1], load[2]))
        for note in notes:
            print(note)
    finally:
        if args.keep:
            print('kept: hosts %s, network %s, %s' % (', '.join(h.name for h in hosts), NETWORK, BASE))
        else:
            cleanup(hosts)


if __name__ == '__main__':
    main()
