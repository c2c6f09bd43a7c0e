"""Static quality gates: ruff, ansible-lint (production profile), ansible-test sanity (no ignore files),
the collection build (no test fixtures inside) and ansible-doc listing every module."""
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.lib.ansible_runner import CACHE, REPO, ansible_env

pytestmark = pytest.mark.quality
BIN = os.path.dirname(sys.executable)
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, 'plugins', 'modules')) if f.endswith('.py'))


def run(argv, cwd=REPO, timeout=1200):
    proc = subprocess.run(argv, cwd=cwd, env=ansible_env(), capture_output=True, text=True, timeout=timeout,
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


def test_ruff():
    rc, out = run([os.path.join(BIN, 'ruff'), 'check', '.'])
    assert rc == 0, out


def test_plugins_run_on_python36():
    """Modules and module_utils run on the managed host, where Python may be 3.6 (EL8, Alibaba Cloud Linux 3)."""
    rc, out = run([os.path.join(BIN, 'vermin'), '-t=3.6-', '--violations', '--no-tips', 'plugins/'])
    assert rc == 0, out
    assert 'Minimum required versions: 3.6' in out or 'No known' in out, out


def test_ansible_lint_production_profile():
    rc, out = run([os.path.join(BIN, 'ansible-lint'), '--offline', 'roles', 'playbooks'])
    assert rc == 0, out[-6000:]


def test_no_sanity_ignore_files():
    ignores = os.path.join(REPO, 'tests', 'sanity')
    assert not os.path.isdir(ignores) or not any(f.startswith('ignore') for f in os.listdir(ignores))


@pytest.mark.slow
def test_ansible_test_sanity(tmp_path):
    dest = collection_copy(tmp_path)
    subprocess.run(['git', 'init', '-q', '.'], cwd=dest, check=True)
    subprocess.run(['git', 'add', '-A'], cwd=dest, check=True)
    rc, out = run([os.path.join(BIN, 'ansible-test'), 'sanity', '--python', '%d.%d' % sys.version_info[:2],
                   '--requirements', '--color', 'no'], cwd=str(dest), timeout=1800)
    errors = [line for line in out.splitlines() if line.startswith(('ERROR', 'FATAL'))]
    assert rc == 0, '\n'.join(errors) or out[-6000:]


def test_collection_build_has_no_test_fixtures(tmp_path):
    rc, out = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path),
                   REPO])
    assert rc == 0, out
    tarballs = list(tmp_path.glob('dataflux-func-*.tar.gz'))
    assert len(tarballs) == 1
    names = tarfile.open(tarballs[0]).getnames()
    assert 'MANIFEST.json' in names and 'plugins/modules/func_stack.py' in names
    leaked = [n for n in names if n.startswith(('tests/func_double', 'tests/integration', 'tests/unit', 'bench',
                                                '.venv', '.cache', 'molecule', 'scripts'))]
    assert not leaked, leaked


def test_ansible_doc_lists_and_renders_every_module():
    rc, out = run([os.path.join(BIN, 'ansible-doc'), '-l', 'dataflux.func'])
    assert rc == 0, out
    for name in MODULES:
        assert 'dataflux.func.%s' % name in out
        rc, doc = run([os.path.join(BIN, 'ansible-doc'), 'dataflux.func.%s' % name])
        assert rc == 0 and 'EXAMPLES' in doc, doc[-2000:]


def test_every_molecule_scenario_has_a_test():
    scenarios = sorted(d for d in os.listdir(os.path.join(REPO, 'molecule'))
                       if os.path.isfile(os.path.join(REPO, 'molecule', d, 'molecule.yml')))
    wrappers = sorted(f[len('test_molecule_'):-3] for f in os.listdir(os.path.join(REPO, 'tests', 'molecule'))
                      if f.startswith('test_molecule_') and f.endswith('.py'))
    assert scenarios == wrappers


PUBLISH_BIN = os.path.join(REPO, '.venv-publish', 'bin')


def publish_env():
    env = ansible_env({'PATH': PUBLISH_BIN + os.pathsep + os.environ.get('PATH', '')})
    env.pop('ANSIBLE_PYTHON_INTERPRETER', None)
    return env


def test_role_readmes_match_their_argument_specs():
    rc, out = run([sys.executable, os.path.join(REPO, 'scripts', 'role_readmes.py'), '--check'])
    assert rc == 0, out


def test_galaxy_importer_accepts_the_collection(tmp_path):
    """The checker Galaxy and Automation Hub run on an upload (ansible-test is left to the sanity gate)."""
    rc, out = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path),
                   REPO])
    assert rc == 0, out
    cfg = tmp_path / 'galaxy-importer.cfg'
    cfg.write_text('[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = True\n'
                   'LOCAL_IMAGE_DOCKER = False\n')
    env = publish_env()
    env['GALAXY_IMPORTER_CONFIG'] = str(cfg)
    tarball = str(next(tmp_path.glob('dataflux-func-*.tar.gz')))
    proc = subprocess.run([os.path.join(PUBLISH_BIN, 'python'), '-m', 'galaxy_importer.main', tarball], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert 'Importer processing completed successfully' in out, out[-6000:]
    assert not [line for line in out.splitlines() if line.startswith('ERROR')], out[-6000:]


def test_antsibull_docs_lint(tmp_path):
    """Module and role documentation as the Ansible docsite renders it (role entry points need a description)."""
    dest = collection_copy(tmp_path)
    env = publish_env()
    # the copy first; its dependencies (community.docker, ansible.posix) from the collections setup-host prepared
    env['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join([str(tmp_path), os.path.join(CACHE, 'collections')])
    proc = subprocess.run([os.path.join(PUBLISH_BIN, 'antsibull-docs'), 'lint-collection-docs', '--plugin-docs',
                           str(dest)], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
