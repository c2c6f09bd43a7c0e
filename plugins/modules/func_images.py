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
    A tarball whose image the host does not have under its name at all is loaded without reading it first, and
    the id the load gives is cached.
  - A bundle tarball is decompressed by the module and streamed to C(docker load), with the C(layer.tar) of every
    layer the host has already left out (Docker does not open those); which layer directory holds which layer is
    learnt from the tarballs loaded before and kept in O(cache_file). When Docker refuses the stream, the tarball
    is loaded as it is.
author:
  - dataflux.func contributors (@dataflux-func)
extends_documentation_fragment:
  - dataflux.func.attributes
options:
  images:
    description:
      - The images, each with C(ref) (name:tag) and, for O(source=bundle), C(tar) (file name in O(bundle_dir)).
      - Instead of C(ref), C(name) names an entry of O(refs).
      - With O(source=bundle), C(ref) may be left out for the bundle's own tarballs (C(dataflux-func.tar.gz),
        C(mysql.tar.gz), C(redis.tar.gz)); it is then the name the bundle's C(image-list) gives that image.
    type: list
    elements: dict
    required: true
  refs:
    description: "The references C({name: ref}) of the entries of O(images) given by C(name)."
    type: dict
    default: {}
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

from ansible_collections.dataflux.func.plugins.module_utils._func_common import FuncError
from ansible_collections.dataflux.func.plugins.module_utils._func_docker import (
    BUNDLE_ID_CACHE, IdCache, images_plan, load_bundle_tarball, local_ids)
from ansible_collections.dataflux.func.plugins.module_utils._func_install import BUNDLE_IMAGE_TARS, read_bundle
from ansible_collections.dataflux.func.plugins.module_utils._func_module import FuncModule


def run(ctx):
    params = ctx.params
    images = [dict(i, ref=i.get('ref') or params['refs'].get(i.get('name'))) for i in params['images']]
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
    cache = IdCache(params['cache_file']) if params['source'] == 'bundle' else None
    rows = images_plan(docker, images, params['source'], params['bundle_dir'], cache)
    for row in rows:
        if row['action'] == 'missing':
            raise FuncError('Image %s is not present on this host. Load or pull it first, or use '
                            'func_image_source=registry or bundle.' % row['ref'], ref=row['ref'])
    changed = any(row['action'] != 'none' for row in rows)
    tars = {}
    for row in rows:
        tar = tars[row['ref']] = row.pop('tar', None)
        if row['action'] == 'none' or ctx.check_mode:
            continue
        if row['action'] == 'pull':
            docker.run('pull', row['ref'], timeout=3600)
        else:
            load_bundle_tarball(docker, tar, cache)
        row['action'] += 'ed'
    if changed and not ctx.check_mode:
        after = local_ids(docker, [row['ref'] for row in rows])
        for row in rows:
            row['id'] = after.get(row['ref'])
            if row['id'] is None:
                raise FuncError('Image %s is still not present after docker %s.'
                                % (row['ref'], 'pull' if row['action'] == 'pulled' else 'load'), images=rows)
            if row['action'] == 'loaded' and row.get('bundle_id') is None:
                # ref was not on the host before this load, so its id now is the id the tarball holds: the next
                # run finds it in the cache instead of reading the tarball
                cache.remember(tars[row['ref']], row['id'])
        if cache is not None:
            cache.save()
    return dict(changed=changed, images=rows, commands=list(docker.commands))


def main():
    FuncModule(dict(
        images=dict(type='list', elements='dict', required=True),
        refs=dict(type='dict', default={}),
        source=dict(type='str', default='present', choices=['present', 'registry', 'bundle']),
        bundle_dir=dict(type='path'),
        cache_file=dict(type='path', default=BUNDLE_ID_CACHE),
    ), install=False, docker=True).run(run)


if __name__ == '__main__':
    main()
