#!/bin/sh
# dff-test/redis entrypoint: `[redis-server] [--flags...]` like the upstream image; any other command is exec'd.
set -e
if [ "${1:-}" = redis-server ]; then shift; fi
if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then exec "$@"; fi
exec redis-server --bind 0.0.0.0 --protected-mode no --dir /data "$@"
