"""`--topology STACK_FILE`: one trace spread over a stack's jurisdictions, one autoscaler per region.

Split: each request (or cohort weight) goes to jurisdiction j with probability share_j
(seeded). Shares are equal unless given (`--shares eu=0.5,us=0.3,jp=0.2`): the stack file
says where users may be served, not how many there are. Time zones: the trace's clock is
read as local time in every jurisdiction, so jurisdiction j's part is shifted to UTC by
its `utc_offset_hours` (regions/data/jurisdictions.json) and wrapped around the trace's
length; a 14-day curve's daily peaks then arrive at each jurisdiction's local busy hours.

Routing order per jurisdiction: its serving regions (primary/active) closest first, then
its standbys closest first; residency (`regions.residency.check` with the stack's declared
transfers) still filters every candidate in the fleet.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from regions.catalog import distance_km, load_catalog
from regions.errors import InputError, Problem
from regions.jurisdictions import load_jurisdictions
from regions.topology import Topology
from sim.traces.arrivals import Arrivals


@dataclass(frozen=True)
class Split:
    topology: Topology
    shares: dict[str, float]
    seed: int = 0

    @property
    def jurisdictions(self) -> tuple[str, ...]:
        return tuple(self.shares)

    def regions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for j in self.jurisdictions for r in self.route_order()[j]))

    def route_order(self) -> dict[str, tuple[str, ...]]:
        cat, juris = load_catalog(), load_jurisdictions()
        out = {}
        for code in self.jurisdictions:
            cfg = self.topology.jurisdictions[code]
            j = juris[code]

            def dist(region: str) -> float:
                r = cat.regions[region]
                return distance_km(j.latitude, j.longitude, r.latitude, r.longitude)
            out[code] = tuple(sorted(cfg.serving, key=dist)) + tuple(sorted(cfg.standbys, key=dist))
        return out

    def apply(self, arrivals: Arrivals) -> tuple[Arrivals, tuple[str, ...], tuple]:
        rng = np.random.default_rng(self.seed + 104729)
        codes = self.jurisdictions
        juris = load_jurisdictions()
        shares = np.array([self.shares[c] for c in codes])
        parts = []
        if arrivals.cohorts:  # split each cohort's weight, keep every row in every jurisdiction
            for k, code in enumerate(codes):
                parts.append((k, np.arange(len(arrivals.time_s)), arrivals.weight * shares[k]))
        else:
            pick = rng.choice(len(codes), size=len(arrivals.time_s), p=shares / shares.sum())
            for k in range(len(codes)):
                rows = np.flatnonzero(pick == k)
                parts.append((k, rows, arrivals.weight[rows]))
        times, weights, prompts, outputs, homes = [], [], [], [], []
        for k, rows, w in parts:
            shift = -juris[codes[k]].utc_offset_hours * 3600.0
            times.append((arrivals.time_s[rows] + shift) % arrivals.duration_s)
            weights.append(w)
            prompts.append(arrivals.prompt_tokens[rows])
            outputs.append(arrivals.output_tokens[rows])
            homes.append(np.full(len(rows), k, dtype=np.int32))
        t = np.concatenate(times)
        order = np.argsort(t, kind="stable")
        notes = arrivals.notes + [f"split over {', '.join(f'{c} {self.shares[c]:.0%}' for c in codes)} "
                                  f"(stack {self.topology.source or self.topology.stack}), shifted by UTC offsets"]
        split = replace(arrivals, time_s=t[order], weight=np.concatenate(weights)[order],
                        prompt_tokens=np.concatenate(prompts)[order], output_tokens=np.concatenate(outputs)[order],
                        home=np.concatenate(homes)[order], jurisdictions=codes, notes=notes, cache={})
        return split, self.regions(), tuple(self.topology.transfers)

    def region_shares(self, arrivals: Arrivals) -> dict[str, float]:
        """Share of the load each region carries while all is healthy (its jurisdictions' first choice)."""
        out = {r: 0.0 for r in self.regions()}
        total = self.shares and sum(self.shares.values())
        for code, order in self.route_order().items():
            out[order[0]] += self.shares[code] / total
        return out


def parse_shares(text: str | None, codes: tuple[str, ...]) -> dict[str, float]:
    if not text:
        return {c: 1.0 / len(codes) for c in codes}
    shares, problems = {}, []
    for item in text.split(","):
        code, _, value = item.partition("=")
        code = code.strip()
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if code not in codes or not 0 < share < math.inf:
            problems.append(Problem("--shares", f"{item!r}: need CODE=SHARE with CODE in {', '.join(codes)} "
                                    "and SHARE a finite number > 0", fix="e.g. --shares eu=0.5,us=0.5"))
        elif code in shares:
            problems.append(Problem("--shares", f"{code} is given twice", fix="give each jurisdiction once"))
        else:
            shares[code] = share
    if problems:
        raise InputError("bad --shares", problems)
    total = sum(shares.values())
    return {c: shares[c] / total for c in codes if c in shares}


def load_split(stack_file: str, shares: str | None = None, seed: int = 0) -> Split:
    from regions.validate import load_stack

    topology = load_stack(stack_file)
    codes = tuple(topology.jurisdictions)
    if topology.workloads:
        codes = tuple(c for c in topology.workloads[0].jurisdictions if c in topology.jurisdictions) or codes
    return Split(topology, parse_shares(shares, codes), seed)
