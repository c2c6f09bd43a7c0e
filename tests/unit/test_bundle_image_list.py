"""The bundle's image-list, read the same way by the modules (_func_install.read_bundle) and by the install role's
host step (the bundle_image_list filter): shell KEY=value lines, with or without export and quotes."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dataflux.func.plugins.filter.bundle_image_list import bundle_image_list
from ansible_collections.dataflux.func.plugins.module_utils._func_install import read_bundle

LISTING = '''# images of this bundle
IMAGE_ARCH=x86_64
export DATAFLUX_FUNC_IMAGE="pubrepo.example/dataflux-func:5.1.7"
MYSQL_IMAGE='pubrepo.example/mysql:5.7.26'
  REDIS_IMAGE=pubrepo.example/redis:6.2.20
not a line
'''
WANT = {'IMAGE_ARCH': 'x86_64', 'DATAFLUX_FUNC_IMAGE': 'pubrepo.example/dataflux-func:5.1.7',
        'MYSQL_IMAGE': 'pubrepo.example/mysql:5.7.26', 'REDIS_IMAGE': 'pubrepo.example/redis:6.2.20'}


def test_filter_and_modules_read_the_same(tmp_path):
    (tmp_path / 'image-list').write_text(LISTING)
    (tmp_path / 'version').write_text('5.1.7\n')
    assert bundle_image_list(LISTING) == WANT
    assert read_bundle(str(tmp_path)) == (WANT, '5.1.7')
    assert bundle_image_list('') == {}


def test_filter_refuses_what_is_not_text():
    with pytest.raises(AnsibleFilterError, match='expects the text of image-list'):
        bundle_image_list({'IMAGE_ARCH': 'x86_64'})
