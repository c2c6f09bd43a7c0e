"""The streamed docker load of a bundle tarball (_func_docker.load_bundle_tarball): the docker save stream passes
through byte for byte except the layer.tar of the layer directories the host has, whatever the chunking; the layout
(layer directory -> chain id) is learnt from the manifest and config the stream carries."""
import gzip
import hashlib
import io
import json
import tarfile

import pytest

from ansible_collections.dataflux.func.plugins.module_utils import _func_docker as fdocker

DIRS = ['a' * 64, 'b' * 64, 'c' * 64]


def diff(n):
    return 'sha256:' + hashlib.sha256(b'layer %d' % n).hexdigest()


def save_tar():
    """A docker save style tarball: three layer directories, the config, manifest.json (last, as docker writes it)."""
    config = json.dumps({'rootfs': {'type': 'layers', 'diff_ids': [diff(0), diff(1), diff(2)]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + '.json'
    members = []
    for i, name in enumerate(DIRS):
        members += [(name + '/VERSION', b'1.0'), (name + '/json', b'{}'),
                    (name + '/layer.tar', bytes([65 + i]) * (700 * (i + 1)))]
    members.append((config_name, config))
    manifest = json.dumps([{'Config': config_name, 'RepoTags': ['x/y:1'], 'Layers': [d + '/layer.tar' for d in DIRS]}])
    members.append(('manifest.json', manifest.encode()))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), config_name


def run_filter(data, skip, chunk):
    out = []
    flt = fdocker.SaveStreamFilter(lambda piece: out.append(bytes(piece)), skip)
    for pos in range(0, len(data), chunk):
        flt.feed(data[pos:pos + chunk])
    return b''.join(out), flt


@pytest.mark.parametrize('chunk', [1, 511, 512, 4096, 1 << 20])
def test_stream_passes_everything_without_skip(chunk):
    data, _config = save_tar()
    out, flt = run_filter(data, set(), chunk)
    assert out == data and flt.left_out == []


@pytest.mark.parametrize('chunk', [7, 512, 1 << 20])
def test_stream_leaves_out_the_layers_the_host_has_and_learns_the_layout(chunk):
    data, config = save_tar()
    out, flt = run_filter(data, {DIRS[0], DIRS[1]}, chunk)
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        names = tar.getnames()
        assert tar.extractfile(DIRS[2] + '/layer.tar').read() == b'C' * 2100
    assert DIRS[0] + '/layer.tar' not in names and DIRS[1] + '/layer.tar' not in names
    assert DIRS[0] + '/json' in names and 'manifest.json' in names and config in names
    assert flt.left_out == DIRS[:2]
    chains = fdocker.chain_ids([diff(0), diff(1), diff(2)])
    assert chains[0] == diff(0)
    assert chains[1] == 'sha256:' + hashlib.sha256(('%s %s' % (diff(0), diff(1))).encode()).hexdigest()
    assert fdocker.save_layout(flt.files) == dict(zip(DIRS, chains))


def test_stream_load_decompresses_and_falls_back(tmp_path, monkeypatch):
    """gzip is decompressed here; when docker refuses the stream with layers left out, the tarball is loaded as it
    is; the layout learnt goes to the cache."""
    data, _config = save_tar()
    path = tmp_path / 'img.tar.gz'
    path.write_bytes(gzip.compress(data))
    got = {}

    class Proc(object):
        def __init__(self, argv, **kwargs):
            self.stdin = io.BytesIO()
            self.stdin.close = lambda: None
            self.returncode = 1

        def communicate(self, timeout=None):
            got['stream'] = self.stdin.getvalue()
            return b'', b'open layer.tar: no such file'

    monkeypatch.setattr(fdocker.subprocess, 'Popen', Proc)
    calls = []

    class Docker(fdocker.DockerCLI):
        def run(self, *args, **kwargs):
            calls.append(args)
            if args[:2] == ('image', 'ls'):
                return 0, 'sha256:img\n', ''
            return 0, '', ''

        def inspect(self, kind, *names):
            return [{'RootFS': {'Layers': [diff(0), diff(1)]}}]

    class Cache(object):
        learnt = None

        def layout(self):
            return {DIRS[0]: fdocker.chain_ids([diff(0)])[0], DIRS[1]: fdocker.chain_ids([diff(0), diff(1)])[1],
                    DIRS[2]: 'sha256:other'}

        def learn(self, layout):
            self.learnt = layout

    cache = Cache()
    left_out = fdocker.load_bundle_tarball(Docker(), str(path), cache)
    assert left_out == DIRS[:2]
    assert len(got['stream']) < len(data) and got['stream'].endswith(b'\0' * 1024)
    assert calls[-1] == ('load', '--input', str(path))               # refused: the whole tarball
    assert cache.learnt == dict(zip(DIRS, fdocker.chain_ids([diff(0), diff(1), diff(2)])))
