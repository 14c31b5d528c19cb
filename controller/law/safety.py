"""Fail static and stay in bounds.

- Metric health: the arrival rate is what sizing rests on; if it is missing, NaN,
  negative or older than `stale_after_s`, the law holds the size (never down, never
  to zero). If the rate is fine but a latency or in-flight field is not, the law may
  still scale up on the rate but not down.
- Bounds: at least max(min_replicas, 1) -- the law never scales to zero on its own --
  and at most max_replicas; per-decision step limits.
- Budget ceiling: the hourly cost of the decided on-demand and spot replicas never
  exceeds `budget_per_hour`, except that `min_replicas` is kept even when it alone
  costs more (the decision then says so).
"""
from __future__ import annotations

import math
from typing import NamedTuple

from controller.law.minmax import max2, min2
from controller.law.types import Limits, Observation


class Health(NamedTuple):
    rate_ok: bool  # the arrival rate can be used
    full: bool  # every metric field the law learns from is usable
    problem: str  # why not, for the reason; "" when full


def _bad(x: float | None) -> bool:
    return x is None or not math.isfinite(x) or x < 0


def assess(obs: Observation, stale_after_s: float) -> Health:
    age = obs.metrics_age_s
    if age is None or not math.isfinite(age) or age > stale_after_s:
        shown = "unknown" if age is None or not math.isfinite(age) else f"{age:.0f} s"
        return Health(False, False, f"metrics stale (age {shown} > {stale_after_s:.0f} s)")
    if _bad(obs.arrival_rate_rps):
        return Health(False, False, f"arrival rate unusable ({obs.arrival_rate_rps!r})")
    missing = []
    if _bad(obs.in_flight):
        missing.append("in_flight")
    if _bad(obs.queued):
        missing.append("queued")
    # TTFT is legitimately absent when nothing arrived in the window
    if obs.arrival_rate_rps > 0 and _bad(obs.ttft_quantile_s):
        missing.append("ttft_quantile")
    if missing:
        return Health(True, False, f"{', '.join(missing)} unusable")
    return Health(True, True, "")


def size_bounds(limits: Limits) -> tuple[int, int]:
    """(fewest, most) replicas any decision may ask for: min_replicas but at least one,
    max_replicas but never below that floor."""
    floor = max2(limits.min_replicas, 1)
    return floor, max2(limits.max_replicas, floor)


def clamp(n: int, floor: int, most: int) -> int:
    """`n` within `size_bounds`."""
    return max2(floor, min2(n, most))


def step_bound(n: int, previous: int, limits: Limits) -> int:
    if limits.max_step_up is not None and n > previous + limits.max_step_up:
        return previous + limits.max_step_up
    if limits.max_step_down is not None and n < previous - limits.max_step_down:
        return previous - limits.max_step_down
    return n


def hourly_cost(on_demand: int, spot: int, price_od: float, price_spot: float | None) -> float:
    return on_demand * price_od + spot * (price_spot if price_spot is not None else price_od)
