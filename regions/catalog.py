"""Region catalog: AWS regions, their jurisdiction, zones, GPU offerings and prices.

The figures live in `data/catalog.json` with their source and date; this module
only loads and answers questions about them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

CapacityType = Literal["on-demand", "spot"]


@dataclass(frozen=True)
class InstanceOffer:
    type: str
    gpus: int
    gpu: str
    gpu_memory_gib: int
    on_demand_usd_per_hour: float
    spot_usd_per_hour: float

    def price(self, capacity: CapacityType) -> float:
        return self.spot_usd_per_hour if capacity == "spot" else self.on_demand_usd_per_hour


@dataclass(frozen=True)
class Region:
    code: str
    jurisdiction: str
    city: str
    latitude: float
    longitude: float
    availability_zones: tuple[str, ...]
    vpc_cidr: str
    instances: tuple[InstanceOffer, ...]

    def offer(self, instance_type: str) -> InstanceOffer | None:
        return next((i for i in self.instances if i.type == instance_type), None)

    def offers(self, instance_type: str) -> bool:
        return self.offer(instance_type) is not None

    def cheapest_gpu(self) -> InstanceOffer:
        return min(self.instances, key=lambda i: i.on_demand_usd_per_hour)


@dataclass(frozen=True)
class Catalog:
    regions: dict[str, Region]
    source: dict[str, str]

    def region(self, code: str) -> Region:
        return self.regions[code]

    def in_jurisdiction(self, jurisdiction: str) -> list[Region]:
        return [r for r in self.regions.values() if r.jurisdiction == jurisdiction]

    def price(self, region: str, instance_type: str, capacity: CapacityType = "on-demand") -> float:
        offer = self.regions[region].offer(instance_type)
        if offer is None:
            raise KeyError(f"{instance_type} is not offered in {region}")
        return offer.price(capacity)


def _read(name: str) -> dict:
    return json.loads(resources.files("regions").joinpath("data", name).read_text())


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    raw = _read("catalog.json")
    regions = {}
    for r in raw["regions"]:
        regions[r["code"]] = Region(
            code=r["code"],
            jurisdiction=r["jurisdiction"],
            city=r["city"],
            latitude=r["latitude"],
            longitude=r["longitude"],
            availability_zones=tuple(r["availability_zones"]),
            vpc_cidr=r["vpc_cidr"],
            instances=tuple(InstanceOffer(**i) for i in r["instances"]),
        )
    return Catalog(regions=regions, source=raw["source"])


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance; the twin and the edge model use it as a latency proxy."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))
