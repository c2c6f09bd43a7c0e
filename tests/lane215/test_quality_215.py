"""Quality gates on ansible-core 2.15 (AAP 2.4): the collection builds, loads, documents its modules and roles and
syntax-checks its playbooks on 2.15 with the collections of `ansible` 8.7.0, a version mismatch being an error.
tests/unit runs in the same pytest session (scripts/test-lane215), so under this same 2.15 interpreter."""
import os
import tarfile

import pytest
import yaml
from ansible.release import __version__ as CORE_VERSION
from packaging.specifiers import SpecifierSet

from tests.lib.ansible_runner import REPO

pytestmark = pytest.mark.quality
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, 'plugins', 'modules')) if f.endswith('.py'))
PLAYBOOKS = sorted(f for f in os.listdir(os.path.join(REPO, 'playbooks')) if f.endswith(('.yml', '.yaml')))
ROLES = sorted(d for d in os.listdir(os.path.join(REPO, 'roles'))
               if os.path.isfile(os.path.join(REPO, 'roles', d, 'meta', 'argument_specs.yml')))
MISMATCH = ('requires_ansible', 'does not support Ansible version')


def test_lane_runs_core_215(lane215):
    # in-process too: tests/unit, collected in this session, then runs against 2.15's module_utils
    assert CORE_VERSION.startswith('2.15.'), CORE_VERSION
    rc, out = lane215.run([lane215.bin('ansible'), '--version'])
    assert rc == 0, out
    assert '[core 2.15.' in out.splitlines()[0], out


def test_every_collection_of_the_lane_accepts_this_core(lane215):
    root = os.path.join(lane215.collections, 'ansible_collections')
    found = {}
    for ns in sorted(n for n in os.listdir(root) if not n.startswith('.')):
        for name in sorted(os.listdir(os.path.join(root, ns))):
            with open(os.path.join(root, ns, name, 'meta', 'runtime.yml')) as handle:
                found['%s.%s' % (ns, name)] = (yaml.safe_load(handle) or {}).get('requires_ansible', '')
    assert {'dataflux.func', 'community.docker', 'ansible.posix'} <= set(found), found
    refused = {c: spec for c, spec in found.items() if CORE_VERSION not in SpecifierSet(spec)}
    assert not refused, 'requires_ansible refuses core %s: %s' % (CORE_VERSION, refused)


def test_roles_min_ansible_version_is_215():
    for role in os.listdir(os.path.join(REPO, 'roles')):
        with open(os.path.join(REPO, 'roles', role, 'meta', 'main.yml')) as handle:
            assert yaml.safe_load(handle)['galaxy_info']['min_ansible_version'] == '2.15', role


def test_collection_build(lane215, tmp_path):
    rc, out = lane215.run([lane215.bin('ansible-galaxy'), 'collection', 'build', '--output-path', str(tmp_path),
                           REPO])
    assert rc == 0 and not any(m in out for m in MISMATCH), out
    tarballs = list(tmp_path.glob('dataflux-func-*.tar.gz'))
    assert len(tarballs) == 1, out
    names = tarfile.open(tarballs[0]).getnames()
    assert 'meta/runtime.yml' in names and 'plugins/modules/func_stack.py' in names
    assert not [n for n in names if n.startswith(('.venv', '.cache'))]


def test_ansible_doc_lists_every_module(lane215):
    rc, out = lane215.run([lane215.bin('ansible-doc'), '-t', 'module', '-l', 'dataflux.func'])
    assert rc == 0, out
    assert sorted(m for m in MODULES if 'dataflux.func.%s ' % m in out) == MODULES, out


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_module(lane215, module):
    rc, out = lane215.run([lane215.bin('ansible-doc'), '-t', 'module', 'dataflux.func.%s' % module])
    assert rc == 0 and 'EXAMPLES' in out and 'RETURN VALUES' in out, out[-4000:]


@pytest.mark.parametrize('playbook', PLAYBOOKS)
def test_playbook_syntax_check(lane215, playbook):
    rc, out = lane215.run([lane215.ansible_playbook, '--syntax-check', '-i', os.path.join(REPO, 'scripts',
                                                                                          'localhost.ini'),
                           os.path.join(REPO, 'playbooks', playbook)])
    assert rc == 0 and 'ERROR' not in out, out[-4000:]


def test_ansible_doc_lists_every_role(lane215):
    rc, out = lane215.run([lane215.bin('ansible-doc'), '-t', 'role', '-l', 'dataflux.func'])
    assert rc == 0, out
    assert sorted(r for r in ROLES if 'dataflux.func.%s ' % r in out) == ROLES, out


@pytest.mark.parametrize('role', ROLES)
def test_role_argument_specs_load(lane215, role):
    rc, out = lane215.run([lane215.bin('ansible-doc'), '-t', 'role', 'dataflux.func.%s' % role])
    assert rc == 0 and 'ENTRY POINT: main' in out, out[-4000:]
