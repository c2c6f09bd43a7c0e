"""Shared code of the DataFlux Func stand-in: config, logging, MySQL, Redis, schema, keys."""
import datetime
import hashlib
import json
import os
import socket
import sys
import time

import pymysql
import redis
import yaml

APP_DIR = os.path.dirname(os.path.abspath(__file__))
EXIT_RESTART = 8
START_TIME = time.time()

with open(os.path.join(APP_DIR, 'image-info.json')) as _f:
    IMAGE_INFO = json.load(_f)
VERSION = IMAGE_INFO['VERSION']
# Like upstream, the image knows its last DB upgrade only from its own upgrade-info.yaml (its last item), which the
# Dockerfile trims to the version's (tests/func_double/image_build.py).
with open(os.path.join(APP_DIR, 'upgrade-info.yaml')) as _f:
    UPGRADE_INFO = sorted(yaml.safe_load(_f)['upgradeInfo'], key=lambda i: i['seq'])
UPGRADE_DB_SEQ_LAST = UPGRADE_INFO[-1]['seq']
try:
    MAJOR_VERSION = int(VERSION.split('.')[0])
except ValueError:
    MAJOR_VERSION = 5
# Releases before 4.0 keep a sign-in token as a string key per token (server/utils/auth.js of 3.7.2)
LEGACY_TOKENS = MAJOR_VERSION < 4

TRUE_STRINGS = ('true', '1', 'yes', 'on', 'o', 'y', 'ok')


# ---------------------------------------------------------------------------------------------- config
def load_defaults():
    with open(os.path.join(APP_DIR, 'config.yaml')) as f:
        return yaml.safe_load(f)


def user_config_path(defaults=None):
    defaults = defaults or load_defaults()
    return os.environ.get('DFF_CONFIG_FILE_PATH') or defaults['CONFIG_FILE_PATH']


def load_user_config(path=None):
    path = path or user_config_path()
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def convert(default, value):
    """Convert an env string to the type of the default value."""
    if isinstance(default, bool):
        return value.strip().lower() in TRUE_STRINGS
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, list):
        return [x.strip() for x in value.split(',') if x.strip()]
    if isinstance(default, dict):
        out = {}
        for item in value.split(','):
            if '=' in item:
                k, v = item.split('=', 1)
                out[k.strip()] = v.strip()
        return out
    return value


def load_config():
    """defaults -> user-config file -> DFF_ env (existing keys or CUSTOM_*, typed like the default)."""
    cfg = load_defaults()
    cfg.update(load_user_config(user_config_path(cfg)))
    prefix = cfg.get('CONFIG_FROM_ENV_PREFIX') or 'DFF_'
    for name, value in os.environ.items():
        if not name.startswith(prefix):
            continue
        key = name[len(prefix):]
        if not value.strip():
            continue
        if key in cfg:
            try:
                cfg[key] = convert(cfg[key], value)
            except ValueError:
                pass
        elif key.startswith('CUSTOM_'):
            cfg[key] = value
    if os.environ.get('GUANCE_BIND_IP'):
        cfg['WEB_BIND'] = os.environ['GUANCE_BIND_IP']
    return cfg


def parse_size(value):
    if isinstance(value, (int, float)):
        return int(value)
    s = str(value).strip().upper()
    units = {'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3, 'T': 1024 ** 4}
    for suffix in ('B', 'IB'):
        if s.endswith(suffix) and s[:-len(suffix)][-1:] in units:
            s = s[:-len(suffix)]
            break
    if s and s[-1] in units:
        return int(float(s[:-1]) * units[s[-1]])
    return int(float(s.rstrip('B') or 0))


# ---------------------------------------------------------------------------------------------- logging
LEVELS = {'ALL': 0, 'DEBUG': 10, 'INFO': 20, 'WARNING': 30, 'ERROR': 40, 'NONE': 100}


class Logger:
    """Console + the shared log file (appended by every process), filtered by LOG_LEVEL."""

    def __init__(self, cfg, name):
        self.cfg = cfg
        self.name = name
        self.level = LEVELS.get(str(cfg.get('LOG_LEVEL', 'WARNING')).upper(), 30)
        self.path = cfg.get('LOG_FILE_PATH') or ''
        self.host = socket.gethostname()

    def log(self, level, msg, *args):
        if args:
            msg = msg % args
        ts = datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')
        line = '[%s] [%s] [%s] [%s:%s] %s' % (ts, level, self.name, self.host, os.getpid(), msg)
        print(line, file=sys.stderr, flush=True)
        if LEVELS[level] < self.level or not self.path:
            return
        if self.cfg.get('LOG_FILE_FORMAT') == 'json':
            line = json.dumps({'ts': ts, 'level': level, 'app': self.name, 'host': self.host, 'message': msg})
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(self.path, 'a') as f:
                f.write(line + '\n')
        except OSError:
            pass

    def debug(self, msg, *a):
        self.log('DEBUG', msg, *a)

    def info(self, msg, *a):
        self.log('INFO', msg, *a)

    def warning(self, msg, *a):
        self.log('WARNING', msg, *a)

    def error(self, msg, *a):
        self.log('ERROR', msg, *a)


# ---------------------------------------------------------------------------------------------- clients
def mysql_connect(cfg, database=True, autocommit=True, connect_timeout=5):
    kw = dict(host=cfg['MYSQL_HOST'], port=int(cfg['MYSQL_PORT']), user=cfg['MYSQL_USER'],
              password=str(cfg['MYSQL_PASSWORD'] or ''), charset='utf8mb4', autocommit=autocommit,
              connect_timeout=connect_timeout)
    if database:
        kw['database'] = cfg['MYSQL_DATABASE']
    return pymysql.connect(**kw)


def redis_connect(cfg, socket_timeout=None):
    password = str(cfg.get('REDIS_PASSWORD') or '') or None
    user = str(cfg.get('REDIS_USER') or '') or None
    if cfg.get('REDIS_AUTH_TYPE') == 'aliyun' and user:
        password, user = '%s:%s' % (user, password), None
    return redis.Redis(host=cfg['REDIS_HOST'], port=int(cfg['REDIS_PORT']), db=int(cfg['REDIS_DATABASE']),
                       username=user, password=password, ssl=bool(cfg.get('REDIS_USE_TLS')),
                       ssl_cert_reqs=None, socket_timeout=socket_timeout, socket_connect_timeout=5,
                       decode_responses=True)


def key(cfg, role, topic, name, *tags):
    """<APP_NAME>-<role>#<topic>@<name>[:<tag>:<value>...:] (toolkit._getCacheKey: tags in the given order, joined
    by ':', with a trailing ':')."""
    k = '%s-%s#%s@%s' % (cfg['APP_NAME'], role, topic, name)
    if tags:
        k += ':%s:' % ':'.join(str(t) for t in tags)
    return k


def salted_password_hash(user_id, password, secret):
    return hashlib.sha512(('~%s~%s~%s~' % (user_id, password, secret)).encode('utf-8')).hexdigest()


def restart_flag_set(cfg, r, flag):
    """True when tempFlag@<flag> holds a timestamp later than this process' start."""
    value = r.get(key(cfg, 'global', 'tempFlag', flag))
    if not value:
        return False
    try:
        ts = float(json.loads(value))
    except (ValueError, TypeError):
        return False
    return ts > START_TIME


def write_service_heartbeat(cfg, r, name, extra=None):
    info = {'ts': int(time.time()), 'name': name, 'version': VERSION, 'edition': IMAGE_INFO.get('EDITION'),
            'uptime': int(time.time() - START_TIME)}
    info.update(extra or {})
    field = 'hostname:%s:pid:%s' % (socket.gethostname(), os.getpid())
    r.hset(key(cfg, 'monitor', 'heartbeat', 'serviceInfo'), field, json.dumps(info))


# ---------------------------------------------------------------------------------------------- schema
BASE_TABLES = [
    ('wat_main_user', """CREATE TABLE `wat_main_user` (
  `seq` BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  `id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `username` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `passwordHash` TEXT DEFAULT NULL,
  `name` VARCHAR(256) DEFAULT NULL,
  `email` VARCHAR(256) DEFAULT NULL,
  `mobile` VARCHAR(32) DEFAULT NULL,
  `markers` TEXT DEFAULT NULL,
  `roles` TEXT DEFAULT NULL,
  `customPrivileges` TEXT DEFAULT NULL,
  `isDisabled` TINYINT(1) NOT NULL DEFAULT 0,
  `createTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  `updateTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  PRIMARY KEY (`seq`), UNIQUE KEY `ID` (`id`), UNIQUE KEY `USERNAME` (`username`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='User'"""),
    ('wat_main_system_setting', """CREATE TABLE `wat_main_system_setting` (
  `seq` BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  `id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `value` LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `createTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  `updateTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  PRIMARY KEY (`seq`), UNIQUE KEY `ID` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='System setting'"""),
    ('biz_main_script', """CREATE TABLE `biz_main_script` (
  `seq` BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  `id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `scriptSetId` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `title` VARCHAR(256) DEFAULT NULL,
  `code` LONGTEXT DEFAULT NULL,
  `codeMD5` VARCHAR(64) DEFAULT NULL,
  `createTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  `updateTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  PRIMARY KEY (`seq`), UNIQUE KEY `ID` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='Script'"""),
    ('biz_main_func', """CREATE TABLE `biz_main_func` (
  `seq` BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  `id` VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `scriptId` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `name` VARCHAR(256) NOT NULL,
  `title` VARCHAR(256) DEFAULT NULL,
  `extraConfigJSON` JSON DEFAULT NULL,
  `createTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  `updateTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  PRIMARY KEY (`seq`), UNIQUE KEY `ID` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='Func'"""),
    ('biz_main_task_record', """CREATE TABLE `biz_main_task_record` (
  `seq` BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  `id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `name` VARCHAR(256) NOT NULL,
  `kwargsJSON` JSON DEFAULT NULL,
  `queue` INT(11) NOT NULL DEFAULT 0,
  `status` VARCHAR(64) NOT NULL,
  `workerId` VARCHAR(256) DEFAULT NULL,
  `triggerTimeMs` BIGINT(20) DEFAULT NULL,
  `startTimeMs` BIGINT(20) DEFAULT NULL,
  `endTimeMs` BIGINT(20) DEFAULT NULL,
  `result` LONGTEXT DEFAULT NULL,
  `exception` TEXT DEFAULT NULL,
  `createTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  `updateTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  PRIMARY KEY (`seq`), UNIQUE KEY `ID` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='Task record'"""),
    ('biz_main_operation_record', """CREATE TABLE `biz_main_operation_record` (
  `seq` BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  `id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `userId` VARCHAR(64) DEFAULT NULL,
  `reqMethod` VARCHAR(64) DEFAULT NULL,
  `reqRoute` VARCHAR(256) DEFAULT NULL,
  `respStatusCode` INT(11) DEFAULT NULL,
  `createTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  `updateTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  PRIMARY KEY (`seq`), UNIQUE KEY `ID` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='Operation record'"""),
    ('biz_main_file_blob', """CREATE TABLE `biz_main_file_blob` (
  `seq` BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  `id` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `name` VARCHAR(256) DEFAULT NULL,
  `content` MEDIUMBLOB DEFAULT NULL,
  `createTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  `updateTime` INT(11) NOT NULL DEFAULT UNIX_TIMESTAMP(),
  PRIMARY KEY (`seq`), UNIQUE KEY `ID` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci COMMENT='File blob'"""),
]

ADMIN_SEED = ("INSERT INTO `wat_main_user` (`seq`,`id`,`username`,`passwordHash`,`name`,`roles`,`customPrivileges`,"
              "`isDisabled`) VALUES (1,'u-admin','admin',NULL,'Administrator','sa','*',0)")


def upgrade_items():
    return list(UPGRADE_INFO)


def upgrade_table_names():
    names = []
    for item in upgrade_items():
        sql = item['database']
        if 'CREATE TABLE' in sql:
            names.append(sql.split('`')[1])
    return names


def latest_schema_statements():
    """Equivalent of db/dataflux_func_latest.sql: DROP + CREATE every table, then the seed rows."""
    stmts = []
    for name, create in BASE_TABLES:
        stmts += ['DROP TABLE IF EXISTS `%s`' % name, create]
    for item in upgrade_items():
        if 'CREATE TABLE' in item['database']:
            stmts += ['DROP TABLE IF EXISTS `%s`' % item['database'].split('`')[1], item['database']]
    stmts.append(ADMIN_SEED)
    return stmts


def set_system_setting(cur, sid, value):
    cur.execute("INSERT INTO `wat_main_system_setting` (`id`,`value`) VALUES (%s,%s) "
                "ON DUPLICATE KEY UPDATE `value`=VALUES(`value`), `updateTime`=UNIX_TIMESTAMP()", (sid, value))


def get_system_setting(cur, sid):
    cur.execute("SELECT `value` FROM `wat_main_system_setting` WHERE `id`=%s", (sid,))
    row = cur.fetchone()
    return row[0] if row else None


def reset_admin(cur, secret, username, password):
    pw_hash = salted_password_hash('u-admin', password, secret) if password is not None else None
    cur.execute("INSERT INTO `wat_main_user` (`id`,`username`,`passwordHash`,`name`,`roles`,`customPrivileges`,"
                "`isDisabled`) VALUES ('u-admin',%s,%s,%s,'sa','*',0) ON DUPLICATE KEY UPDATE "
                "`username`=VALUES(`username`), `passwordHash`=VALUES(`passwordHash`), `name`=VALUES(`name`), "
                "`roles`='sa', `customPrivileges`='*', `isDisabled`=0, `updateTime`=UNIX_TIMESTAMP()",
                (username, pw_hash, '系统管理员'))


def wait_installed(cfg_loader=load_config, interval=3):
    """_check_setup.py: block until _IS_INSTALLED (skipped when _DISABLE_SETUP)."""
    while True:
        cfg = cfg_loader()
        if cfg.get('_DISABLE_SETUP') or cfg.get('_IS_INSTALLED'):
            return cfg
        Logger(cfg, 'check-setup').warning(
            'Waiting for setup, please open http://<IP or Hostname>:%s/ and continue', cfg['WEB_PORT'])
        time.sleep(interval)
