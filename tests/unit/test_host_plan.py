"""Unit tests: dataflux.func.host_plan, the per-distribution decision of the install role's host step (host.yml).

The facts dicts are shaped like `setup gather_subset=min` on the hosts users run the official installer on
(Alibaba Cloud ECS images): only the keys the filter reads, with the values those images report.
"""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dataflux.func.plugins.filter.host_plan import FilterModule, host_plan

BUNDLE = '/opt/dataflux-func-portable-x86_64-5.1.7'


def facts(distribution, version, os_family, python, pkg_mgr, service_mgr='systemd', executable='/usr/bin/python3'):
    major, minor, micro = (int(x) for x in python.split('.'))
    return {
        'distribution': distribution,
        'distribution_version': version,
        'distribution_major_version': version.split('.')[0],
        'os_family': os_family,
        'pkg_mgr': pkg_mgr,
        'service_mgr': service_mgr,
        'architecture': 'x86_64',
        'python': {'executable': executable, 'type': 'cpython',
                   'version': {'major': major, 'minor': minor, 'micro': micro, 'releaselevel': 'final', 'serial': 0},
                   'version_info': [major, minor, micro, 'final', 0]},
    }


HOSTS = {
    # name: (facts, family, el_major, docker (auto, Docker missing), distro packages, PyYAML package)
    'debian11': (facts('Debian', '11', 'Debian', '3.9.2', 'apt'), 'debian', 0, 'distro', ['docker.io'],
                 'python3-yaml'),
    'debian12': (facts('Debian', '12', 'Debian', '3.11.2', 'apt'), 'debian', 0, 'distro', ['docker.io'],
                 'python3-yaml'),
    'ubuntu2004': (facts('Ubuntu', '20.04', 'Debian', '3.8.10', 'apt'), 'debian', 0, 'distro', ['docker.io'],
                   'python3-yaml'),
    'ubuntu2204': (facts('Ubuntu', '22.04', 'Debian', '3.10.12', 'apt'), 'debian', 0, 'distro', ['docker.io'],
                   'python3-yaml'),
    'centos7': (facts('CentOS', '7.9', 'RedHat', '3.6.8', 'yum'), 'el', 7, 'bundle', [], 'python36-PyYAML'),
    'centos7_py2': (facts('CentOS', '7.9', 'RedHat', '2.7.5', 'yum', executable='/usr/bin/python'), 'el', 7,
                    'bundle', [], 'PyYAML'),
    'centos8': (facts('CentOS', '8.5', 'RedHat', '3.6.8', 'dnf', executable='/usr/libexec/platform-python'),
                'el', 8, 'bundle', [], 'python3-pyyaml'),
    'rhel8_py39': (facts('RedHat', '8.10', 'RedHat', '3.9.20', 'dnf', executable='/usr/bin/python3.9'), 'el', 8,
                   'bundle', [], 'python39-pyyaml'),
    'rhel8_py311': (facts('RedHat', '8.10', 'RedHat', '3.11.9', 'dnf', executable='/usr/bin/python3.11'), 'el', 8,
                    'bundle', [], 'python3.11-pyyaml'),
    'rhel9': (facts('RedHat', '9.4', 'RedHat', '3.9.18', 'dnf'), 'el', 9, 'bundle', [], 'python3-pyyaml'),
    'rocky8': (facts('Rocky', '8.9', 'RedHat', '3.6.8', 'dnf', executable='/usr/libexec/platform-python'), 'el', 8,
               'bundle', [], 'python3-pyyaml'),
    'rocky9': (facts('Rocky', '9.3', 'RedHat', '3.9.18', 'dnf'), 'el', 9, 'bundle', [], 'python3-pyyaml'),
    'rocky9_py312': (facts('Rocky', '9.5', 'RedHat', '3.12.5', 'dnf', executable='/usr/bin/python3.12'), 'el', 9,
                     'bundle', [], 'python3.12-pyyaml'),
    'almalinux9': (facts('AlmaLinux', '9.4', 'RedHat', '3.9.18', 'dnf'), 'el', 9, 'bundle', [], 'python3-pyyaml'),
    # Alibaba Cloud Linux: ansible reports 'Alibaba' (os_family RedHat); a bare distro.id() gives 'Alinux', whose
    # os_family is then 'Alinux' too.
    'alinux2': (facts('Alibaba', '2.1903', 'RedHat', '3.6.8', 'yum'), 'el', 7, 'bundle', [], 'python36-PyYAML'),
    'alinux3': (facts('Alibaba', '3', 'RedHat', '3.6.8', 'dnf', executable='/usr/libexec/platform-python'), 'el', 8,
                'bundle', [], 'python3-pyyaml'),
    'alinux3_bare_id': (facts('Alinux', '3', 'Alinux', '3.6.8', 'dnf'), 'el', 8, 'bundle', [], 'python3-pyyaml'),
}


@pytest.mark.parametrize('name', sorted(HOSTS))
def test_auto_when_docker_is_missing(name):
    host, family, el_major, docker, packages, pyyaml = HOSTS[name]
    plan = host_plan(host, 'auto', install=True, bundle_dir=BUNDLE)
    assert plan['error'] == ''
    assert (plan['family'], plan['el_major'], plan['docker'], plan['packages']) == (family, el_major, docker, packages)
    assert plan['pyyaml_package'] == pyyaml
    assert plan['service'] == 'systemd'
    assert plan['pkg_mgr'] == host['pkg_mgr']
    assert host['distribution'] in plan['reason']


@pytest.mark.parametrize('name', sorted(n for n in HOSTS if HOSTS[n][1] == 'el'))
def test_el_family_needs_the_bundle(name):
    plan = host_plan(HOSTS[name][0], 'auto', install=True, bundle_dir='')
    assert plan['docker'] == 'bundle'
    assert 'func_bundle_dir' in plan['error'] and 'docker-<version>.tgz' in plan['error']
    assert 'Podman' in plan['error']


@pytest.mark.parametrize('name', sorted(n for n in HOSTS if HOSTS[n][1] == 'el'))
def test_el_family_distro_means_docker_ce(name):
    plan = host_plan(HOSTS[name][0], 'distro', install=True)
    assert plan['error'] == ''
    assert plan['docker'] == 'distro'
    assert plan['packages'] == ['docker-ce', 'docker-ce-cli', 'containerd.io']
    assert 'Docker CE repository' in plan['reason']


@pytest.mark.parametrize('name', sorted(n for n in HOSTS if HOSTS[n][1] == 'debian'))
def test_debian_family_bundle_on_request(name):
    plan = host_plan(HOSTS[name][0], 'bundle', install=True, bundle_dir=BUNDLE)
    assert (plan['docker'], plan['packages'], plan['error']) == ('bundle', [], '')
    plan = host_plan(HOSTS[name][0], 'bundle', install=True)
    assert 'func_bundle_dir' in plan['error']


def test_func_docker_packages_override_the_distribution_default():
    plan = host_plan(HOSTS['ubuntu2204'][0], 'auto', packages=['docker-ce', 'docker-ce-cli'])
    assert plan['packages'] == ['docker-ce', 'docker-ce-cli']
    plan = host_plan(HOSTS['rocky9'][0], 'distro', packages=['moby-engine'])
    assert plan['packages'] == ['moby-engine']


UNKNOWN = facts('Archlinux', '', 'Archlinux', '3.12.4', 'pacman')
SUSE = facts('SLES', '15.5', 'Suse', '3.6.15', 'zypper')


@pytest.mark.parametrize('host', [UNKNOWN, SUSE], ids=['arch', 'sles'])
def test_unknown_family_uses_the_bundle_and_fails_clearly_without_one(host):
    plan = host_plan(host, 'auto', bundle_dir=BUNDLE)
    assert (plan['family'], plan['docker'], plan['error'], plan['pyyaml_package']) == ('unknown', 'bundle', '', '')
    plan = host_plan(host, 'auto')
    assert plan['docker'] == 'bundle'
    assert 'needs the portable bundle' in plan['error'] and host['distribution'] in plan['error']
    # distro without packages: nothing known to install
    plan = host_plan(host, 'distro')
    assert 'func_docker_packages' in plan['error']
    assert host_plan(host, 'distro', packages=['docker'])['error'] == ''


def test_running_docker_is_used_as_it_is():
    for name, (host, *_rest) in HOSTS.items():
        plan = host_plan(host, 'auto', install=False, docker_running=True,
                         docker_cli='Docker version 24.0.9, build 2936816',
                         dockerd='Docker version 24.0.9, build fca702d')
        assert (plan['docker'], plan['packages'], plan['error']) == ('present', [], ''), name
        assert '24.0.9' in plan['reason']
    # swarm_init only matters for a Docker that would be installed
    assert host_plan(UNKNOWN, 'auto', docker_running=True, swarm_init=False)['error'] == ''


def test_installed_but_stopped_docker_is_started_not_replaced():
    for name, (host, *_rest) in HOSTS.items():
        plan = host_plan(host, 'auto', install=True, docker_cli='Docker version 20.10.24+dfsg1, build 297e128',
                         dockerd='Docker version 20.10.24+dfsg1, build 5d6db84')
        assert (plan['docker'], plan['packages'], plan['error']) == ('installed', [], ''), name
        assert 'started, not replaced' in plan['reason']
    plan = host_plan(HOSTS['rocky9'][0], 'auto', install=False, dockerd='Docker version 24.0.9, build fca702d')
    assert plan['docker'] == 'installed' and 'func_install_docker=true' in plan['error']


def test_missing_docker_without_func_install_docker_fails():
    plan = host_plan(HOSTS['debian12'][0], 'auto', install=False)
    assert 'func_install_docker=true' in plan['error'] and 'distro docker.io' in plan['error']
    assert 'no docker command' in plan['error']
    plan = host_plan(HOSTS['alinux3'][0], 'auto', install=False, docker_cli='Docker version 24.0.9, build 2936816',
                     bundle_dir=BUNDLE)
    assert 'Docker version 24.0.9' in plan['error'] and 'bundle' in plan['error']


def test_fresh_docker_needs_swarm_init():
    plan = host_plan(HOSTS['rocky9'][0], 'auto', bundle_dir=BUNDLE, swarm_init=False)
    assert 'func_swarm_init=true' in plan['error']


def test_podman_emulation_is_refused():
    for running in (False, True):
        plan = host_plan(HOSTS['rhel9'][0], 'auto', docker_running=running, docker_cli='podman version 4.9.4-rhel',
                         bundle_dir=BUNDLE)
        assert 'Podman' in plan['error'] and 'podman-docker' in plan['error']


def test_service_manager():
    container = facts('Debian', '12', 'Debian', '3.11.2', 'apt', service_mgr='service')
    assert host_plan(container, 'auto')['service'] == 'none'
    assert host_plan(dict(container, service_mgr='sysvinit'), 'auto')['service'] == 'none'
    assert host_plan(HOSTS['alinux3'][0], 'auto', bundle_dir=BUNDLE)['service'] == 'systemd'


def test_unknown_package_manager_cannot_install_distro_packages():
    plan = host_plan(dict(HOSTS['debian12'][0], pkg_mgr='unknown'), 'auto')
    assert 'No package manager' in plan['error']


def test_bad_input_is_an_error():
    with pytest.raises(AnsibleFilterError, match='func_docker_source'):
        host_plan(HOSTS['debian12'][0], 'podman')
    with pytest.raises(AnsibleFilterError, match='ansible_facts'):
        host_plan('debian', 'auto')


def test_filter_is_registered():
    assert FilterModule().filters()['host_plan'] is host_plan
