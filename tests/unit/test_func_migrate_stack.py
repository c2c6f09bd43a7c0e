"""The stack-file edit of a migration (_func_migrate): dropping the built-in mysql/redis services from the text of
a compose file while keeping every other line, comment and the layout, and the fallback to a re-serialised file
when the line edit cannot give exactly the parsed result.

Inputs are real: the upstream 5.1.7 docker-stack.example.yaml layout as scripts/build-images writes it into the
portable bundle (read from that script, so the test follows it), and a stack file the install role rendered
(data/role-docker-stack-mini.yaml: mini layout, built-in MySQL and Redis, host-mode port, rendered at e0f7043 on
a dff-test/plain:1 host by bench/fleet.py; only the MySQL password replaced)."""
import os
import re
import subprocess

import pytest
import yaml

from ansible_collections.dataflux.func.plugins.module_utils import _func_migrate as m

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ROLE_STACK = os.path.join(HERE, 'data', 'role-docker-stack-mini.yaml')


@pytest.fixture(scope='module')
def example():
    """The bundle's docker-stack.example.yaml, from write_stack_example in scripts/build-images."""
    script = ('eval "$(awk \'/^write_stack_example\\(\\)/,/^}/\' %s)"; write_stack_example'
              % os.path.join(REPO, 'scripts', 'build-images'))
    text = subprocess.run(['bash', '-c', script], capture_output=True, text=True, check=True).stdout
    assert 'services:\n  # MYSQL START\n  mysql:\n' in text      # the layout this test is about
    return text


def block(text, first, last):
    """The lines of text from the line equal to first through the line equal to last, as one string."""
    lines = text.split('\n')
    start = lines.index(first)
    end = lines.index(last, start)
    return '\n'.join(lines[start:end + 1]) + '\n'


def test_upstream_example_loses_exactly_the_mysql_and_redis_blocks(example):
    out, removed = m.remove_services_text(example, ['mysql', 'redis'])
    assert removed == ['mysql', 'redis']
    mysql = block(example, '  # MYSQL START', '  # MYSQL END')
    redis = block(example, '  # REDIS START', '  # REDIS END')
    # each block goes with its START/END markers; the blank lines around them stay
    assert out == example.replace(mysql, '').replace(redis, '')
    assert 'MYSQL' not in out and 'REDIS' not in out and '<MYSQL_IMAGE>' not in out
    # the header comment mentions both names but is not next to a block: it stays
    assert out.split('\n')[:6] == example.split('\n')[:6]
    data = yaml.safe_load(out)
    assert list(data['services']) == ['worker-0', 'worker-1', 'worker-2', 'worker-3', 'worker-5', 'worker-6',
                                      'worker', 'beat', 'server']
    assert data == m.remove_services_data(yaml.safe_load(example), ['mysql', 'redis'])


@pytest.mark.parametrize('name, other', [('mysql', 'REDIS'), ('redis', 'MYSQL')])
def test_one_service_only(example, name, other):
    out, removed = m.remove_services_text(example, [name])
    assert removed == [name]
    gone = block(example, '  # %s START' % name.upper(), '  # %s END' % name.upper())
    assert out == example.replace(gone, '')
    assert '  # %s START\n' % other in out and '  # %s END\n' % other in out


def test_line_edit_is_what_the_stack_edit_keeps(example):
    """stack_without_builtin keeps the line edit (comments included) when it parses to the expected mapping."""
    out, present = m.stack_without_builtin(example, ['mysql', 'redis'])
    assert present == ['mysql', 'redis']
    assert out == m.remove_services_text(example, ['mysql', 'redis'])[0]
    assert out.startswith('# DataFlux Func docker stack (portable install).')


def test_role_rendered_stack_file():
    text = open(ROLE_STACK).read()
    data = yaml.safe_load(text)
    assert {'mysql', 'redis'} <= set(data['services'])
    out, present = m.stack_without_builtin(text, ['mysql', 'redis'])
    assert present == ['mysql', 'redis']
    new = yaml.safe_load(out)
    assert new == m.remove_services_data(data, ['mysql', 'redis'])
    assert set(new['services']) == set(data['services']) - {'mysql', 'redis'}
    assert new['services']['server'] == data['services']['server']
    # the role's header comments (ansible_managed, the marker, the service list) are kept: the line edit was used
    kept = [line for line in text.split('\n') if line.startswith('#')]
    assert kept and [line for line in out.split('\n') if line.startswith('#')] == kept
    # every line of the result is a line of the input, in the same order
    lines = iter(text.split('\n'))
    assert all(any(line == other for other in lines) for line in out.split('\n'))


def test_nothing_to_remove_leaves_the_text_alone(example):
    assert m.remove_services_text(example, ['nosuch']) == (example, [])
    assert m.stack_without_builtin(example, ['nosuch']) == (example, [])
    assert m.remove_services_text("version: '3'\n", ['mysql']) == ("version: '3'\n", [])
    assert m.stack_without_builtin('services:\n  server:\n    image: x\n', ['mysql', 'redis']) == (
        'services:\n  server:\n    image: x\n', [])


DEPENDS = '''services:
  mysql:
    image: m
  server:
    image: x
    labels:
      - mysql
    depends_on:
      - mysql # db
      - redis
  redis:
    image: r
    command:
      - redis
'''


def test_depends_on_items_go_other_lists_stay():
    out, removed = m.remove_services_text(DEPENDS, ['mysql', 'redis'])
    assert removed == ['mysql', 'redis']
    # the depends_on items go (an inline comment too); a label that happens to be "mysql" stays; redis was the
    # last service, its block ends at the end of the file
    assert out == 'services:\n  server:\n    image: x\n    labels:\n      - mysql\n    depends_on:\n'
    # depends_on is now empty (None): the parsed edit drops the key, so the stack edit re-serialises
    assert yaml.safe_load(out)['services']['server']['depends_on'] is None
    text, present = m.stack_without_builtin(DEPENDS, ['mysql', 'redis'])
    assert present == ['mysql', 'redis']
    assert yaml.safe_load(text) == {'services': {'server': {'image': 'x', 'labels': ['mysql']}}}


def test_depends_guard_looks_at_the_owning_key():
    text = ('x:\n  labels:\n    - a\n    - mysql\n  depends_on:\n    - a\n    # the database\n    - mysql\n')
    guard = m._depends_guard(text, 'mysql')
    pattern = r'(?m)^[ \t]*-[ \t]*mysql[ \t]*\n'
    matches = list(re.finditer(pattern, text))
    assert [guard(match) for match in matches] == ['    - mysql\n', '']
    assert re.sub(pattern, guard, text) == text[:-len('    - mysql\n')]


def test_depends_on_mapping_form_falls_back_to_the_parsed_edit():
    text = ('# keep?\nservices:\n  server:\n    image: x\n    depends_on:\n      mysql:\n        condition: '
            'service_started\n      redis: {}\n  mysql:\n    image: m\n')
    out, present = m.stack_without_builtin(text, ['mysql'])
    assert present == ['mysql']
    assert yaml.safe_load(out) == {'services': {'server': {'image': 'x', 'depends_on': {'redis': {}}}}}
    assert not out.startswith('# keep?')          # re-serialised: comments are lost (documented)


def test_quoted_names_and_comment_lines_inside_services():
    text = ('services:\n'
            '  "mysql":   # the built-in database\n'
            '    image: m\n'
            '\n'
            '  # a note about the server\n'
            '  server:\n'
            '    image: x\n'
            'networks:\n'
            '  mysql:\n'
            '    driver: overlay\n')
    out, removed = m.remove_services_text(text, ['mysql'])
    assert removed == ['mysql']
    # the quoted key and its block go; the comment above server (not naming mysql) and the top-level
    # networks.mysql stay
    assert out == text.replace('  "mysql":   # the built-in database\n    image: m\n', '')


def test_service_blocks_of_the_example(example):
    lines = example.split('\n')
    start, indent, blocks = m._service_blocks(lines)
    assert lines[start] == 'services:' and indent == 2
    assert list(blocks) == ['mysql', 'redis', 'worker-0', 'worker-1', 'worker-2', 'worker-3', 'worker-5', 'worker-6',
                            'worker', 'beat', 'server']
    first, end = blocks['server']
    assert lines[first] == '  server:' and lines[end] == 'networks:'
    assert m._service_blocks(['version: 3']) == (None, None, {})
