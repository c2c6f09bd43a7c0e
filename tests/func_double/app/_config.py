"""Print the effective value of a config key: python _config.py KEY"""
import json
import sys

import dff_common as C

if __name__ == '__main__':
    cfg = C.load_config()
    if len(sys.argv) < 2:
        print(json.dumps(cfg, indent=2, default=str))
        sys.exit(0)
    value = cfg.get(sys.argv[1])
    if value is None:
        print('')
    elif isinstance(value, bool):
        print('true' if value else 'false')
    elif isinstance(value, (dict, list)):
        print(json.dumps(value))
    else:
        print(value)
