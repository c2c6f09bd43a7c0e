"""The example inventories (examples/single, examples/ha) parse with their example vault password, put their hosts
in the groups the playbooks target, set only documented variables, and are the ones the molecule scenarios load
(so they cannot rot); the README's example uses the playbooks' group names."""
import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.lib.ansible_runner import REPO, ansible_env

pytestmark = pytest.mark.quality
BIN = os.path.dirname(sys.executable)
VAULT_PASSWORD = os.path.join(REPO, 'examples', 'vault-password.example')
EXAMPLES = {'single': ('dataflux_func', 'default'), 'ha': ('func_ha', 'ha')}


def documented():
    """Options of every role's argument specs and of the playbooks' own (playbooks/vars/argument_specs.yml)."""
    names = set()
    paths = glob.glob(os.path.join(REPO, 'roles', '*', 'meta', 'argument_specs.yml'))
    for path in paths + [os.path.join(REPO, 'playbooks', 'vars', 'argument_specs.yml')]:
        with open(path) as handle:
            for entry in yaml.safe_load(handle)['argument_specs'].values():
                names.update(entry.get('options') or {})
    return names


def inventory(example):
    argv = [os.path.join(BIN, 'ansible-inventory'), '-i', os.path.join(REPO, 'examples', example, 'inventory.yml'),
            '--vault-password-file', VAULT_PASSWORD, '--list']
    proc = subprocess.run(argv, cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize('example', sorted(EXAMPLES))
def test_example_inventory(example):
    group, scenario = EXAMPLES[example]
    data = inventory(example)
    hosts = data[group]['hosts']
    assert len(hosts) >= (2 if group == 'func_ha' else 1), data
    known = documented()
    texts = []
    for host in hosts:
        hostvars = data['_meta']['hostvars'][host]
        # the secrets come out of the vault, encrypted on disk
        assert hostvars['vault_func_admin_password'] and hostvars['func_admin_password'] == \
            '{{ vault_func_admin_password }}', hostvars
        undocumented = sorted(n for n in hostvars if not n.startswith(('ansible_', 'vault_')) and n not in known)
        assert undocumented == [], '%s sets variables no role or playbook documents: %s' % (example, undocumented)
        texts.append(json.dumps({k: v for k, v in hostvars.items() if not k.startswith('vault_')}))
    # every vault variable is used by a variable of the example or by a file of it (the LB hook)
    files = ''.join(open(p).read() for p in glob.glob(os.path.join(REPO, 'examples', example, '*.yml')))
    for name in data['_meta']['hostvars'][hosts[0]]:
        if name.startswith('vault_'):
            assert re.search(r'\{\{\s*%s\s*\}\}' % name, ''.join(texts) + files), '%s is never used' % name
    vault = os.path.join(REPO, 'examples', example, 'group_vars', group, 'vault.yml')
    with open(vault) as handle:
        assert handle.readline().startswith('$ANSIBLE_VAULT;'), vault
    # the molecule scenario loads these group_vars and overrides only host_vars
    with open(os.path.join(REPO, 'molecule', scenario, 'molecule.yml')) as handle:
        inv = yaml.safe_load(handle)['provisioner']['inventory']
    assert inv['links']['group_vars'].rstrip('/') == '../../examples/%s/group_vars' % example
    assert 'group_vars' not in inv and 'host_vars' not in inv


def test_readme_examples_use_the_playbooks_groups():
    with open(os.path.join(REPO, 'README.md')) as handle:
        readme = handle.read()
    hosts = re.findall(r'^- hosts: (\S+)', readme, re.M)
    assert hosts and set(hosts) <= {'dataflux_func', 'func_ha'}, hosts
    assert 'func_nodes' not in readme
