# Sourced by run-*.sh: run a child in the background so SIGTERM/SIGINT reach it at once (also as PID 1).
_child=
_term() { [ -n "$_child" ] && kill -TERM "$_child" 2>/dev/null; wait "$_child" 2>/dev/null; exit 143; }
trap _term TERM INT
run_child() {
  "$@" &
  _child=$!
  wait "$_child"
  _rc=$?
  _child=
  return $_rc
}
# loop while the child exits 8 (restart requested)
run_loop() {
  while :; do
    run_child "$@" && _rc=0 || _rc=$?
    [ "$_rc" -eq 8 ] || return "$_rc"
    echo "[$(date '+%F %T')] $1 $2 exited 8, restarting" >&2
    sleep 0.5
  done
}
