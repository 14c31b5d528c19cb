"""Geography for placement: client RTTs and the candidates `controller.law.placement` orders.

Built from the world model (`regions.network.rtt_s`, `regions.residency.check`, catalog prices)
for the twin (`sim.fleet`, `FleetConfig.placement`), the bench's warm start and
`meridian placement`. The residency verdict of every candidate is computed here, with the
same call the edge and the fleet use (personal data, use `serve`), and handed to the pure law.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from controller.law.placement import Candidate, Placement, place
from controller.law.types import Objective
from regions.catalog import load_catalog
from regions.network import rtt_s
from regions.residency import DataClass, Transfer, Use, check

MODES = ("off", "closest", "cost")


def rtt_table(jurisdictions: Sequence[str], regions: Sequence[str]) -> np.ndarray:
    """Seconds of round trip, jurisdiction x region (a jurisdiction without a centroid: 0)."""
    out = np.zeros((len(jurisdictions), len(regions)))
    for j, code in enumerate(jurisdictions):
        for r, region in enumerate(regions):
            try:
                out[j, r] = rtt_s(code, region)
            except KeyError:  # unknown jurisdiction: no geography to add (residency still applies)
                out[j, r] = 0.0
    return out


def candidates(home: str, regions: Iterable[str], prices: Mapping[str, float], *,
               transfers: Iterable[Transfer] = (), topology_regions: Iterable[str] | None = None,
               healthy: Mapping[str, bool] | None = None,
               predicted: Mapping[str, float | None] | None = None) -> list[Candidate]:
    """One `Candidate` per region, each with its residency verdict for `home`'s personal data."""
    transfers = tuple(transfers)
    topology_regions = tuple(topology_regions) if topology_regions is not None else None
    out = []
    for region in regions:
        verdict = check(DataClass.PERSONAL, home, region, Use.SERVE, transfers=transfers,
                        topology_regions=topology_regions)
        out.append(Candidate(region=region, price_per_hour=prices[region], rtt_s=rtt_s(home, region),
                             allowed=verdict.allowed, healthy=(healthy or {}).get(region, True),
                             predicted_ttft_s=(predicted or {}).get(region), verdict=verdict.reason))
    return out


def catalog_prices(regions: Iterable[str], instance_type: str) -> dict[str, float]:
    """On-demand price per replica-hour of `instance_type` in each region (catalog figures).
    Spot prices are the same share of on-demand in every region (catalog source), so the
    on-demand price ranks regions for a spot mix too."""
    cat = load_catalog()
    return {r: cat.price(r, instance_type) for r in regions}


def static_placement(home: str, serving: Sequence[str], objective: Objective, instance_type: str, *,
                     transfers: Iterable[Transfer] = (), topology_regions: Iterable[str] | None = None,
                     others: Sequence[str] = ()) -> Placement:
    """Placement at catalog prices with every region healthy and no prediction yet: the
    first placement a run makes (its warm start) and what `meridian placement` prints.
    `others` are further regions shown only as refused when residency forbids them."""
    pool = list(dict.fromkeys(list(serving) + list(others)))
    cands = candidates(home, pool, catalog_prices(pool, instance_type), transfers=transfers,
                       topology_regions=topology_regions)
    keep = set(serving)
    return place([c for c in cands if c.region in keep or not c.allowed], objective)


MIN_SERVER_S = 0.001  # a region farther than the objective still gets a positive (hopeless) target


def server_objectives(objective: Objective, jurisdictions: Sequence[str], regions: Sequence[str],
                      transfers: Iterable[Transfer] = ()) -> dict[str, Objective]:
    """Per region, the objective its own (server-side) metrics must meet: the client objective
    less the longest round trip of any jurisdiction whose personal data it may serve -- what an
    operator would write in the region's InferenceScaler. Regions no jurisdiction may use keep
    the objective as it is."""
    transfers = tuple(transfers)
    table = rtt_table(jurisdictions, regions)
    out = {}
    for r, region in enumerate(regions):
        rtts = [table[j, r] for j, code in enumerate(jurisdictions)
                if check(DataClass.PERSONAL, code, region, Use.SERVE, transfers=transfers,
                         topology_regions=tuple(regions))]
        if not rtts:
            continue
        rtt = max(rtts)
        out[region] = replace(
            objective,
            ttft_s=None if objective.ttft_s is None else max(MIN_SERVER_S, objective.ttft_s - rtt),
            e2e_s=None if objective.e2e_s is None else max(MIN_SERVER_S, objective.e2e_s - rtt))
    return out
