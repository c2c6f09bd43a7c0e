#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
module: func_images
short_description: Make the images of a DataFlux Func stack available on the host
version_added: 0.2.0
description:
  - For each image, V(present) only checks that it is on the host, V(registry) pulls it when missing, and
    V(bundle) loads its tarball from a portable bundle (C(docker load)) unless the image id stored in the
    tarball is already present under that name.
  - The image id of a bundle tarball is read from its C(manifest.json) once and then cached in O(cache_file),
    keyed by the tarball's path, size and modification time, so converging a host that has the images is fast.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
options:
  images:
    description:
      - The images, each with C(ref) (name:tag) and, for O(source=bundle), C(tar) (file name in O(bundle_dir)).
      - With O(source=bundle), C(ref) may be left out for the bundle's own tarballs (C(dataflux-func.tar.gz),
        C(mysql.tar.gz), C(redis.tar.gz)); it is then the name the bundle's C(image-list) gives that image.
    type: list
    elements: dict
    required: true
  source:
    description: Where missing images come from.
    type: str
    choices: [present, registry, bundle]
    default: present
  bundle_dir:
    description: Directory of the portable bundle. Required with O(source=bundle).
    type: path
  cache_file:
    description: Where the image ids read from bundle tarballs are cached (written 0600).
    type: path
    default: /var/tmp/.dataflux-func-bundle-image-ids.json
  docker_cli:
    description: Path of the docker CLI.
    type: path
    default: docker
  docker_host:
    description: C(DOCKER_HOST) for the docker CLI.
    type: str
attributes:
  check_mode:
    support: full
    details: Reports which images would be pulled or loaded.
  diff_mode:
    support: none
  idempotent:
    support: full
'''

EXAMPLES = r'''
- name: Load the images of the bundle that are missing or differ
  dataflux.func.func_images:
    source: bundle
    bundle_dir: /root/dataflux-func-portable-x86_64-5.1.7
    images:
      - {ref: "pubrepo.guance.com/dataflux-func/dataflux-func:5.1.7", tar: dataflux-func.tar.gz}
      - {ref: "pubrepo.guance.com/dataflux-func/mysql:8.0.39", tar: mysql.tar.gz}
'''

RETURN = r'''
images:
  description: Per image C(ref), C(id) (on the host after the run, null when absent) and C(action)
    (V(none), V(pulled), V(loaded), or V(pull)/V(load) in check mode).
  returned: always
  type: list
  elements: dict
commands:
  description: The docker commands run.
  returned: always
  type: list
  elements: str
'''

import json
import os
import tarfile

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError, atomic_write
from ansible_collections.dataflux.func.plugins.module_utils._func_install import BUNDLE_IMAGE_TARS, read_bundle
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule


def tarball_image_id(path):
    """The image id (sha256:...) a `docker save` tarball (plain or compressed) holds, from its manifest.json."""
    try:
        with tarfile.open(path, 'r:*') as tar:
            for member in tar:
                if member.name.lstrip('./') == 'manifest.json':
                    manifest = json.load(tar.extractfile(member))
                    break
            else:
                raise FuncError('%s holds no manifest.json: not a docker save tarball' % path)
    except (OSError, tarfile.TarError, ValueError) as exc:
        raise FuncError('Cannot read the image tarball %s: %s' % (path, exc))
    config = manifest[0]['Config'].rsplit('/', 1)[-1]
    return 'sha256:' + (config[:-5] if config.endswith('.json') else config)


class IdCache(object):
    """{realpath: [size, mtime_ns, id]} in a 0600 JSON file; a tarball that changed is read again."""

    def __init__(self, path):
        self.path = path
        self.dirty = False
        try:
            with open(path) as handle:
                self.data = json.load(handle)
        except (OSError, ValueError):
            self.data = {}
        if not isinstance(self.data, dict):
            self.data = {}

    def image_id(self, tar):
        real = os.path.realpath(tar)
        try:
            st = os.stat(real)
        except OSError:
            raise FuncError('The bundle has no %s' % tar)
        key = [st.st_size, st.st_mtime_ns]
        hit = self.data.get(real)
        if isinstance(hit, list) and hit[:2] == key:
            return hit[2]
        found = tarball_image_id(real)
        self.data[real] = key + [found]
        self.dirty = True
        return found

    def save(self):
        if self.dirty:
            try:
                atomic_write(self.path, json.dumps(self.data, sort_keys=True).encode('utf-8'), mode=0o600)
            except (OSError, IOError):
                pass          # a cache that cannot be written only costs time next run


def local_ids(docker, refs):
    """{ref: image id} of the refs present on the host (one docker call)."""
    out = {}
    for info in docker.inspect('image', *refs) if refs else []:
        for tag in info.get('RepoTags') or []:
            out[tag] = info.get('Id')
    # refs without an explicit registry/tag resolve like docker does only when inspected one by one
    missing = [r for r in refs if r not in out]
    for ref in missing:
        got = docker.inspect('image', ref)
        if got:
            out[ref] = got[0].get('Id')
    return out


def run(ctx):
    params = ctx.params
    images = [dict(i) for i in params['images']]
    if params['source'] == 'bundle' and any(not i.get('ref') for i in images):
        listing, _version = read_bundle(params['bundle_dir'])
        by_tar = {tar: listing.get(key) for key, tar in BUNDLE_IMAGE_TARS.items()}
        for image in images:
            image['ref'] = image.get('ref') or by_tar.get(image.get('tar'))
    for image in images:
        if not image.get('ref'):
            raise FuncError('Every entry of images needs ref (name:tag). Nothing was changed.')
        if params['source'] == 'bundle' and not image.get('tar'):
            raise FuncError('With source=bundle every entry of images needs tar. Nothing was changed.')
    if params['source'] == 'bundle' and not params['bundle_dir']:
        raise FuncError('source=bundle needs bundle_dir. Nothing was changed.')
    docker = ctx.docker
    refs = [i['ref'] for i in images]
    have = local_ids(docker, refs)
    cache = IdCache(params['cache_file']) if params['source'] == 'bundle' else None
    rows, changed = [], False
    for image in images:
        ref = image['ref']
        row = {'ref': ref, 'id': have.get(ref), 'action': 'none'}
        if params['source'] == 'present':
            if row['id'] is None:
                raise FuncError('Image %s is not present on this host. Load or pull it first, or use '
                                'func_image_source=registry or bundle.' % ref, ref=ref)
        elif params['source'] == 'registry':
            if row['id'] is None:
                row['action'] = 'pull' if ctx.check_mode else 'pulled'
                if not ctx.check_mode:
                    docker.run('pull', ref, timeout=3600)
        else:
            tar = os.path.join(params['bundle_dir'], image['tar'])
            want = cache.image_id(tar)
            if row['id'] != want:
                row['action'] = 'load' if ctx.check_mode else 'loaded'
                row['bundle_id'] = want
                if not ctx.check_mode:
                    docker.run('load', '--input', tar, timeout=3600)
        changed = changed or row['action'] != 'none'
        rows.append(row)
    if cache is not None:
        cache.save()
    if changed and not ctx.check_mode:
        after = local_ids(docker, refs)
        for row in rows:
            row['id'] = after.get(row['ref'])
            if row['id'] is None:
                raise FuncError('Image %s is still not present after docker %s.'
                                % (row['ref'], 'pull' if row['action'] == 'pulled' else 'load'), images=rows)
    return dict(changed=changed, images=rows, commands=list(docker.commands))


def main():
    FuncModule(dict(
        images=dict(type='list', elements='dict', required=True),
        source=dict(type='str', default='present', choices=['present', 'registry', 'bundle']),
        bundle_dir=dict(type='path'),
        cache_file=dict(type='path', default='/var/tmp/.dataflux-func-bundle-image-ids.json'),
    ), install=False, docker=True).run(run)


if __name__ == '__main__':
    main()
