"""Write the option tables of roles/<role>/README.md from roles/<role>/meta/argument_specs.yml (the one source of the
roles' options), between the markers <!-- options:start --> and <!-- options:end -->. Text outside the markers is
hand-written and kept.

  python3 scripts/role_readmes.py          rewrite the tables
  python3 scripts/role_readmes.py --check  exit 1 (naming the roles) when a README is missing or its table is stale
"""
import os
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
START, END = '<!-- options:start -->', '<!-- options:end -->'


def cell(value):
    if value is None:
        return ''
    if isinstance(value, list):
        value = ' '.join(str(v) for v in value)
    return str(value).replace('|', '\\|').replace('\n', ' ').strip()


def table(role):
    specs = yaml.safe_load(open(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml')))['argument_specs']
    out = []
    for entry, spec in specs.items():
        how = 'the role' if entry == 'main' else '`tasks_from: %s`' % entry
        out.append('### Entry point `%s` (%s)\n' % (entry, how))
        out.append('%s\n' % cell(spec.get('short_description')))
        if spec.get('description'):
            out.append('%s\n' % cell(spec['description']))
        out.append('| Variable | Type | Default | Required | Description |')
        out.append('|---|---|---|---|---|')
        for name, opt in sorted((spec.get('options') or {}).items()):
            default = opt.get('default')
            shown = '' if default is None or opt.get('no_log') else '`%s`' % cell(default if default != '' else "''")
            if opt.get('choices'):
                shown += ' (one of %s)' % ', '.join('`%s`' % c if c != '' else "`''`" for c in opt['choices'])
            out.append('| `%s` | %s | %s | %s | %s%s |' % (
                name, cell(opt.get('type', 'str')), shown, 'yes' if opt.get('required') else '',
                cell(opt.get('description')), ' Secret (no_log).' if opt.get('no_log') else ''))
        out.append('')
    return '\n'.join(out)


def main():
    check = '--check' in sys.argv[1:]
    stale = []
    for role in sorted(os.listdir(os.path.join(ROOT, 'roles'))):
        path = os.path.join(ROOT, 'roles', role, 'README.md')
        if not os.path.isfile(path):
            stale.append('%s (no README.md)' % role)
            continue
        text = open(path).read()
        if START not in text or END not in text:
            stale.append('%s (no %s / %s markers)' % (role, START, END))
            continue
        head, rest = text.split(START, 1)
        _old, tail = rest.split(END, 1)
        new = '%s%s\n%s\n%s%s' % (head, START, table(role), END, tail)
        if new != text:
            if check:
                stale.append('%s (options table out of date)' % role)
            else:
                with open(path, 'w') as handle:
                    handle.write(new)
    if stale:
        print('role READMEs: ' + '; '.join(stale) + ('. Run python3 scripts/role_readmes.py.' if check else ''))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
