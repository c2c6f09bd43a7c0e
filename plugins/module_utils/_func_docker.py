# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker access for dataflux.func, through the docker CLI.

Stacks have no Engine API, so the CLI is needed anyway; using it for everything keeps managed hosts free
of the Docker SDK. Every command is an argv list (never a shell string), and secrets never go on argv.
"""


import collections
import hashlib
import json
import os
import re
import subprocess
import tarfile
import time
import zlib

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError, atomic_write
from ansible_collections.dataflux.func.plugins.module_utils._func_stack import (
    task_fingerprint, image_ref, normalize_live_service, parse_replicas, short_service_name)

STACK_LABEL = 'com.docker.stack.namespace'
SERVICE_LABEL = 'com.docker.swarm.service.name'


def docker_argument_spec():
    return dict(
        docker_cli=dict(type='path', default='docker'),
        docker_host=dict(type='str'),
    )


def stack_service_transport(docker, stack, host, service, what, builtin=None):
    """The one 'auto' transport rule for a database of the stack (what: 'MySQL' or 'Redis').

    A host equal to the built-in service's name (builtin, by default service: ``mysql`` / ``redis``) means the
    stack's own database: 'container' when the stack has the service the client runs in (service), a FuncError
    when it does not (such a name resolves only inside the stack network). Any other host: None, the caller
    connects directly.
    """
    if host != (builtin or service) or docker is None or not stack:
        return None
    try:
        services = docker.stack_services(stack)
    except FuncError:
        services = []
    if '%s_%s' % (stack, service) in services:
        return 'container'
    option = what.lower()
    raise FuncError('%s_HOST is %r (the built-in %s service), but stack %s has no service %s_%s. Deploy the stack, '
                    'or set %s_transport=direct with %s_host/%s_port of a reachable %s.'
                    % (what.upper(), host, what, stack, stack, service, option, option, option, what), stack=stack)


# --- images: what the host has, what a bundle's docker save tarball holds (func_images, func_preflight) ---
def tarball_image_id(path):
    """The image id (sha256:...) a `docker save` tarball (plain or compressed) holds, from its manifest.json."""
    try:
        with tarfile.open(path, 'r:*') as tar:
            for member in tar:
                if member.name.lstrip('./') == 'manifest.json':
                    manifest = json.load(tar.extractfile(member))
                    break
            else:
                raise FuncError('%s holds no manifest.json: not a docker save tarball' % path)
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise FuncError('Cannot read the image tarball %s: %s' % (path, exc))
    config = manifest[0]['Config'].rsplit('/', 1)[-1]
    return 'sha256:' + (config[:-5] if config.endswith('.json') else config)


class IdCache(object):
    """{realpath: [size, mtime_ns, id]} in a 0600 JSON file; a tarball that changed is read again."""

    def __init__(self, path):
        self.path = path
        self.dirty = False
        try:
            with open(path) as handle:
                self.data = json.load(handle)
        except (OSError, ValueError):
            self.data = {}
        if not isinstance(self.data, dict):
            self.data = {}

    def image_id(self, tar):
        real = os.path.realpath(tar)
        try:
            st = os.stat(real)
        except OSError:
            raise FuncError('The bundle has no %s' % tar)
        key = [st.st_size, st.st_mtime_ns]
        hit = self.data.get(real)
        if isinstance(hit, list) and hit[:2] == key:
            return hit[2]
        found = tarball_image_id(real)
        self.data[real] = key + [found]
        self.dirty = True
        return found

    def layout(self):
        """{layer directory of a docker save tarball: its chain id}, learnt from the tarballs loaded before."""
        known = self.data.get(LAYOUT_KEY)
        return dict(known) if isinstance(known, dict) else {}

    def learn(self, layout):
        known = self.layout()
        if len(known) + len(layout) > 2000:          # bounded: an old bundle's layers are simply read again
            known = {}
        known.update(layout)
        self.data[LAYOUT_KEY] = known
        self.dirty = True

    def remember(self, tar, image_id):
        """Record image_id as the id tar holds (the id of the image a load of tar just put under its name)."""
        real = os.path.realpath(tar)
        try:
            st = os.stat(real)
        except OSError:
            return
        self.data[real] = [st.st_size, st.st_mtime_ns, image_id]
        self.dirty = True

    def save(self):
        if self.dirty:
            try:
                atomic_write(self.path, json.dumps(self.data, sort_keys=True).encode('utf-8'), mode=0o600)
            except (OSError, IOError):
                pass          # a cache that cannot be written only costs time next run


def local_ids(docker, refs):
    """{ref: image id} of the refs present on the host (one docker call)."""
    out = {}
    for info in docker.inspect('image', *refs) if refs else []:
        for tag in info.get('RepoTags') or []:
            out[tag] = info.get('Id')
    # refs without an explicit registry/tag resolve like docker does only when inspected one by one
    missing = [r for r in refs if r not in out]
    for ref in missing:
        got = docker.inspect('image', ref)
        if got:
            out[ref] = got[0].get('Id')
    return out


BUNDLE_ID_CACHE = '/var/tmp/.dataflux-func-bundle-image-ids.json'
LAYOUT_KEY = 'layer-chains'        # an entry of the cache file that is not a tarball's path
# how `docker stack rm` reports a network it could not remove yet because a task still uses it
_BUSY_NETWORK = re.compile(r'Failed to remove network \S+: Error response from daemon: [^\n]*?is in use by '
                           r'(?:task|container) [0-9a-z]+')
_MISSING = re.compile(r'no such|not found', re.I)   # how docker <kind> inspect names an object that is not there


# --- docker load of a bundle tarball, streamed: the layers the host has are left out ---------------------------
_SAVE_LAYER = re.compile(r'^(?:\./)?([0-9a-f]{64})/layer\.tar$')
_SAVE_SMALL = re.compile(r'^(?:\./)?(manifest\.json|[0-9a-f]{64}\.json)$')
_ZERO_BLOCK = b'\0' * 512


def chain_ids(diff_ids):
    """The layer chain ids (sha256:...) of an image whose rootfs has diff_ids, as Docker computes them."""
    out, chain = [], None
    for diff in diff_ids:
        chain = diff if chain is None else 'sha256:' + hashlib.sha256(
            ('%s %s' % (chain, diff)).encode('ascii')).hexdigest()
        out.append(chain)
    return out


def host_chain_ids(docker):
    """The layer chain ids of every image on the host (two docker calls)."""
    _rc, out, _err = docker.run('image', 'ls', '-q', '--no-trunc', check=False)
    ids = sorted(set(out.split()))
    chains = set()
    for info in docker.inspect('image', *ids) if ids else []:
        chains.update(chain_ids((info.get('RootFS') or {}).get('Layers') or []))
    return chains


def save_layout(files):
    """{layer directory: chain id} of a docker save tarball, from its manifest.json and image configs
    ({name: bytes})."""
    out = {}
    try:
        manifest = json.loads(files['manifest.json'].decode('utf-8'))
        for image in manifest:
            config = json.loads(files[image['Config'].lstrip('./')].decode('utf-8'))
            chains = chain_ids(config['rootfs']['diff_ids'])
            for layer, chain in zip(image['Layers'], chains):
                found = _SAVE_LAYER.match(layer)
                if found:
                    out[found.group(1)] = chain
    except (KeyError, ValueError, TypeError, AttributeError):
        return {}
    return out


def _tar_number(field):
    if field[:1] and ord(field[:1]) & 0x80:
        raise ValueError('base-256 size')
    text = field.split(b'\0', 1)[0].strip()
    return int(text or b'0', 8)


class SaveStreamFilter(object):
    """Passes a docker save tar stream to out(), leaving out the layer.tar of the layer directories in skip (their
    chains are on the host: docker load does not open them) and keeping manifest.json and the image configs."""

    def __init__(self, out, skip):
        self.out = out
        self.skip = skip
        self.head = b''
        self.left = 0               # bytes of the current member (padded to 512) still to come
        self.emit = True
        self.capture = None
        self.files = {}
        self.sizes = {}
        self.extended = False       # the previous header was a pax or GNU long-name header
        self.ended = False
        self.left_out = []

    def feed(self, data):
        view = memoryview(data)
        pos, size = 0, len(view)
        while pos < size:
            if self.ended:
                self.out(view[pos:])
                return
            if self.left:
                count = min(self.left, size - pos)
                piece = view[pos:pos + count]
                if self.emit:
                    self.out(piece)
                if self.capture is not None:
                    self.files[self.capture] += piece.tobytes()
                self.left -= count
                pos += count
                if not self.left and self.capture is not None:
                    self.files[self.capture] = self.files[self.capture][:self.sizes[self.capture]]
                    self.capture = None
                continue
            take = view[pos:pos + 512 - len(self.head)].tobytes()
            pos += len(take)
            self.head += take
            if len(self.head) == 512:
                header, self.head = self.head, b''
                self._header(header)

    def _header(self, header):
        if header == _ZERO_BLOCK:
            self.out(header)
            self.ended = True
            return
        size = _tar_number(header[124:136])
        kind = header[156:157]
        name = header[0:100].split(b'\0', 1)[0].decode('utf-8', 'replace')
        if header[257:262] == b'ustar':
            prefix = header[345:500].split(b'\0', 1)[0].decode('utf-8', 'replace')
            name = prefix + '/' + name if prefix else name
        regular = kind in (b'0', b'\0') and not self.extended
        self.extended = kind in (b'x', b'g', b'L', b'K')
        layer = _SAVE_LAYER.match(name) if regular else None
        self.left = (size + 511) // 512 * 512
        self.emit = not (layer and layer.group(1) in self.skip)
        if self.emit:
            self.out(header)
        else:
            self.left_out.append(layer.group(1))
        small = _SAVE_SMALL.match(name) if regular else None
        if small and size <= (1 << 20) and self.left:
            self.capture = small.group(1)
            self.files[self.capture] = b''
            self.sizes[self.capture] = size


def stream_load(docker, path, skip, timeout=3600):
    """docker load of the docker save tarball at path (gzip or plain), decompressed here and streamed to docker load
    with the layer.tar of the layer directories in skip left out. Returns (rc, stderr, filter)."""
    argv = docker.argv('load')
    left_out = ' (%d layers the host has left out)' % len(skip) if skip else ''
    docker.commands.append('%s < %s%s' % (' '.join(argv), path, left_out))
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=docker.env)
    except OSError:
        raise FuncError('The docker CLI (%s) was not found on this host.' % docker.docker_cli)
    flt = SaveStreamFilter(proc.stdin.write, skip)
    try:
        with open(path, 'rb') as handle:
            inflate = zlib.decompressobj(47) if handle.read(2) == b'\x1f\x8b' else None
            handle.seek(0)
            while True:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                while inflate is not None and chunk:
                    flt.feed(inflate.decompress(chunk))
                    chunk = b''
                    if inflate.eof:             # a gzip file of several members
                        chunk, inflate = inflate.unused_data, zlib.decompressobj(47)
                if inflate is None:
                    flt.feed(chunk)
            if inflate is not None:
                flt.feed(inflate.flush())
    except BrokenPipeError:
        pass                        # docker load stopped early: its error follows
    except (OSError, ValueError, zlib.error) as exc:
        proc.kill()
        proc.communicate()
        raise FuncError('Cannot read the image tarball %s: %s' % (path, exc))
    try:
        _out, err = proc.communicate(timeout=timeout)       # closes docker load's stdin: the end of the stream
    except subprocess.TimeoutExpired:
        proc.kill()
        raise FuncError('docker load did not finish within %s s' % timeout)
    return proc.returncode, err.decode('utf-8', 'replace'), flt


def load_bundle_tarball(docker, path, cache=None, timeout=3600):
    """docker load of a bundle's docker save tarball, streamed from this process: decompressed here (zlib) and with
    the layer.tar of every layer the host has already left out, so that docker neither decompresses nor writes to
    its temporary directory what it would not use (upgrading 5.1.6 -> 5.1.7, 10 of the 13 layers, 1.2 of 1.4 GB).
    Which directory of a tarball holds which layer chain is learnt from the manifests of the tarballs loaded before
    (cache). When docker refuses the stream, the tarball is loaded as it is."""
    layout = cache.layout() if cache is not None else {}
    have = host_chain_ids(docker) if layout else set()
    skip = set(name for name, chain in layout.items() if chain in have)
    rc, err, flt = stream_load(docker, path, skip, timeout)
    if rc != 0 and flt.left_out:
        docker.run('load', '--input', path, timeout=timeout)
    elif rc != 0:
        raise FuncError(docker._explain(docker.argv('load'), err), rc=rc, stderr=err)
    learnt = save_layout(flt.files)
    if cache is not None and learnt:
        cache.learn(learnt)
    return flt.left_out


def images_plan(docker, images, source, bundle_dir=None, cache=None):
    """What func_images does for each of images [{ref, tar}]: [{ref, id, action, tar}], action V(none), V(pull)
    (source registry, not on the host), V(load) (source bundle, the tarball's image id, in bundle_id, is not the
    one the host has under ref) or V(missing) (source present, not on the host). cache: IdCache for bundles.

    A bundle tarball whose ref the host does not have at all is loaded without reading its image id first
    (bundle_id None): finding the id of a tarball the cache does not know means reading it to its end
    (manifest.json comes last), which costs as much CPU as decompressing it again for the load."""
    have = local_ids(docker, [i['ref'] for i in images])
    rows = []
    for image in images:
        row = {'ref': image['ref'], 'id': have.get(image['ref']), 'action': 'none'}
        if source == 'bundle':
            row['tar'] = os.path.join(bundle_dir, image['tar'])
            want = cache.image_id(row['tar']) if row['id'] is not None else None
            if row['id'] is None or row['id'] != want:
                row.update(action='load', bundle_id=want)
        elif row['id'] is None:
            row['action'] = 'pull' if source == 'registry' else 'missing'
        rows.append(row)
    if cache is not None:
        cache.save()
    return rows


class DockerCLI(object):
    """Thin wrapper around the docker CLI: JSON queries, container lookup, exec streaming."""

    def __init__(self, module=None, docker_cli='docker', docker_host=None):
        self.module = module
        self.docker_cli = docker_cli or 'docker'
        self.env = dict(os.environ)
        if docker_host:
            self.env['DOCKER_HOST'] = docker_host
        self.commands = []   # audit trail returned by modules as "commands"

    # --- plumbing -------------------------------------------------------------------------
    def argv(self, *args):
        return [self.docker_cli] + [str(a) for a in args]

    def run(self, *args, **kwargs):
        """Run docker with args; return (rc, stdout, stderr). check=True raises FuncError on rc != 0."""
        check = kwargs.pop('check', True)
        data = kwargs.pop('data', None)
        timeout = kwargs.pop('timeout', None)
        argv = self.argv(*args)
        self.commands.append(' '.join(argv))
        try:
            proc = subprocess.run(argv, check=False, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=self.env, timeout=timeout, cwd=kwargs.pop('cwd', None))
        except FileNotFoundError:
            raise FuncError('The docker CLI (%s) was not found on this host. Install Docker or set docker_cli.'
                            % self.docker_cli)
        except subprocess.TimeoutExpired:
            raise FuncError('docker %s did not finish within %s s' % (args[0] if args else '', timeout),
                            cmd=argv)
        out = proc.stdout.decode('utf-8', 'replace')
        err = proc.stderr.decode('utf-8', 'replace')
        if check and proc.returncode != 0:
            raise FuncError(self._explain(argv, err), rc=proc.returncode, stdout=out, stderr=err,
                            cmd=argv)
        return proc.returncode, out, err

    def _explain(self, argv, err):
        msg = 'Command "%s" failed: %s' % (' '.join(argv[:4]) + (' ...' if len(argv) > 4 else ''),
                                           err.strip() or 'no error output')
        if 'Cannot connect to the Docker daemon' in err or 'docker.sock' in err and 'permission' in err:
            msg += ('. The Docker daemon on this host is not reachable: check that dockerd is running '
                    '(systemctl status docker) and that this user may use it.')
        elif 'This node is not a swarm manager' in err:
            msg += '. Initialise the swarm first (docker swarm init) or run against a manager node.'
        return msg

    def json_lines(self, *args):
        _rc, out, _err = self.run(*args)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def inspect(self, kind, *names):
        """`docker <kind> inspect` entries of the named objects; names that do not exist (or went away since they
        were listed, as services of a stack being removed do) are skipped."""
        if not names:
            return []
        rc, out, err = self.run(kind, 'inspect', *names, check=False)
        if rc == 0:
            return json.loads(out or '[]')
        if not _MISSING.search(err):
            raise FuncError(self._explain(self.argv(kind, 'inspect'), err), rc=rc, stderr=err)
        found = []                           # one missing name fails the bulk call: ask one by one
        for name in names if len(names) > 1 else []:
            found.extend(self.inspect(kind, name))
        return found

    # --- daemon / swarm -------------------------------------------------------------------
    def info(self):
        rc, out, err = self.run('info', '--format', '{{json .}}', check=False)
        if rc != 0:
            raise FuncError(self._explain(self.argv('info'), err), rc=rc, stderr=err)
        return json.loads(out)

    def swarm_state(self):
        info = self.info()
        swarm = info.get('Swarm') or {}
        return swarm.get('LocalNodeState'), bool(swarm.get('ControlAvailable'))

    # --- stacks, services, tasks, containers ----------------------------------------------
    def stack_services(self, stack):
        """Names of the services of a stack (full names, e.g. dataflux-func_server)."""
        rows = self.json_lines('service', 'ls', '--filter', 'label=%s=%s' % (STACK_LABEL, stack),
                               '--format', '{{json .}}')
        return sorted(row['Name'] for row in rows)

    def stack_containers(self, stack, all_states=True):
        args = ['ps', '-q', '--filter', 'label=%s=%s' % (STACK_LABEL, stack)]
        if all_states:
            args.insert(1, '-a')
        _rc, out, _err = self.run(*args)
        return [line for line in out.split() if line]

    def stack_networks(self, stack):
        _rc, out, _err = self.run('network', 'ls', '-q', '--filter', 'label=%s=%s' % (STACK_LABEL, stack))
        return [line for line in out.split() if line]

    def service_containers(self, service_full_name, running=True):
        args = ['ps', '-q', '--filter', 'label=%s=%s' % (SERVICE_LABEL, service_full_name)]
        if running:
            args += ['--filter', 'status=running']
        else:
            args.insert(1, '-a')
        _rc, out, _err = self.run(*args)
        return [line for line in out.split() if line]

    def stack_service_container(self, stack, prefixes):
        """ID of a running container on this host of a service of stack whose short name starts with one of
        prefixes (e.g. the product's workers and beat), or None."""
        _rc, out, _err = self.run('ps', '--filter', 'label=%s=%s' % (STACK_LABEL, stack), '--filter', 'status=running',
                                  '--format', '{{.ID}} {{.Label "%s"}}' % SERVICE_LABEL)
        for line in sorted(out.splitlines(), key=lambda row: row.split(' ', 1)[-1]):
            cid, _sep, full = line.strip().partition(' ')
            short = full[len(stack) + 1:] if full.startswith(stack + '_') else ''
            if cid and short.startswith(tuple(prefixes)):
                return cid
        return None

    def find_container(self, stack, service, timeout=0):
        """ID of a running container of <stack>_<service>, waiting up to timeout seconds."""
        full = '%s_%s' % (stack, service)
        deadline = time.time() + (timeout or 0)
        while True:
            ids = self.service_containers(full)
            if ids:
                return ids[0]
            if time.time() >= deadline:
                raise FuncError('No running container of service %s was found on this host. Is the stack '
                                'deployed and the service running (docker service ps %s)?' % (full, full),
                                service=full)
            time.sleep(1)

    # --- stacks: deploy / remove / converge (func_stack) ---------------------------------------
    def service_inspect(self, *names):
        """`docker service inspect` entries of the named services (missing ones are skipped)."""
        return self.inspect('service', *names)

    def network_names(self, ids):
        """{network id: name} for the given ids (unknown ids are left out)."""
        out = {}
        for net in self.inspect('network', *sorted(set(i for i in ids if i))):
            out[net.get('Id')] = net.get('Name')
        return out

    def live_stack(self, stack):
        """(normalised services by short name, raw inspect entries by short name) of a running stack."""
        names = self.stack_services(stack)
        if not names:
            return {}, {}
        raw = {short_service_name(s['Spec']['Name'], stack): s for s in self.inspect('service', *names)}
        ids = [n.get('Target') for s in raw.values()
               for n in ((s['Spec'].get('TaskTemplate') or {}).get('Networks') or [])]
        nets = self.network_names(ids)
        return {k: normalize_live_service(v, nets) for k, v in raw.items()}, raw

    def stack_status(self, stack):
        """[{name, short_name, image, desired, running, mode}] of the services of a stack."""
        rows = self.json_lines('service', 'ls', '--filter', 'label=%s=%s' % (STACK_LABEL, stack),
                               '--format', '{{json .}}')
        out = []
        for row in sorted(rows, key=lambda r: r['Name']):
            running, desired = parse_replicas(row.get('Replicas'))
            out.append({'name': row['Name'], 'short_name': short_service_name(row['Name'], stack),
                        'image': image_ref(row.get('Image')), 'desired': desired, 'running': running,
                        'mode': row.get('Mode')})
        return out

    def stack_deploy(self, stack, stack_file, resolve_image='never', prune=False):
        """`docker stack deploy -c <file> --resolve-image <mode> [--prune] <stack>` from the file's dir."""
        args = ['stack', 'deploy', '-c', stack_file, '--resolve-image', resolve_image]
        if prune:
            args.append('--prune')
        args.append(stack)
        return self.run(*args, cwd=os.path.dirname(os.path.abspath(stack_file)))

    def stack_remove(self, stack, busy_networks_ok=False):
        """`docker stack rm`. With busy_networks_ok (the caller waits with wait_stack_gone next, which removes a
        leftover network again once the stack has no container), a network still in use by a task that is
        shutting down is not an error: the services are removed, only the network removal came too early."""
        rc, out, err = self.run('stack', 'rm', stack, check=False)
        left = _BUSY_NETWORK.sub('', err).replace('Failed to remove some resources from stack: %s' % stack, '')
        if rc != 0 and not (busy_networks_ok and not left.strip()):
            raise FuncError(self._explain(self.argv('stack', 'rm', stack), err), rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def service_remove(self, *full_names):
        return self.run('service', 'rm', *full_names)

    def service_force_update(self, full_name, order=None):
        """`docker service update --force --detach [--update-order O]`: restart the tasks in place."""
        args = ['service', 'update', '--force', '--detach']
        if order:
            args += ['--update-order', order]
        return self.run(*(args + [full_name]))

    def wait_stack_gone(self, stack, timeout=300, poll=0.25, all_states=True):
        """Wait until no container (all_states: in any state, else running) and no network of the stack is
        left; return seconds."""
        start = time.time()
        last_rm = None
        while True:
            containers = self.stack_containers(stack, all_states=all_states)
            networks = [] if containers else self.stack_networks(stack)
            if not containers and not networks:
                return time.time() - start
            if networks and (last_rm is None or time.time() - last_rm >= 5):
                # `docker stack rm` gives up on a network whose endpoints were still being released (busy
                # hosts); with no container of the stack left, removing it again is what an operator does.
                if last_rm is not None:
                    self.run('network', 'rm', *networks, check=False)
                last_rm = time.time()
            if time.time() - start >= timeout:
                raise FuncError('Stack %s was removed but %d container(s) and %d network(s) are still there '
                                'after %s s (docker ps -a --filter label=%s=%s).'
                                % (stack, len(containers), len(networks), timeout, STACK_LABEL, stack),
                                containers=containers, networks=networks)
            time.sleep(poll)

    def wait_services_gone(self, full_names, timeout=300, poll=0.5, running_only=False):
        """Wait until the services have no container (or, with running_only, no running one); seconds waited."""
        start = time.time()
        while True:
            left = [c for name in full_names for c in self.service_containers(name, running=running_only)]
            if not left:
                return time.time() - start
            if time.time() - start >= timeout:
                raise FuncError('Containers of %s are still %s after %s s'
                                % (', '.join(full_names), 'running' if running_only else 'there', timeout),
                                containers=left)
            time.sleep(poll)

    def last_task_error(self, full_name):
        """(error, current state) of the newest task of a service that reports an error, else the newest."""
        rc, out, _err = self.run('service', 'ps', '--no-trunc', '--format', '{{json .}}', full_name, check=False)
        rows = [json.loads(line) for line in out.splitlines() if line.strip()] if rc == 0 else []
        for row in rows:
            if row.get('Error'):
                return row.get('Error'), row.get('CurrentState')
        if rows:
            return '', rows[0].get('CurrentState')
        return '', 'no task'

    def services_convergence(self, full_names):
        """{full name: {desired, running, containers, state, message}}; converged when running == desired.

        running counts only tasks that run the current spec (task ContainerSpec and ForceUpdate equal to the
        service's), so a task of the previous version does not count while an update is under way. A service is
        converged only once the containers of its replaced tasks have exited too (containers <= desired on this
        node), so that when a deploy or restart returns, no process with the old spec or configuration runs.
        """
        services = {s['Spec']['Name']: s for s in self.service_inspect(*full_names)}
        task_ids = []
        if services:
            _rc, out, _err = self.run('service', 'ps', '-q', '--no-trunc', '--filter', 'desired-state=running',
                                      *sorted(services), check=False)
            task_ids = sorted(set(out.split()))
        tasks = []
        if task_ids:
            rc, out, _err = self.run('inspect', '--type', 'task', *task_ids, check=False)
            tasks = json.loads(out or '[]') if rc == 0 else []
        _rc, out, _err = self.run('ps', '--filter', 'status=running', '--format',
                                  '{{.Label "%s"}}' % SERVICE_LABEL, check=False)
        containers = collections.Counter(line.strip() for line in out.splitlines() if line.strip())
        by_service = {}
        for task in tasks:
            by_service.setdefault(task.get('ServiceID'), []).append(task)
        status = {}
        for name in full_names:
            svc = services.get(name)
            if svc is None:
                status[name] = {'desired': None, 'running': 0, 'converged': False, 'state': 'missing',
                                'message': 'service does not exist'}
                continue
            template = svc['Spec'].get('TaskTemplate') or {}
            mine = [t for t in by_service.get(svc['ID'], []) if t.get('DesiredState') == 'running']
            want = task_fingerprint(template)
            current = [t for t in mine if task_fingerprint(t.get('Spec')) == want]
            running = len([t for t in current if (t.get('Status') or {}).get('State') == 'running'])
            mode = svc['Spec'].get('Mode') or {}
            if 'Global' in mode:
                desired = len(mine)
                converged = desired > 0 and running == desired
            else:
                desired = int((mode.get('Replicated') or {}).get('Replicas') or 0)
                converged = running >= desired and len(mine) == desired
            converged = converged and containers.get(name, 0) <= desired
            update = svc.get('UpdateStatus') or {}
            status[name] = {'desired': desired, 'running': running, 'containers': containers.get(name, 0),
                            'converged': converged,
                            'state': update.get('State'), 'message': update.get('Message')}
        return status

    def wait_services_converged(self, full_names, timeout=300, poll=0.5, first_task=False):
        """Wait until every service runs its desired number of up-to-date tasks; return seconds waited.

        With first_task, until every service runs at least one up-to-date task (all of them when it wants none):
        with a healthcheck, swarm reports a task running only once its container is healthy.
        Fails early when an update is paused or rolled back (swarm gave up), and on timeout names the stuck
        service with the last task error (`docker service ps --no-trunc`).
        """
        start = time.time()
        while True:
            status = self.services_convergence(full_names)
            if first_task:
                stuck = [n for n in full_names if not (status[n]['converged'] or status[n]['running'] > 0)]
            else:
                stuck = [n for n in full_names if not status[n]['converged']]
            if not stuck:
                return time.time() - start
            for name in stuck:
                state = status[name]['state'] or ''
                if state == 'paused' or state.startswith('rollback'):
                    self._not_converged(name, status[name], 'the update is %s (%s)'
                                        % (state, status[name]['message'] or 'no message'))
            if time.time() - start >= timeout:
                self._not_converged(stuck[0], status[stuck[0]], 'not converged within %s s' % timeout,
                                    stuck=stuck)
            time.sleep(poll)

    def _not_converged(self, name, status, why, stuck=None):
        error, current = self.last_task_error(name)
        raise FuncError('Service %s: %s; %s/%s up-to-date task(s) running; last task: %s%s. See docker service '
                        'ps --no-trunc %s.' % (name, why, status['running'], status['desired'], current,
                                               (', error: %s' % error) if error else '', name),
                        service=name, task_error=error, task_state=current,
                        stuck_services=stuck or [name])

    # --- exec -----------------------------------------------------------------------------
    def run_argv(self, image, argv, entrypoint=None, network=None):
        """argv of a short-lived container of image (removed on exit, stdin attached, no log kept) running argv.
        Used for clients the host does not have (mysql): only Docker is needed on the host."""
        cmd = [self.docker_cli, 'run', '--rm', '-i', '--log-driver', 'none', '--label', 'dataflux.func.client=1']
        if network:
            cmd += ['--network', network]
        if entrypoint:
            cmd += ['--entrypoint', entrypoint]
        return cmd + [image] + list(argv)

    def exec_argv(self, container, argv, interactive=True, env=None):
        """argv running argv inside container. env values must not be secrets (they show in ps)."""
        cmd = [self.docker_cli, 'exec']
        if interactive:
            cmd.append('-i')
        for key, value in (env or {}).items():
            cmd += ['-e', '%s=%s' % (key, value)]
        return cmd + [container] + list(argv)
