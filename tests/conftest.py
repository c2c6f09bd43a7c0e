"""Make the collection importable as ansible_collections.dataflux.func (via .cache/collections, which
scripts/setup-host prepares with a symlink to this checkout)."""
import os
import sys

_COLLECTIONS = os.environ.get('DFF_COLLECTIONS', os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), '.cache', 'collections'))
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
