#!/bin/sh
# Create /data/localhost-auth-token (16 hex chars) if missing.
cd "$(dirname "$0")"
TOKEN_PATH=$(python _config.py _WEB_LOCALHOST_AUTH_TOKEN_PATH)
if [ ! -f "$TOKEN_PATH" ]; then
  mkdir -p "$(dirname "$TOKEN_PATH")"
  head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TOKEN_PATH"
fi
