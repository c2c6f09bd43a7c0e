# shellcheck shell=bash
# Paths shared by the project's scripts. Source it: . scripts/env.sh
DFF_ROOT=${DFF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
DFF_VENV=${DFF_VENV:-$DFF_ROOT/.venv}
DFF_CACHE=${DFF_CACHE:-$DFF_ROOT/.cache}
DFF_COLLECTIONS=${DFF_COLLECTIONS:-$DFF_CACHE/collections}
# The ansible-core 2.15 lane (scripts/test-lane215): its own venv and collections, used only by that lane.
DFF_VENV215=${DFF_VENV215:-$DFF_ROOT/.venv-215}
DFF_COLLECTIONS215=${DFF_COLLECTIONS215:-$DFF_CACHE/collections-215}
export DFF_ROOT DFF_VENV DFF_CACHE DFF_COLLECTIONS DFF_VENV215 DFF_COLLECTIONS215
export ANSIBLE_COLLECTIONS_PATH=$DFF_COLLECTIONS
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=false
export PATH="$DFF_VENV/bin:$PATH"
