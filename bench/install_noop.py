"""Benchmark: a no-op re-run of playbooks/install.yml on a converged host (wall time, task count, changed=0), and
the same with --check, against two references measured in the same run:
- the bound of issue 16: a play that runs only community.docker.docker_stack on the same stack file (a no-op
  `docker stack deploy`; jsondiff, which that module needs, is pip-installed into a private directory);
- the floor Ansible itself imposes: a playbook with the same number of trivial tasks (ansible.builtin.command:
  /bin/true) on the same host and interpreter, like install.yml without gathering facts and with become.

    . scripts/env.sh && python bench/install_noop.py [--reps 3] [--keep]

Installs the func double (dff-test/dataflux-func:5.1.7, images already present) into /tmp/dfft/bench-install
(stack dfft-bench-install, port 18093), re-runs install.yml --reps times, then removes everything again.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from tests.lib.ansible_runner import LOCAL_INVENTORY, ansible_env  # noqa: E402

STACK = 'dfft-bench-install'
DIR = '/tmp/dfft/bench-install'
VARS = {
    'func_install_dir': DIR, 'func_stack_name': STACK, 'func_port': 18093,
    'func_marker_file': '/tmp/dfft/bench-install.marker', 'func_logrotate_file': '/tmp/dfft/bench-install.logrotate',
    'func_image': 'dff-test/dataflux-func', 'func_version': '5.1.7', 'func_image_source': 'present',
    'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
    'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host', 'func_service_init': True,
    'func_stop_grace_period': '5s', 'func_worker_layout': 'mini', 'func_min_free_disk_gb': 1,
    'func_admin_password': 'bench-Admin-pw-1',
}
BIN = os.path.dirname(sys.executable)


def playbook(path, vars_file=None, check=False, pythonpath=None):
    argv = [os.path.join(BIN, 'ansible-playbook'), '-i', LOCAL_INVENTORY, path]
    if vars_file:
        argv += ['-e', '@' + vars_file]
    if check:
        argv.append('--check')
    extra = {'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json', 'ANSIBLE_CALLBACK_RESULT_FORMAT': 'json'}
    if pythonpath:
        extra['PYTHONPATH'] = pythonpath
    env = ansible_env(extra)
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit('%s failed:\n%s' % (path, (proc.stdout + proc.stderr)[-4000:]))
    stats = json.loads(proc.stdout)['stats']['localhost']
    return wall, stats


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--keep', action='store_true')
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='bench-install-')
    vars_file = os.path.join(work, 'vars.json')
    with open(vars_file, 'w') as handle:
        json.dump(VARS, handle)
    os.chmod(vars_file, 0o600)
    install = os.path.join(REPO, 'playbooks', 'install.yml')
    try:
        wall, stats = playbook(install, vars_file)
        print('first install: %.1f s, changed=%d' % (wall, stats['changed']))
        noop = []
        for _x in range(args.reps):
            wall, stats = playbook(install, vars_file)
            if stats['changed'] != 0:
                raise SystemExit('re-run reported changed=%d' % stats['changed'])
            noop.append((wall, stats))
        checks = []
        for _x in range(args.reps):
            wall, stats = playbook(install, vars_file, check=True)
            if stats['changed'] != 0:
                raise SystemExit('--check of a no-op reported changed=%d' % stats['changed'])
            checks.append(wall)
        libs = os.path.join(work, 'pylib')
        subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--target', libs, 'jsondiff'], check=True)
        stack_pb = os.path.join(work, 'docker_stack.yml')
        with open(stack_pb, 'w') as handle:
            handle.write('- hosts: dataflux_func\n  gather_facts: false\n  tasks:\n'
                         '    - community.docker.docker_stack: {name: %s, compose: [%s/docker-stack.yaml], '
                         'state: present, resolve_image: never}\n' % (STACK, DIR))
        stack_runs = []
        for _x in range(args.reps):
            wall, stats = playbook(stack_pb, pythonpath=libs)
            stack_runs.append((wall, stats['changed']))
        executed = noop[0][1]['ok'] + noop[0][1]['changed']
        skipped = noop[0][1]['skipped']
        floor_pb = os.path.join(work, 'floor.yml')
        with open(floor_pb, 'w') as handle:       # install.yml gathers no facts (the host step gathers its own)
            handle.write('- hosts: dataflux_func\n  gather_facts: false\n  become: true\n  tasks:\n')
            for i in range(executed):
                handle.write('    - {name: "t%d", ansible.builtin.command: /bin/true, changed_when: false}\n' % i)
        floor = [playbook(floor_pb)[0] for _x in range(args.reps)]
        med_noop, med_floor = statistics.median(w for w, _x in noop), statistics.median(floor)
        print('no-op re-run of install.yml: %d reps, median %.1f s (min %.1f, max %.1f), changed=0 every time'
              % (args.reps, med_noop, min(w for w, _x1 in noop), max(w for w, _x2 in noop)))
        print('  tasks executed %d, skipped %d' % (executed, skipped))
        print('ansible floor (same host, %d trivial tasks, no facts, become): median %.1f s' % (executed, med_floor))
        print('ratio no-op install / floor: %.2fx' % (med_noop / med_floor))
        med_check, med_stack = statistics.median(checks), statistics.median(w for w, _c in stack_runs)
        print('--check of the no-op: median %.1f s, changed=0 every time' % med_check)
        print('community.docker.docker_stack play on the same stack file: median %.1f s (changed %s)'
              % (med_stack, [c for _w, c in stack_runs]))
        print('ratio no-op install / docker_stack play: %.2fx, --check / docker_stack play: %.2fx (bound 1.5x)'
              % (med_noop / med_stack, med_check / med_stack))
        print('load average at the end: %.1f / %.1f / %.1f' % os.getloadavg())
    finally:
        if not args.keep:
            subprocess.run(['docker', 'stack', 'rm', STACK], capture_output=True, check=False)
            for _x in range(120):
                out = subprocess.run(['docker', 'ps', '-aq', '--filter', 'label=com.docker.stack.namespace=' + STACK],
                                     capture_output=True, text=True, check=False).stdout.strip()
                if not out:
                    break
                time.sleep(1)
            subprocess.run(['rm', '-rf', DIR, VARS['func_marker_file'], VARS['func_logrotate_file'], work],
                           check=False)


if __name__ == '__main__':
    main()
