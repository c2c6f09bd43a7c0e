"""The converged check of func_preflight (the install role's fast path), without Docker: every difference a converge
would act on must make it say "not converged" (a fast path that skips a needed change loses the change silently)."""
import copy
import json
import os

import pytest

from ansible_collections.dataflux.func.plugins.module_utils import _func_docker as fdocker
from ansible_collections.dataflux.func.plugins.module_utils import _func_install as inst
from ansible_collections.dataflux.func.plugins.module_utils._func_stack import normalize_compose_stack
from ansible_collections.dataflux.func.plugins.modules import func_preflight as pre

STACK = 'dfft-f16-unit'
TOKENS = {'mysql_password': '@@t:mysql_password@@', 'mysql_database': '@@t:mysql_database@@',
          'image_func': '@@t:image_func@@', 'image_mysql': '@@t:image_mysql@@', 'image_redis': '@@t:image_redis@@'}
STACK_TEMPLATE = '''# dataflux.func install role: rendered from docker-stack.yaml.j2
version: "3.7"
services:
  mysql:
    image: "@@t:image_mysql@@"
    environment:
      MYSQL_ROOT_PASSWORD: "@@t:mysql_password@@"
      MYSQL_DATABASE: "@@t:mysql_database@@"
  redis:
    image: "@@t:image_redis@@"
  worker:
    image: "@@t:image_func@@"
    deploy:
      replicas: 2
  server:
    image: "@@t:image_func@@"
    ports:
      - target: 8088
        published: %d
        mode: host
'''
CONFIG = {'SECRET': 's3cret', 'MYSQL_PASSWORD': 'pw"1\\x', 'MYSQL_DATABASE': 'dataflux_func', 'REDIS_PASSWORD': '',
          '_IS_INSTALLED': True, 'LOG_LEVEL': 'INFO'}
IMAGES = {'func': 'dff/func:5.1.7', 'mysql': 'dff/mysql:1', 'redis': 'dff/redis:1'}


def test_fill_placeholders_replaces_json_strings_only():
    text = 'a: "@@t:mysql_password@@"\nb: @@t:mysql_password@@\n'
    out = inst.fill_placeholders(text, {'mysql_password': '@@t:mysql_password@@'}, {'mysql_password': 'p"w'})
    assert out == 'a: "p\\"w"\nb: @@t:mysql_password@@\n'
    assert inst.fill_placeholders(text, {'mysql_password': '@@t:mysql_password@@'}, {'mysql_password': ''}) is None
    assert inst.fill_placeholders(text, {}, {}) == text
    # a token the text does not use needs no value (an external MySQL: no mysql service, maybe no password)
    assert inst.fill_placeholders(text, {'mysql_password': '@@t:mysql_password@@', 'image_mysql': '@@t:image_mysql@@'},
                                  {'mysql_password': 'x'}) == 'a: "x"\nb: @@t:mysql_password@@\n'


def desired(**extra):
    out = {'config_settings': {}, 'config_generated': ['SECRET', 'MYSQL_PASSWORD'],
           'config_kept': ['MYSQL_DATABASE', 'REDIS_PASSWORD']}
    out.update(extra)
    return out


@pytest.mark.parametrize('config, mode, want, needle', [
    (CONFIG, 0o600, {}, None),
    (CONFIG, 0o600, {'LOG_LEVEL': 'info'}, None),                  # normalised like func_config writes it
    (CONFIG, 0o600, {'MYSQL_PASSWORD': None}, None),               # null: keep
    (CONFIG, 0o644, {}, 'not 0600'),
    (CONFIG, 0o600, {'LOG_LEVEL': 'DEBUG'}, 'differs in LOG_LEVEL'),
    (CONFIG, 0o600, {'_WORKER_CONCURRENCY': 3}, 'differs in _WORKER_CONCURRENCY'),
    (CONFIG, 0o600, {'LOG_LEVEL': 'LOUD'}, 'LOG_LEVEL must be one of'),
    (dict(CONFIG, SECRET=''), 0o600, {}, 'has no SECRET'),
    (dict((k, v) for k, v in CONFIG.items() if k != 'MYSQL_PASSWORD'), 0o600, {}, 'has no MYSQL_PASSWORD'),
    (dict((k, v) for k, v in CONFIG.items() if k != 'REDIS_PASSWORD'), 0o600, {}, 'has no REDIS_PASSWORD'),
    (None, None, {}, 'missing'),
])
def test_config_reasons(config, mode, want, needle):
    reasons = pre.config_reasons(config, mode, desired(config_settings=want))
    if needle is None:
        assert reasons == []
    else:
        assert any(needle in r for r in reasons), reasons


def test_layout_changes(tmp_path):
    root = str(tmp_path / 'inst')
    rotate = str(tmp_path / 'rotate')
    missing = inst.layout_changes(root, [(rotate, b'x')])
    assert (root, None) in missing and (rotate, b'x') in missing and len(missing) == len(inst.LAYOUT) + 1
    for rel in inst.LAYOUT:
        os.makedirs(os.path.join(root, rel), exist_ok=True)
    with open(rotate, 'wb') as handle:
        handle.write(b'x')
    os.chmod(rotate, 0o600)
    assert inst.layout_changes(root, [(rotate, b'x')]) == [(rotate, b'x')]      # the mode counts
    os.chmod(rotate, 0o644)
    assert inst.layout_changes(root, [(rotate, b'x')]) == []
    assert inst.layout_changes(root, [(rotate, b'y')]) == [(rotate, b'y')]


class FakeDocker(object):
    def __init__(self, live, images, running=None):
        self.live, self.images, self.running = live, images, running or {}

    def inspect(self, kind, *names):
        assert kind == 'image'
        return [{'RepoTags': [n], 'Id': self.images[n]} for n in names if n in self.images] \
            if all(n in self.images for n in names) else []

    def live_stack(self, stack):
        return copy.deepcopy(self.live), {}

    def stack_status(self, stack):
        return [{'short_name': k, 'desired': v.get('replicas') or 1,
                 'running': self.running.get(k, v.get('replicas') or 1)} for k, v in sorted(self.live.items())]


def test_images_plan(tmp_path):
    docker = FakeDocker({}, {'a:1': 'sha256:1'})
    rows = fdocker.images_plan(docker, [{'ref': 'a:1'}, {'ref': 'b:1'}], 'present')
    assert [r['action'] for r in rows] == ['none', 'missing']
    assert [r['action'] for r in fdocker.images_plan(docker, [{'ref': 'b:1'}], 'registry')] == ['pull']

    class Cache(object):                 # the ids the bundle's tarballs hold
        saved = False

        def image_id(self, tar):
            return {'/b/a.tar.gz': 'sha256:1', '/b/b.tar.gz': 'sha256:2'}[tar]

        def save(self):
            self.saved = True

    cache = Cache()
    rows = fdocker.images_plan(docker, [{'ref': 'a:1', 'tar': 'a.tar.gz'}, {'ref': 'b:1', 'tar': 'b.tar.gz'}],
                               'bundle', '/b', cache)
    # b:1 is not on the host: loaded without reading the tarball's id first (the load tells it)
    assert [(r['action'], r.get('bundle_id')) for r in rows] == [('none', None), ('load', None)]
    assert cache.saved
    docker.images['a:1'] = 'sha256:old'          # the host has another image under that name: loaded again
    rows = fdocker.images_plan(docker, [{'ref': 'a:1', 'tar': 'a.tar.gz'}], 'bundle', '/b', cache)
    assert rows[0]['action'] == 'load'


class Ctx(object):
    def __init__(self, params, installation, docker):
        self.params, self.installation, self.docker = params, installation, docker


class World(object):
    """A converged installation in a temp dir, with a fake Docker and a fake server; each test breaks one thing."""

    def __init__(self, tmp_path, monkeypatch):
        self.root = str(tmp_path / 'inst')
        for rel in inst.LAYOUT:
            os.makedirs(os.path.join(self.root, rel), exist_ok=True)
        self.marker = str(tmp_path / 'marker')
        with open(self.marker, 'w') as handle:
            handle.write('INSTALLED_DIR=%s\n' % self.root)
        self.rotate = str(tmp_path / 'rotate')
        self.write(self.rotate, 'rotate me\n', 0o644)
        self.installation = inst.Installation(self.root, STACK, marker_path=self.marker)
        self.installation.write_user_config(dict(CONFIG))
        self.port = 18169
        self.template = STACK_TEMPLATE % self.port
        values = dict(mysql_password=CONFIG['MYSQL_PASSWORD'], mysql_database='dataflux_func',
                      **dict(('image_%s' % k, v) for k, v in IMAGES.items()))
        self.stack_file = os.path.join(self.root, 'docker-stack.yaml')
        self.write(self.stack_file, inst.fill_placeholders(self.template, TOKENS, values), 0o600)
        import yaml
        with open(self.stack_file) as handle:
            live = normalize_compose_stack(yaml.safe_load(handle), STACK, self.root)
        self.docker = FakeDocker(live, dict((ref, 'sha256:%d' % i) for i, ref in enumerate(IMAGES.values())))
        self.health = {'status': 200, 'ping': True, 'version': '5.1.7'}
        monkeypatch.setattr(pre, 'probe', lambda base, timeout=5: dict(self.health))

    @staticmethod
    def write(path, text, mode):
        with open(path, 'w') as handle:
            handle.write(text)
        os.chmod(path, mode)

    def reasons(self, mode='converge', problems=(), **desired_extra):
        want = desired(stack_file=self.template, placeholders=TOKENS, images=[{'name': n} for n in IMAGES],
                       example_src='', logrotate_file=self.rotate, logrotate_content='rotate me\n',
                       api_host='127.0.0.1')
        want.update(desired_extra)
        params = {'marker_file': self.marker, 'image_source': 'present', 'bundle_dir': None, 'port': self.port,
                  'desired': want}
        plan = {'mode': mode, 'problems': list(problems), 'version': '5.1.7', 'images': dict(IMAGES),
                'paths': {'stack_file': self.stack_file, 'lock_path': self.root + '.lock',
                          'config_file': os.path.join(self.root, 'data', 'user-config.yaml')},
                'stack': {'adopt': False, 'current_image': IMAGES['func']}}
        config = self.installation.load_user_config()
        return pre.converged_reasons(Ctx(params, self.installation, self.docker), plan, config)


@pytest.fixture
def world(tmp_path, monkeypatch):
    return World(tmp_path, monkeypatch)


def test_converged_installation(world):
    assert world.reasons() == []


def edit(path, old, new):
    with open(path) as handle:
        text = handle.read()
    assert old in text
    with open(path, 'w') as handle:
        handle.write(text.replace(old, new))


@pytest.mark.parametrize('breakage, needle', [
    (lambda w: setattr(w, 'template', w.template.replace('published: %d' % w.port, 'published: 18168')),
     'docker-stack.yaml differs'),                                                   # a port change
    (lambda w: setattr(w, 'template', w.template.replace('replicas: 2', 'replicas: 3')), 'docker-stack.yaml differs'),
    (lambda w: edit(w.stack_file, 'replicas: 2', 'replicas: 1'), 'docker-stack.yaml differs'),   # edited on disk
    (lambda w: os.chmod(w.stack_file, 0o644), 'not 0600'),
    (lambda w: w.docker.live['worker'].update(replicas=0), 'service worker: update replicas'),   # scaled down
    (lambda w: w.docker.live['server'].update(image='dff/func:5.1.6'), 'service server: update image'),
    (lambda w: w.docker.live.pop('redis'), 'service redis: create'),
    (lambda w: w.docker.running.update(worker=1), 'service worker runs 1 of 2 tasks'),            # a stopped task
    (lambda w: w.docker.images.pop(IMAGES['mysql']), 'image dff/mysql:1: missing'),
    (lambda w: w.health.update(ping=False, version=None), 'no pong'),
    (lambda w: w.health.update(version='5.1.6'), 'version 5.1.6'),
    (lambda w: os.mkdir(w.root + '.lock'), 'install lock'),
    (lambda w: os.unlink(w.marker), 'no marker file'),
    (lambda w: os.rmdir(os.path.join(w.root, 'data', 'sqldump')), 'data/sqldump is missing'),
    (lambda w: World.write(w.rotate, 'other\n', 0o644), 'rotate is missing or differs'),
    (lambda w: edit(os.path.join(w.root, 'data', 'user-config.yaml'), 'LOG_LEVEL: INFO', 'LOG_LEVEL: DEBUG'), None),
])
def test_every_difference_is_seen(world, breakage, needle):
    breakage(world)
    if needle is None:                 # the file's LOG_LEVEL differs from what the play asks for
        reasons = world.reasons(config_settings={'LOG_LEVEL': 'INFO'})
        needle = 'differs in LOG_LEVEL'
    else:
        reasons = world.reasons()
    assert reasons and any(needle in r for r in reasons), reasons


@pytest.mark.parametrize('mode, problems', [('upgrade', ()), ('fresh', ()), ('converge', ('Only 0.5 GB are free',))])
def test_other_modes_and_problems_are_not_converged(world, mode, problems):
    reasons = world.reasons(mode=mode, problems=problems)
    assert reasons and (('mode %s' % mode) in reasons or list(problems) == reasons)


def test_placeholder_values_come_from_the_host(world):
    # the MySQL password of the stack file is the one user-config.yaml holds: another one is a difference
    world.installation.write_user_config(dict(CONFIG, MYSQL_PASSWORD='another'))
    assert any('docker-stack.yaml differs' in r for r in world.reasons())
    assert json.dumps(CONFIG['MYSQL_PASSWORD']) not in ' '.join(world.reasons())
