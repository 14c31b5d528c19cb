"""Placement inside one jurisdiction: which region takes its load, and in what order the
others take it over when that region fails.

Pure and deterministic. The caller passes every fact in, the residency verdict included
(`regions.residency.check(personal, home, region, serve, ...)`): this package imports no world
model. The rule:

1. Residency first. A candidate flagged not allowed is never placed, whatever it costs; it is
   listed as refused with its verdict. A `current` region that is not allowed, or a not-allowed
   candidate reaching the result (which the filter below makes impossible), raises
   `ResidencyRefused` -- defence in depth, loud on purpose.
2. Fit. A healthy allowed candidate fits when RTT + planned server-side TTFT <= the TTFT target,
   where the plan is `target x ttft_headroom` (`LawSettings.ttft_headroom`, 0.8): the law sizes
   every region for that server-side percentile, the client adds one RTT, so the RTT must fit
   into the share of the objective the law leaves unplanned (200 ms of a 1 s objective). A
   region whose law predicts more than the plan (e.g. it sits at max replicas) is judged on its
   prediction; a prediction below the plan does not widen it (the law will size down to the plan).
3. Cost. The load goes to the cheapest fitting candidate (ties: lower RTT, then region code).
   Hysteresis: the `current` region keeps the load while it is allowed, healthy and fits, unless
   the cheapest saves at least `MIN_SAVING_SHARE` of its price per replica-hour.
4. Nothing fits: the lowest-RTT healthy allowed candidate, flagged at risk, and the reason says so.
5. Failover order after the first: the other fitting candidates by price, then the healthy ones
   that do not fit by RTT, then the unhealthy ones by RTT (routing takes them only once healthy).

Why 10 % (`MIN_SAVING_SHARE`): a move is not free -- the new region cold-starts the replicas for
the load while the old one bills until it has drained and scaled down -- and prices and the
law's predictions wobble. The Kubernetes HPA answers the same question for its own signal with
a 10 % deadband (kube-controller-manager `--horizontal-pod-autoscaler-tolerance`, default 0.1:
a desired/current ratio within 10 % of 1 is not acted on); placement uses that deadband on the
relative saving. The first placement (no `current`) has no deadband: nothing has to move.
The deadband cuts both ways: after a failover, or a price spike that moved the load, the load
stays where it went until going back saves 10 % too (eu-north-1 vs eu-west-1 is 5.4 %: it stays).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from controller.law.settings import LawSettings
from controller.law.types import Objective

MIN_SAVING_SHARE = 0.1  # the HPA's default tolerance, see the module docstring


class ResidencyRefused(ValueError):
    """A region that residency does not allow was about to take the load."""


@dataclass(frozen=True)
class Candidate:
    region: str
    price_per_hour: float  # per replica-hour, at the capacity type the law buys
    rtt_s: float  # users of the jurisdiction -> this region
    allowed: bool  # residency verdict, computed by the caller
    healthy: bool = True
    predicted_ttft_s: float | None = None  # the law's server-side TTFT percentile here, if known
    verdict: str = ""  # the residency verdict's reason (shown for refused candidates)


@dataclass(frozen=True)
class Placed:
    region: str
    price_per_hour: float
    rtt_s: float
    planned_ttft_s: float
    fits: bool
    healthy: bool
    reason: str


@dataclass(frozen=True)
class Placement:
    order: tuple[Placed, ...]  # first takes the load, the rest in failover order
    refused: tuple[tuple[str, str], ...]  # (region, why): not allowed, never placed
    at_risk: bool  # no healthy allowed candidate fits the objective
    kept: bool = False  # hysteresis kept `current` although a cheaper region fits

    @property
    def first(self) -> str | None:
        return self.order[0].region if self.order else None

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(p.region for p in self.order)


def place(candidates: Sequence[Candidate], objective: Objective, *, headroom: float | None = None,
          current: str | None = None, min_saving_share: float = MIN_SAVING_SHARE) -> Placement:
    """Order `candidates` (one jurisdiction's) for its load; see the module docstring."""
    target = _check(candidates, objective)
    plan = target * (LawSettings().ttft_headroom if headroom is None else headroom)
    refused = tuple(sorted((c.region, c.verdict or "residency does not allow it")
                           for c in candidates if not c.allowed))
    if current in dict(refused):
        raise ResidencyRefused(f"{current} is the current placement but residency does not allow it: "
                               f"{dict(refused)[current]}")
    allowed = [c for c in candidates if c.allowed]
    planned = {c.region: max(plan, c.predicted_ttft_s if _finite(c.predicted_ttft_s) else 0.0) for c in allowed}
    fits = {c.region: c.healthy and c.rtt_s + planned[c.region] <= target for c in allowed}
    by_price = sorted((c for c in allowed if fits[c.region]), key=lambda c: (c.price_per_hour, c.rtt_s, c.region))
    by_rtt = sorted((c for c in allowed if c.healthy), key=lambda c: (c.rtt_s, c.price_per_hour, c.region))
    sick = sorted((c for c in allowed if not c.healthy), key=lambda c: (c.rtt_s, c.price_per_hour, c.region))
    goal = f"{_dur(target)} p{objective.percentile:g}"

    def latency(c: Candidate) -> str:
        return f"RTT {_dur(c.rtt_s)} + planned {_dur(planned[c.region])} {'fits' if fits[c.region] else 'exceeds'} {goal}"

    best, why, kept = _first(by_price, by_rtt, current, min_saving_share, latency, goal)
    ranked = ([best] if best else []) + [c for c in by_price if c is not best]
    ranked += [c for c in by_rtt if c is not best and not fits[c.region]]
    reasons = [why] * bool(best) + [f"{c.region}: failover {i}: {_usd(c)}, {latency(c)}"
                                    for i, c in enumerate(ranked[1:], 2)]
    reasons += [f"{c.region}: unhealthy, failover {i} once it recovers: {_usd(c)}, RTT {_dur(c.rtt_s)}"
                for i, c in enumerate(sick, len(ranked) + 1)]
    order = tuple(Placed(c.region, c.price_per_hour, c.rtt_s, planned[c.region], fits[c.region], c.healthy, r)
                  for c, r in zip(ranked + sick, reasons))
    verdicts = {c.region: c.allowed for c in candidates}
    for p in order:  # defence in depth: the filter above must have kept every refused region out
        if not verdicts[p.region]:
            raise ResidencyRefused(f"{p.region} reached the placement although residency does not allow it")
    return Placement(order, refused, at_risk=bool(order) and not by_price, kept=kept)


def _first(by_price: list[Candidate], by_rtt: list[Candidate], current: str | None, min_saving_share: float,
           latency, goal: str) -> tuple[Candidate | None, str, bool]:
    """The region that takes the load, its reason, and whether the deadband kept `current`."""
    if not by_price:  # nothing fits: the lowest RTT, flagged
        if not by_rtt:
            return None, "", False
        c = by_rtt[0]
        return c, (f"{c.region}: objective at risk: no healthy allowed region fits {goal}; lowest RTT, "
                   f"{latency(c)}, {_usd(c)}"), False
    best = by_price[0]
    held = next((c for c in by_price if c.region == current), None)
    if held is not None and held is not best:
        saving = 1.0 - best.price_per_hour / held.price_per_hour
        if saving < min_saving_share:
            return held, (f"{held.region}: {_usd(held)}, {latency(held)}; kept: {best.region} at {_usd(best)} "
                          f"saves {saving:.1%} < {min_saving_share:.0%}"), True
    closest = by_rtt[0]
    if closest is best:
        versus = "cheapest that fits, also the closest"
    elif closest.price_per_hour > best.price_per_hour:
        versus = f"cheaper than the closest, {closest.region} {_usd(closest)}"
    else:
        versus = f"the closest, {closest.region}, does not fit"
    return best, f"{best.region}: {_usd(best)}, {latency(best)}; {versus}", False


def _check(candidates: Sequence[Candidate], objective: Objective) -> float:
    """Inputs are the caller's facts, already validated; a wrong one is a programming error."""
    target = objective.ttft_s
    if target is None or not _finite(target) or target <= 0:
        raise ValueError("placement needs a TTFT objective (Objective.ttft_s > 0)")
    seen = set()
    for c in candidates:
        if c.region in seen:
            raise ValueError(f"{c.region} is a candidate twice")
        seen.add(c.region)
        if not (_finite(c.price_per_hour) and c.price_per_hour > 0):
            raise ValueError(f"{c.region}: price per replica-hour must be finite and > 0, got {c.price_per_hour!r}")
        if not (_finite(c.rtt_s) and c.rtt_s >= 0):
            raise ValueError(f"{c.region}: RTT must be finite and >= 0, got {c.rtt_s!r}")
    return target


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def _usd(c: Candidate) -> str:
    return f"{c.price_per_hour:.2f} $/h"


def _dur(s: float) -> str:
    return f"{s:g} s" if s >= 1 and s == round(s, 3) else f"{s * 1000:.0f} ms"
