"""Make the collection importable as ansible_collections.dataflux.func (via .cache/collections, which
scripts/setup-host prepares with a symlink to this checkout), and the fixtures several suites share."""
import os
import sys

import pytest

from tests.lib.extdb import ExtDB
from tests.lib.extredis import ExtRedis
from tests.lib.funcenv import FuncEnv
from tests.lib.realimages import require_real

_COLLECTIONS = os.environ.get('DFF_COLLECTIONS', os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), '.cache', 'collections'))
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)


# --- fixtures that several suites share: module-scoped factories, so each test file keeps its own names ----------
# (stack, port, directory), which keeps files apart when they run side by side (-n 2 --dist loadfile).


@pytest.fixture(scope='module')
def module_func_env():
    """Factory: module_func_env(stack, port, install_dir, up_timeout=180, **FuncEnv options) -> a running FuncEnv
    (test installation deployed without the role; real=True fails unless the real image is built), torn down when
    the test file is done."""
    envs = []

    def make(stack, port, install_dir, up_timeout=180, **kwargs):
        if kwargs.get('real'):
            require_real(kwargs.get('version', '5.1.7'))
        env = FuncEnv(stack=stack, port=port, install_dir=install_dir, **kwargs)
        envs.append(env)
        env.up(timeout=up_timeout)
        return env

    yield make
    for env in reversed(envs):
        env.down()


@pytest.fixture(scope='module')
def ext_db():
    """Factory: ext_db(base, port, root_password, database='dataflux_func', **ExtDB options) -> a started private
    mariadbd (tests/lib/extdb.py) with `database` created empty (None: none); stopped and its base directory removed
    when the test file is done."""
    servers = []

    def make(base, port, root_password, database='dataflux_func', **kwargs):
        db = ExtDB(base=base, port=port, root_password=root_password, **kwargs)
        servers.append(db)
        db.start()
        if database:
            db.create_database(database, drop=True)
        return db

    yield make
    for db in reversed(servers):
        db.destroy()


@pytest.fixture(scope='module')
def ext_redis():
    """Factory: ext_redis(base, port, **ExtRedis options) -> a started private redis-server (tests/lib/extredis.py);
    stopped and its base directory removed when the test file is done."""
    servers = []

    def make(base, port, **kwargs):
        server = ExtRedis(base=base, port=port, **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in reversed(servers):
        server.cleanup()
