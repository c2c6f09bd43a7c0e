"""The role variables that could lose data or land files in the wrong place (filter dataflux.func.input_problems)."""
import pytest

from ansible_collections.dataflux.func.plugins.filter.input_problems import input_problems


def test_good_inputs_pass():
    assert input_problems({'install_dir': '/usr/local/dataflux-func', 'ports': {'func_port': 8088},
                           'paths': {'func_bundle_dir': '', 'func_marker_file': '/etc/dataflux-func'},
                           'extra_hosts': {'db.internal': '10.0.0.5', 'v6host': 'fd00::1', 'a': '1.2.3.4'}}) == []
    assert input_problems({'install_dir': '/srv/func/', 'ports': {'p': '443'}}) == []


@pytest.mark.parametrize('path', ['/', '/usr', '/etc/', '/var', '/root', '/home', '/tmp', '//usr//', '/usr/local/..',
                                  '/opt/../etc'])
def test_system_directories_are_refused(path):
    problems = input_problems({'install_dir': path})
    assert len(problems) == 1 and 'func_install_dir' in problems[0] and 'system directory' in problems[0]


@pytest.mark.parametrize('path', ['relative/dir', 'dataflux-func', './x', '', '/srv/x\n', '/srv/\0x'])
def test_relative_or_odd_install_dirs_are_refused(path):
    problems = input_problems({'install_dir': path})
    assert len(problems) == 1 and 'func_install_dir' in problems[0] and 'absolute' in problems[0]


@pytest.mark.parametrize('port', [0, 65536, 99999, -1, '80x', '', None, True, 1.5, '8088\n'])
def test_ports_out_of_range_are_refused(port):
    problems = input_problems({'ports': {'func_port': port}})
    assert problems and 'func_port' in problems[0] and '1 to 65535' in problems[0]


@pytest.mark.parametrize('name,ip', [('host\n', '1.2.3.4'), ('-bad', '1.2.3.4'), ('a..b', '1.2.3.4'),
                                     ('x' * 64, '1.2.3.4'), ('ok', '1.2.3.4\n'), ('ok', '256.1.1.1'),
                                     ('ok', ' 1.2.3.4'), ('ok', '1.2.3'), ('ok', 'fd00::1::2'), ('ok', 'localhost'),
                                     ('under_score', '1.2.3.4'), ('sp ace', '1.2.3.4')])
def test_extra_hosts_are_checked_whole(name, ip):
    problems = input_problems({'extra_hosts': {name: ip}})
    assert problems and all('func_extra_hosts' in p for p in problems)
