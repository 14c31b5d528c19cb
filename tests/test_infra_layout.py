"""infra.layout and infra.naming: what the estate contains, decided before any resource exists."""
from __future__ import annotations

import ipaddress

from infra.layout import gpu_groups, plan_estate, subnet_plan
from infra.naming import BACKUP_NAME_MAX, backup_name, bucket_name
from regions.residency import Transfer
from regions.topology import SLO, DRPolicy, JurisdictionConfig, RegionRole, ReplicaBounds, Topology, Workload


def _workload(name="chat", itype="g5.2xlarge", lo=2, hi=10, spot=0.0, jur=("eu",),
              classes=("personal", "model")) -> Workload:
    return Workload(name, itype, classes, jur, SLO(95, ttft_ms=800), ReplicaBounds(lo, hi), spot)


def _topology(strategy="warm-standby", regions=(("eu-west-1", "primary"), ("eu-central-1", "standby")),
              transfers=(), workloads=None, code="eu") -> Topology:
    jur = JurisdictionConfig(code, tuple(RegionRole(r, role) for r, role in regions), DRPolicy(strategy, 3600, 3600))
    return Topology("x.example.com", {code: jur}, tuple(workloads or [_workload(jur=(code,))]),
                    tuple(transfers), stack="t")


def test_subnets_are_disjoint_inside_the_vpc_and_at_most_three_zones():
    zones = ("eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d")
    plan = subnet_plan("10.16.0.0/16", zones)
    assert [p.availability_zone for p in plan] == list(zones[:3])
    vpc = ipaddress.ip_network("10.16.0.0/16")
    nets = [ipaddress.ip_network(c) for p in plan for c in (p.public_cidr, p.private_cidr)]
    assert all(n.subnet_of(vpc) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])


def test_pilot_light_standby_has_no_gpu_nodes_but_can_scale_to_the_maximum():
    groups = gpu_groups([_workload(lo=3, hi=12, spot=0.5)], "standby", "pilot-light")
    assert groups and all(g.min_size == 0 and g.desired_size == 0 for g in groups)
    assert {g.capacity: g.max_size for g in groups} == {"on-demand": 12, "spot": 6}


def test_warm_standby_keeps_the_workload_minimum_on_demand():
    groups = gpu_groups([_workload(lo=3, hi=12)], "standby", "warm-standby")
    assert [(g.capacity, g.min_size, g.max_size) for g in groups] == [("on-demand", 3, 12)]


def test_spot_group_only_where_a_workload_allows_spot_and_sized_by_its_share():
    ws = [_workload(lo=1, hi=10, spot=0.25), _workload("b", lo=1, hi=5, spot=0.0)]
    groups = gpu_groups(ws, "primary", "warm-standby")
    assert {(g.capacity, g.min_size, g.max_size) for g in groups} == {("on-demand", 2, 15), ("spot", 0, 3)}
    assert not [g for g in gpu_groups([_workload(spot=0.0)], "primary", "warm-standby") if g.capacity == "spot"]


def test_one_group_pair_per_instance_type():
    ws = [_workload(itype="g5.2xlarge", spot=0.5), _workload("b", itype="g6.xlarge", spot=0.5)]
    types = {(g.instance_type, g.capacity) for g in gpu_groups(ws, "active", "active-active")}
    assert types == {(t, c) for t in ("g5.2xlarge", "g6.xlarge") for c in ("on-demand", "spot")}


def test_backup_restore_standby_gets_data_but_no_cluster():
    layout = plan_estate(_topology("backup-restore"))
    assert layout.region("eu-west-1").has_cluster and not layout.region("eu-central-1").has_cluster
    assert {(r.source, r.destination) for r in layout.replications} == {("eu-west-1", "eu-central-1")}
    assert [j.mode for j in layout.routing] == ["simple"]


def test_every_standby_is_a_failover_target_in_the_order_listed():
    regions = (("eu-west-1", "primary"), ("eu-north-1", "standby"), ("eu-central-1", "standby"))
    for strategy in ("pilot-light", "warm-standby"):
        routing = plan_estate(_topology(strategy, regions)).routing[0]
        assert (routing.mode, routing.targets) == ("failover", ("eu-west-1", "eu-north-1", "eu-central-1"))


def test_active_active_replicates_both_ways_and_routes_by_latency():
    layout = plan_estate(_topology("active-active", (("us-east-1", "active"), ("us-west-2", "active")),
                                   code="us"))
    pairs = {(r.source, r.destination, r.data_class) for r in layout.replications}
    assert pairs == {(a, b, c) for a, b in (("us-east-1", "us-west-2"), ("us-west-2", "us-east-1"))
                     for c in ("personal", "model")}
    assert layout.routing[0].mode == "latency" and set(layout.routing[0].targets) == {"us-east-1", "us-west-2"}
    assert "US" in layout.routing[0].countries


def test_personal_data_is_not_replicated_to_a_standby_abroad_without_a_transfer():
    regions = (("eu-west-1", "primary"), ("eu-west-2", "standby"))  # eu-west-2 is London (uk)
    blocked = plan_estate(_topology("pilot-light", regions))
    assert {r.data_class for r in blocked.replications} == {"model"}
    assert [s.data_class for s in blocked.skipped] == ["personal"]
    allowed = plan_estate(_topology("pilot-light", regions, transfers=[Transfer("eu", "uk", "adequacy")]))
    assert {r.data_class for r in allowed.replications} == {"personal", "model"}


def test_bucket_names_are_valid_unique_and_stable_even_for_long_domains():
    domain = "a-very-long-subdomain-name.inference.some-company.example.com"
    names = {bucket_name(domain, "production", r, c) for r in ("eu-west-1", "ap-northeast-3")
             for c in ("personal", "model", "telemetry")}
    assert len(names) == 6 and all(3 <= len(n) <= 63 and n == n.lower() for n in names)
    assert bucket_name(domain, "production", "eu-west-1", "model") in names
    assert bucket_name(domain, "staging", "eu-west-1", "model") not in names


def test_a_standby_abroad_stores_only_what_a_declared_transfer_allows():
    regions = (("eu-west-1", "primary"), ("eu-west-2", "standby"))
    workload = _workload(classes=("personal", "model", "telemetry"))
    layout = plan_estate(_topology("pilot-light", regions, transfers=[Transfer("eu", "uk", "adequacy")],
                                   workloads=[workload]))
    assert layout.region("eu-west-1").data_classes == ("personal", "model", "telemetry")
    assert layout.region("eu-west-2").data_classes == ("personal", "model")  # telemetry only aggregated abroad
    assert {r.data_class for r in layout.replications} == {"personal", "model"}
    assert [(s.data_class, s.destination) for s in layout.skipped] == [("telemetry", "eu-west-2")]


def test_backup_names_fit_aws_backups_limit_even_for_long_stack_names():
    stack = "production-europe-and-asia-pacific"  # Pulumi allows stack names far longer than 50
    names = {backup_name(stack, r, c) for r in ("ap-northeast-1", "ap-northeast-3") for c in ("", "personal", "model")}
    assert len(names) == 6 and all(len(n) <= BACKUP_NAME_MAX for n in names)
    assert backup_name("dev", "eu-west-1", "model") == "meridian-dev-eu-west-1-model"  # short names unchanged
