"""The real DataFlux Func images (dff-real/dataflux-func:<version>, built from upstream's source releases by
tests/images/real/build). A test that needs one fails, naming the build command, when it is missing: the lanes that
need the real product must not pass without it."""
import shutil
import subprocess

import pytest

REAL_IMAGE = 'dff-real/dataflux-func'
DOUBLE_IMAGE = 'dff-test/dataflux-func'


def image_present(ref):
    docker = shutil.which('docker') or 'docker'
    return subprocess.run([docker, 'image', 'inspect', ref], capture_output=True, check=False).returncode == 0


def require_real(*versions):
    """Fail the calling test unless dff-real/dataflux-func:<v> exists for every version."""
    missing = ['%s:%s' % (REAL_IMAGE, v) for v in versions if not image_present('%s:%s' % (REAL_IMAGE, v))]
    if missing:
        pytest.fail('missing real DataFlux Func image(s) %s: build them with `scripts/build-images --only real` '
                    '(reads the upstream source tarballs from ../shared/upstream or $DFF_UPSTREAM)'
                    % ', '.join(missing), pytrace=False)
