import ipaddress
import itertools

from regions.catalog import load_catalog
from regions.jurisdictions import load_jurisdictions
from regions.residency import DataClass, Transfer, Use, check

REQUIRED = """eu-west-1 eu-central-1 eu-north-1 eu-south-1 eu-west-2 us-east-1 us-east-2 us-west-2
ca-central-1 sa-east-1 ap-south-1 ap-south-2 ap-southeast-1 ap-southeast-2 ap-northeast-1
ap-northeast-3 ap-northeast-2 me-central-1""".split()


def test_catalog_covers_required_regions_and_jurisdictions():
    catalog = load_catalog()
    assert set(REQUIRED) <= set(catalog.regions)
    assert len({r.jurisdiction for r in catalog.regions.values()}) >= 10
    juris = load_jurisdictions()
    assert all(r.jurisdiction in juris for r in catalog.regions.values())
    assert "vn" in juris and not catalog.in_jurisdiction("vn")


def test_vpc_cidrs_are_slash16_and_never_overlap():
    nets = {c: ipaddress.ip_network(r.vpc_cidr) for c, r in load_catalog().regions.items()}
    assert all(n.prefixlen == 16 for n in nets.values())
    for (a, na), (b, nb) in itertools.combinations(nets.items(), 2):
        assert not na.overlaps(nb), f"{a} {na} overlaps {b} {nb}"


def test_every_offer_has_positive_prices_and_spot_below_on_demand():
    for region in load_catalog().regions.values():
        assert region.instances, region.code
        for offer in region.instances:
            assert 0 < offer.spot_usd_per_hour < offer.on_demand_usd_per_hour


def test_personal_data_stays_home_unless_transfer_declared():
    assert check(DataClass.PERSONAL, "eu", "eu-central-1", Use.FAILOVER)
    refused = check(DataClass.PERSONAL, "eu", "eu-west-2", Use.REPLICATE)
    assert not refused and "eu-west-2" in refused.reason
    allowed = check("personal", "eu", "eu-west-2", "replicate",
                    transfers=[Transfer("eu", "uk", "adequacy decision")])
    assert allowed and "adequacy" in allowed.reason
    # a transfer is one-way
    assert not check("personal", "uk", "eu-west-1", "store", transfers=[Transfer("eu", "uk", "x")])


def test_model_and_telemetry_rules():
    assert check("model", "eu", "us-east-1", "replicate", topology_regions=["eu-west-1", "us-east-1"])
    assert not check("model", "eu", "ap-south-1", "replicate", topology_regions=["eu-west-1"])
    assert not check("telemetry", "eu", "us-east-1", "store")
    assert check("telemetry", "eu", "us-east-1", "store", aggregated=True)
