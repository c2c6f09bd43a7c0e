"""Stand-in of admin-tool.py. Always exits 0; prints Done / Canceled / the error."""
import argparse
import getpass
import sys
import urllib.request

import dff_common as C

GREEN, YELLOW, RED, RESET = '\033[32m', '\033[33m', '\033[31m', '\033[0m'


def confirm(force):
    if force:
        return True
    try:
        answer = input('Are you sure you want to do this? (yes/no): ')
    except EOFError:
        return False
    return answer.strip() == 'yes'


def cmd_reset_admin(cfg, args):
    username = args.admin_username
    password = args.admin_password
    if not username:
        username = input('Enter new Admin username: ').strip()
    if password is None:
        password = getpass.getpass('Enter new Admin password: ')
        repeat = getpass.getpass('Confirm new Admin password: ')
        if password != repeat:
            raise ValueError('Repeated password not match')
    if not username or not password:
        raise ValueError('Username and password must not be empty')
    if not confirm(args.force):
        return False
    conn = C.mysql_connect(cfg, autocommit=False)
    try:
        with conn.cursor() as cur:
            C.reset_admin(cur, cfg['SECRET'], username, password)
        conn.commit()
    finally:
        conn.close()
    return True


def cmd_reset_upgrade_db_seq(cfg, args):
    value = input('Enter new Upgrade DB SEQ: ').strip()
    int(value)
    if not confirm(args.force):
        return False
    conn = C.mysql_connect(cfg)
    try:
        with conn.cursor() as cur:
            C.set_system_setting(cur, 'UPGRADE_DB_SEQ', value)
    finally:
        conn.close()
    return True


def cmd_clear_redis(cfg, args):
    if not confirm(args.force):
        return False
    C.redis_connect(cfg).flushdb()
    return True


def cmd_run_sql(cfg, args):
    source = input('Enter SQL file path or URL: ').strip()
    if source.startswith(('http://', 'https://')):
        with urllib.request.urlopen(source, timeout=30) as resp:
            sql = resp.read().decode('utf-8')
    else:
        with open(source, encoding='utf-8') as f:
            sql = f.read()
    if not confirm(args.force):
        return False
    conn = C.mysql_connect(cfg, autocommit=False)
    try:
        with conn.cursor() as cur:
            for stmt in split_sql(sql):
                cur.execute(stmt)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    finally:
        conn.close()
    return True


def split_sql(sql):
    out, buf, quote = [], [], None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == '\\':
                buf.append(sql[i + 1:i + 2])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in ('"', "'", '`'):
            quote = ch
            buf.append(ch)
        elif ch == '-' and sql[i:i + 2] == '--':
            j = sql.find('\n', i)
            i = len(sql) if j < 0 else j
            continue
        elif ch == ';':
            out.append(''.join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append(''.join(buf).strip())
    return [s for s in out if s]


COMMANDS = {'reset_admin': cmd_reset_admin, 'reset_upgrade_db_seq': cmd_reset_upgrade_db_seq,
            'clear_redis': cmd_clear_redis, 'run_sql': cmd_run_sql}


def main():
    parser = argparse.ArgumentParser(prog='admin-tool.py', description='DataFlux Func admin tool (stand-in)')
    parser.add_argument('command', choices=sorted(COMMANDS))
    parser.add_argument('-f', '--force', action='store_true')
    parser.add_argument('--admin-username')
    parser.add_argument('--admin-password')
    try:
        args = parser.parse_args()
    except SystemExit:
        return
    cfg = C.load_config()
    if not (cfg.get('_IS_INSTALLED') or cfg.get('_DISABLE_SETUP')):
        print(RED + 'DataFlux Func is not installed yet' + RESET)
        return
    try:
        ok = COMMANDS[args.command](cfg, args)
    except (Exception, KeyboardInterrupt) as e:
        print(RED + 'Error: %s: %s' % (type(e).__name__, e) + RESET)
        return
    print((GREEN + 'Done' if ok else YELLOW + 'Canceled') + RESET)


if __name__ == '__main__':
    main()
    sys.exit(0)
