"""Install/upgrade faults (hardening issue): bad input refused before any change, a SIGKILLed upgrade converges
when run again without losing a row, and two concurrent runs never interleave."""
import os
import signal
import subprocess
import sys

import pytest
import yaml

from tests.lib.ansible_runner import LOCAL_INVENTORY, REPO, ansible_env, run_playbook
from tests.lib.funcenv import docker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK = 'dfft-ifault'
PORT = 18092
DIR = '/tmp/dfft/ifault'
MARKER = '/tmp/dfft/ifault.marker'
LOGROTATE = '/etc/logrotate.d/dfft-ifault'
VARS_FILE = '/tmp/dfft/ifault-vars.yml'
LOCK = '/tmp/.dataflux-func_tmp_dfft_ifault.lock'
VARS = {
    'func_install_dir': DIR, 'func_stack_name': STACK, 'func_port': PORT, 'func_marker_file': MARKER,
    'func_logrotate_file': LOGROTATE, 'func_image': 'dff-test/dataflux-func', 'func_image_source': 'present',
    'func_mysql_image': 'dff-test/mariadb:10.11', 'func_redis_image': 'dff-test/redis:7.0',
    'func_endpoint_mode': 'dnsrr', 'func_publish_mode': 'host', 'func_service_init': True,
    'func_stop_grace_period': '5s', 'func_worker_layout': 'mini', 'func_min_free_disk_gb': 1,
    'func_deploy_timeout': 180, 'func_wait_delay': 3, 'func_admin_password': 'ifault-Admin-pw-3',
}


def playbook(name):
    return os.path.join(REPO, 'playbooks', name)


def stack_services():
    return docker('service', 'ls', '-q', '--filter', 'label=com.docker.stack.namespace=%s' % STACK).stdout.split()


def cleanup():
    docker('stack', 'rm', STACK, check=False)
    wait_for(lambda: not docker('ps', '-aq', '--filter', 'label=com.docker.stack.namespace=%s' % STACK)
             .stdout.strip(), 120, what='stack removed')
    subprocess.run(['rm', '-rf', DIR, MARKER, LOGROTATE, LOCK], check=False)


def run(name, version, check=False, **extra):
    data = dict(VARS, func_version=version, **extra)
    with open(VARS_FILE, 'w') as handle:
        yaml.safe_dump(data, handle)
    os.chmod(VARS_FILE, 0o600)
    return run_playbook(playbook(name), check=check, extra_args=['-e', '@' + VARS_FILE])


def start(name, version):
    """Start a playbook in its own process group (so SIGKILL reaches every child)."""
    data = dict(VARS, func_version=version)
    path = VARS_FILE + '.bg'
    with open(path, 'w') as handle:
        yaml.safe_dump(data, handle)
    os.chmod(path, 0o600)
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', LOCAL_INVENTORY, '-c', 'local',
            playbook(name), '-e', '@' + path]
    return subprocess.Popen(argv, cwd=REPO, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def mysql(sql):
    ctr = docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=%s_mysql' % STACK,
                 '--filter', 'status=running').stdout.split()[0]
    script = ('umask 077; f=$(mktemp); printf "[client]\\nuser=root\\npassword=\\"%s\\"\\n" "$MYSQL_ROOT_PASSWORD" '
              '> "$f"; mysql --defaults-extra-file="$f" -N -B dataflux_func; rc=$?; rm -f "$f"; exit $rc')
    return docker('exec', '-i', ctr, 'sh', '-c', script, input=sql).stdout.strip()


def version():
    import json
    import urllib.request
    with urllib.request.urlopen('http://127.0.0.1:%d/api/v1/image-info' % PORT, timeout=5) as resp:
        return json.loads(resp.read())['data']['VERSION']


@pytest.fixture(scope='module', autouse=True)
def clean_host():
    cleanup()
    yield
    cleanup()


def test_wrong_install_dir_is_refused_before_any_change():
    with open(MARKER, 'w') as handle:
        handle.write('INSTALLED_DIR=/tmp/dfft/ifault-elsewhere\n')
    try:
        res = run('install.yml', '5.1.6')
        assert res.rc != 0
        assert '/tmp/dfft/ifault-elsewhere' in res.stdout and DIR in res.stdout, res.stdout[-3000:]
        assert not os.path.exists(DIR) and not stack_services()
        assert open(MARKER).read() == 'INSTALLED_DIR=/tmp/dfft/ifault-elsewhere\n'
    finally:
        os.unlink(MARKER)


def test_malformed_extra_hosts_ip_is_refused_before_any_change():
    res = run('install.yml', '5.1.6', func_extra_hosts={'db.internal': '10.0.0.300'})
    assert res.rc != 0
    assert '10.0.0.300' in res.stdout, res.stdout[-3000:]
    assert not os.path.exists(DIR) and not stack_services()


BUNDLE_517 = os.path.join(REPO, '.cache', 'bundle', 'dataflux-func-portable-x86_64-5.1.7')


@pytest.mark.parametrize('extra,must_say', [
    ({'func_install_dir': '/'}, 'system directory'),
    ({'func_install_dir': '/usr'}, 'system directory'),
    ({'func_install_dir': 'relative/ifault'}, 'must be an absolute path'),
    ({'func_port': 99999}, 'func_port must be a port number from 1 to 65535'),
    ({'func_extra_hosts': {'db.internal\n': '10.0.0.5'}}, 'is not a host name'),
    ({'func_extra_hosts': {'db.internal': '10.0.0.5\n'}}, 'is not an IPv4 or IPv6 address'),
    ({'func_image_source': 'bundle', 'func_bundle_dir': BUNDLE_517, 'func_version': '5.1.9'},
     'func_version is 5.1.9 but the bundle'),
], ids=['root', 'usr', 'relative', 'port', 'host-newline', 'ip-newline', 'version-not-in-bundle'])
def test_dangerous_variables_are_refused_before_any_change(extra, must_say):
    watched = ['/docker-stack.yaml', '/data', '/mysql', '/redis', '/usr/docker-stack.yaml', '/usr/data',
               os.path.join(REPO, 'relative'), DIR, MARKER]
    before = {p: os.path.exists(p) for p in watched}
    version = extra.pop('func_version', '5.1.7')
    for check in (True, False):
        res = run('install.yml', version, check=check, **extra)
        assert res.rc != 0 and must_say in res.stdout, res.stdout[-3000:]
        assert 'Traceback' not in res.stdout + res.stderr
        assert {p: os.path.exists(p) for p in watched} == before
        assert not stack_services()


def test_a_misspelled_role_variable_is_named_not_ignored():
    res = run('install.yml', '5.1.7', check=True, func_imgae_source='bundle')
    out = res.stdout + res.stderr
    assert 'func_imgae_source is not a variable of dataflux.func' in out, out[-3000:]
    assert 'did you mean func_image_source?' in out


def test_an_image_that_does_not_know_the_database_seq_is_refused():
    """A newer-looking tag whose image stops at an older UPGRADE_DB_SEQ (3.7.2's, 28) on a 5.1.7 database (29)."""
    docker('tag', 'dff-test/dataflux-func:3.7.2', 'dff-test/dataflux-func:5.1.9')
    try:
        res = run('install.yml', '5.1.7')
        assert res.rc == 0, res.stdout[-3000:]
        for check in (True, False):
            refused = run('upgrade.yml', '5.1.9', check=check)
            assert refused.rc != 0 and 'a downgrade in disguise' in refused.stdout, refused.stdout[-3000:]
            assert 'up to UPGRADE_DB_SEQ 28' in refused.stdout and 'already at 29' in refused.stdout
            image = docker('service', 'inspect', '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}',
                           '%s_server' % STACK).stdout.strip()
            assert image.startswith('dff-test/dataflux-func:5.1.7'), image
    finally:
        docker('rmi', 'dff-test/dataflux-func:5.1.9', check=False)
        cleanup()


def test_sigkill_in_the_middle_of_an_upgrade_then_rerun_converges():
    res = run('install.yml', '5.1.6')
    assert res.rc == 0, res.stdout[-4000:]
    mysql("INSERT INTO biz_main_script (id, scriptSetId, title, code, codeMD5) "
          "VALUES ('ifault-script', 'ifault', 'Kept', 'x = 1 # 😀', 'x')")
    rows_before = mysql('SELECT id, title, code FROM biz_main_script ORDER BY seq')

    proc = start('upgrade.yml', '5.1.7')
    stack_file = os.path.join(DIR, 'docker-stack.yaml')
    # kill -9 once the new image is in the stack file, i.e. while the new version is being rolled out
    wait_for(lambda: 'dataflux-func:5.1.7' in open(stack_file).read() or proc.poll() is not None, 600,
             interval=0.2, what='the upgrade to start deploying')
    assert proc.poll() is None, 'the upgrade finished before it could be killed:\n' + proc.stdout.read()[-3000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert os.path.isdir(LOCK), 'the killed run should have left its lock behind'

    again = run('upgrade.yml', '5.1.7')
    assert again.rc == 0, again.stdout[-5000:]
    assert version() == '5.1.7'
    assert mysql("SELECT value FROM wat_main_system_setting WHERE id='UPGRADE_DB_SEQ'").strip('"') == '29'
    assert mysql('SELECT id, title, code FROM biz_main_script ORDER BY seq') == rows_before
    assert not os.path.exists(LOCK)


def test_two_concurrent_upgrade_runs_never_interleave():
    cleanup()
    installed = run('install.yml', '5.1.6')      # the first run below is a real upgrade: it holds the lock long
    assert installed.rc == 0, installed.stdout[-3000:]
    first = start('upgrade.yml', '5.1.7')
    wait_for(lambda: os.path.exists(os.path.join(LOCK, 'owner')) or first.poll() is not None, 300, interval=0.2,
             what='the first run to take the lock')
    second = run('upgrade.yml', '5.1.7')
    out_first, _x = first.communicate(timeout=900)
    assert first.returncode == 0, out_first[-4000:]
    assert second.rc != 0
    assert 'Another run is working on %s' % DIR in second.stdout, second.stdout[-3000:]
    assert version() == '5.1.7' and not os.path.exists(LOCK)
    third = run('upgrade.yml', '5.1.7')
    assert third.rc == 0 and third.changed() == 0, third.stdout[-3000:]


def test_restart_playbook_rolling_restarts_only_the_named_service():
    def ids(service):
        return docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=%s_%s' % (STACK, service),
                      '--filter', 'status=running').stdout.split()
    before = {svc: ids(svc) for svc in ('server', 'worker', 'beat', 'mysql')}
    res = run_playbook(playbook('restart.yml'), {
        'func_install_dir': DIR, 'func_stack_name': STACK, 'func_port': PORT, 'func_restart_mode': 'rolling',
        'func_restart_services': ['worker']})
    assert res.rc == 0, res.stdout[-3000:]
    after = {svc: ids(svc) for svc in ('server', 'worker', 'beat', 'mysql')}
    assert after['worker'] and set(after['worker']).isdisjoint(before['worker'])
    assert after['server'] == before['server'] and after['beat'] == before['beat'] and after['mysql'] == before['mysql']
    assert version() == '5.1.7'


def test_extra_hosts_reach_worker_etc_hosts_and_roll_only_workers():
    def ids(service):
        return docker('ps', '-q', '--filter', 'label=com.docker.swarm.service.name=%s_%s' % (STACK, service),
                      '--filter', 'status=running').stdout.split()
    before = {svc: ids(svc) for svc in ('server', 'worker', 'beat', 'mysql', 'redis')}
    hosts = {'somehost': '1.2.3.4', 'otherhost': '5.6.7.8'}
    res = run('install.yml', '5.1.7', func_extra_hosts=hosts)
    assert res.rc == 0 and res.changed() > 0, res.stdout[-4000:]
    after = {svc: ids(svc) for svc in ('server', 'worker', 'beat', 'mysql', 'redis')}
    assert after['worker'] and set(after['worker']).isdisjoint(before['worker'])
    for svc in ('server', 'beat', 'mysql', 'redis'):
        assert after[svc] == before[svc], svc
    etc_hosts = docker('exec', after['worker'][0], 'cat', '/etc/hosts').stdout
    assert '1.2.3.4' in etc_hosts and 'somehost' in etc_hosts and '5.6.7.8' in etc_hosts and 'otherhost' in etc_hosts
    again = run('install.yml', '5.1.7', func_extra_hosts=hosts)
    assert again.rc == 0 and again.changed() == 0, again.stdout[-3000:]
