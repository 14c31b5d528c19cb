"""Residency model: may data class D of jurisdiction J be used in region R?

One function answers it, with a reason, for infra, the controller, the twin and drills.
Default rules (issue 2): personal data is stored, processed, replicated, served and
failed over only inside its own jurisdiction, unless the topology declares a transfer
with a legal basis; model artifacts may go to any region the topology uses; telemetry
may leave its jurisdiction only aggregated.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable

from regions.catalog import load_catalog


class DataClass(str, Enum):
    PERSONAL = "personal"
    MODEL = "model"
    TELEMETRY = "telemetry"


class Use(str, Enum):
    STORE = "store"
    PROCESS = "process"
    REPLICATE = "replicate"
    SERVE = "serve"
    FAILOVER = "failover"


@dataclass(frozen=True)
class Transfer:
    """A declared transfer of personal data from one jurisdiction to another."""

    from_: str
    to: str
    basis: str


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def check(
    data_class: DataClass | str,
    home: str,
    region: str,
    use: Use | str = Use.STORE,
    *,
    transfers: Iterable[Transfer] = (),
    topology_regions: Iterable[str] | None = None,
    aggregated: bool = False,
) -> Verdict:
    """May `data_class` data belonging to jurisdiction `home` be used (`use`) in `region`?"""
    data_class, use = DataClass(data_class), Use(use)
    catalog = load_catalog()
    if region not in catalog.regions:
        return Verdict(False, f"{region} is not a known region")
    where = catalog.regions[region].jurisdiction
    if data_class is DataClass.MODEL:
        if topology_regions is not None and region not in set(topology_regions):
            return Verdict(False, f"model artifacts go only to regions of the topology; {region} is not one")
        return Verdict(True, f"model artifacts may be {use.value}d in any topology region")
    if where == home:
        return Verdict(True, f"{data_class.value} data of {home} stays in {home} ({region})")
    if data_class is DataClass.TELEMETRY and aggregated:
        return Verdict(True, "aggregated telemetry may leave its jurisdiction")
    for t in transfers:
        if data_class is DataClass.PERSONAL and t.from_ == home and t.to == where:
            return Verdict(True, f"declared transfer {home} -> {where} ({t.basis})")
    detail = " unless aggregated" if data_class is DataClass.TELEMETRY else ""
    return Verdict(
        False,
        f"{data_class.value} data of {home} may not be {_past(use)} in {region} ({where}){detail}; "
        f"declare a transfer {home} -> {where} with a legal basis or use a region in {home}",
    )


def _past(use: Use) -> str:
    return {"store": "stored", "process": "processed", "replicate": "replicated",
            "serve": "served", "failover": "failed over"}[use.value]
