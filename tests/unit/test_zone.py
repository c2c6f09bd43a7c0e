"""The time-zone fallback for Pythons without zoneinfo (3.6-3.8) gives the same local times as zoneinfo."""
import datetime
import zoneinfo

import pytest

from ansible_collections.dataflux.func.plugins.module_utils._func_common import SystemZone, zone
from ansible_collections.dataflux.func.plugins.module_utils._func_backup import backup_name, name_time

ZONES = ['Asia/Shanghai', 'UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata']
# around DST switches in Berlin and New York, Lord Howe's half hour, and a plain day
INSTANTS = [1711846799, 1711846800, 1711850400, 1730595600, 1730599200, 1704067200, 1767225600.5, 1751328000]


@pytest.mark.parametrize('name', ZONES)
def test_system_zone_matches_zoneinfo(name):
    ref, fallback = zoneinfo.ZoneInfo(name), SystemZone(name)
    for epoch in INSTANTS:
        want = datetime.datetime.fromtimestamp(epoch, ref)
        got = datetime.datetime.fromtimestamp(epoch, fallback)
        assert got.replace(tzinfo=None) == want.replace(tzinfo=None), (name, epoch)
        assert got.utcoffset() == want.utcoffset(), (name, epoch)
        assert backup_name(epoch, fallback, 'gzip') == backup_name(epoch, ref, 'gzip')
        # and back: the name's wall time read in that zone is the same instant (whole seconds)
        assert name_time(backup_name(epoch, fallback, 'none'), fallback)[0] == int(epoch)


def test_zone_names():
    assert zone('Asia/Shanghai').utcoffset(datetime.datetime(2024, 7, 1)) == datetime.timedelta(hours=8)
    assert zone('No/Such_Zone') is None
    assert zone('../../etc/passwd') is None
    assert zone('') is None
