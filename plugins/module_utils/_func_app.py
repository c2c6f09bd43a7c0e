# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection knows about DataFlux Func itself, in one place: the product's own key names and value rules.
Each fact's upstream source is listed in docs/dev/upstream-facts.md; tests/contract checks them against the real
product and the func double. No I/O here: the backends (_func_redis, _func_mysql, ...) use these names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

APP_NAME = 'DataFluxFunc'             # config.yaml APP_NAME
QUEUE_COUNT = 10                      # config.yaml _WORKER_QUEUE_COUNT
WORK = 'workerQueue'                  # <APP_NAME>-worker#workerQueue@N: a list, LPUSH by producers, BRPOP by workers
DELAY = 'delayQueue'                  # <APP_NAME>-worker#delayQueue@N: a sorted set scored by ETA, moved by the beat
# Values the product reads as true (worker/utils/toolkit.py to_boolean, server/utils/toolkit.js toBoolean)
TRUE_STRINGS = ('true', '1', 'yes', 'on', 'o', 'y', 'ok')


def to_boolean(value):
    """A config value as the product reads it: a bool as it is, a number when > 0, a string when it is one of
    TRUE_STRINGS in any case (anything else, None included, is false: the product's None)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value > 0
    return isinstance(value, str) and value.strip().lower() in TRUE_STRINGS


def app_name(config):
    """APP_NAME of an effective configuration (the prefix of every Redis key)."""
    return str((config or {}).get('APP_NAME') or APP_NAME)


def queue_count(config):
    """How many work queues the installation has: its effective _WORKER_QUEUE_COUNT (10 unless changed)."""
    try:
        count = int((config or {}).get('_WORKER_QUEUE_COUNT') or QUEUE_COUNT)
    except (TypeError, ValueError):
        return QUEUE_COUNT
    return count if count > 0 else QUEUE_COUNT


def queue_key(app, kind, index):
    """<APP_NAME>-worker#<workerQueue|delayQueue>@<index>."""
    return '%s-worker#%s@%d' % (app, kind, index)


def queue_keys(app, count=QUEUE_COUNT):
    """Every work queue key, then every delayed queue key."""
    return [queue_key(app, WORK, i) for i in range(count)] + [queue_key(app, DELAY, i) for i in range(count)]


def session_key(app):
    """The hash of signed-in sessions (server/utils/auth.js getCacheKey: `<APP_NAME>-server#token@xAuthToken`, one
    field `userId:<uid>:xAuthTokenId:<id>` per session). The tokens are JWTs signed with SECRET."""
    return '%s-server#token@xAuthToken' % app


def carried_keys(app, count=QUEUE_COUNT):
    """Every key a migration carries to the target Redis: the work and delayed queues and the sessions."""
    return queue_keys(app, count) + [session_key(app)]


# --- wat_main_system_setting ---------------------------------------------------------------------------------
SYSTEM_SETTING_TABLE = 'wat_main_system_setting'
SEQ_KEY = 'UPGRADE_DB_SEQ'            # how far the product's own database upgrades have run (upgrade-info.yaml seq)
FUNC_ID_KEY = 'DATAFLUX_FUNC_ID'      # the installation's identity, created at setup


def setting_value(raw):
    """A stored setting as text: the product stores JSON, so a string keeps its quotes ("29"); None when unset."""
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode('utf-8', 'replace')
    return str(raw).strip().strip('"').strip() or None


def parse_seq(raw):
    """UPGRADE_DB_SEQ as an integer; None when unset or not a number."""
    text = setting_value(raw)
    return int(text) if text is not None and text.isdigit() else None


def system_settings_sql(database=None, keys=(SEQ_KEY, FUNC_ID_KEY)):
    """SELECT id, value of the given settings (keys are the constants above: no user input)."""
    table = '`%s`.%s' % (database.replace('`', '``'), SYSTEM_SETTING_TABLE) if database else SYSTEM_SETTING_TABLE
    return 'SELECT id, value FROM %s WHERE id IN (%s)' % (table, ', '.join("'%s'" % k for k in keys))


def read_system_settings(client, database=None):
    """{'upgrade_seq': int or None, 'func_id': str or None, 'raw_seq': the stored text} through a MySQL client
    (anything with query(sql, database=...) -> [{'id', 'value'}]). Errors of the client propagate."""
    kwargs = {'database': ''} if database else {}
    rows = client.query(system_settings_sql(database), **kwargs)
    values = {row['id']: row.get('value') for row in rows}
    return {'upgrade_seq': parse_seq(values.get(SEQ_KEY)), 'func_id': setting_value(values.get(FUNC_ID_KEY)),
            'raw_seq': setting_value(values.get(SEQ_KEY))}


# --- HTTP -----------------------------------------------------------------------------------------------------
SERVER_PORT = 8088                    # the server's port inside its container (docker-stack.yaml target)
PING_PATH = '/api/v1/do/ping'         # 200 {"data": "pong"} once the server serves
IMAGE_INFO_PATH = '/api/v1/image-info'  # 200 {"data": {"VERSION": ...}}
SETUP_PATH = '/setup'                 # POST the first-time setup (setup mode only)


def published_port(stack):
    """The host port the stack file publishes for the server's SERVER_PORT (long or short syntax), else None."""
    server = ((stack or {}).get('services') or {}).get('server') or {}
    for port in server.get('ports') or []:
        if isinstance(port, dict):
            if int(port.get('target', 0)) == SERVER_PORT and port.get('published'):
                return int(port['published'])
        else:
            parts = str(port).split(':')
            if len(parts) >= 2 and parts[-1].split('/')[0] == str(SERVER_PORT):
                return int(parts[-2])
    return None
