#!/bin/sh
cd "$(dirname "$0")"
. ./_run.sh
./gen-localhost-auth-token.sh
./pre-run-scripts.sh server
run_child python server_setup.py || exit $?
run_loop python server_app.py
exit $_rc
