"""func_images against the real Docker Engine: a tiny image of its own (built FROM scratch, saved into a bundle
directory, removed), loaded from the bundle once, then recognised from the cached tarball id; check mode predicts
the load; a missing image with source=present is refused naming it; func_health's single probe reports a server
that does not answer without failing."""
import gzip
import json
import os
import shutil
import stat
import subprocess

import pytest

from tests.lib.ansible_runner import run_module

pytestmark = pytest.mark.integration

REF = 'dfft-images/tiny:1'
WORK = '/tmp/dfft/images'


def docker(*args, check=True, **kwargs):
    return subprocess.run(['docker', *args], check=check, capture_output=True, text=True, **kwargs)


def image_id(ref):
    proc = docker('image', 'inspect', '--format', '{{.Id}}', ref, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


@pytest.fixture(scope='module')
def bundle():
    shutil.rmtree(WORK, ignore_errors=True)
    ctx = os.path.join(WORK, 'ctx')
    bundle_dir = os.path.join(WORK, 'bundle')
    os.makedirs(ctx)
    os.makedirs(bundle_dir)
    with open(os.path.join(ctx, 'hello.txt'), 'w') as handle:
        handle.write('dfft func_images\n')
    with open(os.path.join(ctx, 'Dockerfile'), 'w') as handle:
        handle.write('FROM scratch\nCOPY hello.txt /hello.txt\nLABEL dfft.images=1\n')
    docker('build', '-q', '-t', REF, ctx)
    built = image_id(REF)
    saved = subprocess.run(['docker', 'save', REF], check=True, capture_output=True)
    with gzip.open(os.path.join(bundle_dir, 'tiny.tar.gz'), 'wb') as handle:
        handle.write(saved.stdout)
    docker('rmi', '-f', REF)
    yield {'dir': bundle_dir, 'id': built, 'cache': os.path.join(WORK, 'ids.json')}
    docker('rmi', '-f', REF, check=False)
    shutil.rmtree(WORK, ignore_errors=True)


def args(bundle, **extra):
    out = {'source': 'bundle', 'bundle_dir': bundle['dir'], 'cache_file': bundle['cache'],
           'images': [{'ref': REF, 'tar': 'tiny.tar.gz'}]}
    out.update(extra)
    return out


def test_bundle_load_then_cached_noop(bundle):
    assert image_id(REF) is None
    predicted = run_module('func_images', args(bundle), check=True)
    assert predicted['changed'] is True and predicted['images'][0]['action'] == 'load', predicted
    assert image_id(REF) is None, 'check mode loaded the image'

    loaded = run_module('func_images', args(bundle))
    assert loaded['changed'] is True and loaded['images'][0]['action'] == 'loaded', loaded
    assert image_id(REF) == bundle['id'] == loaded['images'][0]['id']
    # streamed from the module (decompressed there, the layers the host has left out)
    assert any(c.endswith('load < %s/tiny.tar.gz' % bundle['dir']) for c in loaded['commands']), loaded
    assert stat.S_IMODE(os.stat(bundle['cache']).st_mode) == 0o600
    with open(bundle['cache']) as handle:
        cached = json.load(handle)
    assert cached[os.path.realpath(os.path.join(bundle['dir'], 'tiny.tar.gz'))][2] == bundle['id']

    again = run_module('func_images', args(bundle))
    assert again['changed'] is False and again['images'][0]['action'] == 'none', again
    assert not any(' load ' in c for c in again['commands'])


def test_bundle_names_its_own_images(bundle):
    """Without ref, an image of the bundle's own tarballs is named by the bundle's image-list (the swarm role's
    other nodes rely on this); a directory without image-list is refused as no bundle."""
    official = os.path.join(WORK, 'official')
    os.makedirs(official, exist_ok=True)
    shutil.copyfile(os.path.join(bundle['dir'], 'tiny.tar.gz'), os.path.join(official, 'dataflux-func.tar.gz'))
    with open(os.path.join(official, 'version'), 'w') as handle:
        handle.write('1\n')
    with open(os.path.join(official, 'image-list'), 'w') as handle:
        handle.write('IMAGE_ARCH=x86_64\nDATAFLUX_FUNC_IMAGE=%s\nMYSQL_IMAGE=dfft-images/absent:9\n' % REF)
    own = {'source': 'bundle', 'bundle_dir': official, 'cache_file': bundle['cache'],
           'images': [{'tar': 'dataflux-func.tar.gz'}]}
    result = run_module('func_images', own, check=True)
    assert not result.get('failed') and [i['ref'] for i in result['images']] == [REF], result
    os.remove(os.path.join(official, 'image-list'))
    refused = run_module('func_images', own, check=True)
    assert refused.get('failed') and 'is not a portable bundle' in refused['msg'], refused


def test_cached_id_is_used_while_the_tarball_is_unchanged(bundle):
    """The tarball is not read again while its size and mtime stay: a garbled copy with the same size and mtime
    still counts as the cached id (a real change of the file changes its mtime, and is read again)."""
    tar = os.path.join(bundle['dir'], 'tiny.tar.gz')
    run_module('func_images', args(bundle))
    st = os.stat(tar)
    with open(tar, 'r+b') as handle:
        handle.write(b'\0' * 64)
    os.utime(tar, ns=(st.st_atime_ns, st.st_mtime_ns))
    cached = run_module('func_images', args(bundle))
    assert cached['changed'] is False and not cached.get('failed'), cached
    os.utime(tar)                                   # now it is a changed file: read again, and refused
    reread = run_module('func_images', args(bundle))
    assert reread.get('failed') and 'Cannot read the image tarball' in reread['msg'], reread


def test_present_refuses_a_missing_image():
    missing = 'dfft-images/absent:0'
    result = run_module('func_images', {'source': 'present', 'images': [{'ref': missing}]})
    assert result.get('failed') and missing in result['msg'] and 'not present on this host' in result['msg']


def test_health_single_probe_reports_without_failing():
    result = run_module('func_health', {'install_dir': WORK + '/none', 'port': 18479, 'timeout': 0})
    assert not result.get('failed'), result
    assert result['ping'] is False and result['version'] is None and result['url'] == 'http://127.0.0.1:18479'
    waited = run_module('func_health', {'install_dir': WORK + '/none', 'port': 18479, 'timeout': 2, 'delay': 0.5})
    assert waited.get('failed') and 'did not answer pong within 2 s' in waited['msg'], waited
