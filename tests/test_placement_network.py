"""regions.network: the RTT model is monotone in distance and lands near published measurements."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regions.catalog import distance_km, load_catalog
from regions.jurisdictions import load_jurisdictions
from regions.network import ACCESS_S, FIBRE_KM_PER_S, path_rtt_s, rtt_s


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=20_000), st.floats(min_value=0, max_value=20_000))
def test_farther_is_never_faster(a, b):
    near, far = sorted((a, b))
    assert path_rtt_s(near) <= path_rtt_s(far)


def test_rtt_follows_distance_over_every_catalog_region():
    juris, cat = load_jurisdictions(), load_catalog()
    for code, j in juris.items():
        pairs = sorted((distance_km(j.latitude, j.longitude, r.latitude, r.longitude), rtt_s(code, r.code))
                       for r in cat.regions.values())
        rtts = [x for _, x in pairs]
        assert rtts == sorted(rtts), code
        assert all(x >= ACCESS_S for x in rtts)


def test_known_pair_within_published_range():
    """New York -> Los Angeles (3,965 km): a measured ping of 80.1 ms ("Ping at the speed of
    light", blog.wesleyac.com/posts/ping-lightspeed, 2017); Seattle -> Cambridge MA (~4,000 km): 70-71 ms
    (F. Giesen, "Network latencies and speed of light", 2018). The model between well-connected
    hosts (no access) must land within 25 % of both."""
    nyc_la = path_rtt_s(distance_km(40.71, -74.01, 34.05, -118.24))
    assert 0.080 * 0.75 <= nyc_la <= 0.080 * 1.25
    sea_bos = path_rtt_s(distance_km(47.61, -122.33, 42.37, -71.11))
    assert 0.071 * 0.75 <= sea_bos <= 0.071 * 1.25
    # and never below the physical floor: light in fibre along the great circle, there and back
    assert nyc_la > 2 * 3965 / FIBRE_KM_PER_S


def test_eu_users_to_dublin_and_stockholm():
    # EU centroid (Frankfurt area): both regions ~1,100-1,200 km away, a few tens of ms
    for region in ("eu-west-1", "eu-north-1"):
        assert 0.030 < rtt_s("eu", region) < 0.070


@pytest.mark.parametrize("j, r", [("xx", "eu-west-1"), ("eu", "mars-1")])
def test_unknown_names_raise_key_error(j, r):
    with pytest.raises(KeyError):
        rtt_s(j, r)


def test_negative_distance_refused():
    with pytest.raises(ValueError):
        path_rtt_s(-1.0)
