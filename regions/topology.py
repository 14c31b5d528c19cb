"""Typed topology: what `meridian:topology` in a Pulumi stack file declares.

Parsing and validation (every problem reported at once) live in `regions.validate`;
everything downstream receives these frozen objects, never raw dicts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from regions.residency import Transfer

Strategy = Literal["backup-restore", "pilot-light", "warm-standby", "active-active"]
Role = Literal["primary", "standby", "active"]
STRATEGIES: tuple[str, ...] = ("backup-restore", "pilot-light", "warm-standby", "active-active")


@dataclass(frozen=True)
class RegionRole:
    region: str
    role: Role


@dataclass(frozen=True)
class DRPolicy:
    strategy: Strategy
    rto_seconds: float
    rpo_seconds: float


@dataclass(frozen=True)
class JurisdictionConfig:
    code: str
    regions: tuple[RegionRole, ...]
    dr: DRPolicy

    @property
    def region_codes(self) -> tuple[str, ...]:
        return tuple(r.region for r in self.regions)

    @property
    def primary(self) -> str | None:
        return next((r.region for r in self.regions if r.role == "primary"), None)

    @property
    def standbys(self) -> tuple[str, ...]:
        return tuple(r.region for r in self.regions if r.role == "standby")

    @property
    def serving(self) -> tuple[str, ...]:
        """Regions that take traffic while all is healthy."""
        return tuple(r.region for r in self.regions if r.role in ("primary", "active"))


@dataclass(frozen=True)
class SLO:
    percentile: float
    ttft_ms: float | None = None
    e2e_ms: float | None = None


@dataclass(frozen=True)
class ReplicaBounds:
    min: int
    max: int


@dataclass(frozen=True)
class Workload:
    name: str
    instance_type: str
    data_classes: tuple[str, ...]
    jurisdictions: tuple[str, ...]
    slo: SLO
    replicas: ReplicaBounds
    spot_share: float = 0.0  # share of replicas the controller may run on spot


@dataclass(frozen=True)
class Topology:
    domain: str
    jurisdictions: dict[str, JurisdictionConfig]
    workloads: tuple[Workload, ...]
    transfers: tuple[Transfer, ...] = ()
    stack: str = ""  # stack name, from the file name Pulumi.<stack>.yaml
    source: str = ""  # path of the stack file it came from

    def all_regions(self) -> tuple[str, ...]:
        return tuple(r for j in self.jurisdictions.values() for r in j.region_codes)

    def jurisdiction_of(self, region: str) -> str:
        for code, j in self.jurisdictions.items():
            if region in j.region_codes:
                return code
        raise KeyError(region)
