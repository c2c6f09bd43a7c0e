#!/bin/sh
cd "$(dirname "$0")"
exec ./run-worker.sh "$@"
