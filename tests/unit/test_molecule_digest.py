"""tests/lib/molecule_runner.failure_digest: a failed scenario's assertion message starts with its failed tasks."""
from tests.lib.molecule_runner import failure_digest

OUT = '\n'.join([
    'PLAY [verify] ***',
    'TASK [ignored one] ***',
    'fatal: [h1]: FAILED! => {"msg": "expected"}',
    '...ignoring',
    'TASK [the upgrade] ***',
    'ok: [h1]',
    'TASK [assert the upgrade] ***',
    'fatal: [localhost]: FAILED! => {',
    '    "msg": "upgrade output: deploy timed out"',
    '}',
    'TASK [later] ***',
    'ok: [localhost]',
    'PLAY RECAP ***',
])


def test_the_failed_task_and_its_message_come_first():
    digest = failure_digest(OUT)
    assert digest.startswith('==== failed: TASK [assert the upgrade]')
    assert 'deploy timed out' in digest
    assert 'TASK [later]' not in digest and 'ignored one' not in digest


def test_an_output_without_failed_tasks_says_so():
    assert failure_digest('TASK [a] ***\nok: [h]\n') == '(no failed task in the output)'


def test_a_long_digest_is_cut_and_says_how_much_is_left_out():
    digest = failure_digest('TASK [x]\nfatal: [h]: FAILED! => {\n' + 'y' * 9000 + '\n}', limit=100)
    assert len(digest.splitlines()[0]) <= 100 and digest.endswith('characters more]')
