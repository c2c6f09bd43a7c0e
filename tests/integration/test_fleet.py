"""The fleet playbooks on three plain managed hosts (dff-test/plain:1 Docker-in-Docker containers dfft-fl-1..3,
reached as ops + sudo over `docker exec`), each with DataFlux Func (the func double, mini worker layout) installed
by playbooks/install.yml from the 5.1.6 portable bundle:

- playbooks/report.yml: a clean run passes and its table/JSON hold every host's numbers; a queue over the threshold
  and a hand-scaled service (drift) on one host make it fail naming that host, the others stay clean;
- the playbooks' own variables: a wrong type, choice or range fails naming the variable, and nothing changed;
- playbooks/upgrade.yml: a failing canary (the double's broken 5.1.8 image) rolls back and stops the run before any
  other host is touched; a canary + batches upgrade to 5.1.7 ends with one from -> to summary.

The tests of this file run in order on one worker (they share the fleet).
"""
import hashlib
import json
import os
import re
import subprocess

import pytest

from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib.plainhost import PlainHost

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOSTS = ['dfft-fl-1', 'dfft-fl-2', 'dfft-fl-3']
BASE = '/tmp/dfft/fl'
STACK = 'dataflux-func'
VARS = {
    'func_image': 'dff-test/dataflux-func', 'func_version': '5.1.6', 'func_image_source': 'bundle',
    'func_bundle_dir': '/bundle/dataflux-func-portable-x86_64-{{ func_version }}',
    'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
    'func_admin_password': 'dfft-Fl-Admin-1', 'func_worker_layout': 'mini',
    'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host',   # no IPVS on this machine
    'func_min_free_disk_gb': 1, 'func_stop_grace_period': '3s', 'func_deploy_timeout': 180,
    'func_wait_delay': 2, 'func_wait_retries': 90, 'func_upgrade_retries': 60,
}
ENV = {'ANSIBLE_PIPELINING': 'true'}


class Fleet:
    def __init__(self, hosts, inventory):
        self.hosts = hosts
        self.inventory = inventory

    def host(self, name):
        return next(h for h in self.hosts if h.name == name)

    def play(self, name, extra=None, cwd_files=False):
        res = run_playbook(os.path.join(REPO, 'playbooks', name), extra, inventory=self.inventory,
                           json_output=False, env=ENV)
        res.out = res.stdout + res.stderr
        return res

    def sh(self, name, script):
        proc = self.host(name).exec('sh', '-c', script)
        assert proc.returncode == 0, proc.stderr or proc.stdout
        return proc.stdout

    def state(self):
        """What must not move when a playbook refuses its variables: service specs, files, queue lengths."""
        out = {}
        for host in self.hosts:
            specs = self.sh(host.name, 'docker service inspect $(docker service ls -q) --format "{{json .Spec}}"')
            # (the product's own hourly in-app backups, *.zip at the top of each hour, are made by the product
            # itself whatever a playbook does: a run that spans the hour would otherwise look like a change)
            files = self.sh(host.name, 'cd /usr/local/dataflux-func && sha256sum docker-stack.yaml '
                                       'data/user-config.yaml && { ls data/sqldump | grep -v "\\.zip$" || true; }')
            queues = self.redis(host.name, 'KEYS', '*Queue@*')
            out[host.name] = (hashlib.sha256(specs.encode()).hexdigest(), files, queues)
        return out

    def redis(self, name, *args):
        return self.sh(name, 'docker exec $(docker ps -q -f label=com.docker.swarm.service.name=%s_redis) '
                             'redis-cli -n 5 %s' % (STACK, ' '.join("'%s'" % a for a in args)))


def ok(res, what):
    assert res.rc == 0, '%s failed (rc %s):\n%s' % (what, res.rc, res.out[-6000:])
    return res


def recap(res, host):
    match = re.search(r'^%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)' % re.escape(host),
                      res.stdout, re.M)
    assert match, 'no recap for %s:\n%s' % (host, res.out[-3000:])
    return dict(zip(('ok', 'changed', 'unreachable', 'failed'), map(int, match.groups())))


@pytest.fixture(scope='module')
def fleet():
    os.makedirs(BASE, exist_ok=True)
    hosts = [PlainHost(name) for name in HOSTS]
    inventory = os.path.join(BASE, 'inventory.json')
    try:
        for host in hosts:
            host.start()
        with open(inventory, 'w') as handle:
            json.dump({'all': {'children': {'dataflux_func': {
                'hosts': {h.name: h.inventory_vars() for h in hosts}, 'vars': VARS}}}}, handle)
        fl = Fleet(hosts, inventory)
        ok(fl.play('install.yml'), 'install of 5.1.6 on three hosts')
        ok(fl.play('backup.yml'), 'backup')
        yield fl
    finally:
        for host in hosts:
            host.stop()
        if os.path.exists(inventory):
            os.unlink(inventory)


def report(fleet, name, **extra):
    md, js = os.path.join(BASE, name + '.md'), os.path.join(BASE, name + '.json')
    for path in (md, js):
        if os.path.exists(path):
            os.unlink(path)
    res = fleet.play('report.yml', dict({'func_report_markdown': md, 'func_report_json': js}, **extra))
    with open(js) as handle:
        data = json.load(handle)
    with open(md) as handle:
        table = handle.read()
    return res, data, table


def test_report_clean(fleet):
    res, data, table = report(fleet, 'clean')
    ok(res, 'clean report')
    assert data['alerts'] == []
    rows = {row['host']: row for row in data['hosts']}
    assert sorted(rows) == HOSTS
    for name, row in rows.items():
        assert row['version'] == '5.1.6' and row['upgrade_db_seq'] == 29, row
        # mysql, redis, server, beat and the 2 replicas of the mini worker
        assert row['services'] == {'running': 6, 'desired': 6, 'not_converged': []}, row
        assert row['queues']['total'] == 0 and row['queues']['longest']['length'] == 0, row
        assert row['backup']['kind'] == 'dump' and 0 <= row['backup']['age_hours'] < 1, row
        assert row['drift'] == [] and row['alerts'] == [] and row['disk_free_bytes'] > 2 ** 30, row
        line = next(line for line in table.splitlines() if line.startswith('| %s |' % name))
        assert re.match(r'\| %s \| 5\.1\.6 \| 29 \| 6/6 \| 0 \(@\d: 0\) \| 0\.\d h \| none \| [\d.]+ GB \| ok \|$'
                        % name, line), line
    # printed once, on the controller
    assert res.stdout.count('| dfft-fl-2 | 5.1.6 |') == 1, res.stdout[-3000:]


def test_report_thresholds(fleet):
    # on dfft-fl-2 only: the worker scaled to 0 by hand (drift from docker-stack.yaml), then 3 tasks that stay queued
    fleet.sh('dfft-fl-2', 'docker service scale -d %s_worker=0 && while docker ps -q -f '
                          'label=com.docker.swarm.service.name=%s_worker | grep -q .; do sleep 0.5; done'
             % (STACK, STACK))
    for n in range(3):
        fleet.redis('dfft-fl-2', 'RPUSH', 'DataFluxFunc-worker#workerQueue@1', 'dfft-fl-item-%d' % n)
    try:
        res, data, table = report(fleet, 'alert', func_report_max_queue_length=2)
        assert res.rc != 0, res.out[-3000:]
        assert 'Fail when a threshold is crossed' in res.stdout
        assert '2 alert(s): dfft-fl-2: queue 1 holds 3 items (> 2); dfft-fl-2: drift: service worker' in res.out, \
            res.out[-3000:]
        rows = {row['host']: row for row in data['hosts']}
        assert rows['dfft-fl-2']['queues']['longest'] == {'queue': '1', 'length': 3}
        assert rows['dfft-fl-2']['queues']['total'] == 3
        assert rows['dfft-fl-2']['services'] == {'running': 4, 'desired': 4, 'not_converged': []}
        assert rows['dfft-fl-2']['drift'] == ['service worker'], rows['dfft-fl-2']
        assert sorted(rows['dfft-fl-2']['alerts']) == ['drift: service worker', 'queue 1 holds 3 items (> 2)']
        assert rows['dfft-fl-1']['alerts'] == [] and rows['dfft-fl-3']['alerts'] == []
        assert data['alerts'] == ['dfft-fl-2: ' + a for a in rows['dfft-fl-2']['alerts']]
        assert '| dfft-fl-2 | 5.1.6 | 29 | 4/4 | 3 (@1: 3) |' in table, table
        # the same fleet under a higher threshold and without the drift check passes
        res, data, _table = report(fleet, 'relaxed', func_report_max_queue_length=3, func_report_fail_on_drift=False)
        ok(res, 'report under the thresholds')
    finally:
        ok(fleet.play('queue.yml', {'func_hosts': 'dfft-fl-2', 'func_queue_state': 'cleared',
                                    'func_queue_queues': ['1']}), 'clearing queue 1')
        fleet.sh('dfft-fl-2', 'docker service scale -d %s_worker=2' % STACK)
    assert fleet.redis('dfft-fl-2', 'LLEN', 'DataFluxFunc-worker#workerQueue@1').strip() == '0'


BAD = [
    ('upgrade.yml', {'func_serial': 0}, 'func_serial must be a positive number of hosts'),
    ('upgrade.yml', {'func_serial': '150%'}, 'func_serial must be a positive number of hosts'),
    ('upgrade.yml', {'func_canary': 'maybe'}, "argument 'func_canary' is of type"),
    ('upgrade.yml', {'func_max_fail_percentage': 101}, 'func_max_fail_percentage must be from 0 to 100'),
    ('report.yml', {'func_report_max_queue_length': 'many'}, "argument 'func_report_max_queue_length' is of type"),
    ('report.yml', {'func_report_max_backup_age_hours': -1}, 'func_report_max_backup_age_hours must not be negative'),
    ('queue.yml', {'func_queue_state': 'emptied', 'func_queue_queues': ['1']}, "func_queue_state must be one of"),
    ('backup.yml', {'func_backup_compress': 'bzip2'}, 'func_backup_compress must be one of'),
    ('backup.yml', {'func_backup_keep_count': 'all', 'func_backup_prune': True},
     "argument 'func_backup_keep_count' is of type"),
    ('restore.yml', {'func_restore_confirm': True}, 'missing required arguments: func_restore_src'),
    ('admin.yml', {'func_admin_action': 'reboot'}, 'func_admin_action must be one of'),
    ('restart.yml', {'func_serial': 'one'}, 'func_serial must be a positive number of hosts'),
    ('logs.yml', {'func_logs_lines': 'all'}, "argument 'func_logs_lines' is of type"),
    ('info.yml', {'func_info_log_lines': -5}, 'func_info_log_lines must not be negative'),
]


def test_playbook_variables_refused(fleet):
    before = fleet.state()
    for playbook, extra, message in BAD:
        res = fleet.play(playbook, extra)
        text = re.sub(r'\s+', ' ', res.out)
        assert res.rc != 0, '%s %s was accepted:\n%s' % (playbook, extra, res.out[-3000:])
        assert message in text, '%s %s: no %r in:\n%s' % (playbook, extra, message, res.out[-3000:])
        assert 'Traceback' not in res.out
        for name in HOSTS:
            if re.search(r'^%s\s*:' % name, res.stdout, re.M):
                assert recap(res, name)['changed'] == 0, (playbook, extra, res.out[-3000:])
    assert fleet.state() == before


def test_upgrade_canary_fails_and_stops(fleet):
    proc = subprocess.run('docker save dff-test/dataflux-func:5.1.8-broken | docker exec -i dfft-fl-1 docker load',
                          shell=True, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    untouched = {name: fleet.state()[name] for name in HOSTS[1:]}
    res = fleet.play('upgrade.yml', {'func_version': '5.1.8-broken', 'func_image_source': 'present',
                                     'func_canary': True, 'func_serial': 2, 'func_deploy_timeout': 30,
                                     'func_upgrade_retries': 5})
    assert res.rc != 0, res.out[-3000:]
    text = re.sub(r'\s+', ' ', res.out)
    assert 'dfft-fl-1: upgrade from 5.1.6 failed, now running 5.1.6. This was the canary' in text, res.out[-4000:]
    assert 'Rolled back' in text
    assert recap(res, 'dfft-fl-1')['failed'] == 1
    for name in HOSTS[1:]:
        assert recap(res, name) == {'ok': recap(res, name)['ok'], 'changed': 0, 'unreachable': 0, 'failed': 0}
        assert fleet.state()[name] == untouched[name]
    assert 'PLAY [Upgrade DataFlux Func - summary]' not in res.stdout     # the run stopped with the canary


def test_upgrade_fleet_canary_then_batches(fleet):
    res = ok(fleet.play('upgrade.yml', {'func_version': '5.1.7', 'func_canary': True, 'func_serial': 2}),
             'fleet upgrade')
    summary = res.stdout[res.stdout.index('TASK [From -> to, per host]'):]
    for name in HOSTS:
        assert '"%s: 5.1.6 -> 5.1.7"' % name in summary, summary[:2000]
        assert recap(res, name)['changed'] > 0
    batches = res.stdout.split('PLAY [Upgrade DataFlux Func - in batches]')[1:]
    # the canary alone, then the two others together
    assert len(batches) == 2, len(batches)
    assert re.findall(r'^ok: \[(dfft-fl-\d)\]', batches[0].split('TASK [')[1], re.M) == ['dfft-fl-1']
    assert sorted(re.findall(r'^ok: \[(dfft-fl-\d)\]', batches[1].split('TASK [')[1], re.M)) == HOSTS[1:]
    assert res.stdout.count('TASK [From -> to, per host]') == 1
    for name in HOSTS:
        image = fleet.sh(name, "docker service inspect %s_server --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}'"
                         % STACK).strip()
        assert image.split('@')[0] == 'dff-test/dataflux-func:5.1.7', image


def test_uninstall_leaves_swarm_with_the_docker_cli(fleet):
    """The uninstall role's opt-in steps (images, swarm) on a host that has no Docker SDK for Python."""
    name = 'dfft-fl-3'
    assert fleet.host(name).exec('python3', '-c', 'import docker').returncode != 0   # no SDK on the host
    assert fleet.sh(name, "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == 'active'
    extra = {'func_hosts': name, 'func_uninstall_confirm': True, 'func_uninstall_leave_swarm': True,
             'func_uninstall_remove_images': True, 'func_uninstall_export_dir': '/var/backups/dfft-fl'}
    res = ok(fleet.play('uninstall.yml', extra), 'uninstall')
    assert 'changed: [%s]' % name in res.stdout.split('TASK [dataflux.func.uninstall : Leave the swarm]')[1]
    assert fleet.sh(name, "docker info --format '{{.Swarm.LocalNodeState}}'").strip() == 'inactive'
    images = fleet.sh(name, "docker image ls --format '{{.Repository}}:{{.Tag}}'").split()
    assert not [i for i in images if i.startswith(('dff-test/dataflux-func:5.1.7', 'dff-test/mariadb',
                                                   'dff-test/redis'))], images
    assert 'dataflux-func-sqldump-' in fleet.sh(name, 'ls /var/backups/dfft-fl')
    again = ok(fleet.play('uninstall.yml', extra), 'uninstall again')
    assert recap(again, name)['changed'] == 0, again.out[-3000:]
