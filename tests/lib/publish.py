"""Helpers of the publishing gates in tests/quality: running the project's tools, the collection as git would ship
it, the collection tarball built once per test module, and the publishing tools of .venv-publish (galaxy-importer,
antsibull-docs, antsibull-changelog, ansible-builder, Sphinx)."""
import os
import shutil
import subprocess
import sys

from tests.lib.ansible_runner import REPO, ansible_env

BIN = os.path.dirname(sys.executable)
PUBLISH_BIN = os.path.join(REPO, '.venv-publish', 'bin')


def run(argv, cwd=REPO, timeout=1200, env=None):
    proc = subprocess.run(argv, cwd=cwd, env=env or ansible_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)
    return proc.returncode, proc.stdout + proc.stderr


def tracked_files():
    out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    return [line for line in out.splitlines() if line and os.path.isfile(os.path.join(REPO, line))]


def collection_copy(tmp_path):
    """What git would ship, copied to tmp_path/ansible_collections/dataflux/func (where ansible-test and
    antsibull-docs need a collection to be); returns that directory."""
    dest = tmp_path / 'ansible_collections' / 'dataflux' / 'func'
    for rel in tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), target)
    return dest


def publish_env(extra=None):
    env = ansible_env({'PATH': PUBLISH_BIN + os.pathsep + os.environ.get('PATH', '')})
    env.pop('ANSIBLE_PYTHON_INTERPRETER', None)
    env.update(extra or {})
    return env


def build_tarball(dest_dir):
    """ansible-galaxy collection build of the checkout into dest_dir; returns the tarball's path."""
    rc, out = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(dest_dir), REPO])
    assert rc == 0, out
    tarballs = [f for f in os.listdir(str(dest_dir)) if f.startswith('dataflux-func-') and f.endswith('.tar.gz')]
    assert len(tarballs) == 1, tarballs
    return os.path.join(str(dest_dir), tarballs[0])
