"""Pure logic of the installation model, config merge/validation and secret masking."""
import os
import stat

import pytest

from ansible_collections.dataflux.func.plugins.module_utils import _func_common as common
from ansible_collections.dataflux.func.plugins.module_utils import _func_install as inst
from ansible_collections.dataflux.func.plugins.modules import func_config


def test_effective_config_order_and_types():
    user = {'LOG_LEVEL': 'ERROR', 'MYSQL_HOST': 'mysql', '_WORKER_CONCURRENCY': 5}
    env = {'DFF__WORKER_CONCURRENCY': '2', 'DFF_REDIS_USE_TLS': 'yes', 'DFF_MYSQL_PORT': ' 3307 ',
           'DFF_UNKNOWN_KEY': 'x', 'DFF_CUSTOM_THING': 'y', 'DFF_LOG_LEVEL': '  ', 'HOST_HOSTNAME': 'h'}
    cfg = inst.effective_config(user, env)
    assert cfg['LOG_LEVEL'] == 'ERROR'          # blank env ignored, file wins over default
    assert cfg['_WORKER_CONCURRENCY'] == 2      # env wins, typed like the default
    assert cfg['REDIS_USE_TLS'] is True
    assert cfg['MYSQL_PORT'] == 3307
    assert 'UNKNOWN_KEY' not in cfg and cfg['CUSTOM_THING'] == 'y'
    assert cfg['REDIS_DATABASE'] == 5 and cfg['MYSQL_HOST'] == 'mysql'


def test_env_list_to_dict_accepts_both_forms():
    assert inst.env_list_to_dict(['A=1', 'B=x=y', 'C']) == {'A': '1', 'B': 'x=y', 'C': ''}
    assert inst.env_list_to_dict({'A': 1, 'B': None}) == {'A': '1', 'B': ''}


def test_marker_roundtrip_and_mismatch(tmp_path):
    marker = tmp_path / 'dataflux-func'
    assert inst.read_marker(str(marker)) is None
    marker.write_text(inst.marker_content('/opt/func/dataflux-func'))
    assert inst.read_marker(str(marker)) == '/opt/func/dataflux-func'
    assert inst.check_install_dir('/opt/func/dataflux-func/', str(marker)) == '/opt/func/dataflux-func'
    with pytest.raises(common.FuncError) as err:
        inst.check_install_dir('/usr/local/dataflux-func', str(marker))
    assert '/opt/func/dataflux-func' in err.value.msg and '/usr/local/dataflux-func' in err.value.msg


def test_installation_defaults_to_recorded_dir(tmp_path):
    marker = tmp_path / 'm'
    marker.write_text('INSTALLED_DIR=/srv/x\n')
    i = inst.Installation(marker_path=str(marker))
    assert i.install_dir == '/srv/x'
    assert i.path('config_file') == '/srv/x/data/user-config.yaml'
    assert i.path('sqldump_dir') == '/srv/x/data/sqldump'
    assert i.path('extra_python_packages_dir') == '/srv/x/data/resources/extra-python-packages'


def test_merge_keeps_preserved_keys():
    cur = {'SECRET': 's', '_IS_INSTALLED': True, 'LOG_LEVEL': 'WARNING'}
    merged, changed = inst.merge_user_config(cur, {'LOG_LEVEL': 'ERROR', 'SECRET': None})
    assert merged == {'SECRET': 's', '_IS_INSTALLED': True, 'LOG_LEVEL': 'ERROR'} and changed == ['LOG_LEVEL']
    assert inst.merge_user_config(cur, {'LOG_LEVEL': 'WARNING'})[1] == []
    with pytest.raises(common.FuncError):
        inst.merge_user_config(cur, {}, remove=['SECRET'])


def test_parse_size():
    assert inst.parse_size('5GB') == 5 * 1024 ** 3
    assert inst.parse_size('500MB') == 500 * 1024 ** 2
    assert inst.parse_size(1234) == 1234 and inst.parse_size('1234') == 1234
    with pytest.raises(common.FuncError):
        inst.parse_size('lots')


def test_masking():
    data = {'SECRET': 'abc', 'MYSQL_PASSWORD': 'pw', 'REDIS_PASSWORD': '', 'LOG_LEVEL': 'INFO',
            'nested': {'AUTO_SETUP_ADMIN_PASSWORD': 'x'}}
    masked = common.mask_mapping(data)
    assert masked['SECRET'] == common.MASK and masked['MYSQL_PASSWORD'] == common.MASK
    assert masked['REDIS_PASSWORD'] == '' and masked['LOG_LEVEL'] == 'INFO'
    assert masked['nested']['AUTO_SETUP_ADMIN_PASSWORD'] == common.MASK
    assert common.mask_env_list(['MYSQL_ROOT_PASSWORD=pw', 'A=1']) == ['MYSQL_ROOT_PASSWORD=' + common.MASK, 'A=1']
    assert common.redact_text('login pw=hunter2!', ['hunter2!']) == 'login pw=' + common.MASK
    diff = inst.config_diff({'SECRET': 'old'}, {'SECRET': 'old', 'LOG_LEVEL': 'ERROR'}, 'f')
    assert 'old' not in diff['before'] + diff['after'] and 'LOG_LEVEL: ERROR' in diff['after']


def test_atomic_write_mode_and_no_temp_left(tmp_path):
    target = tmp_path / 'user-config.yaml'
    common.atomic_write(str(target), 'SECRET: x\n', mode=0o600)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert target.read_text() == 'SECRET: x\n'
    assert os.listdir(tmp_path) == ['user-config.yaml']


@pytest.mark.parametrize('settings,needle', [
    ({'LOG_LEVEL': 'LOUD'}, 'LOG_LEVEL must be one of'),
    ({'_WORKER_CONCURRENCY': 0}, 'positive integer'),
    ({'_WORKER_CONCURRENCY': 'many'}, 'positive integer'),
    ({'_WORKER_CONCURRENCY': True}, 'positive integer'),
    ({'REDIS_PORT': 70000}, 'TCP port'),
    ({'REDIS_USE_TLS': 'yes'}, 'boolean'),
    ({'bad key': 1}, 'invalid configuration key'),
    ({'LOG_LEVEL\n': 'INFO'}, 'invalid configuration key'),
])
def test_validate_settings_rejects(settings, needle):
    with pytest.raises(common.FuncError) as err:
        func_config.validate_settings(settings, lambda m: None)
    assert needle in err.value.msg


def test_validate_settings_warnings():
    warnings = []
    out = func_config.validate_settings({'LOG_LEVEL': 'error', '_WORKER_CONCURRENCY': '64',
                                         '_WORKER_PREFETCH_MULTIPLIER': 1}, warnings.append, mem_total_mb=4096)
    assert out == {'LOG_LEVEL': 'ERROR', '_WORKER_CONCURRENCY': 64, '_WORKER_PREFETCH_MULTIPLIER': 1}
    assert any('exceeds' in w for w in warnings) and any('ignore it' in w for w in warnings)


def test_restart_services_for_layouts():
    names = ('mysql', 'redis', 'server', 'worker-0', 'worker-1-6', 'worker-7', 'worker-8-9', 'beat')
    legacy = {'services': {k: {} for k in names}}
    assert func_config.restart_services_for(['_WORKER_CONCURRENCY'], legacy) == [
        'worker-0', 'worker-1-6', 'worker-7', 'worker-8-9']
    assert func_config.restart_services_for(['LOG_LEVEL'], legacy) == [
        'server', 'worker-0', 'worker-1-6', 'worker-7', 'worker-8-9', 'beat']
    assert func_config.restart_services_for([], legacy) == []


OFFICIAL = ("# Pre-generated config:\nSECRET          : 0123456789abcdef\nMYSQL_HOST      : mysql\n"
            "MYSQL_PASSWORD  : fedcba9876543210\nREDIS_PASSWORD  : ''\nREDIS_USE_TLS   : false\n\n"
            "# Auto Setup:\nAUTO_SETUP: true\n")


def test_update_keeps_the_installers_comments_and_lines():
    import yaml
    from ansible_collections.dataflux.func.plugins.module_utils._func_install import update_user_config_text
    config = yaml.safe_load(OFFICIAL)
    assert update_user_config_text(OFFICIAL, dict(config)) == OFFICIAL        # nothing changed: byte for byte
    config.update(LOG_LEVEL='DEBUG', MYSQL_HOST='db.example')
    del config['AUTO_SETUP']
    text = update_user_config_text(OFFICIAL, config)
    assert yaml.safe_load(text) == config
    assert text.startswith('# Pre-generated config:\nSECRET          : 0123456789abcdef\n')
    assert 'MYSQL_PASSWORD  : fedcba9876543210\n' in text and '# Auto Setup:' in text
    assert 'AUTO_SETUP' not in text.replace('# Auto Setup', '')
    assert text.endswith('LOG_LEVEL: DEBUG\n')


def test_update_gives_up_on_what_it_cannot_edit_line_by_line():
    from ansible_collections.dataflux.func.plugins.module_utils._func_install import update_user_config_text
    import yaml
    text = update_user_config_text('{A: 1, B: 2}\n', {'A': 2, 'B': 2})               # flow mapping: rewritten
    assert text is None or yaml.safe_load(text) == {'A': 2, 'B': 2}
    assert update_user_config_text('- a\n', {'A': 1}) is None                       # not a mapping


def test_unknown_config_keys_with_the_closest_known_one():
    assert inst.unknown_config_keys(['LOG_LEVEL', 'CUSTOM_X', 'MYSQL_HOST', '_WORKER_CONCURRENCY']) == []
    assert inst.unknown_config_keys(['LOG_LEVLE']) == [('LOG_LEVLE', 'LOG_LEVEL')]
    assert inst.unknown_config_keys(['MSYQL_HOST', 'TOTALLY_NEW']) == [('MSYQL_HOST', 'MYSQL_HOST'),
                                                                       ('TOTALLY_NEW', None)]
    assert inst.unknown_config_keys(['MY_OWN'], known_also=['MY_OWN']) == []
    assert len(inst.KNOWN_CONFIG_KEYS) > 200 and 'SECRET' in inst.KNOWN_CONFIG_KEYS
