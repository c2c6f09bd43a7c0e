"""Services on the test machine for the HA scenario (molecule/ha): everything the DataFlux Func nodes share.

    python -m tests.lib.hainfra start   --base /tmp/dfft/ha --bind 172.29.86.1 --nodes dfft-ha1=172.29.86.11:8088,...
    python -m tests.lib.hainfra stop    --base /tmp/dfft/ha
    python -m tests.lib.hainfra lb      --base /tmp/dfft/ha --node dfft-ha1 --state down|up [--timeout 60]
    python -m tests.lib.hainfra client  --url http://127.0.0.1:18406/api/v1/do/ping --out FILE --stop-file FILE
    python -m tests.lib.hainfra swarm-state --manager dfft-sw1 --stack dataflux-func
    python -m tests.lib.hainfra swarm-wait  --manager dfft-sw1 --stack dataflux-func [--avoid NODE] [--since T]

start brings up, each on a private port and under --base:
  * MariaDB (tests.lib.extdb.ExtDB) listening on --bind, database dataflux_func, user func@'%';
  * Redis (tests.lib.extredis.ExtRedis) listening on 127.0.0.1 and --bind, with a password;
  * sshd on --bind (key-only root login, internal-sftp) exporting <base>/shared for sshfs, with a client key
    <base>/ssh/client_key that the nodes use;
  * nginx on 127.0.0.1:<lb port> (and the --lb-listen addresses), load balancing over the nodes
    (proxy_next_upstream error timeout http_502 http_503); `lb` marks one node down/up in the upstream, reloads
    nginx gracefully and returns once nginx serves the new configuration (GET /.dfft-lb-generation answers the
    new generation number) and no worker of the old one is left (their requests have finished).
Passwords come from the environment (HA_MYSQL_PASSWORD, HA_REDIS_PASSWORD), never from argv. State (pids,
ports, nodes) is kept in <base>/state.json so that `stop` and `lb` work from another process.
stop ends exactly the processes start began (by pid) and removes --base.
client requests the URL every --interval seconds until --stop-file exists and writes a JSON summary (requests,
failures, first_failure/last_failure times, versions seen in X-Dff-Version, the first errors).
swarm-state prints the nodes (state, availability, labels) of a swarm inside DinD hosts and, per service of the
stack, the nodes its running tasks are on; swarm-wait polls that until every service runs all its replicas.
tasks-push puts --count task requests of the product's own example task Example.ExampleSuccess into a worker queue
of the Redis started here (ids <prefix>-<n>); tasks-done waits until every one of them has a task record (the
worker buffers one per task it ran in the Redis list <APP>-worker#dataBuffer@taskRecord, and the beat's flush moves
it to biz_main_task_record in MySQL; both are read), and prints how many ran and how many are still queued.

    python -m tests.lib.hainfra tasks-push --base /tmp/dfft/sw --queue 1 --count 40 --prefix loss
    python -m tests.lib.hainfra tasks-done --base /tmp/dfft/sw --prefix loss --count 40 [--timeout 300]
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
# the collection as ansible_collections.dataflux.func (like tests/conftest.py; this runs outside pytest too)
sys.path.insert(0, os.environ.get('DFF_COLLECTIONS', os.path.abspath(os.path.join(
    os.path.dirname(__file__), '..', '..', '.cache', 'collections'))))

from ansible_collections.dataflux.func.plugins.module_utils import _func_app
from tests.lib.extdb import ExtDB
from tests.lib.extredis import ExtRedis

SSHD = shutil.which('sshd') or '/usr/sbin/sshd'
NGINX = shutil.which('nginx') or '/usr/sbin/nginx'


def _write(path, text, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w') as handle:
        handle.write(text)
    os.chmod(path, mode)


def _state_path(base):
    return os.path.join(base, 'state.json')


def _load_state(base):
    try:
        with open(_state_path(base)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _save_state(base, state):
    _write(_state_path(base), json.dumps(state, indent=1, sort_keys=True), 0o600)


def _pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _read_pid(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def _wait_pidfile(path, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        pid = _read_pid(path)
        if pid and _pid_alive(pid):
            return pid
        time.sleep(0.1)
    raise RuntimeError('no live pid in %s after %ss' % (path, timeout))


def _kill(pid, timeout=20):
    if not pid or not _pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


# --- nginx -----------------------------------------------------------------------------------------
def _nginx_paths(base):
    ngx = os.path.join(base, 'nginx')
    return ngx, os.path.join(ngx, 'nginx.conf'), os.path.join(ngx, 'upstream.conf'), os.path.join(ngx, 'nginx.pid')


GENERATION_PATH = '/.dfft-lb-generation'


def _write_upstream(base, nodes, down, generation):
    """The upstream servers, and the generation number nginx answers at GENERATION_PATH with this config."""
    ngx, _x2, upstream, _x3 = _nginx_paths(base)
    lines = []
    for name in sorted(nodes):
        flag = ' down' if name in down else ''
        lines.append('server %s max_fails=1 fail_timeout=2s%s;  # %s\n' % (nodes[name], flag, name))
    _write(upstream + '.tmp', ''.join(lines))
    os.rename(upstream + '.tmp', upstream)
    generation_conf = os.path.join(ngx, 'generation.conf')
    _write(generation_conf + '.tmp', 'return 200 "%d";\n' % generation)
    os.rename(generation_conf + '.tmp', generation_conf)


def _served_generation(lb_port):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d%s' % (lb_port, GENERATION_PATH), timeout=2) as resp:
            return int(resp.read().decode())
    except (OSError, ValueError):
        return None


def _workers(master_pid):
    """Pids of the nginx master's worker processes."""
    out = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as handle:
                ppid = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master_pid:
            out.append(int(pid))
    return out


def _wait_reloaded(base, lb_port, generation, timeout, old_workers=()):
    """Until nginx answers the new generation and none of old_workers (the workers of the previous configuration,
    which keep accepting for a moment after the reload and then finish their requests) is left."""
    _x1, _x2, _x3, pidfile = _nginx_paths(base)
    master = _read_pid(pidfile)
    deadline = time.time() + timeout
    while True:
        served = _served_generation(lb_port)
        left = set(old_workers) & set(_workers(master))
        if served == generation and not left:
            return
        if time.time() > deadline:
            raise RuntimeError('nginx did not switch to configuration %d within %ss (serves %r, old workers %s)'
                               % (generation, timeout, served, sorted(left)))
        time.sleep(0.05)


def _nginx_conf(base, lb_port, listen=('127.0.0.1',)):
    ngx, _x, upstream, pidfile = _nginx_paths(base)
    temp = os.path.join(ngx, 'temp')
    return '\n'.join([
        'worker_processes 1;',
        'pid %s;' % pidfile,
        'error_log %s warn;' % os.path.join(ngx, 'error.log'),
        'events { worker_connections 512; }',
        'http {',
        '  log_format dfft \'$msec $status $upstream_addr $upstream_status "$request"\';',
        '  access_log %s dfft;' % os.path.join(ngx, 'access.log'),
        '  client_body_temp_path %s/body;' % temp,
        '  proxy_temp_path %s/proxy;' % temp,
        '  fastcgi_temp_path %s/fastcgi;' % temp,
        '  uwsgi_temp_path %s/uwsgi;' % temp,
        '  scgi_temp_path %s/scgi;' % temp,
        '  upstream dfft_ha {',
        '    include %s;' % upstream,
        '  }',
        '  server {',
    ] + ['    listen %s:%d;' % (addr, lb_port) for addr in listen] + [
        '    location = %s {' % GENERATION_PATH,
        '      include %s;' % os.path.join(ngx, 'generation.conf'),
        '    }',
        '    location / {',
        '      proxy_pass http://dfft_ha;',
        '      proxy_http_version 1.1;',
        '      proxy_set_header Connection "";',
        '      proxy_connect_timeout 2s;',
        '      proxy_read_timeout 15s;',
        '      proxy_next_upstream error timeout http_502 http_503;',
        '      proxy_next_upstream_tries 0;',
        '    }',
        '  }',
        '}',
        ''])


def _nginx(base, *args):
    ngx, conf, _x1, _x2 = _nginx_paths(base)
    proc = subprocess.run([NGINX, '-p', ngx + '/', '-c', conf] + list(args), check=False, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError('nginx %s failed: %s' % (' '.join(args), proc.stderr))


# --- sshd --------------------------------------------------------------------------------------------
def _start_sshd(base, bind, port):
    sshdir = os.path.join(base, 'ssh')
    os.makedirs(sshdir, exist_ok=True)
    os.makedirs('/run/sshd', exist_ok=True)    # privilege separation directory sshd insists on
    for key in ('host_ed25519', 'client_key'):
        path = os.path.join(sshdir, key)
        if not os.path.exists(path):
            subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'dfft-ha', '-f', path], check=True,
                           stdin=subprocess.DEVNULL)
    shutil.copy(os.path.join(sshdir, 'client_key.pub'), os.path.join(sshdir, 'authorized_keys'))
    os.chmod(os.path.join(sshdir, 'authorized_keys'), 0o600)
    conf = os.path.join(sshdir, 'sshd_config')
    pidfile = os.path.join(sshdir, 'sshd.pid')
    _write(conf, '\n'.join([
        'Port %d' % port,
        'ListenAddress %s' % bind,
        'HostKey %s' % os.path.join(sshdir, 'host_ed25519'),
        'PidFile %s' % pidfile,
        'AuthorizedKeysFile %s' % os.path.join(sshdir, 'authorized_keys'),
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'X11Forwarding no',
        'Subsystem sftp internal-sftp',
        '']), 0o600)
    subprocess.run([SSHD, '-f', conf, '-E', os.path.join(sshdir, 'sshd.log')], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _wait_pidfile(pidfile)


# --- commands ----------------------------------------------------------------------------------------
def cmd_start(args):
    base = args.base
    state = _load_state(base)
    if state.get('started'):
        cmd_stop(args)
    os.makedirs(base, exist_ok=True)
    nodes = dict(item.split('=', 1) for item in args.nodes.split(',') if item)
    state = {'base': base, 'bind': args.bind, 'nodes': nodes, 'mysql_port': args.mysql_port,
             'redis_port': args.redis_port, 'ssh_port': args.ssh_port, 'lb_port': args.lb_port, 'started': True,
             'down': []}
    _save_state(base, state)

    mysql_pw = os.environ['HA_MYSQL_PASSWORD']
    redis_pw = os.environ['HA_REDIS_PASSWORD']
    db = ExtDB(base=os.path.join(base, 'mysql'), port=args.mysql_port, root_password=mysql_pw,
               extra_args=['--bind-address=%s' % args.bind, '--innodb-buffer-pool-size=64M',
                           '--innodb-log-file-size=16M'])
    db.start()
    state['mysql_pid'] = db.pid()
    _save_state(base, state)
    databases = args.databases.split(',')
    for name in databases:
        db.create_database(name, drop=True)
    db.create_user('func', mysql_pw, database=databases[0], host='%',
                   global_grants=('RELOAD', 'PROCESS', 'REPLICATION CLIENT'))
    for name in databases[1:]:
        db.admin("GRANT ALL PRIVILEGES ON `%s`.* TO 'func'@'%%';" % name)

    redis = ExtRedis(base=os.path.join(base, 'redis'), port=args.redis_port, password=redis_pw,
                     extra_config={'bind': '127.0.0.1 %s' % args.bind})
    redis.start()
    state['redis_pid'] = redis.proc.pid
    _save_state(base, state)

    os.makedirs(os.path.join(base, 'shared'), exist_ok=True)
    os.chmod(os.path.join(base, 'shared'), 0o755)
    state['sshd_pid'] = _start_sshd(base, args.bind, args.ssh_port)
    _save_state(base, state)

    ngx, conf, _x, pidfile = _nginx_paths(base)
    os.makedirs(os.path.join(ngx, 'temp'), exist_ok=True)
    state['generation'] = 1
    _write_upstream(base, nodes, set(), state['generation'])
    _write(conf, _nginx_conf(base, args.lb_port, args.lb_listen.split(',')))
    _nginx(base)
    state['nginx_pid'] = _wait_pidfile(pidfile)
    _save_state(base, state)
    _wait_reloaded(base, args.lb_port, state['generation'], 30)
    print(json.dumps({k: v for k, v in state.items() if k.endswith('_pid') or k.endswith('_port')}))


def cmd_stop(args):
    base = args.base
    state = _load_state(base)
    for key in ('nginx_pid', 'sshd_pid', 'redis_pid'):
        _kill(state.get(key))
    if state.get('mysql_pid'):
        ExtDB(base=os.path.join(base, 'mysql')).stop()
        _kill(state.get('mysql_pid'))
    shutil.rmtree(base, ignore_errors=True)


def cmd_lb(args):
    state = _load_state(args.base)
    nodes = state['nodes']
    if args.node not in nodes:
        raise SystemExit('unknown node %s (known: %s)' % (args.node, ', '.join(sorted(nodes))))
    down = set(state.get('down', []))
    before = set(down)
    if args.state == 'down':
        down.add(args.node)
    else:
        down.discard(args.node)
    if down != before:
        state['generation'] = state.get('generation', 1) + 1
        _write_upstream(args.base, nodes, down, state['generation'])
        old_workers = _workers(state['nginx_pid'])
        _nginx(args.base, '-s', 'reload')
        state['down'] = sorted(down)
        _save_state(args.base, state)
        # new connections reach the new configuration; the old workers' requests have finished
        _wait_reloaded(args.base, state['lb_port'], state['generation'], args.timeout, old_workers)
    print(json.dumps({'changed': down != before, 'down': sorted(down)}))


def cmd_client(args):
    stats = {'requests': 0, 'failures': 0, 'versions': {}, 'errors': [], 'started': time.time()}
    while not os.path.exists(args.stop_file):
        started = time.time()
        stats['requests'] += 1
        try:
            with urllib.request.urlopen(args.url, timeout=args.timeout) as resp:
                body = resp.read()
                version = resp.headers.get('X-Dff-Version', '?')
                if resp.status != 200 or b'pong' not in body:
                    raise RuntimeError('status %s body %r' % (resp.status, body[:100]))
                stats['versions'][version] = stats['versions'].get(version, 0) + 1
        except (OSError, urllib.error.URLError, RuntimeError, ValueError) as exc:
            stats['failures'] += 1
            stats.setdefault('first_failure', round(time.time(), 3))
            stats['last_failure'] = round(time.time(), 3)
            if len(stats['errors']) < 20:
                stats['errors'].append('%.3f %s' % (time.time(), exc))
        delay = args.interval - (time.time() - started)
        if delay > 0:
            time.sleep(delay)
    stats['seconds'] = round(time.time() - stats['started'], 1)
    _write(args.out, json.dumps(stats, indent=1, sort_keys=True))
    print(json.dumps(stats))


# --- a swarm inside DinD hosts (molecule/swarm) --------------------------------------------------------
def _inner(manager, *args):
    proc = subprocess.run(['docker', 'exec', manager, 'docker'] + list(args), check=False, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError('docker %s on %s failed: %s' % (' '.join(args), manager, proc.stderr.strip()))
    return proc.stdout


def swarm_state(manager, stack):
    """Nodes (state, availability, labels) and, per service of the stack, desired replicas and the nodes of the
    tasks that run (desired and current state running, on a ready node)."""
    nodes = {}
    ids = _inner(manager, 'node', 'ls', '-q').split()
    for line in _inner(manager, 'node', 'inspect', '--format', '{{json .}}', *ids).splitlines():
        node = json.loads(line)
        nodes[node['Description']['Hostname']] = {'id': node['ID'], 'state': node['Status']['State'],
                                                  'availability': node['Spec']['Availability'],
                                                  'labels': node['Spec'].get('Labels') or {}}
    services = {}
    for line in _inner(manager, 'service', 'ls', '--filter', 'label=com.docker.stack.namespace=%s' % stack,
                       '--format', '{{.Name}} {{.Replicas}}').splitlines():
        name, replicas = line.split(' ', 1)
        short = name[len(stack) + 1:]
        running = []
        for task in _inner(manager, 'service', 'ps', name, '--filter', 'desired-state=running',
                           '--format', '{{.Node}} {{.CurrentState}}').splitlines():
            node, current = task.split(' ', 1)
            if current.startswith('Running') and nodes.get(node, {}).get('state') == 'ready':
                running.append(node)
        services[short] = {'desired': int(replicas.split('/')[1].split()[0]), 'running': sorted(running)}
    return {'nodes': nodes, 'services': services}


def cmd_swarm_state(args):
    print(json.dumps(swarm_state(args.manager, args.stack), sort_keys=True))


def cmd_swarm_wait(args):
    """Wait until every service runs all its replicas on ready nodes (and none on --avoid); print the seconds since
    --since (default: now) and the state."""
    since = args.since or time.time()
    deadline = time.time() + args.timeout
    while True:
        state = swarm_state(args.manager, args.stack)
        ignore = set(args.ignore.split(','))
        done = all(len(s['running']) == s['desired'] and args.avoid not in s['running']
                   for name, s in state['services'].items() if name not in ignore)
        if done or time.time() > deadline:
            break
        time.sleep(0.5)
    print(json.dumps({'converged': done, 'seconds': round(time.time() - since, 1), 'state': state}, sort_keys=True))
    if not done:
        raise SystemExit(1)


# --- the product's own tasks through the external Redis (no task lost) ----------------------------------------
APP = 'DataFluxFunc'
# worker/tasks/__init__.py BaseTask.buff_task_record: every task run pushes its record to this list;
# worker/tasks/internal.py flush_task_record moves the records into biz_main_task_record
TASK_RECORD_BUFFER = '%s-worker#dataBuffer@taskRecord' % APP


def _ext(base):
    state = _load_state(base)
    redis = ExtRedis(base=os.path.join(base, 'redis'), port=state['redis_port'],
                     password=os.environ['HA_REDIS_PASSWORD'])
    return state, redis, ExtDB(base=os.path.join(base, 'mysql'), port=state['mysql_port'])


def cmd_tasks_push(args):
    _state, redis, _db = _ext(args.base)
    now = int(time.time())
    items = [json.dumps({'name': 'Example.ExampleSuccess', 'id': '%s-%d' % (args.prefix, n), 'kwargs': {},
                         'triggerTime': now, 'queue': args.queue, 'ignoreResult': True})
             for n in range(args.count)]
    redis.cli('LPUSH', _func_app.queue_key(APP, _func_app.WORK, args.queue), *items, db=args.redis_db)
    print(json.dumps({'pushed': args.count, 'at': now}))


def _tasks_ran(redis, db, prefix, count, database, redis_db):
    """The ids <prefix>-0 .. <prefix>-<count - 1> that have a task record (buffered in Redis or flushed)."""
    buffered = set()
    for line in redis.cli('LRANGE', TASK_RECORD_BUFFER, '0', '-1', db=redis_db).splitlines():
        try:
            buffered.add(json.loads(line).get('id'))
        except ValueError:
            continue
    flushed = {row[0] for row in db.query("SELECT id FROM biz_main_task_record WHERE id LIKE '%s-%%';" % prefix,
                                          database=database)}
    return (buffered | flushed) & {'%s-%d' % (prefix, n) for n in range(count)}


def cmd_tasks_done(args):
    _state, redis, db = _ext(args.base)
    started = time.time()
    while True:
        ran = _tasks_ran(redis, db, args.prefix, args.count, args.database, args.redis_db)
        if len(ran) >= args.count or time.time() - started > args.timeout:
            break
        time.sleep(1)
    queued = {str(q): int(redis.cli('LLEN', _func_app.queue_key(APP, _func_app.WORK, q), db=args.redis_db))
              for q in range(_func_app.QUEUE_COUNT)}
    print(json.dumps({'ran': len(ran), 'expected': args.count, 'queued': queued,
                      'seconds': round(time.time() - started, 1)}, sort_keys=True))
    if len(ran) != args.count:
        raise SystemExit(1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='hainfra')
    sub = parser.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('start')
    p.add_argument('--base', default='/tmp/dfft/ha')
    p.add_argument('--bind', required=True)
    p.add_argument('--nodes', required=True, help='name=ip:port,...')
    p.add_argument('--mysql-port', type=int, default=13406)
    p.add_argument('--redis-port', type=int, default=16406)
    p.add_argument('--ssh-port', type=int, default=12206)
    p.add_argument('--lb-port', type=int, default=18406)
    p.add_argument('--lb-listen', default='127.0.0.1', help='addresses nginx listens on, comma-separated')
    p.add_argument('--databases', default='dataflux_func', help='databases of the user func, comma-separated')
    p.set_defaults(func=cmd_start)
    p = sub.add_parser('stop')
    p.add_argument('--base', default='/tmp/dfft/ha')
    p.set_defaults(func=cmd_stop)
    p = sub.add_parser('lb')
    p.add_argument('--base', default='/tmp/dfft/ha')
    p.add_argument('--node', required=True)
    p.add_argument('--state', choices=['down', 'up'], required=True)
    p.add_argument('--timeout', type=float, default=60, help='seconds to wait for nginx to switch')
    p.set_defaults(func=cmd_lb)
    p = sub.add_parser('client')
    p.add_argument('--url', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--stop-file', required=True)
    p.add_argument('--interval', type=float, default=0.05)
    p.add_argument('--timeout', type=float, default=10)
    p.set_defaults(func=cmd_client)
    p = sub.add_parser('swarm-state')
    p.add_argument('--manager', required=True, help='the DinD host of a swarm manager')
    p.add_argument('--stack', required=True)
    p.set_defaults(func=cmd_swarm_state)
    p = sub.add_parser('swarm-wait')
    p.add_argument('--manager', required=True)
    p.add_argument('--stack', required=True)
    p.add_argument('--avoid', default='', help='a node that must run no task')
    p.add_argument('--ignore', default='', help='services not waited for, comma-separated')
    p.add_argument('--since', type=float, default=0, help='epoch seconds the reported time counts from')
    p.add_argument('--timeout', type=float, default=300)
    p.set_defaults(func=cmd_swarm_wait)
    for name, func in (('tasks-push', cmd_tasks_push), ('tasks-done', cmd_tasks_done)):
        p = sub.add_parser(name)
        p.add_argument('--base', default='/tmp/dfft/ha')
        p.add_argument('--prefix', required=True, help='task ids are <prefix>-<n>')
        p.add_argument('--count', type=int, required=True)
        p.add_argument('--redis-db', type=int, default=5)
        p.set_defaults(func=func)
        if name == 'tasks-push':
            p.add_argument('--queue', type=int, default=1)
        else:
            p.add_argument('--database', default='dataflux_func')
            p.add_argument('--timeout', type=float, default=300)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == '__main__':
    main()
