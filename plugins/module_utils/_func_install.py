# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A DataFlux Func installation as data.

Install dir and the marker file /etc/dataflux-func, the paths of the maintenance guide, user-config.yaml
(load, merge, mask, atomic write) and the effective configuration the containers see:
image defaults -> data/user-config.yaml -> DFF_ environment of the service.
"""


import json
import os
import random
import re
import shlex
import string

from ansible_collections.dataflux.func.plugins.module_utils._func_app import APP_NAME, to_boolean
from ansible_collections.dataflux.func.plugins.module_utils._func_common import (
    FuncError, atomic_write, mask_mapping, read_file)

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported through missing_required_lib
    yaml = None
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

DEFAULT_INSTALL_DIR = '/usr/local/dataflux-func'
MARKER_FILE = '/etc/dataflux-func'
LOGROTATE_FILE = '/etc/logrotate.d/dataflux-func'
DEFAULT_STACK_NAME = 'dataflux-func'
ENV_PREFIX = 'DFF_'

# The subset of the image's config.yaml defaults that operations depend on (DataFlux Func 5.1.7).
CONFIG_DEFAULTS = {
    'APP_NAME': APP_NAME,
    'MODE': 'prod',
    'SECRET': 'your_secret',
    'LOG_LEVEL': 'WARNING',
    'LOG_FILE_PATH': '/data/logs/dataflux-func.log',
    'LOG_FILE_FORMAT': 'text',
    'TIMEZONE': 'Asia/Shanghai',
    'DB_AUTO_BACKUP_LIMIT': 168,
    'DB_AUTO_BACKUP_SIZE_LIMIT': '5GB',
    'DB_AUTO_BACKUP_DIR': '/data/sqldump/',
    '_DB_AUTO_BACKUP_PREFIX': 'dataflux-func-sqldump-',
    '_CRON_EXPR_AUTO_BACKUP_DB': '0 * * * *',
    '_DISABLE_DB_AUTO_BACKUP': False,
    'WEB_BIND': '0.0.0.0',
    'WEB_PORT': 8088,
    'WEB_BASE_URL': '',
    'MYSQL_HOST': '127.0.0.1',
    'MYSQL_PORT': 3306,
    'MYSQL_USER': 'root',
    'MYSQL_PASSWORD': '',
    'MYSQL_DATABASE': 'dataflux_func',
    'REDIS_HOST': '127.0.0.1',
    'REDIS_PORT': 6379,
    'REDIS_DATABASE': 5,
    'REDIS_USER': '',
    'REDIS_PASSWORD': '',
    'REDIS_USE_TLS': False,
    'REDIS_AUTH_TYPE': 'default',
    'AUTO_SETUP': False,
    '_IS_INSTALLED': False,
    '_DISABLE_SETUP': False,
    '_WORKER_CONCURRENCY': 5,
    '_WORKER_QUEUE_COUNT': 10,
    '_BEAT_LOCK_EXPIRE': 5,
    '_WEB_LOCALHOST_AUTH_TOKEN_PATH': '/data/localhost-auth-token',
}

# Every top-level key of DataFlux Func 5.1.7's config.yaml (the names only; 5.1.6 has the same). func_config refuses
# other keys unless allow_unknown_keys (or they start with CUSTOM_, which the product passes through).
KNOWN_CONFIG_KEYS = frozenset([
    'APP_NAME', 'AUTO_SETUP', 'AUTO_SETUP_ADMIN_PASSWORD', 'AUTO_SETUP_ADMIN_USERNAME', 'AUTO_SETUP_AK_ID',
    'AUTO_SETUP_AK_SECRET', 'BAD_SINGIN_TEMPORARILY_LOCK_COUNT', 'BAD_SINGIN_TEMPORARILY_LOCK_MAX_WAIT',
    'CONFIG_FILE_PATH', 'CONFIG_FROM_ENV_PREFIX', 'CUSTOM_CONFIG_PREFIX', 'DB_AUTO_BACKUP_DIR',
    'DB_AUTO_BACKUP_LIMIT', 'DB_AUTO_BACKUP_SIZE_LIMIT', 'DISABLE_INTEGRATED_SIGNIN', 'DOWNLOAD_TEMP_ROOT_FOLDER',
    'GUANCE_FUNC_BASE_URL', 'LOG_CONSOLE_COLOR', 'LOG_FILE_FORMAT', 'LOG_FILE_PATH', 'LOG_LEVEL', 'MODE',
    'MYSQL_DATABASE', 'MYSQL_HOST', 'MYSQL_PASSWORD', 'MYSQL_PORT', 'MYSQL_USER', 'REDIS_AUTH_TYPE',
    'REDIS_DATABASE', 'REDIS_HOST', 'REDIS_PASSWORD', 'REDIS_PORT', 'REDIS_TS_MAX_AGE', 'REDIS_TS_MAX_PERIOD',
    'REDIS_TS_MIN_INTERVAL', 'REDIS_USER', 'REDIS_USE_TLS', 'RESOURCE_ROOT_PATH', 'SECRET', 'TIMEZONE',
    'UPLOAD_TEMP_ROOT_FOLDER', 'WEB_BASE_URL', 'WEB_BIND', 'WEB_CORS_CREDENTIALS', 'WEB_CORS_ORIGIN',
    'WEB_INNER_BASE_URL', 'WEB_PORT', '_BEAT_LOCK_EXPIRE', '_CLIENT_CONFLICT_EXPIRES',
    '_CONNECTOR_CHECK_TASK_TIMEOUT', '_CONNECTOR_QUERY_TASK_TIMEOUT', '_CRON_EXPR_AUTO_BACKUP_DB',
    '_CRON_EXPR_AUTO_CLEAN', '_CRON_EXPR_CRON_JOB_STARTER', '_CRON_EXPR_FLUSH_DATA_BUFFER',
    '_CRON_EXPR_RELOAD_DATA_MD5_CACHE', '_CRON_EXPR_SYSTEM_METRIC', '_CRON_EXPR_UPDATE_WORKER_QUEUE_LIMIT',
    '_CRON_JOB_STARTER_FETCH_BULK_COUNT', '_DBDATA_LOG_CACHE_TABLE_LIST', '_DBDATA_TABLE_EXPIRE_MAP',
    '_DBDATA_TABLE_LIMIT_MAP', '_DB_AUTO_BACKUP_PREFIX', '_DEPRECATED_CACHE_KEY_LIST',
    '_DEPRECATED_CACHE_KEY_PATTERN_LIST', '_DEPRECATED_TABLE_LIST', '_DISABLE_DB_AUTO_BACKUP',
    '_DISABLE_INIT_SCRIPTS', '_DISABLE_PRE_RUN_SCRIPTS', '_DISABLE_SETUP', '_DISABLE_STARTUP_TASKS',
    '_EXTRA_PYTHON_PACKAGE_INSTALL_DIR', '_FILE_STORE_ROOT_DIR', '_FUNC_ARGUMENT_PLACEHOLDER_LIST',
    '_FUNC_EXPORT_FILENAME', '_FUNC_IMPORT_CONFIRM_TIMEOUT', '_FUNC_TASK_CALL_CHAIN_LIMIT',
    '_FUNC_TASK_CONNECTOR_POOL_SIZE', '_FUNC_TASK_DISTRIBUTION_RANGE', '_FUNC_TASK_EXPIRES_DEFAULT',
    '_FUNC_TASK_EXPIRES_MAX', '_FUNC_TASK_EXPIRES_MIN', '_FUNC_TASK_QUEUE_ASYNC_API', '_FUNC_TASK_QUEUE_CRON_JOB',
    '_FUNC_TASK_QUEUE_DEBUGGER', '_FUNC_TASK_QUEUE_DEFAULT', '_FUNC_TASK_QUEUE_SUB_HANDLER',
    '_FUNC_TASK_QUEUE_WEBSOCKET_HANDLER', '_FUNC_TASK_THREAD_POOL_SIZE_DEFAULT', '_FUNC_TASK_TIMEOUT_ASYNC_API',
    '_FUNC_TASK_TIMEOUT_DEBUGGER', '_FUNC_TASK_TIMEOUT_DEFAULT', '_FUNC_TASK_TIMEOUT_MAX', '_FUNC_TASK_TIMEOUT_MIN',
    '_HTTP_AUTH_NONCE_MAX_AGE', '_INIT_DATAFLUX_FUNC_ID_LOCK_AGE', '_INIT_SCRIPTS_LOCK_AGE', '_IS_INSTALLED',
    '_IS_STREAKING', '_LRU_FUNC_CACHE_LIMIT', '_LRU_FUNC_CACHE_MAX_AGE', '_LRU_FUNC_RESULT_CACHE_LIMIT',
    '_LRU_FUNC_RESULT_CACHE_MAX_AGE', '_MONITOR_MATCHED_ROUTE_EXPIRES', '_MONITOR_REPORT_EXPIRES',
    '_MONITOR_REPORT_INTERVAL', '_MONITOR_SLOW_API_COUNT_EXPIRES', '_MYSQL_CHARSET',
    '_MYSQL_CONNECTION_LIMIT_SERVER', '_MYSQL_CONNECTION_LIMIT_WORKER', '_MYSQL_CONNECT_TIMEOUT',
    '_MYSQL_POOL_MAX_USAGE', '_MYSQL_POOL_RECYCLE_TIMEOUT', '_MYSQL_READ_TIMEOUT', '_MYSQL_TIMEZONE',
    '_MYSQL_WRITE_TIMEOUT', '_NODE_UV_THREADPOOL_SIZE', '_OFFICIAL_SCRIPT_MARKET_ID', '_OFFICIAL_SCRIPT_MARKET_URL',
    '_PRE_RUN_SCRIPT_DIR', '_RECENT_CRON_JOB_TRIGGERED_EXPIRES', '_RECENT_CRON_JOB_TRIGGERED_LIMIT',
    '_SCRIPT_EXPORT_META_FILE', '_SCRIPT_EXPORT_NOTE_FILE', '_SCRIPT_EXPORT_SCRIPT_SET_DIR',
    '_SCRIPT_MARKET_ALIYUN_OSS_REPO_DIR', '_SCRIPT_MARKET_CHANGELOG_FILE', '_SCRIPT_MARKET_CHANGELOG_INFO_FILE',
    '_SCRIPT_MARKET_GIT_REPO_DIR', '_SCRIPT_MARKET_HTTP_SERVICE_REPO_DIR', '_SCRIPT_MARKET_META_FILE',
    '_SCRIPT_MARKET_OPERATION_LOCK_AGE', '_SCRIPT_MARKET_OPERATION_LOCK_WAIT_AGE', '_SCRIPT_MARKET_README_FILE',
    '_SCRIPT_MARKET_SCRIPT_SET_DIR', '_SCRIPT_MARKET_TOKEN_FILE', '_SELF_MONITOR_GUANCE_LOGGING_SPLIT_BYTES',
    '_SELF_MONITOR_GUANCE_MEASUREMENT_CACHE_DB', '_SELF_MONITOR_GUANCE_MEASUREMENT_CRON_JOB',
    '_SELF_MONITOR_GUANCE_MEASUREMENT_DB_TABLE', '_SELF_MONITOR_GUANCE_MEASUREMENT_DELAY_QUEUE',
    '_SELF_MONITOR_GUANCE_MEASUREMENT_ENTITY', '_SELF_MONITOR_GUANCE_MEASUREMENT_FUNC_CALL',
    '_SELF_MONITOR_GUANCE_MEASUREMENT_TASK_RECORD', '_SELF_MONITOR_GUANCE_MEASUREMENT_TASK_RECORD_FUNC',
    '_SELF_MONITOR_GUANCE_MEASUREMENT_WORKER_QUEUE', '_STARTUP_CRON_JOB_ID_PREFIX', '_STARTUP_SCRIPT_SET_ID',
    '_SUB_BUFFER_LIMIT', '_SUB_RECENT_CONSUME_EXPIRE', '_TASK_EXPIRES_DEFAULT',
    '_TASK_FLUSH_DATA_BUFFER_BULK_COUNT', '_TASK_FLUSH_DATA_BUFFER_TIMES', '_TASK_FLUSH_DATA_TIMEOUT',
    '_TASK_QUEUE_DEFAULT', '_TASK_RECORD_FUNC_LIMIT_ASYNC_API', '_TASK_RECORD_FUNC_LIMIT_CONNECTOR',
    '_TASK_RECORD_FUNC_LIMIT_CRON_JOB', '_TASK_RECORD_FUNC_LIMIT_CRON_JOB_BY_DEPLOY',
    '_TASK_RECORD_FUNC_LIMIT_DIRECT', '_TASK_RECORD_FUNC_LIMIT_INTEGRATION', '_TASK_RECORD_FUNC_LIMIT_SYNC_API',
    '_TASK_RECORD_LIMIT_DEFAULT', '_TASK_RECORD_LIMIT_MAX', '_TASK_RECORD_LIMIT_MIN',
    '_TASK_RECORD_PRINT_LOG_LINE_LIMIT', '_TASK_RECORD_PRINT_LOG_TOTAL_LIMIT_HEAD',
    '_TASK_RECORD_PRINT_LOG_TOTAL_LIMIT_TAIL', '_TASK_RESULT_WAIT_TIMEOUT_MAX', '_TASK_TIMEOUT_DEFAULT',
    '_UPDATE_OFFICIAL_SCRIPT_MARKET_LOCK_AGE', '_UPLOAD_FILE_EXPIRES', '_WEB_AK_ID_HEADER', '_WEB_AK_NONCE_HEADER',
    '_WEB_AK_NONCE_TTL', '_WEB_AK_SIGN_HEADER', '_WEB_AK_TIMESTAMP_DIFF_LIMIT', '_WEB_AK_TIMESTAMP_HEADER',
    '_WEB_AUTH_COOKIE', '_WEB_AUTH_EXPIRES', '_WEB_AUTH_HEADER', '_WEB_AUTH_LOCAL_STORAGE', '_WEB_AUTH_QUERY',
    '_WEB_CAPTCHA_EXPIRES', '_WEB_CLIENT_APP_PATH', '_WEB_CLIENT_ID_COOKIE', '_WEB_CLIENT_ID_HEADER',
    '_WEB_CLIENT_LANGUAGE_COOKIE', '_WEB_CLIENT_LOCALE_COOKIE', '_WEB_CLIENT_TIME_HEADER',
    '_WEB_DRY_RUN_MODE_HEADER', '_WEB_IS_CACHED_HEADER', '_WEB_LOCALHOST_AUTH_TOKEN_HEADER',
    '_WEB_LOCALHOST_AUTH_TOKEN_PATH', '_WEB_PAGE_SIZE_COOKIE', '_WEB_PULL_LOG_TRACE_ID', '_WEB_REQUEST_COST_HEADER',
    '_WEB_REQUEST_TIME_HEADER', '_WEB_RESPONSE_TIME_HEADER', '_WEB_SERVER_RELEASE_TIMESTAMP_HEADER',
    '_WEB_SERVER_VERSION_HEADER', '_WEB_TRACE_ID_HEADER', '_WORKER_CONCURRENCY', '_WORKER_FETCH_TASK_TIMEOUT',
    '_WORKER_PROCESS_CONSUME_LIMIT', '_WORKER_QUEUE_COUNT', '_WORKER_QUEUE_LIMIT_MIN',
    '_WORKER_QUEUE_LIMIT_SCALE_CRON_JOB', '__REMAP'])


def unknown_config_keys(keys, known_also=()):
    """[(key, suggestion or None)] for keys DataFlux Func does not know (CUSTOM_* keys are the product's own
    pass-through and always known; known_also: keys the file already has)."""
    import difflib
    out = []
    for key in keys:
        if key in KNOWN_CONFIG_KEYS or key in known_also or str(key).startswith('CUSTOM_'):
            continue
        close = difflib.get_close_matches(str(key), sorted(KNOWN_CONFIG_KEYS), n=1, cutoff=0.75)
        out.append((key, close[0] if close else None))
    return out


# Keys that identify an installation and must never be regenerated or dropped by a merge.
PRESERVED_KEYS = ('SECRET', '_IS_INSTALLED', 'MYSQL_PASSWORD', 'REDIS_PASSWORD')

LOG_LEVELS = ('ALL', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'NONE')


KEY_RE = re.compile(r'\A[A-Za-z_][A-Za-z0-9_]*\Z')


def _positive_int(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise FuncError('%s must be a positive integer, got %r' % (key, value))
    try:
        number = int(str(value).strip())
    except ValueError:
        raise FuncError('%s must be a positive integer, got %r' % (key, value))
    if number < 1:
        raise FuncError('%s must be a positive integer (1 or more), got %r' % (key, value))
    return number


def validate_settings(settings, warn, mem_total_mb=None, mb_per_process=200):
    """Validate and normalise known keys. Returns the settings to write. Raises FuncError."""
    out = {}
    for key, value in settings.items():
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise FuncError('settings: invalid configuration key %r (keys are letters, digits and _)' % (key,))
        if value is None:
            continue
        if key == 'LOG_LEVEL':
            if str(value).upper() not in LOG_LEVELS or not isinstance(value, str):
                raise FuncError('LOG_LEVEL must be one of %s, got %r' % (', '.join(LOG_LEVELS), value))
            value = value.upper()
        elif key == '_WORKER_CONCURRENCY':
            value = _positive_int(key, value)
            if mem_total_mb and value * mb_per_process > mem_total_mb:
                warn('_WORKER_CONCURRENCY=%d: every worker container starts that many processes; at about %d MB '
                     'each that exceeds this host\'s %d MB of memory. Consider a lower value.'
                     % (value, mb_per_process, mem_total_mb))
        elif key == '_WORKER_PREFETCH_MULTIPLIER':
            value = _positive_int(key, value)
            warn('_WORKER_PREFETCH_MULTIPLIER is written, but DataFlux Func 3.0 and later no longer use Celery '
                 'and ignore it (tune _WORKER_CONCURRENCY instead).')
        elif key in ('MYSQL_PORT', 'REDIS_PORT', 'WEB_PORT'):
            value = _positive_int(key, value)
            if value > 65535:
                raise FuncError('%s must be a TCP port (1-65535), got %r' % (key, value))
        elif key == 'REDIS_DATABASE':
            if isinstance(value, bool) or not str(value).strip().isdigit():
                raise FuncError('REDIS_DATABASE must be a non-negative integer, got %r' % (value,))
            value = int(value)
        elif key in ('REDIS_USE_TLS', '_IS_INSTALLED', '_DISABLE_SETUP', 'AUTO_SETUP', '_DISABLE_DB_AUTO_BACKUP'):
            if not isinstance(value, bool):
                raise FuncError('%s must be a boolean (true/false), got %r' % (key, value))
        out[key] = value
    return out


def convert_like(default, value):
    """Convert an environment string the way DataFlux Func does: to the type of the default."""
    if isinstance(default, bool):
        return to_boolean(value)
    if isinstance(default, int):
        try:
            return int(str(value).strip())
        except ValueError:
            return value
    if isinstance(default, float):
        try:
            return float(str(value).strip())
        except ValueError:
            return value
    return value


def effective_config(user_config, env=None, defaults=None):
    """defaults -> user config (shallow update) -> DFF_ env (existing keys or CUSTOM_*; blank ignored)."""
    config = dict(CONFIG_DEFAULTS if defaults is None else defaults)
    config.update(user_config or {})
    for name, value in (env or {}).items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX):]
        if value is None or str(value).strip() == '':
            continue
        if key == 'CONFIG_FILE_PATH':
            continue
        if key in config:
            config[key] = convert_like(config[key], value)
        elif key.startswith('CUSTOM_'):
            config[key] = value
    return config


def env_list_to_dict(env):
    """Docker's ['K=V', ...] (or a compose mapping) to a dict."""
    if isinstance(env, dict):
        return {str(k): ('' if v is None else str(v)) for k, v in env.items()}
    out = {}
    for item in env or []:
        key, _sep, value = str(item).partition('=')
        out[key] = value
    return out


def read_marker(path=MARKER_FILE):
    """INSTALLED_DIR recorded by an earlier install (a shell line INSTALLED_DIR=<dir>), or None."""
    try:
        with open(path, 'r') as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('INSTALLED_DIR='):
            value = line.split('=', 1)[1].strip()
            try:
                parts = shlex.split(value)
            except ValueError:
                parts = [value]
            return os.path.normpath(parts[0]) if parts else None
    return None


def marker_content(install_dir):
    return 'INSTALLED_DIR=%s\n' % install_dir


def check_install_dir(install_dir, marker_path=MARKER_FILE):
    """Fail like run-portable.sh does when the requested dir differs from the recorded one."""
    recorded = read_marker(marker_path)
    wanted = os.path.normpath(install_dir)
    if recorded and recorded != wanted:
        raise FuncError(
            'DataFlux Func is recorded as installed in %s (%s), but install_dir is %s. Upgrading or '
            'reinstalling into a different directory would start an empty installation beside the old '
            'one. Use install_dir=%s, or uninstall the old installation first.'
            % (recorded, marker_path, wanted, recorded),
            recorded_install_dir=recorded, install_dir=wanted)
    return recorded


# The layout of the official installer (reference section 1), under the install directory (func_layout creates it).
LAYOUT = ('', 'data', 'data/resources', 'data/resources/extra-python-packages', 'data/logs', 'data/sqldump',
          'mysql', 'redis')


def layout_changes(root, files=()):
    """What func_layout would create or rewrite: the directories of LAYOUT under root that are missing, and the
    files [(path, content bytes)] whose content differs or whose mode is not 0644 -> [(path, content or None)]."""
    out = []
    for rel in LAYOUT:
        path = os.path.join(root, rel) if rel else root
        if not os.path.isdir(path):
            out.append((path, None))
    for path, content in files:
        mode_ok = os.path.exists(path) and (os.stat(path).st_mode & 0o777) == 0o644
        if read_file(path, True) != content or not mode_ok:
            out.append((path, content))
    return out


def parse_size(value):
    """'5GB', '500MB', '1024' -> bytes (DataFlux Func style sizes, powers of 1024)."""
    if isinstance(value, int):
        return value
    match = re.match(r'^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)I?B?\s*$', str(value), re.IGNORECASE)
    if not match:
        raise FuncError('Cannot parse size %r (expected e.g. 5GB, 500MB or a number of bytes)' % (value,))
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * 1024 ** ' KMGT'.index(unit or ' ')) if unit else int(number)


# Directories an installation may never be (nor, for uninstall, be removed as): / and the system's own.
SYSTEM_DIRS = frozenset(['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/libx32',
                         '/media', '/mnt', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr',
                         '/usr/bin', '/usr/lib', '/usr/local', '/usr/local/bin', '/usr/sbin', '/usr/share', '/var',
                         '/var/lib', '/var/log', '/var/tmp', '/data'])


def check_path(value, option, must_be_dir=False):
    """value as an absolute, normalised path; FuncError naming option when it is relative, empty or odd."""
    text = '' if value is None else str(value)
    if not text or any(c in text for c in '\0\n\r'):
        raise FuncError('%s must be an absolute path, not %r' % (option, value))
    if not os.path.isabs(text):
        raise FuncError('%s must be an absolute path (starting with /), not %r: a relative path would depend on '
                        'the directory the module happens to run in' % (option, value))
    return os.path.normpath(text).replace('//', '/')


def guard_install_dir(value, option='install_dir'):
    path = check_path(value, option)
    if path in SYSTEM_DIRS:
        raise FuncError('%s is %s, a system directory: DataFlux Func needs a directory of its own (the default is '
                        '%s); nothing was changed.' % (option, path, DEFAULT_INSTALL_DIR))
    return path


_STACK_NAME_RE = re.compile(r'\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z')


def guard_stack_name(value, option='stack_name'):
    if value is None:
        return value
    if not isinstance(value, str) or not _STACK_NAME_RE.match(value):
        raise FuncError('%s must be a Docker stack name (letters, digits, _ . -, starting with a letter or digit, at '
                        'most 63 characters), not %r' % (option, value))
    return value


class Installation(object):
    """Paths and configuration of one installation. Pure data + file I/O, no Docker."""

    def __init__(self, install_dir=None, stack_name=DEFAULT_STACK_NAME, marker_path=MARKER_FILE):
        recorded = read_marker(marker_path)
        self.marker_path = marker_path
        self.recorded_install_dir = recorded
        self.install_dir = guard_install_dir(install_dir or recorded or DEFAULT_INSTALL_DIR,
                                             'install_dir' if install_dir else 'the marker %s' % marker_path)
        self.stack_name = guard_stack_name(stack_name)

    # Paths of the maintenance guide (sections 3-7).
    @property
    def paths(self):
        data = os.path.join(self.install_dir, 'data')
        return {
            'install_dir': self.install_dir,
            'stack_file': os.path.join(self.install_dir, 'docker-stack.yaml'),
            'stack_example_file': os.path.join(self.install_dir, 'docker-stack.example.yaml'),
            'data_dir': data,
            'config_file': os.path.join(data, 'user-config.yaml'),
            'resources_dir': os.path.join(data, 'resources'),
            'extra_python_packages_dir': os.path.join(data, 'resources', 'extra-python-packages'),
            'logs_dir': os.path.join(data, 'logs'),
            'log_file': os.path.join(data, 'logs', 'dataflux-func.log'),
            'sqldump_dir': os.path.join(data, 'sqldump'),
            'mysql_dir': os.path.join(self.install_dir, 'mysql'),
            'redis_dir': os.path.join(self.install_dir, 'redis'),
            'localhost_auth_token_file': os.path.join(data, 'localhost-auth-token'),
            'marker_file': self.marker_path,
            'logrotate_file': LOGROTATE_FILE,
        }

    def path(self, name):
        return self.paths[name]

    def exists(self):
        return os.path.isfile(self.path('config_file')) or os.path.isfile(self.path('stack_file'))

    # user-config.yaml
    def load_user_config(self, required=False):
        path = self.path('config_file')
        return load_yaml_file(path, required=required, what='DataFlux Func configuration')

    def load_stack(self, required=False):
        return load_yaml_file(self.path('stack_file'), required=required, what='docker stack file')

    def write_user_config(self, config):
        """Written 0600 (it holds SECRET and the database passwords); comments and untouched lines are kept."""
        path = self.path('config_file')
        try:
            with open(path, 'r') as handle:
                old = handle.read()
        except (OSError, IOError):
            old = None
        self.__dict__.pop('_effective', None)
        text = update_user_config_text(old, config) if old else None
        atomic_write(path, text if text is not None else dump_user_config(config), mode=0o600)

    def service_env(self, service='server'):
        """DFF_ environment of a service in the live stack file ({} when unknown)."""
        stack = self.load_stack() or {}
        svc = (stack.get('services') or {}).get(service) or {}
        return env_list_to_dict(svc.get('environment'))

    def effective_config(self, service='server', user_config=None):
        """user-config.yaml + the service's DFF_ environment + the image defaults; read from disk once per service
        (a copy is returned; write_user_config forgets what was read)."""
        if user_config is not None:
            return effective_config(user_config, self.service_env(service))
        cache = self.__dict__.setdefault('_effective', {})
        if service not in cache:
            cache[service] = effective_config(self.load_user_config() or {}, self.service_env(service))
        return dict(cache[service])


# The portable bundle (the official offline installer's directory): image-list holds KEY=value lines naming the
# images, version the product's version, and each image is a `docker save` tarball.
BUNDLE_IMAGE_TARS = {'DATAFLUX_FUNC_IMAGE': 'dataflux-func.tar.gz', 'MYSQL_IMAGE': 'mysql.tar.gz',
                     'REDIS_IMAGE': 'redis.tar.gz'}
_BUNDLE_LIST_LINE = re.compile(r'''(?m)^\s*(?:export\s+)?([A-Z_]+)=["']?([^"'\s]*)''')


def parse_bundle_list(text):
    """The KEY=value lines of a bundle's image-list (shell syntax, optional export and quotes) as a dict."""
    return dict(_BUNDLE_LIST_LINE.findall(text or ''))


def read_bundle(bundle_dir):
    """(image-list as a dict, version) of a portable bundle; FuncError when either file is missing."""
    listing = read_file(os.path.join(bundle_dir or '', 'image-list'))
    version = read_file(os.path.join(bundle_dir or '', 'version'))
    if listing is None or version is None:
        raise FuncError('%s is not a portable bundle of DataFlux Func (image-list and version are needed). '
                        'Nothing was changed.' % bundle_dir, bundle_dir=bundle_dir)
    return parse_bundle_list(listing), version.strip()


def load_yaml_file(path, required=False, what='YAML file'):
    if not HAS_YAML:
        raise FuncError('PyYAML is required on the managed host to read %s' % path)
    try:
        with open(path, 'r') as handle:
            text = handle.read()
    except FileNotFoundError:
        if required:
            raise FuncError('%s %s does not exist' % (what, path))
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FuncError('%s %s is not valid YAML: %s' % (what, path, exc))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FuncError('%s %s must hold a mapping at the top level' % (what, path))
    return data


def _dump_key(key, value):
    # one key at a time keeps the order without sort_keys=False, which PyYAML < 5.1 (EL8's 3.12) lacks
    return yaml.safe_dump({key: value}, default_flow_style=False, allow_unicode=True)


def dump_yaml(data):
    """YAML text in the mapping's own order where PyYAML can (>= 5.1), sorted on older PyYAML (EL8: 3.12)."""
    try:
        return yaml.safe_dump(data, default_flow_style=False, allow_unicode=True, sort_keys=False)
    except TypeError:
        return yaml.safe_dump(data, default_flow_style=False, allow_unicode=True)


def dump_user_config(config):
    return ''.join(_dump_key(key, value) for key, value in (config or {}).items())


_TOP_KEY_RE = re.compile(r'^([^\s#:\'"-][^:#]*?)\s*:(\s|$)')


def update_user_config_text(text, config):
    """text with only the changed keys rewritten, removed keys dropped and new keys appended: the installer's
    comments, alignment and order stay. None when the result would not load back as exactly config (then the
    caller writes the whole file anew)."""
    try:
        before = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    if not isinstance(before, dict):
        return None
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith('\n'):
        lines[-1] += '\n'
    out, i, seen = [], 0, set()
    while i < len(lines):
        match = _TOP_KEY_RE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        j = i + 1      # the key's value may continue on indented lines or block-sequence items
        while j < len(lines) and (lines[j][:1] in (' ', '\t') or lines[j].startswith('- ')):
            j += 1
        key = match.group(1).strip()
        seen.add(key)
        if key not in config:
            pass                                            # removed
        elif key in before and before[key] == config[key]:
            out.extend(lines[i:j])                          # untouched, as written
        else:
            out.append(_dump_key(key, config[key]))
        i = j
    for key, value in config.items():
        if key not in seen:
            out.append(_dump_key(key, value))
    new = ''.join(out)
    try:
        if yaml.safe_load(new) != config:
            return None
    except yaml.YAMLError:
        return None
    return new


def merge_user_config(current, changes, remove=()):
    """Return (merged, changed_keys). Keys in PRESERVED_KEYS are never removed.

    None as a value in changes means "leave as is".
    """
    merged = dict(current or {})
    changed = []
    for key, value in (changes or {}).items():
        if value is None:
            continue
        if key not in merged or merged[key] != value:
            merged[key] = value
            changed.append(key)
    for key in remove or ():
        if key in PRESERVED_KEYS:
            raise FuncError('Refusing to remove %s from user-config.yaml: the installation depends on it' % key)
        if key in merged:
            del merged[key]
            changed.append(key)
    return merged, changed


def config_diff(before, after, path):
    """Ansible diff dict for two config mappings, secrets masked."""
    return {
        'before_header': path,
        'after_header': path,
        'before': dump_user_config(mask_mapping(before or {})) if before is not None else '',
        'after': dump_user_config(mask_mapping(after or {})),
    }


# Secrets of a first install, drawn on the host (func_config generate): 32 characters from 62, about 190 bits (the
# official installer draws SECRET from 32768 values).
SECRET_CHARS = string.ascii_letters + string.digits
SECRET_LENGTH = 32


def generate_secret(length=SECRET_LENGTH):
    rng = random.SystemRandom()
    return ''.join(rng.choice(SECRET_CHARS) for _i in range(length))


def completed_settings(current, generate=(), defaults=()):
    """The settings that complete user-config.yaml (current, None when missing): a fresh secret for each key of
    generate it lacks or has empty, DataFlux Func's default (CONFIG_DEFAULTS) for each key of defaults it lacks.
    Existing values are never changed."""
    current = current or {}
    unknown = [key for key in defaults if key not in CONFIG_DEFAULTS]
    if unknown:
        raise FuncError('defaults: DataFlux Func has no default for %s. Nothing was changed.' % ', '.join(unknown))
    out = dict((key, generate_secret()) for key in generate if current.get(key) in (None, ''))
    out.update((key, CONFIG_DEFAULTS[key]) for key in defaults if key not in current and key not in out)
    return out


# The install role's docker-stack.yaml is rendered on the controller with tokens for what only the host knows: the
# built-in MySQL's password and database (user-config.yaml) and, in the converged check, the images. The modules
# fill them in on the host (func_stack_file, func_preflight), so no secret of the host travels to the controller.
def placeholder_values(config):
    """The stack file's host values from user-config.yaml (config): mysql_password, mysql_database."""
    config = config or {}
    return {'mysql_password': str(config.get('MYSQL_PASSWORD') or ''),
            'mysql_database': config.get('MYSQL_DATABASE', CONFIG_DEFAULTS['MYSQL_DATABASE'])}


def fill_placeholders(text, placeholders, values):
    """text with each JSON string of a token of placeholders {name: token} replaced by the JSON string of
    values[name]; None when a value is missing (nothing can be compared then)."""
    for name, token in sorted((placeholders or {}).items()):
        if json.dumps(token) not in text:
            continue
        if values.get(name) in (None, ''):
            return None
        text = text.replace(json.dumps(token), json.dumps(values[name]))
    return text
