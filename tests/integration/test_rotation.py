"""What the collection writes into data/sqldump never trips DataFlux Func's own backup rotation: after a restore
(whose safety backup lands there) the product's hourly auto-backup still prunes by count. A plain prefixed .sql
there (what the collection used to write) stops that pruning (the upstream bug, faithful in the func double): the
negative control. The cron runs every minute here (_CRON_EXPR_AUTO_BACKUP_DB) and keeps DB_AUTO_BACKUP_LIMIT=3."""
import os
import zipfile

import pytest

from tests.lib.ansible_runner import run_module
from tests.lib.funcenv import FuncEnv, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK, PORT, DIR = 'dfft-rot', 18098, '/tmp/dfft/rot'
PREFIX = 'dataflux-func-sqldump-'


@pytest.fixture(scope='module')
def env():
    e = FuncEnv(stack=STACK, port=PORT, install_dir=DIR, version='5.1.7', worker_layout='mini',
                admin_password='rot-Admin-pw-1',
                user_config={'_CRON_EXPR_AUTO_BACKUP_DB': '* * * * *', 'DB_AUTO_BACKUP_LIMIT': 3})
    e.up()
    yield e
    e.down()


def sqldump():
    return os.path.join(DIR, 'data', 'sqldump')


def zips():
    return sorted(n for n in os.listdir(sqldump()) if n.startswith(PREFIX) and n.endswith('.zip'))


def plant_old_zips(count):
    for day in range(1, count + 1):
        name = '%s202001%02d-000000.zip' % (PREFIX, day)
        with zipfile.ZipFile(os.path.join(sqldump(), name), 'w') as zf:
            zf.writestr(name[:-4] + '.sql', '-- old\n')


def next_auto_backup(after):
    """Wait for the product's next own zip (a name newer than after) and return the zip names then."""
    wait_for(lambda: [n for n in zips() if n > after and not n.startswith(PREFIX + '2020')], 150, interval=2,
             what='the next auto-backup zip')
    return zips()


def newest_own():
    own = [n for n in zips() if not n.startswith(PREFIX + '2020')]
    return own[-1] if own else PREFIX


def test_rotation_still_prunes_after_a_restore(env):
    os.makedirs(sqldump(), exist_ok=True)
    # negative control: a plain prefixed .sql stops the product's count-based pruning
    stray = os.path.join(sqldump(), PREFIX + '20200101-000000.sql')
    with open(stray, 'w') as handle:
        handle.write('-- a plain dump\n')
    plant_old_zips(5)
    names = next_auto_backup(newest_own())
    assert len(names) > 3 and os.path.exists(stray), names            # nothing pruned: the bug bit
    os.unlink(stray)
    for name in zips():
        if name.startswith(PREFIX + '2020'):
            os.unlink(os.path.join(sqldump(), name))

    # the collection's way: dump elsewhere, restore it (the safety backup goes into data/sqldump), then let the
    # product's rotation run
    plant_old_zips(5)
    dump = run_module('func_backup', {'install_dir': DIR, 'stack_name': STACK, 'state': 'dump',
                                      'backup_dir': os.path.join(DIR, 'dumps'), 'compress': 'none'})
    assert not dump.get('failed'), dump.get('msg')
    res = run_module('func_backup', {'install_dir': DIR, 'stack_name': STACK, 'state': 'restore',
                                     'src': dump['path'], 'confirm': True})
    assert not res.get('failed'), res.get('msg')
    safety = res['safety_backup']
    assert os.path.dirname(safety) == sqldump() and not safety.endswith('.sql'), safety
    names = next_auto_backup(newest_own())
    assert len(names) == 3, names                                       # pruned to DB_AUTO_BACKUP_LIMIT
    # the rotation kept the newest LIMIT-1 before writing its new zip: of the five planted, only the newest is left
    assert [n for n in names if n.startswith(PREFIX + '2020')] in ([], [PREFIX + '20200105-000000.zip']), names
    assert os.path.exists(safety) and os.path.exists(safety + '.sha256')
