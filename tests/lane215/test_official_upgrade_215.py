"""An official install on a plain host is upgraded by playbooks/upgrade.yml from an ansible-core 2.15 controller.

The install is laid out the way upstream's 5.1.6 portable/run-portable.sh leaves it (facts read from that script,
none of its code): swarm init, images loaded from the bundle, install dir /usr/local/dataflux-func with
data/{resources/extra-python-packages,logs,sqldump}, mysql, redis; docker-stack.example.yaml copied and
docker-stack.yaml made from it (WORKER MINI block deleted, <MYSQL_PASSWORD> <MYSQL_IMAGE> <REDIS_IMAGE>
<DATAFLUX_FUNC_IMAGE> <PORT> <INSTALL_DIR> filled in); data/user-config.yaml written by echo lines with the
installer's comment lines and the root umask's 0644 (its --auto-setup variant); stack dataflux-func deployed
with --resolve-image never; INSTALLED_DIR=<dir> in /etc/dataflux-func. Deviations, only because this machine has
no IPVS: every service gets deploy.endpoint_mode dnsrr and the port is published in host mode (which needs
compose version 3.2 for the long port syntax).
"""
import json
import os
import time
import urllib.request

import pytest
import yaml

from tests.lib.ansible_runner import REPO, run_playbook
from tests.lib.plainhost import on_network

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NETWORK, SUBNET, GATEWAY = 'dfft-l215o-net', '172.29.88.0/24', '172.29.88.1'
HOST, HOST_IP = 'dfft-l215-official', '172.29.88.11'
INSTALL_DIR, STACK, PORT = '/usr/local/dataflux-func', 'dataflux-func', 8088
ADMIN_PW = 'dfft-Official-Admin-1'

# run-portable.sh's steps (5.1.6), as root on the host; $1 bundle dir, $2 install dir, $3 port, admin password
# on stdin (never on a command line)
INSTALLER = r'''set -e
B=$1; D=$2; PORT=$3; read -r ADMIN_PW
. "$B/image-list"
[ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ] || \
  docker swarm init --advertise-addr=127.0.0.1 --default-addr-pool=10.255.0.0/16 >/dev/null
for f in dataflux-func mysql redis; do docker load < "$B/$f.tar.gz" >/dev/null; done
mkdir -p "$D/data" "$D/data/resources/extra-python-packages" "$D/data/logs" "$D/data/sqldump" "$D/mysql" "$D/redis"
cd "$D"
cp "$B/docker-stack.example.yaml" "$D/docker-stack.example.yaml"
SECRET=$(head -c 16 /dev/urandom | md5sum | cut -c 1-16)
MYSQL_PASSWORD=$(head -c 16 /dev/urandom | md5sum | cut -c 1-16)
{
  printf '# Pre-generated config:\n'
  printf 'SECRET          : %s\n' "$SECRET"
  printf 'MYSQL_HOST      : mysql\nMYSQL_PORT      : 3306\nMYSQL_USER      : root\n'
  printf 'MYSQL_PASSWORD  : %s\n' "$MYSQL_PASSWORD"
  printf 'MYSQL_DATABASE  : dataflux_func\nREDIS_HOST      : redis\nREDIS_PORT      : 6379\n'
  printf "REDIS_DATABASE  : 5\nREDIS_PASSWORD  : ''\nREDIS_USE_TLS   : false\n"
  printf '\n# Auto Setup:\nAUTO_SETUP: true\n'
  printf '\n# Auto setup admin:\nAUTO_SETUP_ADMIN_USERNAME: admin\nAUTO_SETUP_ADMIN_PASSWORD: %s\n' "$ADMIN_PW"
} > data/user-config.yaml
cp docker-stack.example.yaml docker-stack.yaml
sed -i "/# WORKER MINI START/,/# WORKER MINI END/d" docker-stack.yaml
sed -i -e "s#<MYSQL_PASSWORD>#${MYSQL_PASSWORD}#g" -e "s#<MYSQL_IMAGE>#${MYSQL_IMAGE}#g" \
  -e "s#<REDIS_IMAGE>#${REDIS_IMAGE}#g" -e "s#<DATAFLUX_FUNC_IMAGE>#${DATAFLUX_FUNC_IMAGE}#g" \
  -e "s#<PORT>#${PORT}#g" -e "s#<INSTALL_DIR>#${D}#g" docker-stack.yaml
# -- deviation: no IPVS here (dnsrr everywhere, host-mode port, so compose 3.2) --
awk -v port="$PORT" '
  /^version:/ { print "version: '"'"'3.2'"'"'"; next }
  /^  [a-z0-9-]+:$/ && svc { print; name = $1; if (name == "mysql:" || name == "redis:" || name == "beat:")
                               print "    deploy:\n      endpoint_mode: dnsrr"; next }
  /^services:/ { svc = 1 }
  /^networks:/ { svc = 0 }
  /^    deploy:$/ { print; print "      endpoint_mode: dnsrr"; next }
  $0 ~ "^      - \"" port ":8088\"$" {
    print "      - target: 8088\n        published: " port "\n        mode: host"; next }
  { print }' docker-stack.yaml > docker-stack.yaml.new && mv docker-stack.yaml.new docker-stack.yaml
docker stack deploy dataflux-func -c docker-stack.yaml --resolve-image never >/dev/null
[ -f /etc/dataflux-func ] || echo "INSTALLED_DIR=${D}" > /etc/dataflux-func
'''

VARS = {
    'func_version': '5.1.7', 'func_image': 'dff-test/dataflux-func', 'func_image_source': 'bundle',
    'func_bundle_dir': '/bundle/dataflux-func-portable-x86_64-5.1.7',
    'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
    'func_min_free_disk_gb': 1, 'func_deploy_timeout': 300, 'func_wait_delay': 2, 'func_wait_retries': 120,
    'func_upgrade_retries': 90, 'func_require_existing': True,
}


def image_info():
    with urllib.request.urlopen('http://%s:%d/api/v1/image-info' % (HOST_IP, PORT), timeout=10) as resp:
        return json.loads(resp.read().decode())['data']


def wait_version(version, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if image_info().get('VERSION') == version:
                return
        except OSError:
            pass
        time.sleep(3)
    raise AssertionError('DataFlux Func %s did not answer on %s:%d' % (version, HOST_IP, PORT))


@pytest.fixture(scope='module')
def official():
    with on_network(HOST, 'dff-test/plain:py36', NETWORK, SUBNET, GATEWAY, HOST_IP) as node:
        out = node.exec('sh', '-c', INSTALLER, 'sh', '/bundle/dataflux-func-portable-x86_64-5.1.6', INSTALL_DIR,
                        str(PORT), input=ADMIN_PW + '\n', timeout=600)
        assert out.returncode == 0, out.stdout + out.stderr
        wait_version('5.1.6')
        yield node


def cat(node, path):
    out = node.exec('cat', path)
    assert out.returncode == 0, out.stderr
    return out.stdout


def rows(node):
    sql = ("SELECT id, value FROM wat_main_system_setting ORDER BY id; "
           "SELECT COUNT(*) FROM wat_main_system_setting; SELECT username, passwordHash FROM wat_main_user;")
    out = node.exec('sh', '-c', 'docker exec -i $(docker ps -q -f label=com.docker.swarm.service.name=%s_mysql) '
                    'sh -c \'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -uroot -N -B dataflux_func\'' % STACK, input=sql)
    assert out.returncode == 0, out.stderr
    return out.stdout


def services(node):
    return sorted(node.exec('docker', 'service', 'ls', '--format', '{{.Name}}').stdout.split())


def test_official_516_layout_is_upgraded_to_517(official):
    node = official
    config_path = INSTALL_DIR + '/data/user-config.yaml'
    # the product's own setup has rewritten the installer's file (its comments are gone, the mode is kept); an
    # operator's note added afterwards must survive the upgrade
    mode_before = node.exec('stat', '-c', '%a', config_path).stdout.strip()
    assert mode_before == '644'                                  # as the installer (root, umask 022) leaves it
    note = '# ops: moved to this host on 2026-11-30, ticket OPS-1234\n'
    assert node.exec('sh', '-c', 'cat >> %s' % config_path, input=note).returncode == 0
    config_before = cat(node, config_path)
    assert yaml.safe_load(config_before)['_IS_INSTALLED'] is True
    marker = cat(node, '/etc/dataflux-func')
    names, data = services(node), rows(node)
    stack_before = yaml.safe_load(cat(node, INSTALL_DIR + '/docker-stack.yaml'))
    seq_before = [line.split('\t')[1] for line in data.splitlines() if line.startswith('UPGRADE_DB_SEQ\t')]

    result = run_playbook(os.path.join(REPO, 'playbooks', 'upgrade.yml'), VARS, inventory=node.inventory_file,
                          env={'ANSIBLE_PIPELINING': 'true'})
    assert result.rc == 0 and not result.failed(HOST), result.stdout[-6000:] + result.stderr[-2000:]
    assert result.changed(HOST) > 0
    wait_version('5.1.7')

    config_after = cat(node, INSTALL_DIR + '/data/user-config.yaml')
    assert yaml.safe_load(config_after) == yaml.safe_load(config_before)      # SECRET, passwords: all kept
    assert note in config_after                                              # comments kept
    # the one change: the file holds SECRET and the MySQL root password, so it is made 0600 (README)
    assert node.exec('stat', '-c', '%a', INSTALL_DIR + '/data/user-config.yaml').stdout.strip() == '600'
    assert cat(node, '/etc/dataflux-func') == marker
    assert services(node) == names                                           # the installer's service names
    stack_after = yaml.safe_load(cat(node, INSTALL_DIR + '/docker-stack.yaml'))
    assert stack_after['services']['server']['image'] == 'dff-test/dataflux-func:5.1.7'
    assert stack_after['services']['mysql'] == stack_before['services']['mysql']
    after = rows(node)
    users_before = [line for line in data.splitlines() if line.startswith('admin\t')]
    assert users_before and users_before == [line for line in after.splitlines() if line.startswith('admin\t')]
    seq_after = [line.split('\t')[1] for line in after.splitlines() if line.startswith('UPGRADE_DB_SEQ\t')]
    # 5.1.6 and 5.1.7 are both at UPGRADE_DB_SEQ 29 (upstream's upgrade-info.yaml): the seq stays, never goes back
    assert seq_before == seq_after == ['29'], (seq_before, seq_after)

    again = run_playbook(os.path.join(REPO, 'playbooks', 'upgrade.yml'), VARS, inventory=node.inventory_file,
                         env={'ANSIBLE_PIPELINING': 'true'})
    assert again.rc == 0 and again.changed(HOST) == 0, again.stdout[-6000:]
