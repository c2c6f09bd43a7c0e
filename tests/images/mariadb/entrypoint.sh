#!/bin/sh
# dff-test/mariadb entrypoint: mysql-image compatible.
#  - first start: initialise the datadir, set root@'%' / root@localhost password from MYSQL_ROOT_PASSWORD,
#    create MYSQL_DATABASE (and MYSQL_USER / MYSQL_PASSWORD if given). Init SQL goes through stdin only.
#  - accepts `mysqld ARGS`, `mariadbd ARGS` or just `--flags`; mysqld flags MariaDB 10.11 rejects are
#    dropped with a log line (--innodb-large-prefix); --tls-version is accepted by 10.11 and passed on.
set -e
log() { echo "[dff-test-entrypoint] $*" >&2; }

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ] && [ "$1" != mysqld ] && [ "$1" != mariadbd ]; then
  exec "$@"          # any other command (mysql, mysqldump, sh ...)
fi
[ "${1:-}" = mysqld ] || [ "${1:-}" = mariadbd ] && shift

# filter flags unknown to MariaDB 10.11
n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift; n=$((n - 1))
  case "$a" in
    --innodb-large-prefix*|--innodb_large_prefix*)
      # removed in MariaDB 10.3+ (large prefixes are always on); 10.11 only warns, drop it quietly
      log "dropping flag removed in MariaDB 10.11: $a" ;;
    --large-prefix*|--innodb-file-format*|--innodb_file_format*|--query-cache-type=*|--query_cache_type=*)
      log "dropping flag not accepted by MariaDB 10.11: $a" ;;
    *) set -- "$@" "$a" ;;
  esac
done

DATADIR=/var/lib/mysql
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld "$DATADIR"

sql_str() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; }

if [ ! -d "$DATADIR/mysql" ]; then
  if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
    log "error: database is uninitialized and MYSQL_ROOT_PASSWORD is not set"; exit 1
  fi
  log "initialising $DATADIR"
  chown -R mysql:mysql "$DATADIR"
  mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db --auth-root-authentication-method=normal >/dev/null
  mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket=/run/mysqld/init.sock "$@" &
  pid=$!
  i=0
  until mariadb --no-defaults --socket=/run/mysqld/init.sock -uroot -e 'SELECT 1' >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 120 ] && { log "init server did not start"; exit 1; }
    sleep 0.25
  done
  pw=$(sql_str "${MYSQL_ROOT_PASSWORD:-}")
  p() { printf '%s\n' "$*"; }
  {
    p "SET SQL_LOG_BIN=0;"
    p "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost'));"
    p "CREATE USER 'root'@'%' IDENTIFIED BY '$pw';"
    p "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    p "ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      p "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
      p "CREATE USER '$(sql_str "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_str "$MYSQL_PASSWORD")';"
      [ -n "${MYSQL_DATABASE:-}" ] && p "GRANT ALL ON \`$MYSQL_DATABASE\`.* TO '$(sql_str "$MYSQL_USER")'@'%';"
    fi
    p "FLUSH PRIVILEGES;"
  } | mariadb --no-defaults --socket=/run/mysqld/init.sock -uroot
  unset pw
  kill "$pid"; wait "$pid" || true
  log "initialisation done"
fi
log "starting mariadbd $*"
exec mariadbd --user=mysql --datadir="$DATADIR" --bind-address=0.0.0.0 --port=3306 "$@"
