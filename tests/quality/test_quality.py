"""Static quality gates: ruff, ansible-lint (production profile), ansible-test sanity (no ignore files), ansible-doc
listing every module, role READMEs and antsibull-docs lint (the tarball and other publishing gates: test_publish.py)."""
import os
import subprocess
import sys

import pytest

from tests.lib.ansible_runner import CACHE, REPO
from tests.lib.publish import BIN, PUBLISH_BIN, collection_copy, publish_env, run

pytestmark = pytest.mark.quality
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, 'plugins', 'modules')) if f.endswith('.py'))


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


def test_role_readmes_match_their_argument_specs():
    rc, out = run([sys.executable, os.path.join(REPO, 'scripts', 'role_readmes.py'), '--check'])
    assert rc == 0, out


def test_antsibull_docs_lint(tmp_path):
    """Module and role documentation as the Ansible docsite renders it (role entry points need a description), and
    the docsite's extra docs (docs/docsite)."""
    dest = collection_copy(tmp_path)
    env = publish_env()
    # the copy first; its dependencies (community.docker, ansible.posix) from the collections setup-host prepared
    env['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join([str(tmp_path), os.path.join(CACHE, 'collections')])
    # --check-extra-docs-refs: the docsite guides' :ansopt:/:ansplugin: references must name real options and plugins
    proc = subprocess.run([os.path.join(PUBLISH_BIN, 'antsibull-docs'), 'lint-collection-docs', '--plugin-docs',
                           '--check-extra-docs-refs', str(dest)], env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
