"""The HTML docsite, built as a user builds it (antsibull-docs sphinx-init --use-current, then its build.sh:
antsibull-docs collection + sphinx-build -W) and opened in a real browser (headless Chromium,
tests/lib/docsite_browser.py).

Every page of the collection renders (module, filter and role pages, the index and each scenario guide of
docs/docsite/extra-docs.yml): a title and a visible h1 naming it, no error text, no console error; each guide shows
its section headings; every internal link resolves to a page of the site and, with a fragment, to an id on that
page. The build is offline: intersphinx reads a local inventory of the few Ansible docsite labels the generated
pages refer to instead of downloading inventories."""
import json
import os
import re
import subprocess
import zlib

import pytest
import yaml
from urllib.parse import unquote, urlsplit

from tests.lib.ansible_runner import CACHE, REPO
from tests.lib.publish import PUBLISH_BIN, collection_copy, publish_env

pytestmark = pytest.mark.quality
COLLECTION = 'dataflux.func'
# The labels of the Ansible docsite that antsibull-docs' generated pages refer to, and where they live there.
ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'
ANSIBLE_LABELS = {
    'common_return_values': ('reference_appendices/common_return_values.html#common-return-values',
                             'Return Values'),
    'ansible_configuration_settings': ('reference_appendices/config.html#ansible-configuration-settings',
                                       'Ansible Configuration Settings'),
    # a module with an action plugin (func_lock) gets a note linking to the action plugin docs
    'action_plugins': ('plugins/action.html#action-plugins', 'Action plugins'),
}
# antsibull-docs' error page ("The documentation for the module plugin, ... was malformed."), docutils' error box
ERROR_TEXT = ('was malformed', 'System Message', 'Traceback')


def write_inventory(path):
    """A Sphinx objects.inv (version 2) with ANSIBLE_LABELS, so references to them resolve without a download."""
    body = ''.join('%s std:label -1 %s %s\n' % (name, uri, title) for name, (uri, title) in ANSIBLE_LABELS.items())
    head = '# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n' \
           '# The remainder of this file is compressed using zlib.\n'
    with open(path, 'wb') as f:
        f.write(head.encode() + zlib.compress(body.encode()))


def rst_headings(path):
    """Section titles of an RST file (a line underlined by a line of = - ~ ^ at least as long)."""
    with open(path) as f:
        lines = f.read().splitlines()
    return [lines[i].strip() for i in range(len(lines) - 1)
            if lines[i].strip() and not lines[i].startswith(('..', ' '))
            and re.fullmatch(r'([=\-~^"])\1+', lines[i + 1].strip() or 'x')
            and len(lines[i + 1].strip()) >= len(lines[i].strip())]


def expected_pages():
    """page -> text its h1 must contain: what the collection holds, not what the build happened to write."""
    pages = {'collections/dataflux/func/index.html': 'Dataflux.Func'}
    for kind, folder in (('module', 'plugins/modules'), ('filter', 'plugins/filter')):
        for name in sorted(os.listdir(os.path.join(REPO, folder))):
            if name.endswith('.py') and not name.startswith('_'):
                pages['collections/dataflux/func/%s_%s.html' % (name[:-3], kind)] = '%s.%s %s' % (
                    COLLECTION, name[:-3], kind)
    for role in sorted(os.listdir(os.path.join(REPO, 'roles'))):
        pages['collections/dataflux/func/%s_role.html' % role] = '%s.%s role' % (COLLECTION, role)
    for guide in guides():
        pages['collections/dataflux/func/docsite/%s.html' % guide] = rst_headings(guide_rst(guide))[0]
    return pages


def guides():
    with open(os.path.join(REPO, 'docs', 'docsite', 'extra-docs.yml')) as f:
        sections = yaml.safe_load(f)['sections']
    return [entry if isinstance(entry, str) else entry['ref'] for s in sections for entry in s['toctree']]


def guide_rst(guide):
    return os.path.join(REPO, 'docs', 'docsite', 'rst', guide + '.rst')


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('docsite')
    collection_copy(tmp / 'collections')
    env = publish_env({'ANSIBLE_COLLECTIONS_PATH': os.pathsep.join([str(tmp / 'collections'),
                                                                    os.path.join(CACHE, 'collections')])})
    dest = tmp / 'site'
    dest.mkdir(mode=0o700)          # sphinx-init wants a directory only its owner can write
    proc = subprocess.run([os.path.join(PUBLISH_BIN, 'antsibull-docs'), 'sphinx-init', '--use-current',
                           '--fail-on-error', '--dest-dir', str(dest), '--project', COLLECTION,
                           '--title', 'dataflux.func documentation', COLLECTION],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # offline: no inventory download, the Ansible labels from a local inventory
    write_inventory(dest / 'ansible_devel.inv')
    with open(dest / 'conf.py', 'a') as f:
        f.write("\nintersphinx_mapping = {'ansible_devel': (%r, '../ansible_devel.inv')}\n" % ANSIBLE_DOCS)
    proc = subprocess.run(['bash', str(dest / 'build.sh')], env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert 'WARNING' not in out, out[-6000:]
    html = dest / 'build' / 'html'
    pages = sorted(os.path.relpath(os.path.join(walk[0], f), html) for walk in os.walk(html) for f in walk[2]
                   if f.endswith('.html'))
    browser = os.path.join(REPO, 'tests', 'lib', 'docsite_browser.py')
    proc = subprocess.run([os.path.join(PUBLISH_BIN, 'python'), browser, str(html)] + pages,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return html, json.loads(proc.stdout)


def test_every_page_of_the_collection_renders(site):
    html, seen = site
    pages = seen['pages']
    for page, title in expected_pages().items():
        assert page in pages, '%s was not built (built: %s)' % (page, sorted(pages))
        facts = pages[page]
        assert facts['title'] and facts['h1'], (page, facts['title'], facts['h1'])
        assert any(title in h for h in facts['h1']), (page, title, facts['h1'])
    for page, facts in pages.items():
        assert not [w for w in ERROR_TEXT if w in facts['text']], (page, facts['text'][:3000])
        assert facts['console_errors'] == [], (page, facts['console_errors'])


def _plain(text):
    """Sphinx's smart quotes and dashes back to ASCII."""
    return text.translate(str.maketrans({'\u2019': "'", '\u2018': "'", '\u201c': '"', '\u201d': '"',
                                         '\u2013': '-', '\u2014': '-'}))


def test_each_guide_shows_its_headings(site):
    seen = site[1]
    for guide in guides():
        facts = seen['pages']['collections/dataflux/func/docsite/%s.html' % guide]
        want = rst_headings(guide_rst(guide))
        assert want, guide
        shown = [_plain(h) for h in facts['headings']]
        missing = [h for h in want if _plain(h) not in shown]
        assert not missing, '%s: headings not visible: %s (visible: %s)' % (guide, missing, facts['headings'])


def test_every_internal_link_resolves(site):
    html, seen = site
    base = urlsplit(seen['base'])
    with open(os.path.join(REPO, 'galaxy.yml')) as f:
        repository = yaml.safe_load(f)['repository']
    ids = {page: set(facts['ids']) for page, facts in seen['pages'].items()}
    broken, checked = [], 0
    for page, facts in seen['pages'].items():
        for link in facts['links']:
            url = urlsplit(link['href'])
            if (url.scheme, url.netloc) != (base.scheme, base.netloc):
                if url.scheme not in ('http', 'https', 'mailto'):
                    broken.append((page, link['raw'], 'not a web address'))
                continue
            if 'external' in link['cls'].split() and link['raw'] == repository:
                # galaxy.yml's repository is not a URL while the collection has no public repository (see the
                # comment there); antsibull-docs renders it as the "Repository (Sources)" button of every page
                continue
            checked += 1
            target = unquote(url.path).lstrip('/') or 'index.html'
            if target.endswith('/'):
                target += 'index.html'
            if not os.path.isfile(os.path.join(str(html), target)):
                broken.append((page, link['raw'], 'no such page'))
            elif url.fragment and target in ids and unquote(url.fragment) not in ids[target]:
                broken.append((page, link['raw'], 'no such anchor'))
    assert checked > 100, checked
    assert not broken, broken
