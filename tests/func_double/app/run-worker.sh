#!/bin/sh
# run-worker.sh [QUEUE ...]   (no args: queues 0-9)
cd "$(dirname "$0")"
. ./_run.sh
./pre-run-scripts.sh worker
run_child python _check_setup.py || exit $?
run_loop python worker_app.py "$@"
exit $_rc
