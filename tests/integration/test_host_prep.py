"""The host step of dataflux.func.install (roles/install/tasks/host.yml) on a host WITHOUT Docker.

dff-test/nodocker:1 (tests/images/nodocker) is what an ECS image has before the role runs: python3 + PyYAML, no
docker, a non-root user (ecs-user) with passwordless sudo. It runs non-privileged like the HA scenario's DinD hosts,
with the test bundle (scripts/build-images: docker-<version>.tgz + docker.service, upstream's layout) at /bundle.
Ansible reaches it through community.docker.docker as ecs-user with become, and runs only the host step. There is
no systemd in the container, so the role starts dockerd detached.

Containers are named dfft-hostprep-* and removed at the end (DFFT_KEEP=1 keeps them).
"""
import glob
import json
import os
import subprocess
import time
import uuid

import pytest

from tests.lib.ansible_runner import CACHE, run_playbook

pytestmark = pytest.mark.integration

IMAGE = 'dff-test/nodocker:1'
BUNDLE = os.path.join(CACHE, 'bundle', 'dataflux-func-portable-x86_64-5.1.7')

PLAYBOOK = [{
    'name': 'Prepare the host only',
    'hosts': 'all',
    'gather_facts': False,
    'become': True,
    'tasks': [{
        'name': 'Run the host step of dataflux.func.install',
        'ansible.builtin.include_role': {'name': 'dataflux.func.install', 'tasks_from': 'host.yml'},
    }],
}]
# The container is Debian, where auto means docker.io: func_docker_source=bundle takes the path EL hosts take.
VARS = {'func_install_docker': True, 'func_swarm_init': True, 'func_bundle_dir': '/bundle',
        'func_docker_source': 'bundle'}


def sh(*argv, check=True, timeout=120):
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError('%s: rc=%s\n%s%s' % (' '.join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


def inside(name, script, check=True):
    return sh('docker', 'exec', name, 'sh', '-c', script, check=check)


@pytest.fixture(scope='module')
def hosts(tmp_path_factory):
    if sh('docker', 'image', 'inspect', IMAGE, check=False).returncode != 0:
        pytest.skip('needs %s (scripts/build-images --only nodocker)' % IMAGE)
    if not glob.glob(os.path.join(BUNDLE, 'docker-*.tgz')):
        pytest.skip('the test bundle has no docker-<version>.tgz (scripts/build-images --only bundle)')
    tmp = tmp_path_factory.mktemp('hostprep')
    started = []

    def start():
        name = 'dfft-hostprep-%s' % uuid.uuid4().hex[:8]
        # --init: PID 1 reaps (as a VM's init does), so a stopped dockerd does not linger as a zombie
        sh('docker', 'run', '-d', '--init', '--name', name, '--hostname', name, '--cap-add', 'ALL', '--cap-drop',
           'SYS_RESOURCE', '--security-opt', 'seccomp=unconfined', '--label', 'dfft.test=hostprep',
           '-v', '%s:/bundle:ro' % BUNDLE, IMAGE)
        started.append(name)
        inventory = tmp / ('%s.ini' % name)
        inventory.write_text('%s ansible_connection=community.docker.docker ansible_user=ecs-user '
                             'ansible_python_interpreter=/usr/bin/python3\n' % name)
        return name, str(inventory)

    playbook = tmp / 'host.yml'
    playbook.write_text(json.dumps(PLAYBOOK))
    yield start, str(playbook)
    if os.environ.get('DFFT_KEEP') != '1':
        for name in started:
            sh('docker', 'rm', '-f', '-v', name, check=False)


def play(playbook, inventory, check=False, extra=None):
    t = time.time()
    res = run_playbook(playbook, extra_vars=dict(VARS, **(extra or {})), check=check, inventory=inventory,
                       timeout=600)
    res.seconds = time.time() - t
    return res


def only_host(res):
    stats = res.stats
    assert len(stats) == 1, res.stdout[-3000:] + res.stderr[-3000:]
    return next(iter(stats))


def plan_of(res, host):
    for name, result in res.task_results(host):
        if name.endswith('Show how this host is prepared'):
            return result['msg']
    raise AssertionError('no plan in the output')


def dockerd_pids(name):
    """Live (not zombie) dockerd processes in the container (it has no procps)."""
    out = inside(name, 'for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = dockerd ] '
                       '&& ! grep -q "^State:.*Z" $d/status 2>/dev/null && echo ${d#/proc/}; done; true')
    return out.stdout.split()


def test_check_mode_on_a_fresh_host_predicts_and_changes_nothing(hosts):
    start, playbook = hosts
    name, inventory = start()
    res = play(playbook, inventory, check=True)
    host = only_host(res)
    assert res.rc == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert res.changed(host) > 0
    assert 'Docker: bundle' in plan_of(res, host)
    assert dockerd_pids(name) == []
    left = inside(name, 'ls /usr/bin/dockerd /usr/bin/docker /usr/bin/containerd /var/log/dockerd.log '
                        '/tmp/dataflux-func-docker.* 2>/dev/null; true').stdout.split()
    assert left == []
    print('check mode on a fresh host: %.1f s, changed=%s' % (res.seconds, res.changed(host)))


def test_without_a_bundle_the_el_style_plan_fails_clearly(hosts):
    start, playbook = hosts
    name, inventory = start()
    res = play(playbook, inventory, extra={'func_docker_source': 'bundle', 'func_bundle_dir': ''})
    assert res.rc != 0
    assert 'needs the portable bundle' in res.stdout and 'func_bundle_dir' in res.stdout
    assert dockerd_pids(name) == []


def test_bundle_install_swarm_and_idempotence(hosts):
    start, playbook = hosts
    name, inventory = start()

    res = play(playbook, inventory)
    host = only_host(res)
    assert res.rc == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert 'Docker: bundle' in plan_of(res, host)
    assert res.changed(host) > 0
    first = res.seconds
    info = inside(name, 'docker info --format "{{.ServerVersion}} {{.Swarm.LocalNodeState}} '
                        '{{.Swarm.ControlAvailable}}"').stdout.split()
    assert info[1:] == ['active', 'true'], info
    bundled = sh('tar', '-tzf', glob.glob(os.path.join(BUNDLE, 'docker-*.tgz'))[0]).stdout.split()
    for member in bundled:
        if member.rstrip('/') != 'docker':
            inside(name, 'test -x /usr/bin/%s' % os.path.basename(member))
    assert len(dockerd_pids(name)) == 1
    inside(name, 'test -s /var/log/dockerd.log')
    assert inside(name, 'ls -d /tmp/dataflux-func-docker.* 2>/dev/null; true').stdout.strip() == ''

    # second run: nothing to do
    res = play(playbook, inventory)
    assert res.rc == 0 and res.changed(host) == 0, res.stdout[-4000:]
    assert 'Docker: present' in plan_of(res, host)
    second = res.seconds

    # check mode on the prepared host predicts nothing either
    res = play(playbook, inventory, check=True)
    assert res.rc == 0 and res.changed(host) == 0, res.stdout[-4000:]

    # dockerd stopped (a reboot without systemd): the next run starts it, never reinstalls; swarm survives
    inside(name, 'kill $(cat /var/run/docker.pid)')
    deadline = time.time() + 60
    while dockerd_pids(name) and time.time() < deadline:
        time.sleep(0.5)
    assert dockerd_pids(name) == []
    res = play(playbook, inventory, check=True)
    assert res.rc == 0 and res.changed(host) > 0 and dockerd_pids(name) == []
    res = play(playbook, inventory)
    assert res.rc == 0, res.stdout[-4000:]
    assert 'Docker: installed' in plan_of(res, host)
    changed = [n.split(' : ')[-1] for n, r in res.task_results(host) if r.get('changed')]
    assert changed == ['Start dockerd detached (no systemd), logging to /var/log/dockerd.log'], changed
    assert inside(name, 'docker info --format "{{.Swarm.LocalNodeState}}"').stdout.strip() == 'active'
    res = play(playbook, inventory)
    assert res.rc == 0 and res.changed(host) == 0
    print('bundle install + swarm init: %.1f s, second run: %.1f s' % (first, second))


@pytest.mark.slow
def test_debian_distro_path_installs_docker_io(hosts):
    """auto on Debian: docker.io from apt (package lists refreshed first: the image has none), dockerd detached."""
    start, playbook = hosts
    name, inventory = start()
    res = play(playbook, inventory, extra={'func_docker_source': 'auto', 'func_bundle_dir': ''})
    host = only_host(res)
    if res.rc != 0 and any(s in res.stdout for s in ('Failed to update apt cache', 'Temporary failure resolving',
                                                     'Could not resolve', 'Failed to fetch')):
        pytest.skip('no Debian mirror reachable from the test container')
    assert res.rc == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert 'Docker: distro docker.io' in plan_of(res, host)
    assert inside(name, "dpkg-query -W -f '${Status}' docker.io").stdout == 'install ok installed'
    assert inside(name, 'docker info --format "{{.Swarm.LocalNodeState}}"').stdout.strip() == 'active'
    assert inside(name, 'test -e /usr/bin/dockerd', check=False).returncode != 0   # /usr/sbin/dockerd, not the bundle's
    first = res.seconds
    res = play(playbook, inventory, extra={'func_docker_source': 'auto', 'func_bundle_dir': ''})
    assert res.rc == 0 and res.changed(host) == 0, res.stdout[-4000:]
    assert 'Docker: present' in plan_of(res, host)
    print('docker.io from apt + swarm init: %.1f s, second run: %.1f s' % (first, res.seconds))
