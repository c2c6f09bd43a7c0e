"""The plain managed hosts (tests/lib/plainhost.py, tests/images/plain) have exactly what the README promises:
Python 3 + PyYAML, Docker CLI + engine, sudo for the non-root user ops, and none of the tools the collection must
not rely on. plain:1 is reachable through its inventory vars with this venv's ansible (setup module as ops + sudo);
ansible-core 2.19 runs no modules on Python 3.6, so plain:py36 gets the raw interpreter checks and a raw task."""
import ipaddress
import json
import os
import re
import subprocess

import pytest

from tests.lib.ansible_runner import PYTHON, ansible_env
from tests.lib.plainhost import PlainHost, _docker

pytestmark = pytest.mark.integration

IMAGES = {'dff-test/plain:1': r'3\.11\.\d+', 'dff-test/plain:py36': r'3\.6\.15'}
ABSENT = ('zstd', 'pigz', 'mysql', 'mariadb', 'mysqldump', 'redis-cli', 'sshfs')
NETWORK = 'dfft-plain-net'


@pytest.fixture(scope='module')
def network(docker_swarm):
    """A user network with a configured subnet (needed for --ip): the first free 10.213.N.0/24."""
    _docker('network', 'rm', NETWORK, check=False)
    for n in range(40, 80):
        subnet = ipaddress.ip_network('10.213.%d.0/24' % n)
        if _docker('network', 'create', '--label', 'dfft.plain=1', '--subnet', str(subnet), NETWORK,
                   check=False).returncode == 0:
            break
    else:
        pytest.fail('no free 10.213.N.0/24 for %s' % NETWORK)
    yield subnet
    _docker('network', 'rm', NETWORK, check=False)


@pytest.fixture(scope='module', params=sorted(IMAGES), ids=lambda image: image.split(':')[1])
def host(request, network):
    image = request.param
    if _docker('image', 'inspect', image, check=False).returncode != 0:
        pytest.skip('%s is missing: scripts/build-images --only plain' % image)
    tag = image.split(':')[1]
    if tag == '1':      # one host on a user network with a static ip, the other on the default bridge
        host = PlainHost('dfft-plain-' + tag, image=image, network=NETWORK, ip=str(network[50]))
    else:
        host = PlainHost('dfft-plain-' + tag, image=image)
    with host:
        yield host


def ok(proc):
    assert proc.returncode == 0, proc.stderr or proc.stdout
    return proc.stdout


def test_python_and_yaml(host):
    code = 'import sys, yaml, json, zlib, gzip, ssl, hashlib; print(sys.version.split()[0])'
    for user in ('root', 'ops'):
        version = ok(host.exec('python3', '-c', code, user=user)).strip()
        assert re.fullmatch(IMAGES[host.image], version), version
    assert ok(host.exec('readlink', '-f', '/usr/bin/python3')).strip() == (
        '/usr/local/bin/python3.6' if host.image.endswith(':py36') else '/usr/bin/python3.11')
    packages = ok(host.exec('dpkg-query', '-W', '-f', '${Package}\n')).split()
    if host.image.endswith(':py36'):     # the only Python is /usr/local's 3.6.15
        assert [p for p in packages if 'python' in p] == []
        assert ok(host.exec('python3', '-c', 'import yaml; print(yaml.__with_libyaml__)')).strip() == 'False'


def test_nothing_extra(host):
    script = 'for c in %s; do command -v "$c"; done; true' % ' '.join(ABSENT)
    assert ok(host.exec('sh', '-c', script)) == ''
    assert ok(host.exec('sh', '-c', script, user='ops')) == ''


def test_docker_root_and_sudo_ops(host):
    assert ok(host.exec('docker', 'info', '--format', '{{.ServerVersion}}')).strip()
    assert ok(host.exec('id', '-un', user='ops')).strip() == 'ops'
    proc = host.exec('sudo', '-n', 'true', user='ops')
    assert proc.returncode == 0 and proc.stderr == '', proc.stderr
    assert ok(host.exec('sudo', '-n', 'docker', 'ps', '-q', user='ops')) == ''
    assert host.exec('touch', '/bundle/x').returncode != 0       # the bundle is mounted read-only
    assert ok(host.exec('test', '-d', '/bundle')) == ''


def test_ip(host, network):
    ip = host.ip()
    ipaddress.ip_address(ip)
    if host.network:
        assert ip == str(network[50])
    assert ip in ok(host.exec('ip', '-4', '-o', 'addr', 'show'))


def _ansible(host, tmp_path, module, args):
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps(host.inventory('plain')))
    env = ansible_env({'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json', 'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1'})
    del env['ANSIBLE_PYTHON_INTERPRETER']           # the inventory's ansible_python_interpreter must win
    proc = subprocess.run([os.path.join(os.path.dirname(PYTHON), 'ansible'), 'plain', '-i', str(inventory),
                           '-m', module, '-a', args], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts'][host.name]


def test_ansible_raw_become(host, tmp_path):
    result = _ansible(host, tmp_path, 'ansible.builtin.raw', 'id -un; id -un $SUDO_USER')
    assert result['stdout'].split() == ['root', 'ops']


def test_ansible_setup(host, tmp_path):
    if host.image.endswith(':py36'):
        pytest.skip('ansible-core 2.19 runs no modules on Python 3.6 (raw checks only)')
    facts = _ansible(host, tmp_path, 'ansible.builtin.setup', 'gather_subset=!all,min')['ansible_facts']
    assert facts['ansible_user_id'] == 'root'          # become (sudo) from ops
    assert facts['ansible_python']['executable'] == '/usr/bin/python3'
    assert facts['ansible_python_version'].startswith('3.11.')
    assert facts['ansible_distribution'] == 'Debian'
