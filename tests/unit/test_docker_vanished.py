"""DockerCLI.service_inspect while another stack is being removed: services listed a moment ago may be gone
(func_stack's check for another stack on the same install directory inspects every service of the node)."""
import json

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
