"""Benchmark: the rolling upgrade 5.1.6 -> 5.1.7 of one DataFlux Func stack across a 3-node swarm
(playbooks/swarm.yml) against one node's upgrade of the same real product from the same bundles
(playbooks/install.yml), measured one after the other in the same run. Issue 18's bound: at most 1.5x.

The environment is molecule/swarm's: its create/destroy playbooks (DinD nodes dfft-sw1..3, the external MariaDB and
Redis, sshd, nginx on this machine) and its inventory, read from molecule/swarm/molecule.yml, plus one more plain
DinD host, dfft-sw4 (172.29.90.14, not behind the load balancer): a single-node install of the same settings on its
own database (dataflux_func_single) and Redis DB (6) of the same servers. Both start at 5.1.6 (the swarm formed and
deployed, the single node installed, side by side), then the single node is upgraded, then the swarm; each upgrade
loads the 5.1.7 image from the bundle on its nodes.

    . scripts/env.sh && python bench/swarm.py [--keep] [--profile]

--keep leaves everything running (remove it with molecule/swarm/destroy.yml, or run again); --profile prints the
slowest tasks of both upgrades (ansible.posix.profile_tasks). Logs: .cache/logs/bench-swarm-*.log (0600).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, ROOT)

from tests.lib.ansible_runner import CACHE, ansible_env  # noqa: E402

SCENARIO = os.path.join(ROOT, 'molecule', 'swarm')
SINGLE = {'name': 'dfft-sw4', 'ip': '172.29.90.14'}
EXTRA_VARS = {'ha_extra_hosts': [SINGLE], 'ha_databases': 'dataflux_func,dataflux_func_single'}
# (func_service_init: the swarm role runs the services with an init process by default; the single node the same)
SINGLE_OVERRIDES = {'func_external_mysql_database': 'dataflux_func_single', 'func_external_redis_database': 6,
                    'func_port': 8088, 'func_api_host': '127.0.0.1', 'func_service_init': True}
LOGS = os.path.join(CACHE, 'logs')


def inventory():
    """molecule/swarm's inventory (platforms, host_vars, group_vars) plus the single node in group dataflux_func."""
    with open(os.path.join(SCENARIO, 'molecule.yml')) as handle:
        mol = yaml.safe_load(handle)
    inv = mol['provisioner']['inventory']
    groups = {}
    for platform in mol['platforms']:
        for group in platform.get('groups', []):
            groups.setdefault(group, {'hosts': {}})['hosts'][platform['name']] = dict(
                inv.get('host_vars', {}).get(platform['name'], {}))
    for group, values in inv.get('group_vars', {}).items():
        groups.setdefault(group, {'hosts': {}})['vars'] = dict(values)
    single_vars = dict(inv['group_vars']['func_swarm'], **SINGLE_OVERRIDES)
    groups['dataflux_func'] = {'hosts': {SINGLE['name']: {}}, 'vars': single_vars}
    return {'all': {'children': groups}}


class Runner(object):
    def __init__(self, profile):
        self.dir = tempfile.mkdtemp(prefix='dfft-bench-swarm-')
        self.inventory = os.path.join(self.dir, 'inventory.yml')
        fd = os.open(self.inventory, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as handle:
            yaml.safe_dump(inventory(), handle)
        self.extra = os.path.join(self.dir, 'extra.json')
        with open(self.extra, 'w') as handle:
            json.dump(EXTRA_VARS, handle)
        env = ansible_env({'MOLECULE_PROJECT_DIRECTORY': ROOT, 'MOLECULE_SCENARIO_DIRECTORY': SCENARIO,
                           'MOLECULE_SCENARIO_NAME': 'swarm', 'MOLECULE_INVENTORY_FILE': self.inventory,
                           'ANSIBLE_PIPELINING': 'true'})
        env.pop('ANSIBLE_PYTHON_INTERPRETER', None)       # the inventory sets the interpreter per host
        if profile:
            env.update({'ANSIBLE_CALLBACKS_ENABLED': 'ansible.posix.profile_tasks',
                        'PROFILE_TASKS_TASK_OUTPUT_LIMIT': '8'})
        self.env = env
        os.makedirs(LOGS, mode=0o700, exist_ok=True)

    def start(self, name, playbook, *args):
        log = os.path.join(LOGS, 'bench-swarm-%s.log' % name)
        handle = os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w')
        argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', self.inventory,
                '-e', '@' + self.extra] + list(args) + [playbook]
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT)
        return proc, log, handle, time.time()

    def wait(self, started, must_pass=True):
        proc, log, handle, t0 = started
        rc = proc.wait()
        handle.close()
        seconds = time.time() - t0
        if rc != 0 and must_pass:
            with open(log) as out:
                tail = out.read()[-4000:]
            raise SystemExit('%s failed (rc %s), see %s:\n%s' % (os.path.basename(log), rc, log, tail))
        return seconds, log

    def run(self, name, playbook, *args, **kwargs):
        return self.wait(self.start(name, playbook, *args), **kwargs)


def slowest(log, count=6):
    """The profile_tasks summary lines of a log (the slowest tasks)."""
    with open(log) as handle:
        lines = handle.read().splitlines()
    for i, line in enumerate(lines):
        if line.startswith('TASKS RECAP'):
            return [row for row in lines[i + 3:i + 3 + count] if row.strip()]
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--keep', action='store_true', help='leave the environment running')
    parser.add_argument('--profile', action='store_true', help='print the slowest tasks of both upgrades')
    args = parser.parse_args()
    run = Runner(args.profile)
    playbooks = os.path.join(ROOT, 'playbooks')
    run.run('destroy-before', os.path.join(SCENARIO, 'destroy.yml'))
    try:
        seconds, _log = run.run('create', os.path.join(SCENARIO, 'create.yml'))
        print('environment created in %.1f s' % seconds)
        t0 = time.time()
        swarm = run.start('swarm-5.1.6', os.path.join(playbooks, 'swarm.yml'), '-e', 'func_version=5.1.6')
        single = run.start('single-5.1.6', os.path.join(playbooks, 'install.yml'), '-e', 'func_version=5.1.6')
        run.wait(swarm)
        run.wait(single)
        print('5.1.6 deployed on the swarm and on the single node (side by side) in %.1f s' % (time.time() - t0))
        single_s, single_log = run.run('single-upgrade', os.path.join(playbooks, 'install.yml'),
                                       '-e', 'func_version=5.1.7')
        swarm_s, swarm_log = run.run('swarm-upgrade', os.path.join(playbooks, 'swarm.yml'), '-e', 'func_version=5.1.7')
        for log in (single_log, swarm_log):
            with open(log) as handle:
                if 'from 5.1.6 to 5.1.7' not in handle.read():
                    raise SystemExit('%s does not report the upgrade from 5.1.6 to 5.1.7' % log)
        print('upgrade 5.1.6 -> 5.1.7, one node (install.yml):            %6.1f s' % single_s)
        print('upgrade 5.1.6 -> 5.1.7, 3-node swarm, rolling (swarm.yml):  %6.1f s' % swarm_s)
        print('ratio swarm / one node: %.2fx (bound 1.5x)' % (swarm_s / single_s))
        if args.profile:
            for name, log in (('one node', single_log), ('swarm', swarm_log)):
                print('slowest tasks, %s:' % name)
                for row in slowest(log):
                    print('  ' + row)
    finally:
        if not args.keep:
            run.run('destroy', os.path.join(SCENARIO, 'destroy.yml'), must_pass=False)


if __name__ == '__main__':
    main()
