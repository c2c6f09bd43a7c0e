"""Plain managed test hosts: dff-test/plain:1 (Debian python3 3.11) and dff-test/plain:py36 (CPython 3.6.15 only).

The images (tests/images/plain, built by scripts/build-images --only plain) hold exactly what the README promises
a managed host has (Python 3 + PyYAML, Docker CLI and engine) plus what any cloud host has (sudo, the non-root
user ops with passwordless sudo, coreutils, iproute2, procps): no zstd, pigz, MySQL/Redis clients or sshfs. A
host runs NON-privileged like the DinD hosts of molecule/ha (all capabilities but SYS_RESOURCE, seccomp unconfined); its
entrypoint starts root's dockerd.

Standard library + the docker CLI only: also imported by a second venv with an older ansible-core.

As a context manager (the container is removed on exit, also when start() fails)::

    from tests.lib.plainhost import PlainHost

    with PlainHost('dfft-plain-a', image='dff-test/plain:py36') as host:
        host.exec('python3', '--version', user='ops')            # -> subprocess.CompletedProcess
        host.ip()                                                 # -> '172.17.0.5'

As a pytest fixture, with an Ansible inventory reaching the host as ops + sudo over `docker exec`::

    @pytest.fixture(scope='module')
    def plain_host():
        with PlainHost('dfft-plain-b', network='dfft-plain-net', ip='10.213.7.50') as host:
            yield host

    def test_x(plain_host, tmp_path):
        inv = tmp_path / 'inventory.json'
        inv.write_text(json.dumps(plain_host.inventory('func_nodes')))
        # ansible-playbook -i inv ...  (community.docker must be on ANSIBLE_COLLECTIONS_PATH)

Containers carry the label dfft.plain=1; name them dfft-plain-* (start() replaces only a container of the same
name that carries that label, never someone else's).
"""
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CACHE = os.environ.get('DFF_CACHE', os.path.join(REPO, '.cache'))
BUNDLE = os.path.join(CACHE, 'bundle')
LABEL = 'dfft.plain'
# the same confinement as molecule/ha/create.yml's DinD hosts, minus /dev/fuse (no sshfs here)
RUN_FLAGS = ('--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE', '--security-opt', 'seccomp=unconfined')


def _docker(*args, check=True, timeout=120, input=None):
    docker = shutil.which('docker') or 'docker'
    proc = subprocess.run([docker, *args], capture_output=True, text=True, input=input, timeout=timeout,
                          check=False)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise RuntimeError('docker %s failed (rc %d): %s' % (' '.join(args[:3]), proc.returncode, detail))
    return proc


class PlainHost:
    """One plain host container. start() / stop() / exec() / ip() / inventory_vars(); also a context manager."""

    def __init__(self, name, image='dff-test/plain:1', network=None, ip=None, bundle=True):
        if ip and not network:
            raise ValueError('a static ip needs a user network (network=...) with a configured subnet')
        self.name = name
        self.image = image
        self.network = network
        self.static_ip = ip
        self.bundle = bundle

    # ---------------------------------------------------------------------------------------------- lifecycle
    def start(self, timeout=60):
        """docker run -d the host, then wait (<= timeout s) until its dockerd answers `docker info`."""
        self._remove_own_leftover()
        argv = ['run', '-d', '--name', self.name, '--hostname', self.name, '--label', '%s=1' % LABEL, *RUN_FLAGS]
        if self.network:
            argv += ['--network', self.network]
        if self.static_ip:
            argv += ['--ip', self.static_ip]
        if self.bundle:
            if not os.path.isdir(BUNDLE):
                raise FileNotFoundError('%s is missing: run scripts/build-images (or pass bundle=False)' % BUNDLE)
            argv += ['-v', '%s:/bundle:ro' % BUNDLE]
        argv.append(self.image)
        _docker(*argv)
        try:
            self._wait_dockerd(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """docker rm -f -v (its /var/lib/docker volume goes with it). Quiet when the container does not exist."""
        _docker('rm', '-f', '-v', self.name, check=False)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _remove_own_leftover(self):
        proc = _docker('inspect', '-f', '{{index .Config.Labels "%s"}}' % LABEL, self.name, check=False)
        if proc.returncode != 0:
            return
        if proc.stdout.strip() != '1':
            raise RuntimeError('container %s exists and is not a plain host (no %s=1 label): not touching it'
                               % (self.name, LABEL))
        self.stop()

    def _wait_dockerd(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            proc = self.exec('docker', 'info', '--format', '{{.ServerVersion}}', timeout=30)
            if proc.returncode == 0 and proc.stdout.strip():
                return
            if time.monotonic() > deadline:
                log = self.exec('tail', '-n', '30', '/var/log/dockerd.log').stdout
                raise TimeoutError('dockerd in %s did not answer within %ss: %s\n--- /var/log/dockerd.log\n%s'
                                   % (self.name, timeout, (proc.stderr or proc.stdout).strip(), log))
            time.sleep(0.5)

    # ---------------------------------------------------------------------------------------------- use
    def exec(self, *argv, user=None, input=None, timeout=120):
        """docker exec [-u user] NAME argv...; returns the CompletedProcess (text, never raises on rc != 0)."""
        args = ['exec']
        if input is not None:
            args.append('-i')
        if user:
            args += ['-u', user]
        return _docker(*args, self.name, *argv, check=False, timeout=timeout, input=input)

    def ip(self):
        """The container's IPv4 address (on `network` when given, else on its first network)."""
        nets = json.loads(_docker('inspect', '-f', '{{json .NetworkSettings.Networks}}', self.name).stdout or '{}')
        if self.network:
            return nets[self.network]['IPAddress']
        for net in nets.values():
            if net.get('IPAddress'):
                return net['IPAddress']
        raise RuntimeError('%s has no IPv4 address' % self.name)

    def inventory_vars(self):
        """Host vars to reach the host from Ansible: `docker exec` as ops, sudo to root, /usr/bin/python3."""
        return {
            'ansible_connection': 'community.docker.docker',
            'ansible_host': self.name,
            'ansible_user': 'ops',
            'ansible_become': True,
            'ansible_become_method': 'sudo',
            'ansible_python_interpreter': '/usr/bin/python3',
        }

    def inventory(self, group='plain'):
        """A one-host YAML/JSON inventory (json.dumps it to a .json or .yml file)."""
        return {'all': {'children': {group: {'hosts': {self.name: self.inventory_vars()}}}}}


@contextlib.contextmanager
def on_network(name, image, network, subnet, gateway, ip, group='dataflux_func'):
    """A started plain host at ip on its own user network (created here, gateway = this machine), with
    .inventory_file: a 0600 JSON inventory putting it in group. Host, file and network are removed afterwards."""
    _docker('network', 'rm', network, check=False)
    _docker('network', 'create', '--subnet', subnet, '--gateway', gateway, network)
    node = PlainHost(name, image=image, network=network, ip=ip)
    node.inventory_file = None
    try:
        node.start()
        fd, node.inventory_file = tempfile.mkstemp(prefix='dfft-plain-', suffix='.json')
        with os.fdopen(fd, 'w') as handle:
            json.dump(node.inventory(group), handle)
        yield node
    finally:
        if node.inventory_file:
            os.unlink(node.inventory_file)
        node.stop()
        _docker('network', 'rm', network, check=False)
