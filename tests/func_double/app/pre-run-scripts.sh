#!/bin/sh
# Run data/resources/pre-run-scripts/*.sh before server/worker start (legacy init-scripts are copied in).
cd "$(dirname "$0")"
[ "$(python _config.py _DISABLE_PRE_RUN_SCRIPTS)" = true ] && exit 0
ROOT=$(python _config.py RESOURCE_ROOT_PATH)
mkdir -p "$ROOT/pre-run-scripts" 2>/dev/null || exit 0
if [ -d "$ROOT/init-scripts" ]; then cp -n "$ROOT"/init-scripts/*.sh "$ROOT/pre-run-scripts/" 2>/dev/null; fi
for f in "$ROOT"/pre-run-scripts/*.sh; do
  [ -f "$f" ] || continue
  echo "[pre-run-scripts] $1: running $f" >&2
  sh "$f" "$1" || echo "[pre-run-scripts] $f failed" >&2
done
exit 0
