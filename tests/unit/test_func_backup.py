"""Pure logic of func_backup: names, directory scan, retention planning."""
import os

from ansible_collections.dataflux.func.plugins.module_utils import _func_backup as fb


def test_backup_name_follows_upstream_pattern():
    tz = fb.zone('Asia/Shanghai')
    name = fb.backup_name(0, tz, 'zstd')
    assert name == 'dataflux-func-sqldump-19700101-080000.sql.zst'
    assert fb.backup_name(0, tz, 'none').endswith('080000.sql')
    assert fb.backup_name(0, tz, 'gzip').endswith('.sql.gz')
    epoch, iso = fb.name_time(name, tz)
    assert epoch == 0 and iso.startswith('1970-01-01T08:00:00')
    assert fb.name_time('dataflux-sqldump-19700101-080000.sql', tz) == (None, None)


def _entries(n, kind='dump', size=10, step=3600, now=1_000_000):
    return [{'name': 'b%03d' % i, 'path': '/x/b%03d' % i, 'kind': kind, 'size': size,
             'epoch': now - i * step} for i in range(n)]


def test_retention_count_age_size():
    now = 1_000_000
    entries = _entries(10, now=now)
    delete, protected = fb.plan_retention(entries, 4, 0, 0, now, lambda e: True)
    assert [e['name'] for e, _x in delete] == ['b004', 'b005', 'b006', 'b007', 'b008', 'b009']
    assert protected == 'b000'
    delete, _x = fb.plan_retention(entries, 0, 1, 0, now + 86400 - 3 * 3600 + 1, lambda e: True)
    assert [e['name'] for e, _x in delete][0] == 'b003'
    delete, _x = fb.plan_retention(entries, 0, 0, 35, now, lambda e: True)
    assert [e['name'] for e, _x in delete] == ['b003', 'b004', 'b005', 'b006', 'b007', 'b008', 'b009']


def test_retention_never_deletes_newest_valid():
    now = 10 ** 9
    entries = _entries(5, now=now - 30 * 86400)         # all far too old
    valid = {'b002'}
    delete, protected = fb.plan_retention(entries, 1, 7, 0, now, lambda e: e['name'] in valid)
    assert protected == 'b002'
    assert sorted(e['name'] for e, _x in delete) == ['b000', 'b001', 'b003', 'b004']


def test_scan_dir_kinds(tmp_path):
    tz = fb.zone('UTC')
    names = ['dataflux-func-sqldump-20240101-000000.sql', 'dataflux-func-sqldump-20240101-010000.sql',
             'dataflux-func-sqldump-20240101-020000.sql.zst', 'dataflux-func-sqldump-20240101-030000.zip',
             'other.sql', '.dataflux-func-sqldump-20240101-040000.sql.123.tmp']
    for name in names:
        (tmp_path / name).write_bytes(b'x')
    (tmp_path / (names[1] + '.sha256')).write_text('0' * 64 + '  ' + names[1] + '\n')
    entries, temps = fb.scan_dir(str(tmp_path), tz)
    kinds = {e['name']: e['kind'] for e in entries}
    assert kinds == {names[0]: 'stray', names[1]: 'dump', names[2]: 'dump', names[3]: 'inapp'}
    assert [e['name'] for e in entries][0] == names[3]
    assert [os.path.basename(t) for t in temps] == [names[5]]
    assert fb.check_entry(dict(entries[0]))['checksum'] == 'bad'
    e = [x for x in entries if x['name'] == names[1]][0]
    assert fb.check_entry(dict(e))['checksum'] == 'mismatch'
