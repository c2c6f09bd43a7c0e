"""Secrets are drawn and filled in on the managed host: func_config's generate/defaults, func_stack_file's fill of
the stack file's tokens, and the masking of a stack file's diff."""
import json
import os
import string

import pytest

from ansible_collections.dataflux.func.plugins.module_utils import _func_common as common
from ansible_collections.dataflux.func.plugins.module_utils import _func_install as inst
from ansible_collections.dataflux.func.plugins.modules import func_stack_file

TOKENS = {'mysql_password': '@@t:mysql_password@@', 'mysql_database': '@@t:mysql_database@@',
          'image_func': '@@t:image_func@@'}
TEMPLATE = ('services:\n  mysql:\n    environment:\n      MYSQL_ROOT_PASSWORD: "@@t:mysql_password@@"\n'
            '      MYSQL_DATABASE: "@@t:mysql_database@@"\n  server:\n    image: "pubrepo/func:5.1.7"\n')


def test_completed_settings_draws_missing_secrets_and_keeps_existing_ones():
    out = inst.completed_settings(None, ['SECRET', 'MYSQL_PASSWORD'], ['MYSQL_DATABASE', 'REDIS_PASSWORD'])
    assert sorted(out) == ['MYSQL_DATABASE', 'MYSQL_PASSWORD', 'REDIS_PASSWORD', 'SECRET']
    for key in ('SECRET', 'MYSQL_PASSWORD'):
        assert len(out[key]) == 32 and set(out[key]) <= set(string.ascii_letters + string.digits)
    assert out['SECRET'] != out['MYSQL_PASSWORD']
    assert out['MYSQL_DATABASE'] == 'dataflux_func' and out['REDIS_PASSWORD'] == ''
    current = {'SECRET': 'kept-secret', 'MYSQL_PASSWORD': '', 'MYSQL_DATABASE': 'mine', 'REDIS_PASSWORD': None}
    out = inst.completed_settings(current, ['SECRET', 'MYSQL_PASSWORD'], ['MYSQL_DATABASE', 'REDIS_PASSWORD'])
    assert sorted(out) == ['MYSQL_PASSWORD']     # empty is drawn again; a key that is present (even null) is kept
    assert inst.completed_settings(current, ['SECRET'], ['MYSQL_DATABASE']) == {}


def test_completed_settings_refuses_a_default_the_product_does_not_have():
    with pytest.raises(common.FuncError) as err:
        inst.completed_settings({}, [], ['MYSQL_DATABSE'])
    assert 'MYSQL_DATABSE' in err.value.msg


def test_generated_secrets_differ_between_draws():
    assert len({inst.generate_secret() for _i in range(50)}) == 50


def test_placeholder_values_from_user_config():
    assert inst.placeholder_values(None) == {'mysql_password': '', 'mysql_database': 'dataflux_func'}
    assert inst.placeholder_values({'MYSQL_PASSWORD': 123, 'MYSQL_DATABASE': 'db'}) == {
        'mysql_password': '123', 'mysql_database': 'db'}


def test_mask_secret_lines_masks_values_of_secret_keys_only():
    text = ('environment:\n  MYSQL_ROOT_PASSWORD: "s3cr3t-pw"\n  MYSQL_DATABASE: "dataflux_func"\n'
            '  - DFF_REDIS_PASSWORD=abc123\n  # note mentioning s3cr3t-pw\nimage: x\n')
    out = common.mask_secret_lines(text, ['s3cr3t-pw'])
    assert 's3cr3t-pw' not in out and 'abc123' not in out
    assert 'MYSQL_ROOT_PASSWORD: ********' in out and '- DFF_REDIS_PASSWORD=********' in out
    assert 'MYSQL_DATABASE: "dataflux_func"' in out and 'image: x' in out


class Module(object):
    def __init__(self, diff):
        self._diff = diff


class Ctx(object):
    """The part of FuncModule func_stack_file uses."""

    def __init__(self, root, check_mode=False, diff=True, **params):
        self.installation = inst.Installation(root, 'dataflux-func', marker_path=os.path.join(root, 'no-marker'))
        self.params = dict(dest=None, content=TEMPLATE, placeholders=TOKENS, stand_in=False)
        self.params.update(params)
        self.check_mode = check_mode
        self.module = Module(diff)
        self.secrets = []

    def add_secret(self, *values):
        self.secrets.extend(v for v in values if v)


@pytest.fixture
def root(tmp_path):
    os.makedirs(str(tmp_path / 'data'))
    return str(tmp_path)


def test_stack_file_is_filled_from_user_config_and_written_0600(root):
    inst.Installation(root, 'dataflux-func').write_user_config({'MYSQL_PASSWORD': 'pw"1', 'SECRET': 's'})
    ctx = Ctx(root)
    res = func_stack_file.run(ctx)
    path = os.path.join(root, 'docker-stack.yaml')
    assert res['changed'] and res['path'] == path and res['stand_ins'] == []
    with open(path) as handle:
        text = handle.read()
    assert 'MYSQL_ROOT_PASSWORD: %s' % json.dumps('pw"1') in text and '"dataflux_func"' in text
    assert '@@' not in text and common.file_mode(path) == 0o600
    assert 'pw"1' in ctx.secrets and 'pw' not in res['diff']['after']
    assert 'MYSQL_ROOT_PASSWORD: ********' in res['diff']['after'] and res['diff']['before'] == ''
    assert func_stack_file.run(Ctx(root))['changed'] is False      # same content and mode: left alone
    os.chmod(path, 0o644)
    assert func_stack_file.run(Ctx(root, check_mode=True))['changed'] is True
    assert common.file_mode(path) == 0o644                          # check mode wrote nothing
    func_stack_file.run(Ctx(root))
    assert common.file_mode(path) == 0o600


def test_stack_file_without_the_password_fails_unless_previewed(root):
    with pytest.raises(common.FuncError) as err:
        func_stack_file.run(Ctx(root))
    assert 'MYSQL_PASSWORD' not in err.value.msg and 'mysql_password' in err.value.msg
    assert not os.path.exists(os.path.join(root, 'docker-stack.yaml'))
    res = func_stack_file.run(Ctx(root, check_mode=True))           # first install in check mode: a stand-in
    assert res['changed'] and res['stand_ins'] == ['mysql_password']
    assert not os.path.exists(os.path.join(root, 'docker-stack.yaml'))
    staged = os.path.join(root, 'staged.yaml')                      # the check-mode staging copy
    res = func_stack_file.run(Ctx(root, dest=staged, stand_in=True))
    with open(staged) as handle:
        assert 'MYSQL_ROOT_PASSWORD: "%s"' % common.MASK in handle.read()


def test_stack_file_refuses_a_token_the_host_cannot_fill(root):
    inst.Installation(root, 'dataflux-func').write_user_config({'MYSQL_PASSWORD': 'pw'})
    with pytest.raises(common.FuncError) as err:
        func_stack_file.run(Ctx(root, content=TEMPLATE + '  beat:\n    image: "@@t:image_func@@"\n'))
    assert 'image_func' in err.value.msg
    assert not os.path.exists(os.path.join(root, 'docker-stack.yaml'))
