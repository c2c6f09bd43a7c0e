#!/bin/sh
cd "$(dirname "$0")"
. ./_run.sh
run_child python _check_setup.py || exit $?
run_loop python beat_app.py
exit $_rc
