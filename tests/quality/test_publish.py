"""Publishing gates: the built tarball against an allow-list of what a user runs or reads, galaxy-importer (the
checker Galaxy and Automation Hub run) on that same tarball, the released changelog (antsibull-changelog) and the
Execution Environment definition (ansible-builder create, and the introspection a builder runs on an installed
collection). The tarball is built once for this module."""
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest
import yaml

from tests.lib.ansible_runner import REPO
from tests.lib.publish import PUBLISH_BIN, build_tarball, collection_copy, publish_env, run, tracked_files

pytestmark = pytest.mark.quality

# What a user runs or reads. '*' stays inside one path segment, '**' crosses segments.
ALLOWED = [
    'MANIFEST.json', 'FILES.json', 'README.md', 'LICENSE', 'CHANGELOG.rst', 'CONTRIBUTING.md', 'SECURITY.md',
    'changelogs/changelog.yaml', 'changelogs/config.yaml',
    'meta/runtime.yml', 'meta/execution-environment.yml', 'meta/ee-requirements.txt', 'meta/ee-requirements.yml',
    'meta/ee-bindep.txt',
    'plugins/modules/*.py', 'plugins/module_utils/*.py', 'plugins/filter/*.py', 'plugins/doc_fragments/*.py',
    'plugins/action/*.py',
    'roles/*/README.md', 'roles/*/defaults/main.yml', 'roles/*/handlers/main.yml', 'roles/*/meta/main.yml',
    'roles/*/meta/argument_specs.yml', 'roles/*/tasks/*.yml', 'roles/*/templates/*.j2', 'roles/*/vars/main.yml',
    'playbooks/*.yml', 'playbooks/vars/*.yml', 'playbooks/tasks/*.yml',
    'docs/docsite/extra-docs.yml', 'docs/docsite/links.yml', 'docs/docsite/rst/*.rst',
    'examples/**',
]
# Always in a release, whatever git holds.
REQUIRED = ['MANIFEST.json', 'FILES.json', 'README.md', 'LICENSE', 'CHANGELOG.rst', 'CONTRIBUTING.md', 'SECURITY.md',
            'changelogs/changelog.yaml', 'meta/runtime.yml', 'meta/execution-environment.yml',
            'docs/docsite/extra-docs.yml', 'docs/docsite/links.yml']


def _pattern(glob):
    out = ''
    for part in re.split(r'(\*\*|\*)', glob):
        out += {'**': '.*', '*': '[^/]*'}.get(part, re.escape(part))
    return re.compile(out + r'\Z')


ALLOWED_RE = [_pattern(g) for g in ALLOWED]


def allowed(name):
    return any(p.match(name) for p in ALLOWED_RE)


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    return build_tarball(tmp_path_factory.mktemp('build'))


def tarball_problems(members, git_files):
    """(unexpected, missing): members outside the allow-list (a directory only when nothing allowed lives in it),
    and required or git-tracked allowed files that the tarball lacks."""
    files = {m.name for m in members if not m.isdir()}
    dirs = {m.name.rstrip('/') for m in members if m.isdir()}
    unexpected = sorted(f for f in files if not allowed(f))
    unexpected += sorted(d + '/' for d in dirs if not any(f.startswith(d + '/') for f in files if allowed(f)))
    want = set(REQUIRED) | {f for f in git_files if allowed(f)}
    missing = sorted(want - files)
    return unexpected, missing


def test_tarball_holds_only_what_a_user_runs(tarball):
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    unexpected, missing = tarball_problems(members, tracked_files())
    assert not unexpected and not missing, 'unexpected in %s: %s\nmissing: %s' % (
        os.path.basename(tarball), unexpected, missing)
    names = {m.name for m in members}
    assert {'plugins/modules/func_stack.py', 'roles/install/tasks/main.yml', 'playbooks/install.yml'} <= names


def test_allow_list_check_names_what_is_wrong():
    """The comparison itself: a leaked test file, an unknown directory and a module missing from the tarball are
    each reported."""
    def member(name, isdir=False):
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE if isdir else tarfile.REGTYPE
        return info
    members = [member(n) for n in REQUIRED + ['plugins/modules/func_stack.py', 'tests/lib/funcenv.py']]
    members += [member('molecule', isdir=True), member('plugins', isdir=True), member('plugins/modules', True)]
    unexpected, missing = tarball_problems(members, ['plugins/modules/func_stack.py', 'plugins/modules/func_info.py',
                                                     'tests/lib/funcenv.py'])
    assert unexpected == ['tests/lib/funcenv.py', 'molecule/'], unexpected
    assert missing == ['plugins/modules/func_info.py'], missing


def test_galaxy_importer_accepts_the_collection(tarball, tmp_path):
    """The checker Galaxy and Automation Hub run on an upload (ansible-test is left to the sanity gate)."""
    cfg = tmp_path / 'galaxy-importer.cfg'
    cfg.write_text('[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = True\n'
                   'LOCAL_IMAGE_DOCKER = False\n')
    env = publish_env({'GALAXY_IMPORTER_CONFIG': str(cfg)})
    proc = subprocess.run([os.path.join(PUBLISH_BIN, 'python'), '-m', 'galaxy_importer.main', tarball], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert 'Importer processing completed successfully' in out, out[-6000:]
    assert not [line for line in out.splitlines() if line.startswith('ERROR')], out[-6000:]
    # a requirement file named in meta/execution-environment.yml that is not in the tarball is only a warning there
    assert 'meta/execution-environment.yml' not in out, out[-6000:]


def test_galaxy_yml_points_nowhere_it_should_not():
    """No placeholder URLs: the collection has no public home yet (see the comment in galaxy.yml)."""
    with open(os.path.join(REPO, 'galaxy.yml')) as f:
        galaxy = yaml.safe_load(f)
    text = json.dumps(galaxy)
    assert 'example.invalid' not in text and 'example.com' not in text
    assert galaxy['repository'] and not galaxy['repository'].startswith('http'), galaxy['repository']
    assert not {'documentation', 'issues', 'homepage'} & set(galaxy)


def test_changelog_is_released_and_lint_clean(tmp_path):
    env = publish_env()
    changelog = os.path.join(PUBLISH_BIN, 'antsibull-changelog')
    rc, out = run([changelog, 'lint'], env=env)
    assert rc == 0 and not out.strip(), out
    rc, out = run([changelog, 'lint-changelog-yaml', 'changelogs/changelog.yaml'], env=env)
    assert rc == 0 and not out.strip(), out
    with open(os.path.join(REPO, 'galaxy.yml')) as f:
        version = yaml.safe_load(f)['version']
    with open(os.path.join(REPO, 'changelogs', 'changelog.yaml')) as f:
        releases = yaml.safe_load(f)['releases']
    assert version in releases, 'galaxy.yml version %s has no release in changelogs/changelog.yaml' % version
    # CHANGELOG.rst is what antsibull-changelog generates from changelog.yaml (not edited by hand, not stale)
    copy = tmp_path / 'c'
    shutil.copytree(os.path.join(REPO, 'changelogs'), copy / 'changelogs')
    shutil.copy(os.path.join(REPO, 'galaxy.yml'), copy)
    rc, out = run([changelog, 'generate'], cwd=str(copy), env=env)
    assert rc == 0, out
    with open(os.path.join(REPO, 'CHANGELOG.rst')) as f:
        assert (copy / 'CHANGELOG.rst').read_text() == f.read(), 'CHANGELOG.rst is not what generate makes'


def _lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith('#')]


def test_execution_environment_context(tmp_path):
    """ansible-builder create makes a build context from meta/execution-environment.yml (given from the collection
    root, where its paths resolve as the builder's introspection resolves them) that holds the requirement files."""
    root = collection_copy(tmp_path)
    with open(root / 'meta' / 'execution-environment.yml') as f:
        ee = yaml.safe_load(f)
    assert ee['version'] == 3
    deps = ee['dependencies']
    shutil.copy(root / 'meta' / 'execution-environment.yml', root / 'execution-environment.yml')
    rc, out = run([os.path.join(PUBLISH_BIN, 'ansible-builder'), 'create', '--context', str(tmp_path / 'context'),
                   '--output-filename', 'Containerfile'], cwd=str(root), env=publish_env())
    assert rc == 0, out
    build = tmp_path / 'context' / '_build'
    assert (tmp_path / 'context' / 'Containerfile').is_file()
    for key, name in (('python', 'requirements.txt'), ('system', 'bindep.txt'), ('galaxy', 'requirements.yml')):
        assert (build / name).is_file(), 'context lacks _build/%s (%s)' % (name, sorted(os.listdir(build)))
        assert (build / name).read_text() == (root / deps[key]).read_text(), name
    # the collections are the ones galaxy.yml depends on
    with open(os.path.join(REPO, 'galaxy.yml')) as f:
        galaxy_deps = yaml.safe_load(f)['dependencies']
    with open(root / deps['galaxy']) as f:
        ee_collections = {c['name']: c['version'] for c in yaml.safe_load(f)['collections']}
    assert ee_collections == galaxy_deps
    # what a builder (and galaxy-importer) reads from dataflux.func when the collection is installed into an EE
    code = ('import json, sys; from ansible_builder._target_scripts.introspect import process_collection; '
            'print(json.dumps(process_collection(sys.argv[1])))')
    rc, out = run([os.path.join(PUBLISH_BIN, 'python'), '-c', code, str(root)], env=publish_env())
    assert rc == 0, out
    python, system = json.loads(out)
    assert python == _lines(root / deps['python']) and 'PyYAML>=5.1' in python, python
    assert system == _lines(root / deps['system']) and system, system
