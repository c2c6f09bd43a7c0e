# -*- coding: utf-8 -*-
# Copyright: dataflux.func contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
---
name: bundle_image_list
short_description: Read the image-list file of a DataFlux Func portable bundle
version_added: 0.2.0
author: dataflux.func contributors
description:
  - Returns the C(KEY=value) lines of a portable bundle's C(image-list) (shell syntax, with or without C(export)
    and quotes) as a mapping, for example C(IMAGE_ARCH), C(DATAFLUX_FUNC_IMAGE), C(MYSQL_IMAGE), C(REDIS_IMAGE).
  - The same reader the modules use (M(dataflux.func.func_preflight), M(dataflux.func.func_images)); the install
    role's host step uses it for the bundle's architecture before Docker is installed.
  - Pure function of its argument, no host access.
options:
  _input:
    description: The text of the image-list file.
    type: str
    required: true
'''

EXAMPLES = r'''
- name: Read the bundle's architecture
  ansible.builtin.debug:
    msg: "{{ (image_list_text | dataflux.func.bundle_image_list).IMAGE_ARCH | default('') }}"
'''

RETURN = r'''
_value:
  description: Key to value, one entry per C(KEY=value) line.
  type: dict
'''

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.dataflux.func.plugins.module_utils._func_install import parse_bundle_list  # noqa: E402


def bundle_image_list(text):
    if not isinstance(text, str):
        raise AnsibleFilterError('bundle_image_list expects the text of image-list, not %s' % type(text).__name__)
    return parse_bundle_list(text)


class FilterModule(object):
    def filters(self):
        return {'bundle_image_list': bundle_image_list}
