"""molecule test -s swarm (one file per scenario, so parallel workers can take scenarios independently)."""
import pytest

from tests.lib.molecule_runner import run_scenario

pytestmark = [pytest.mark.molecule, pytest.mark.integration, pytest.mark.slow]


def test_molecule_swarm():
    out = run_scenario('swarm')
    assert 'FIGURES' in out
