"""What the estate contains, decided from the topology before any resource exists.

Pure functions over `regions.topology` objects: which regions get a cluster, how big
each GPU node group may be, which buckets replicate where, and how the edge routes.
The DR strategy decides all of it (AWS "Disaster Recovery of Workloads on AWS"
whitepaper, 2021: backup & restore, pilot light, warm standby, multi-site active/active):

| strategy       | standby cluster | standby GPU nodes       | data                    | DNS      |
|----------------|-----------------|-------------------------|-------------------------|----------|
| backup-restore | none (re-create)| -                       | replicated to standby   | simple   |
| pilot-light    | yes             | 0 (scale up on failover)| replicated continuously | failover |
| warm-standby   | yes             | workload minimum        | replicated continuously | failover |
| active-active  | every region serves, full size                | replicated both ways    | latency  |
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Literal

from regions.catalog import load_catalog
from regions.residency import DataClass, Use, check
from regions.topology import JurisdictionConfig, Topology, Workload

Capacity = Literal["on-demand", "spot"]
Routing = Literal["simple", "failover", "latency"]

MAX_AZS = 3
# When no workload declares a data class, a region still keeps model artifacts.
DEFAULT_DATA_CLASSES = (DataClass.MODEL.value,)


@dataclass(frozen=True)
class GpuGroup:
    instance_type: str
    capacity: Capacity
    min_size: int
    desired_size: int
    max_size: int


@dataclass(frozen=True)
class RegionLayout:
    region: str
    jurisdiction: str  # topology jurisdiction whose data the region holds
    role: str
    strategy: str
    has_cluster: bool
    gpu_groups: tuple[GpuGroup, ...]
    data_classes: tuple[str, ...]
    availability_zones: tuple[str, ...]
    vpc_cidr: str


@dataclass(frozen=True)
class Replication:
    source: str
    destination: str
    data_class: str
    jurisdiction: str
    reason: str  # the residency verdict that allowed it


@dataclass(frozen=True)
class SkippedReplication:
    source: str
    destination: str
    data_class: str
    reason: str


@dataclass(frozen=True)
class JurisdictionRouting:
    jurisdiction: str
    mode: Routing
    targets: tuple[str, ...]  # regions; for failover (primary, standbys in order of takeover)
    countries: tuple[str, ...]


@dataclass(frozen=True)
class SubnetPlan:
    availability_zone: str
    public_cidr: str
    private_cidr: str


@dataclass(frozen=True)
class EstateLayout:
    regions: tuple[RegionLayout, ...]
    replications: tuple[Replication, ...]
    skipped: tuple[SkippedReplication, ...]
    routing: tuple[JurisdictionRouting, ...]

    def region(self, code: str) -> RegionLayout:
        return next(r for r in self.regions if r.region == code)


def plan_estate(topology: Topology) -> EstateLayout:
    from regions.jurisdictions import load_jurisdictions

    countries = {code: j.countries for code, j in load_jurisdictions().items()}
    regions: list[RegionLayout] = []
    replications: list[Replication] = []
    skipped: list[SkippedReplication] = []
    routing: list[JurisdictionRouting] = []
    for code, jur in topology.jurisdictions.items():
        workloads = [w for w in topology.workloads if code in w.jurisdictions]
        classes = _data_classes(workloads)
        for rr in jur.regions:
            storable = tuple(c for c in classes if check(c, code, rr.region, Use.STORE, transfers=topology.transfers,
                                                         topology_regions=topology.all_regions()))
            regions.append(_region_layout(code, jur, rr.region, rr.role, workloads, storable))
        stored = {r.region: r.data_classes for r in regions if r.jurisdiction == code}
        reps, skips = _replications(topology, code, jur, stored)
        replications += reps
        skipped += skips
        routing.append(JurisdictionRouting(code, *_routing(jur), countries=countries.get(code, ())))
    return EstateLayout(tuple(regions), tuple(replications), tuple(skipped), tuple(routing))


def _data_classes(workloads: list[Workload]) -> tuple[str, ...]:
    found = {c for w in workloads for c in w.data_classes}
    return tuple(c.value for c in DataClass if c.value in found) or DEFAULT_DATA_CLASSES


def _region_layout(code: str, jur: JurisdictionConfig, region: str, role: str,
                   workloads: list[Workload], classes: tuple[str, ...]) -> RegionLayout:
    strategy = jur.dr.strategy
    has_cluster = not (strategy == "backup-restore" and role == "standby")
    catalog_region = load_catalog().region(region)
    return RegionLayout(
        region=region, jurisdiction=code, role=role, strategy=strategy, has_cluster=has_cluster,
        gpu_groups=gpu_groups(workloads, role, strategy) if has_cluster else (),
        data_classes=classes,
        availability_zones=catalog_region.availability_zones[:MAX_AZS],
        vpc_cidr=catalog_region.vpc_cidr,
    )


def gpu_groups(workloads: list[Workload], role: str, strategy: str) -> tuple[GpuGroup, ...]:
    """One on-demand group per instance type, plus a spot group where a workload allows spot.

    One node per replica: the minimum replicas always sit on on-demand capacity (spot can be
    reclaimed), spot only ever adds the workload's `spot_share` of its maximum.
    """
    pilot_light_standby = strategy == "pilot-light" and role == "standby"
    groups: list[GpuGroup] = []
    for itype in dict.fromkeys(w.instance_type for w in workloads):
        ws = [w for w in workloads if w.instance_type == itype]
        lo = 0 if pilot_light_standby else sum(w.replicas.min for w in ws)
        hi = max(1, sum(w.replicas.max for w in ws))
        groups.append(GpuGroup(itype, "on-demand", lo, lo, max(hi, lo)))
        spot_max = math.ceil(sum(w.replicas.max * w.spot_share for w in ws))
        if spot_max > 0:
            groups.append(GpuGroup(itype, "spot", 0, 0, spot_max))
    return tuple(groups)


def dr_partners(jur: JurisdictionConfig, region: str) -> tuple[str, ...]:
    """Where a region's data is replicated to: standbys of the primary, or every other active."""
    if jur.dr.strategy == "active-active":
        return tuple(r for r in jur.serving if r != region)
    if region == jur.primary:
        return jur.standbys
    return ()


def _replications(topology: Topology, code: str, jur: JurisdictionConfig, stored: dict[str, tuple[str, ...]]
                  ) -> tuple[list[Replication], list[SkippedReplication]]:
    """Each data class a region stores goes to its DR partners where residency allows."""
    done, skipped = [], []
    for source in jur.region_codes:
        for dest in dr_partners(jur, source):
            for cls in stored[source]:
                verdict = check(cls, code, dest, Use.REPLICATE, transfers=topology.transfers,
                                topology_regions=topology.all_regions())
                if verdict:
                    done.append(Replication(source, dest, cls, code, verdict.reason))
                else:
                    skipped.append(SkippedReplication(source, dest, cls, verdict.reason))
    return done, skipped


def _routing(jur: JurisdictionConfig) -> tuple[Routing, tuple[str, ...]]:
    if jur.dr.strategy == "active-active" and len(jur.serving) > 1:
        return "latency", jur.serving
    primary = jur.primary or (jur.serving[0] if jur.serving else jur.region_codes[0])
    if jur.dr.strategy in ("pilot-light", "warm-standby") and jur.standbys:
        # Every standby, in the order listed: the edge chains Route 53 failover sets (one
        # PRIMARY and one SECONDARY per name) so the second standby takes over when the first
        # is down too; a standby with compute but no DNS path would be paid for and never used.
        return "failover", (primary, *jur.standbys)
    return "simple", (primary,)


def subnet_plan(vpc_cidr: str, zones: tuple[str, ...]) -> tuple[SubnetPlan, ...]:
    """Private /19s for nodes and pods (the VPC CNI uses VPC addresses), small public /22s
    for load balancers and NAT gateways, carved from the region's non-overlapping /16."""
    net = ipaddress.ip_network(vpc_cidr)
    private = list(net.subnets(new_prefix=net.prefixlen + 3))
    public = list(private[MAX_AZS].subnets(new_prefix=net.prefixlen + 6))
    return tuple(SubnetPlan(az, str(public[i]), str(private[i])) for i, az in enumerate(zones[:MAX_AZS]))
