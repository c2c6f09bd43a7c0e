"""DockerCLI.service_inspect while another stack is being removed: services listed a moment ago may be gone
(func_stack's check for another stack on the same install directory inspects every service of the node)."""
import json

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_docker import DockerCLI


class _Cli(DockerCLI):
    def __init__(self, present):
        super().__init__()
        self.present = present

    def run(self, *args, **kwargs):
        assert args[:2] == ('service', 'inspect')
        names = args[2:]
        missing = [n for n in names if n not in self.present]
        if missing:
            return 1, '', ''.join('Error: no such service: %s\n' % n for n in missing)
        return 0, json.dumps([{'Spec': {'Name': n}} for n in names]), ''


def test_services_gone_since_the_listing_are_skipped_and_the_others_kept():
    cli = _Cli(present={'st_server', 'st_worker'})
    got = cli.service_inspect('other_beat', 'st_server', 'other_mysql', 'st_worker')
    assert [svc['Spec']['Name'] for svc in got] == ['st_server', 'st_worker']


def test_every_service_gone_is_an_empty_answer_not_an_error():
    assert _Cli(present=set()).service_inspect('rot_beat', 'rot_server') == []


class _Images(DockerCLI):
    """docker image inspect: a bulk call with a missing name fails as a whole ('No such image', capitalised)."""

    def __init__(self, present, error=None):
        super().__init__()
        self.present, self.error, self.calls = present, error, []

    def run(self, *args, **kwargs):
        assert args[:2] == ('image', 'inspect')
        self.calls.append(args[2:])
        if self.error:
            return 1, '', self.error
        names = args[2:]
        missing = [n for n in names if n not in self.present]
        if missing:
            return 1, '', ''.join('Error: No such image: %s\n' % n for n in missing)
        return 0, json.dumps([{'Id': 'sha256:' + n} for n in names]), ''


def test_a_missing_image_no_longer_hides_the_present_ones():
    cli = _Images(present={'a:1', 'b:1'})
    assert [i['Id'] for i in cli.inspect('image', 'a:1', 'gone:1', 'b:1')] == ['sha256:a:1', 'sha256:b:1']
    assert cli.inspect('image', 'gone:1') == []


def test_other_inspect_errors_are_raised():
    cli = _Images(present=set(), error='Cannot connect to the Docker daemon at unix:///var/run/docker.sock.')
    try:
        cli.inspect('image', 'a:1')
    except FuncError as exc:
        assert 'Cannot connect' in str(exc)
    else:
        raise AssertionError('the daemon error was swallowed')


class _StackRm(DockerCLI):
    def __init__(self, rc, err):
        super().__init__()
        self.rc, self.err = rc, err

    def run(self, *args, **kwargs):
        assert args == ('stack', 'rm', 'dataflux-func')
        return self.rc, 'Removing service dataflux-func_server\n', self.err


BUSY = ('Failed to remove network wa5oln2bibmy58jkh2gh3uog1: Error response from daemon: rpc error: code = '
        'FailedPrecondition desc = network wa5oln2bibmy58jkh2gh3uog1 is in use by task a38wnrhgbjx9b0px4raylmpb6\n'
        'Failed to remove some resources from stack: dataflux-func\n')


def test_stack_rm_with_only_a_busy_network_is_left_to_the_wait_when_the_caller_waits():
    assert _StackRm(1, BUSY).stack_remove('dataflux-func', busy_networks_ok=True)[0] == 1


def test_stack_rm_with_a_busy_network_fails_when_nothing_waits_and_other_errors_always_fail():
    for cli, ok in ((_StackRm(1, BUSY), False),
                    (_StackRm(1, 'Failed to remove service dataflux-func_server: permission denied\n' + BUSY), True)):
        try:
            cli.stack_remove('dataflux-func', busy_networks_ok=ok)
        except FuncError as exc:
            assert 'Failed to remove' in str(exc)
        else:
            raise AssertionError('the docker stack rm error was swallowed')
