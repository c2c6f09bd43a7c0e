"""Build step of the func double image (run by the Dockerfile, not shipped in /usr/src/app):

    python3 image_build.py VERSION BROKEN [UPGRADE_DB_SEQ_LAST]

Writes /usr/src/app/image-info.json with the keys of the product's (echo-image-info.py: VERSION, EDITION,
RELEASE_TIMESTAMP, CI ids; plus BROKEN for the broken test image), trims /usr/src/app/upgrade-info.yaml to the
items the version ships (the image's only record of its last DB upgrade, as upstream) and applies the per-release
config defaults. The last seq per version is upstream's (docs/dev/upstream-facts.md); UPGRADE_DB_SEQ_LAST only
counts for versions not listed here.
"""
import json
import os
import re
import sys
import time

import yaml

APP = '/usr/src/app'
# last item of each release's upgrade-info.yaml (upstream 3.7.2: 28; 5.1.6 and 5.1.7: 29); 5.1.8-broken is the
# double's own failing upgrade
SEQ_LAST = {'3.7.2': 28, '5.1.6': 29, '5.1.7': 29, '5.1.8-broken': 30}
# config.yaml defaults that differ between releases (3.7.2: BAD_SINGIN_TEMPORARILY_LOCK_COUNT 3, 5.x: 10)
CONFIG_BY_MAJOR = {3: {'BAD_SINGIN_TEMPORARILY_LOCK_COUNT': 3}}


def main(version, broken, seq_arg=''):
    last = SEQ_LAST.get(version)
    if last is None:
        if not seq_arg:
            sys.exit('image_build.py: unknown version %s and no UPGRADE_DB_SEQ_LAST' % version)
        last = int(seq_arg)
    info = {'CI_PIPELINE_ID': None, 'CI_JOB_ID': None, 'CI_BUILD_ID': None, 'EDITION': None, 'VERSION': version,
            'RELEASE_TIMESTAMP': int(time.time()), 'BROKEN': broken in ('1', 'true')}
    with open(os.path.join(APP, 'image-info.json'), 'w') as f:
        json.dump(info, f, indent=2)

    path = os.path.join(APP, 'upgrade-info.yaml')
    with open(path) as f:
        items = [i for i in yaml.safe_load(f)['upgradeInfo'] if i['seq'] <= last]
    if not items or items[-1]['seq'] != last:
        sys.exit('image_build.py: upgrade-info.yaml has no seq %s' % last)
    lines = ['upgradeInfo:']
    for item in sorted(items, key=lambda i: i['seq']):      # block style, like upstream's file
        lines += ['  - seq: %d' % item['seq'], '    database: |']
        lines += ['      ' + ln if ln else '' for ln in item['database'].rstrip('\n').split('\n')]
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')

    major = int(re.match(r'\d+', version).group(0))
    overrides = CONFIG_BY_MAJOR.get(major, {})
    if overrides:
        cpath = os.path.join(APP, 'config.yaml')
        with open(cpath) as f:
            text = f.read()
        for key, value in overrides.items():
            text, n = re.subn(r'(?m)^%s:.*$' % re.escape(key), '%s: %s' % (key, value), text)
            if n != 1:
                sys.exit('image_build.py: config.yaml has no %s' % key)
        with open(cpath, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main(*sys.argv[1:])
