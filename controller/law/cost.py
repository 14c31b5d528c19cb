"""Capacity mix: spot up to `limits.spot_share`, on-demand fallback for missing spot,
all under the budget ceiling.

The fallback is SkyServe's dynamic on-demand fallback (Mao et al., "SkyServe:
Serving AI Models across Regions and Clouds with Spot Instances", EuroSys 2025,
arXiv:2411.01438; SkyPilot docs "Using Spot Instances for Serving",
`dynamic_ondemand_fallback`): keep the spot target, and run on-demand replicas for
every spot replica that is not ready, releasing them as spot comes back. One
refinement: spot replicas the law itself just ordered to grow the fleet are not
covered by *new* on-demand while they are within their expected cold start -- an
on-demand fallback ordered at the same moment would be ready no sooner, so it would
only add cost -- but on-demand replicas already running are kept until the spot
replacing them is ready (make before break). Spot that was reclaimed, or is later
than a cold start, is covered at once. Spot that stays un-ready well past a cold start
is not covered for good: `spotwatch.SpotWatch` then plans on spot only what is ready,
the rest on on-demand, and probes for spot again with backoff.
"""
from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from controller.law.minmax import max2, min2
from controller.law.safety import hourly_cost
from controller.law.settings import LawSettings
from controller.law.spotwatch import SpotWatch
from controller.law.types import Limits, Observation


class Mix(NamedTuple):
    replicas: int  # total = needed + fallback
    spot: int
    fallback: int  # on-demand replicas covering spot that is not ready
    budget_limited: bool
    note: str


def spot_usable(obs: Observation, limits: Limits) -> bool:
    p = obs.price_spot_per_hour
    return (
        limits.spot_share > 0
        and p is not None
        and math.isfinite(p)
        and p >= 0
        and p < obs.price_on_demand_per_hour
    )


class MixPlanner:
    def __init__(self, settings: LawSettings | None = None) -> None:
        s = settings or LawSettings()
        self._spot_target = 0
        self._growth: deque[tuple[float, int]] = deque()  # (ordered at, spot replicas)
        self.watch = SpotWatch(s.spot_give_up_cold_starts, s.spot_retry_initial_s, s.spot_retry_max_s)

    def plan(self, obs: Observation, needed: int, limits: Limits, cold_start_s: float, floor: int) -> Mix:
        use_spot = spot_usable(obs, limits)
        spot = math.floor(needed * min2(max2(limits.spot_share, 0.0), 1.0)) if use_spot else 0
        now = obs.time_s
        short = self.watch.update(now, spot, obs.ready_spot, cold_start_s)
        if short.cap is not None:
            spot = min2(spot, short.cap)
        if spot > self._spot_target:
            self._growth.append((now, spot - self._spot_target))
        self._spot_target = spot
        while self._growth and self._growth[0][0] < now - cold_start_s:
            self._growth.popleft()
        fallback = 0
        if use_spot:
            fresh = min2(sum(n for _, n in self._growth), spot)
            not_ready = max2(0, spot - obs.ready_spot)
            # new on-demand only for spot that was lost or is late, not for spot just ordered
            cover = max2(0, not_ready - fresh)
            # make before break: on-demand already running beyond the base share stays
            # until the spot replacing it is ready (e.g. moving a warm fleet onto spot)
            running_od = (obs.ready_replicas - obs.ready_spot) + (obs.starting_replicas - obs.starting_spot)
            keep = min2(max2(0, running_od - (needed - spot)), not_ready)
            fallback = max2(cover, keep)
        cover_note = f"{fallback} on-demand covering spot not ready" if fallback else ""
        note = f"{cover_note}; {short.note}" if cover_note and short.note else cover_note or short.note
        return self._fit_budget(obs, limits, needed, spot, fallback, floor, note)

    def _fit_budget(
        self, obs: Observation, limits: Limits, needed: int, spot: int, fallback: int, floor: int, note: str
    ) -> Mix:
        budget = limits.budget_per_hour
        if budget is None:
            return Mix(needed + fallback, spot, fallback, False, note)
        p_od, p_spot = obs.price_on_demand_per_hour, obs.price_spot_per_hour if spot else None

        def cost(n: int, s: int, f: int) -> float:
            return hourly_cost(n - s + f, s, p_od, p_spot)

        if cost(needed, spot, fallback) <= budget:
            return Mix(needed + fallback, spot, fallback, False, note)
        share = spot / needed if needed else 0.0
        # the fallback is insurance: it goes first, then replicas, down to the floor
        while fallback > 0 and cost(needed, spot, fallback) > budget:
            fallback -= 1
        while needed > floor and cost(needed, spot, fallback) > budget:
            needed -= 1
            spot = math.floor(needed * share)
        over = cost(needed, spot, fallback) > budget
        why = (
            f"budget {budget:.2f} USD/h binds: min_replicas {floor} alone costs {cost(needed, spot, fallback):.2f} USD/h"
            if over
            else f"budget {budget:.2f} USD/h binds at {needed + fallback} replicas"
        )
        return Mix(needed + fallback, spot, fallback, True, why)
