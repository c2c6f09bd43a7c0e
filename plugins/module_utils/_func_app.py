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
