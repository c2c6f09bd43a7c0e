# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving a DataFlux Func installation from its built-in MySQL/Redis to external servers (guide section 10).

Used by func_migrate_check (preflight of the targets) and func_migrate (the steps the migrate_db role runs):
target connections, requirement checks, the stack-file edit that drops the built-in services, the
work/delayed-queue carry-over and data verification.
"""


import re

from ansible_collections.dataflux.func.plugins.module_utils._func_app import (
    QUEUE_COUNT, SYSTEM_SETTING_TABLE, carried_keys, read_system_settings, session_key)
from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import (
    CLIENT_NAMES, MySQLClient, NoClientError, client_image, find_binary, quote)
from ansible_collections.dataflux.func.plugins.module_utils._func_redis import RedisClient, RedisReplyError
from ansible_collections.dataflux.func.plugins.module_utils._func_install import CONFIG_DEFAULTS, dump_yaml

try:
    import yaml
except ImportError:  # pragma: no cover - reported by the modules
    yaml = None

# Privileges DataFlux Func needs on its database (setup, DB upgrades, normal work; reference section 7.2).
APP_PRIVILEGES = ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX', 'LOCK TABLES')
MIN_MYSQL = (5, 7)
MIN_REDIS = (4, 0)
WANT_REDIS = (5, 0)
CONFIG_KEYS_MYSQL = ('MYSQL_HOST', 'MYSQL_PORT', 'MYSQL_USER', 'MYSQL_PASSWORD', 'MYSQL_DATABASE')
CONFIG_KEYS_REDIS = ('REDIS_HOST', 'REDIS_PORT', 'REDIS_DATABASE', 'REDIS_USER', 'REDIS_PASSWORD', 'REDIS_USE_TLS')


def target_argument_spec():
    """Connection options of the external (target) MySQL and Redis."""
    return dict(
        mysql_host=dict(type='str', required=True),
        mysql_port=dict(type='int', default=3306),
        mysql_user=dict(type='str', required=True),
        mysql_password=dict(type='str', no_log=True, default=''),
        mysql_database=dict(type='str', default=CONFIG_DEFAULTS['MYSQL_DATABASE']),
        mysql_connect_host=dict(type='str'),
        mysql_client_image=dict(type='str'),
        redis_host=dict(type='str', required=True),
        redis_port=dict(type='int', default=6379),
        redis_database=dict(type='int', default=CONFIG_DEFAULTS['REDIS_DATABASE']),
        redis_user=dict(type='str', default=''),
        redis_password=dict(type='str', no_log=True, default=''),
        redis_use_tls=dict(type='bool', default=False),
        redis_connect_host=dict(type='str'),
        builtin_services=dict(type='list', elements='str', default=['mysql', 'redis']),
    )


def target_config(params):
    """The MYSQL_*/REDIS_* keys user-config.yaml gets after the migration."""
    return {
        'MYSQL_HOST': params['mysql_host'], 'MYSQL_PORT': int(params['mysql_port']),
        'MYSQL_USER': params['mysql_user'], 'MYSQL_PASSWORD': params['mysql_password'] or '',
        'MYSQL_DATABASE': params['mysql_database'],
        'REDIS_HOST': params['redis_host'], 'REDIS_PORT': int(params['redis_port']),
        'REDIS_DATABASE': int(params['redis_database']), 'REDIS_USER': params['redis_user'] or '',
        'REDIS_PASSWORD': params['redis_password'] or '', 'REDIS_USE_TLS': bool(params['redis_use_tls']),
    }


def config_points_at_target(config, params):
    """True when the effective configuration already uses the target servers (passwords included)."""
    want = target_config(params)
    for key, value in want.items():
        have = config.get(key)
        if key in ('REDIS_USER', 'REDIS_PASSWORD', 'MYSQL_PASSWORD'):
            have = have or ''
        if key == 'REDIS_USE_TLS':
            have = str(have).strip().lower() in ('true', '1', 'yes', 'on')
        elif isinstance(value, int):
            try:
                have = int(have)
            except (TypeError, ValueError):
                return False
        if have != value:
            return False
    return True


def target_mysql(params, database=None, docker=None):
    """The target MySQL, reached from this host: its mysql client if it has one, else a client container of the
    installation's own MySQL (or DataFlux Func) image on the host network: nothing to install on the host."""
    host = params.get('mysql_connect_host') or params['mysql_host']
    image = params.get('mysql_client_image')
    if not image and docker is not None and params.get('stack_name') and not find_binary(*CLIENT_NAMES):
        image = client_image(docker, params['stack_name'])
    return MySQLClient.to_server(host, params['mysql_port'], params['mysql_user'], params['mysql_password'] or None,
                                 database if database is not None else params['mysql_database'],
                                 docker=docker, image=image)


def target_redis(params, database=None):
    host = params.get('redis_connect_host') or params['redis_host']
    return RedisClient.direct(host, params['redis_port'], params['redis_database'] if database is None else database,
                              params['redis_user'] or None, params['redis_password'] or None,
                              bool(params['redis_use_tls']), timeout=30.0)


# --- preflight --------------------------------------------------------------------------------------------
def check_mysql(params, problems, notes, source_func_id=None, in_use=False, docker=None):
    """Check the target MySQL; append problems (setting + fix). Returns facts."""
    db = params['mysql_database']
    facts = {'host': params['mysql_host'], 'port': params['mysql_port'], 'database': db}
    try:
        client = target_mysql(params, database='', docker=docker)
        facts['transport'] = client.transport
        info = client.server_info()
    except NoClientError as exc:
        problems.append('Cannot check MySQL %s:%s: %s' % (params['mysql_host'], params['mysql_port'], exc.msg))
        return facts
    except FuncError as exc:
        problems.append('MySQL %s:%s is not reachable as %s: %s. Check func_migrate_mysql_host/port/user/password '
                        'and that the server accepts connections from this host and from the containers.'
                        % (client.host, params['mysql_port'], params['mysql_user'], exc.msg))
        return facts
    variables = info['variables']
    facts.update(version=info['version'], is_mariadb=info['is_mariadb'],
                 character_set_server=variables.get('character_set_server'),
                 collation_server=variables.get('collation_server'),
                 innodb_large_prefix=variables.get('innodb_large_prefix'))
    version = tuple(info['version_tuple'][:2])
    if info['is_mariadb']:
        notes.append('The target is MariaDB %s. DataFlux Func documents MySQL 5.7; MariaDB 10.x works with it '
                     '(the setup check only requires version >= 5.7).' % info['version'])
    elif version and version < MIN_MYSQL:
        problems.append('MySQL version is %s; DataFlux Func needs MySQL 5.7 or later. Fix: use a MySQL 5.7+ '
                        'server.' % info['version'])
    if (variables.get('character_set_server') or '').lower() != 'utf8mb4':
        problems.append('character_set_server is %s on the target MySQL; it must be utf8mb4. Fix: set '
                        'character-set-server=utf8mb4 in the server configuration (my.cnf or the RDS parameter '
                        'group) and restart it.' % variables.get('character_set_server'))
    if (variables.get('collation_server') or '').lower() != 'utf8mb4_unicode_ci':
        problems.append('collation_server is %s on the target MySQL; it must be utf8mb4_unicode_ci. Fix: set '
                        'collation-server=utf8mb4_unicode_ci in the server configuration and restart it.'
                        % variables.get('collation_server'))
    if 'innodb_large_prefix' in variables and str(variables['innodb_large_prefix']).upper() not in ('ON', '1'):
        problems.append('innodb_large_prefix is %s on the target MySQL; it must be ON. Fix: set '
                        'innodb-large-prefix=on in the server configuration and restart it.'
                        % variables['innodb_large_prefix'])
    # Privileges
    try:
        grants = client.grants()
    except FuncError as exc:
        grants = []
        problems.append('Cannot read the grants of %s: %s' % (params['mysql_user'], exc.msg))
    from ansible_collections.dataflux.func.plugins.module_utils._func_mysql import missing_privileges
    missing = missing_privileges(grants, db, APP_PRIVILEGES) if grants else []
    facts['missing_privileges'] = missing
    if missing:
        problems.append('MySQL user %s lacks the privilege(s) %s on database %s, which DataFlux Func needs for '
                        'its data and its DB upgrades. Fix: GRANT ALL PRIVILEGES ON `%s`.* TO <user> (at least '
                        'GRANT %s ON `%s`.* TO <user>).'
                        % (params['mysql_user'], ', '.join(missing), db, db, ', '.join(APP_PRIVILEGES), db))
    # Database
    rows = client.query('SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co FROM '
                        'information_schema.SCHEMATA WHERE SCHEMA_NAME = %s' % quote(db), database='')
    if not rows:
        facts['database_state'] = 'missing'
        if not params.get('create_database'):
            problems.append('Database %s does not exist on the target MySQL. Fix: CREATE DATABASE `%s` CHARACTER '
                            'SET utf8mb4 COLLATE utf8mb4_unicode_ci, or set func_migrate_create_database=true.'
                            % (db, db))
        return facts
    charset = (rows[0].get('cs') or '').lower()
    facts['database_charset'] = charset
    if charset != 'utf8mb4':
        problems.append('Database %s has the default character set %s; it must be utf8mb4. Fix: ALTER DATABASE '
                        '`%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci.' % (db, charset, db))
    tables = client.tables(db)
    facts['tables'] = len(tables)
    if not tables:
        facts['database_state'] = 'empty'
        return facts
    func_id = None
    if SYSTEM_SETTING_TABLE in tables:
        try:
            func_id = read_system_settings(client, database=db)['func_id']
        except FuncError:
            func_id = None
    facts['func_id'] = func_id
    if in_use:
        facts['database_state'] = 'in_use'   # the installation already runs on it
        return facts
    if func_id and source_func_id and _strip(func_id) == _strip(source_func_id):
        facts['database_state'] = 'this_installation'
        notes.append('Database %s already holds data of this installation (DATAFLUX_FUNC_ID %s, e.g. from an '
                     'earlier attempt); it is replaced by a fresh copy.' % (db, _strip(func_id)))
        return facts
    facts['database_state'] = 'foreign'
    problems.append('Database %s on the target MySQL is not empty (%d tables) and does not belong to this '
                    'installation (DATAFLUX_FUNC_ID %s). Migrating would overwrite it. Fix: use an empty database '
                    '(func_migrate_mysql_database) or empty this one yourself.'
                    % (db, len(tables), _strip(func_id) if func_id else 'none'))
    return facts


def _strip(value):
    return str(value or '').strip().strip('"')


def _version_tuple(text):
    match = re.match(r'(\d+)\.(\d+)', str(text or ''))
    return (int(match.group(1)), int(match.group(2))) if match else ()


def check_redis(params, problems, notes, warnings, min_maxmemory, app_name, migrated=False):
    facts = {'host': params['redis_host'], 'port': params['redis_port'], 'database': params['redis_database']}
    client = target_redis(params, database=0)
    try:
        info = client.info()
    except FuncError as exc:
        problems.append('Redis %s:%s is not reachable: %s' % (client.transport.host, params['redis_port'], exc.msg))
        return facts
    finally:
        client.close()
    version = str(info.get('redis_version') or '')
    facts.update(version=version, cluster_enabled=info.get('cluster_enabled'), maxmemory=info.get('maxmemory'))
    vt = _version_tuple(version)
    if vt and vt < MIN_REDIS:
        problems.append('Redis version is %s; DataFlux Func needs Redis 4.0 or later (5.0 or later for current '
                        'releases). Fix: use a newer Redis.' % version)
    elif vt and vt < WANT_REDIS:
        warnings.append('Redis version is %s. The maintenance guide accepts 4.0, but current DataFlux Func needs '
                        'Redis 5.0 or later (the delayed-task release uses ZPOPMIN); plan an upgrade.' % version)
    if str(info.get('cluster_enabled', 0)) not in ('0', ''):
        problems.append('Redis %s:%s runs in cluster mode (cluster_enabled:1). DataFlux Func needs a standalone '
                        'Redis (it uses database %s and multi-key scripts). Fix: use a standalone or '
                        'master-replica Redis (cluster-enabled no).'
                        % (params['redis_host'], params['redis_port'], params['redis_database']))
        return facts
    maxmemory = int(info.get('maxmemory') or 0)
    if maxmemory and maxmemory < min_maxmemory:
        problems.append('Redis maxmemory is %d bytes; DataFlux Func needs at least %d (1 GiB by default). Fix: '
                        'raise maxmemory (CONFIG SET maxmemory 1gb and in redis.conf) or set it to 0.'
                        % (maxmemory, min_maxmemory))
    # The database itself: selectable, and its queues empty unless this installation already uses it.
    client = target_redis(params)
    try:
        keys = carried_keys(app_name)
        lengths = client.pipeline([['EXISTS', k] for k in keys])
    except FuncError as exc:
        problems.append('Redis database %s is not usable: %s' % (params['redis_database'], exc.msg))
        return facts
    finally:
        client.close()
    busy = [k for k, n in zip(keys, lengths) if int(n or 0)]
    facts['queues_in_use'] = busy
    if busy and not migrated:
        problems.append('Redis database %s already holds DataFlux Func queues or sessions (%s): another '
                        'installation may use it. Fix: choose another func_migrate_redis_database, or empty these keys.'
                        % (params['redis_database'], ', '.join(busy)))
    return facts


def func_env_overrides(stack, builtin):
    """DFF_MYSQL_*/DFF_REDIS_* env of the Func services, which would override user-config.yaml."""
    out = {}
    for name, svc in ((stack or {}).get('services') or {}).items():
        if name in builtin:
            continue
        env = (svc or {}).get('environment') or {}
        keys = list(env.keys()) if isinstance(env, dict) else [str(e).split('=', 1)[0] for e in env]
        bad = [k for k in keys if re.match(r'^DFF_(MYSQL|REDIS)_', str(k))]
        if bad:
            out[name] = bad
    return out


# --- stack file -------------------------------------------------------------------------------------------
def _service_blocks(lines):
    """(services line index, indent of service keys, {name: (start, end)}) of a compose text."""
    start = None
    for n, line in enumerate(lines):
        if re.match(r'^services\s*:\s*(#.*)?$', line):
            start = n
            break
    if start is None:
        return None, None, {}
    indent = None
    blocks = {}
    current = None
    end = len(lines)
    for n in range(start + 1, len(lines)):
        line = lines[n]
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        width = len(line) - len(line.lstrip(' '))
        if width == 0:
            end = n
            break
        if indent is None:
            indent = width
        if width == indent:
            match = re.match(r'^\s*(["\']?)([^"\':#]+)\1\s*:', line)
            if current is not None:
                blocks[current] = (blocks[current][0], n)
            current = match.group(2).strip() if match else None
            if current is not None:
                blocks[current] = (n, None)
    if current is not None:
        blocks[current] = (blocks[current][0], end)
    return start, indent, blocks


def remove_services_text(text, names):
    """Text of a compose file without the named services (line edit that keeps comments and layout).

    Comment lines directly above a removed service that belong to it (e.g. the installer's '# MYSQL START')
    go with it only when they mention the service name. depends_on entries naming a removed service are
    dropped too. Returns (new text, removed names). The caller verifies the result by parsing.
    """
    lines = text.split('\n')
    _start, _indent, blocks = _service_blocks(lines)
    drop = set()
    removed = []
    for name in names:
        if name not in blocks:
            continue
        first, last = blocks[name]
        # trailing comment/blank lines of the block that introduce the next service stay with it
        while last - 1 > first and (not lines[last - 1].strip() or lines[last - 1].lstrip().startswith('#')):
            if name.lower() in lines[last - 1].lower():
                break
            last -= 1
        n = first - 1
        while n >= 0 and lines[n].lstrip().startswith('#') and name.lower() in lines[n].lower():
            first = n
            n -= 1
        drop.update(range(first, last))
        # the END marker comment right after the block
        n = last
        while n < len(lines) and lines[n].lstrip().startswith('#') and name.lower() in lines[n].lower():
            drop.add(n)
            n += 1
        removed.append(name)
    kept = [line for n, line in enumerate(lines) if n not in drop]
    out = '\n'.join(kept)
    for name in removed:
        out = re.sub(r'(?m)^[ \t]*-[ \t]*["\']?%s["\']?[ \t]*(#.*)?\n' % re.escape(name), _depends_guard(out, name),
                     out)
    return out, removed


def _depends_guard(text, name):
    """Replacement function: drop '- <name>' list items only inside depends_on blocks."""
    def repl(match):
        before = text[:match.start()]
        prev = [line for line in before.split('\n')[:-1] if line.strip()]
        # walk up over sibling list items to the key that owns the list
        indent = len(match.group(0)) - len(match.group(0).lstrip())
        for line in reversed(prev):
            width = len(line) - len(line.lstrip())
            stripped = line.strip()
            if stripped.startswith('-') and width == indent:
                continue
            if stripped.startswith('#'):
                continue
            return '' if re.match(r'^depends_on\s*:', stripped) else match.group(0)
        return match.group(0)
    return repl


def remove_services_data(data, names):
    """The parsed compose mapping without the named services and depends_on references to them."""
    import copy
    data = copy.deepcopy(data)
    services = data.get('services') or {}
    for name in names:
        services.pop(name, None)
    for svc in services.values():
        if not isinstance(svc, dict) or 'depends_on' not in svc:
            continue
        dep = svc['depends_on']
        if isinstance(dep, list):
            dep = [d for d in dep if d not in names]
        elif isinstance(dep, dict):
            dep = {k: v for k, v in dep.items() if k not in names}
        if dep:
            svc['depends_on'] = dep
        else:
            del svc['depends_on']
    return data


def stack_without_builtin(text, names):
    """(new text, removed) for a stack file; the line edit is used when it parses to exactly the expected
    mapping, otherwise the file is re-serialised from the parsed data (comments are lost then)."""
    data = yaml.safe_load(text) or {}
    present = [n for n in names if n in (data.get('services') or {})]
    if not present:
        return text, []
    expected = remove_services_data(data, present)
    try:
        new_text, removed = remove_services_text(text, present)
        if yaml.safe_load(new_text) == expected and sorted(removed) == sorted(present):
            return new_text, present
    except Exception:
        pass
    return dump_yaml(expected), present


# --- queue carry-over -------------------------------------------------------------------------------------
def read_queues(client, app_name, count=QUEUE_COUNT):
    """{key: ('list', [items oldest-last as LRANGE gives them]) | ('zset', [(member, score)]) | ('hash', [(field,
    value)])} of the non-empty carried keys (queues, sessions)."""
    keys = carried_keys(app_name, count)
    types = client.pipeline([['TYPE', k] for k in keys])
    cmds, which = [], []
    for key, rtype in zip(keys, types):
        if rtype == 'list':
            cmds.append(['LRANGE', key, 0, -1])
        elif rtype == 'zset':
            cmds.append(['ZRANGE', key, 0, -1, 'WITHSCORES'])
        elif rtype == 'hash' and key == session_key(app_name):
            cmds.append(['HGETALL', key])
        elif rtype == 'none':
            continue
        else:
            raise FuncError('Redis key %s is a %s, not a queue; refusing to carry it over.' % (key, rtype), key=key)
        which.append((key, rtype))
    out = {}
    if not cmds:
        return out
    for (key, rtype), reply in zip(which, client.pipeline(cmds)):
        if rtype == 'list':
            out[key] = ('list', list(reply or []))
        else:
            flat = list(reply or [])
            out[key] = (rtype, [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)])
    return out


def write_queues(client, queues, chunk=500):
    """Append the items to the target in one MULTI/EXEC: lists with RPUSH (the oldest item stays at the tail,
    so workers take it first), sorted sets with ZADD (same scores), hashes with HSET. Returns {key: items
    written}."""
    if not queues:
        return {}
    cmds = [['MULTI']]
    for key in sorted(queues):
        kind, items = queues[key]
        for i in range(0, len(items), chunk):
            part = items[i:i + chunk]
            if kind == 'list':
                cmds.append(['RPUSH', key] + part)
            elif kind == 'hash':
                args = []
                for field, value in part:
                    args += [field, value]
                cmds.append(['HSET', key] + args)
            else:
                args = []
                for member, score in part:
                    args += [score, member]
                cmds.append(['ZADD', key] + args)
    cmds.append(['EXEC'])
    replies = client.pipeline(cmds, raise_on_error=False)
    for cmd, reply in zip(cmds, replies):
        if isinstance(reply, RedisReplyError):
            raise client.error(cmd, reply)
    result = replies[-1]
    if not isinstance(result, list):
        raise FuncError('The target Redis aborted the queue transaction (EXEC replied %r)' % (result,))
    for cmd, reply in zip(cmds[1:-1], result):
        if isinstance(reply, RedisReplyError):
            raise client.error(cmd, reply)
    return {key: len(items) for key, (_kind, items) in queues.items()}
