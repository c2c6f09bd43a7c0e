#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_admin
short_description: Emergency admin tasks of DataFlux Func (reset admin, DB upgrade sequence, clear Redis)
version_added: 0.1.0
description:
  - Does what the upstream C(admin-tool.py) does (maintenance guide section 14), idempotently, with check and
    diff mode, for the built-in MySQL/Redis (through their containers) and for external ones.
  - The module does not run C(admin-tool.py), because that tool always exits 0 (its outcome is only in its output),
    prompts on a terminal and would need the new password as an argument. The module makes the same database
    changes itself, passing secrets only on standard input.
  - O(action=reset_admin) sets user name and password of the system administrator, row C(u-admin) of
    C(wat_main_user), with the password hash the product uses (SHA-512 of C(~u-admin~<password>~<SECRET>~)),
    and, like the tool, C(roles=sa), C(customPrivileges=*), C(isDisabled=0) and the display name. The SECRET
    comes from the installation's effective configuration (C(data/user-config.yaml), then C(DFF_SECRET) of the
    server service) or from O(secret).
  - O(action=reset_db_upgrade_seq) sets C(UPGRADE_DB_SEQ) in C(wat_main_system_setting) and returns the
    previous value. The server applies the DB upgrade steps above this number at its next start.
  - O(action=clear_redis) empties the installation's Redis database (C(REDIS_DATABASE), default 5) with
    C(FLUSHDB ASYNC), which frees the keys in the background instead of freezing every Redis client (a
    synchronous C(FLUSHDB) of one million keys blocks Redis for about 0.7 s). Other databases are never
    touched. It needs O(confirm=true).
author:
  - dataflux.func maintainers (@dataflux)
extends_documentation_fragment:
  - dataflux.func.attributes
  - dataflux.func.install
  - dataflux.func.mysql
  - dataflux.func.redis
options:
  action:
    description:
      - What to do.
    type: str
    required: true
    choices: [reset_admin, reset_db_upgrade_seq, clear_redis]
  admin_username:
    description:
      - New user name of the administrator (O(action=reset_admin)). Default is the current one (C(admin) when
        the row does not exist yet). At most 30 characters, the limit of DataFlux Func's sign-in form.
    type: str
  admin_password:
    description:
      - New password of the administrator. Required with O(action=reset_admin).
    type: str
  upgrade_db_seq:
    description:
      - New C(UPGRADE_DB_SEQ), a non-negative integer. Required with O(action=reset_db_upgrade_seq).
    type: int
  confirm:
    description:
      - Must be V(true) for O(action=clear_redis), also in check mode, as an explicit acknowledgement that
        every key of the database goes (queues, delayed tasks, sessions, locks, caches).
    type: bool
    default: false
  secret:
    description:
      - The installation's C(SECRET), for O(action=reset_admin). Default is the effective configuration's.
      - A wrong SECRET produces a hash the server rejects, so only set it when the configuration cannot be read.
    type: str
attributes:
  check_mode:
    support: full
    details: Reads the current state and returns the same C(changed) a real run would, without writing;
      O(action=clear_redis) reports in RV(keys_removed) how many keys would go.
  diff_mode:
    support: full
    details: For O(action=reset_admin) the user name before and after, the password only as C(changed) or
      C(unchanged); for O(action=reset_db_upgrade_seq) the old and new value; for O(action=clear_redis) the
      key count.
  idempotent:
    support: full
    details: O(action=reset_admin) changes nothing when user name, password hash, roles, privileges and the
      enabled flag already match (a different display name alone is left alone);
      O(action=reset_db_upgrade_seq) when the value already matches; O(action=clear_redis) when the database
      is empty.
notes:
  - Restart the server service after O(action=reset_db_upgrade_seq) so that it runs the upgrade steps again.
  - O(action=clear_redis) logs everyone out (sessions live in Redis) and drops queued and delayed tasks.
seealso:
  - module: dataflux.func.func_queue
    description: Clear only the task queues.
'''

EXAMPLES = r'''
- name: Reset the administrator's password (user name unchanged)
  dataflux.func.func_admin:
    action: reset_admin
    admin_password: "{{ vault_func_admin_password }}"

- name: Rename the administrator and set its password, showing what changes
  dataflux.func.func_admin:
    action: reset_admin
    admin_username: root-admin
    admin_password: "{{ vault_func_admin_password }}"
  diff: true

- name: Put the DB upgrade sequence back to 28
  dataflux.func.func_admin:
    action: reset_db_upgrade_seq
    upgrade_db_seq: 28
  register: seq

- name: How many Redis keys would be dropped
  dataflux.func.func_admin:
    action: clear_redis
    confirm: true
  check_mode: true

- name: Empty the installation's Redis database on an external Redis
  dataflux.func.func_admin:
    action: clear_redis
    confirm: true
    redis_transport: direct
    redis_host: redis.internal.example.com
    redis_password: "{{ vault_func_redis_password }}"
'''

RETURN = r'''
admin_username:
  description: The administrator's user name after the run (O(action=reset_admin)).
  returned: when O(action=reset_admin)
  type: str
  sample: admin
previous_admin_username:
  description: The administrator's user name before the run, V(null) when the row did not exist.
  returned: when O(action=reset_admin)
  type: str
  sample: admin
password_changed:
  description: Whether the stored password hash changed (or would change in check mode).
  returned: when O(action=reset_admin)
  type: bool
upgrade_db_seq:
  description: C(UPGRADE_DB_SEQ) after the run.
  returned: when O(action=reset_db_upgrade_seq)
  type: int
  sample: 28
previous_upgrade_db_seq:
  description: C(UPGRADE_DB_SEQ) before the run (an integer; the raw text if it was not one; V(null) when unset).
  returned: when O(action=reset_db_upgrade_seq)
  type: raw
  sample: 29
keys_removed:
  description: Keys dropped from the database (in check mode, keys that would be dropped).
  returned: when O(action=clear_redis)
  type: int
  sample: 1532
method:
  description: The Redis command used (C(FLUSHDB ASYNC), or C(FLUSHDB) on Redis older than 4.0).
  returned: when O(action=clear_redis) changed something
  type: str
  sample: FLUSHDB ASYNC
database:
  description: Where the change was made (MySQL connection or Redis connection description).
  returned: always
  type: raw
commands:
  description: What was run (no secrets).
  returned: always
  type: list
  elements: str
'''

import hashlib

from ansible_collections.dataflux.func.plugins.module_utils._func_app import (
    SEQ_KEY, SYSTEM_SETTING_TABLE, read_system_settings)
from ansible_collections.dataflux.func.plugins.module_utils._func_common import MASK, FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_install import CONFIG_DEFAULTS
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule
from ansible_collections.dataflux.func.plugins.module_utils._func_redis import RedisReplyError

ADMIN_ID = 'u-admin'
ADMIN_DISPLAY_NAME = u'\u7cfb\u7edf\u7ba1\u7406\u5458'   # what admin-tool.py writes ("system administrator")
MAX_USERNAME = 30         # the product's sign-in form (server/route.yaml: username maxLength 30)
ACCESS_FIELDS = ('username', 'passwordHash', 'roles', 'customPrivileges', 'isDisabled')


def salted_password_hash(user_id, password, secret):
    """Password hash of DataFlux Func: sha512 hex of '~<user id>~<password>~<SECRET>~'."""
    text = '~%s~%s~%s~' % (user_id, password, secret)
    return hashlib.sha512(text.encode('utf-8')).hexdigest()


def resolve_secret(ctx):
    inst = ctx.installation
    if ctx.params['secret']:
        return ctx.params['secret']
    user_config = inst.load_user_config()
    if user_config is None and not inst.service_env('server').get('DFF_SECRET'):
        raise FuncError('Cannot determine the SECRET of the installation: %s does not exist and the stack file has '
                        'no DFF_SECRET. Check install_dir, or give secret explicitly.' % inst.path('config_file'),
                        config_file=inst.path('config_file'))
    secret = inst.effective_config('server', user_config=user_config).get('SECRET')
    if not secret:
        raise FuncError('The effective SECRET of the installation is empty; give secret explicitly.')
    if secret == CONFIG_DEFAULTS['SECRET']:
        ctx.module.warn('The installation uses the image default SECRET; the password hash is computed with it.')
    return str(secret)


def reset_admin(ctx):
    params = ctx.params
    password = params['admin_password']
    if password is None or password == '':
        raise FuncError('admin_password must not be empty')
    username = params['admin_username']
    if username is not None:
        username = username.strip()
        if not username or len(username) > MAX_USERNAME or any(c in username for c in '\0\n\r\t'):
            raise FuncError('admin_username must be 1 to %d characters without control characters (DataFlux Func\'s '
                            'sign-in accepts at most %d, route.yaml), not %r'
                            % (MAX_USERNAME, MAX_USERNAME, params['admin_username']))
    secret = resolve_secret(ctx)
    ctx.add_secret(secret)
    pw_hash = salted_password_hash(ADMIN_ID, password, secret)
    ctx.add_secret(pw_hash)

    db = ctx.mysql()
    rows = db.query('SELECT `username`, `passwordHash`, `name`, `roles`, `customPrivileges`, `isDisabled` '
                    'FROM `wat_main_user` WHERE `id` = %s' % db.quote(ADMIN_ID))
    current = rows[0] if rows else None
    if username is None:
        username = current['username'] if current else 'admin'
    clash = db.query('SELECT `id` FROM `wat_main_user` WHERE `username` = %s AND `id` <> %s'
                     % (db.quote(username), db.quote(ADMIN_ID)))
    if clash:
        raise FuncError('User name %r already belongs to another user (%s); choose another admin_username.'
                        % (username, clash[0].get('id')), admin_username=username)

    desired = {'username': username, 'passwordHash': pw_hash, 'roles': 'sa', 'customPrivileges': '*',
               'isDisabled': '0'}
    differs = [f for f in ACCESS_FIELDS if current is None or str(current.get(f)) != desired[f]]
    password_changed = current is None or current.get('passwordHash') != pw_hash
    changed = bool(differs)
    if changed and not ctx.check_mode:
        values = ', '.join(db.quote(v) for v in (ADMIN_ID, username, pw_hash, ADMIN_DISPLAY_NAME, 'sa', '*'))
        db.execute('INSERT INTO `wat_main_user` (`id`, `username`, `passwordHash`, `name`, `roles`, '
                   '`customPrivileges`, `isDisabled`) VALUES (%s, 0) ON DUPLICATE KEY UPDATE '
                   '`username` = VALUES(`username`), `passwordHash` = VALUES(`passwordHash`), '
                   '`name` = VALUES(`name`), `roles` = VALUES(`roles`), '
                   '`customPrivileges` = VALUES(`customPrivileges`), `isDisabled` = 0' % values)
        check = db.query('SELECT `username`, `passwordHash` FROM `wat_main_user` WHERE `id` = %s'
                         % db.quote(ADMIN_ID))
        if not check or check[0].get('username') != username or check[0].get('passwordHash') != pw_hash:
            raise FuncError('The administrator row was written but does not read back as expected; check the '
                            'table wat_main_user of %s.' % db.describe())
    result = dict(changed=changed, admin_username=username,
                  previous_admin_username=current['username'] if current else None,
                  password_changed=password_changed, changed_fields=differs, database=db.describe(),
                  commands=list(db.commands))
    if ctx.module._diff:
        result['diff'] = {
            'before': {'username': current['username'] if current else None, 'password': MASK},
            'after': {'username': username, 'password': 'changed' if password_changed else 'unchanged'},
        }
    return result


def reset_db_upgrade_seq(ctx):
    seq = ctx.params['upgrade_db_seq']
    if seq is None or seq < 0:
        raise FuncError('upgrade_db_seq must be a non-negative integer, not %s' % seq)
    db = ctx.mysql()
    found = read_system_settings(db)
    previous = found['upgrade_seq'] if found['upgrade_seq'] is not None else found['raw_seq']
    changed = previous != seq
    if changed and not ctx.check_mode:
        db.execute('INSERT INTO `%s` (`id`, `value`) VALUES (%s, %s) ON DUPLICATE KEY UPDATE `value` = VALUES(`value`)'
                   % (SYSTEM_SETTING_TABLE, db.quote(SEQ_KEY), db.quote(str(seq))))
    result = dict(changed=changed, upgrade_db_seq=seq, previous_upgrade_db_seq=previous,
                  database=db.describe(), commands=list(db.commands))
    if ctx.module._diff:
        result['diff'] = {'before': {'UPGRADE_DB_SEQ': previous}, 'after': {'UPGRADE_DB_SEQ': seq}}
    return result


def flush(client):
    """MULTI; DBSIZE; FLUSHDB ASYNC; EXEC -> (keys removed, method). Plain FLUSHDB on Redis < 4."""
    for method in (['FLUSHDB', 'ASYNC'], ['FLUSHDB']):
        replies = client.pipeline([['MULTI'], ['DBSIZE'], method, ['EXEC']], raise_on_error=False)
        queued, result = replies[2], replies[3]
        failed = isinstance(queued, RedisReplyError) or (
            isinstance(result, list) and len(result) == 2 and isinstance(result[1], RedisReplyError))
        if failed and len(method) == 2:
            continue
        if isinstance(result, RedisReplyError) or not isinstance(result, list) or failed:
            reply = result if isinstance(result, RedisReplyError) else queued
            raise client.error(method, reply if isinstance(reply, RedisReplyError) else RedisReplyError(str(result)))
        return int(result[0]), ' '.join(method)
    raise FuncError('Redis refused FLUSHDB')   # pragma: no cover


def clear_redis(ctx):
    client = ctx.redis()
    if not ctx.params['confirm']:
        raise FuncError('action=clear_redis deletes every key of Redis database %s (queues, delayed tasks, '
                        'sessions, locks, caches). Set confirm=true to do it.' % client.database,
                        database=client.database)
    try:
        if ctx.check_mode:
            keys, method = int(client.call('DBSIZE')), None
        else:
            keys, method = flush(client)
    finally:
        client.close()
    result = dict(changed=keys > 0, keys_removed=keys, database=client.describe(),
                  commands=list(client.commands))
    if method and keys:
        result['method'] = method
    if method == 'FLUSHDB':
        ctx.module.warn('This Redis has no FLUSHDB ASYNC (older than 4.0); a synchronous FLUSHDB was used.')
    if ctx.module._diff:
        result['diff'] = {'before': {'keys': keys}, 'after': {'keys': 0}}
    return result


ACTIONS = {'reset_admin': reset_admin, 'reset_db_upgrade_seq': reset_db_upgrade_seq, 'clear_redis': clear_redis}


def main():
    FuncModule(dict(
        action=dict(type='str', required=True, choices=list(ACTIONS)),
        admin_username=dict(type='str'),
        admin_password=dict(type='str', no_log=True),
        upgrade_db_seq=dict(type='int'),
        confirm=dict(type='bool', default=False),
        secret=dict(type='str', no_log=True),
    ), mysql=True, redis=True,
        required_if=[('action', 'reset_admin', ['admin_password']),
                     ('action', 'reset_db_upgrade_seq', ['upgrade_db_seq'])],
    ).run(lambda ctx: ACTIONS[ctx.params['action']](ctx))


if __name__ == '__main__':
    main()
