"""A small self-contained fleet model for exercising the control law in tests.

It stands in for the digital twin (`sim/`) where the twin is not needed: one pooled
queue in front of `ready * slots` batch slots, Poisson arrivals, exponential
slot-holding times that lengthen as the batch fills, a prefill time that grows with
per-replica concurrency, fixed cold starts, and metrics the way Prometheus would
show them (rates and a TTFT quantile over a trailing 60 s window, sampled every 15 s).
The tests at the bottom check the model itself against closed-form M/M/c.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from controller.law.queueing import erlang_c
from controller.law.types import Decision, Observation


@dataclass
class FleetParams:
    slots: int = 16
    service_s: float = 8.0  # slot-holding time at an empty batch
    slowdown: float = 0.5  # service time grows by this share at a full batch
    prefill_s: float = 0.15
    prefill_full_s: float = 0.45  # prefill at a full batch
    cold_start_s: float = 120.0
    dt: float = 0.25
    window_s: float = 60.0
    scrape_s: float = 15.0
    price_od: float = 4.0
    price_spot: float = 1.5


@dataclass
class Replica:
    ready_at: float
    spot: bool
    on_od_node: bool = False  # asked for spot, runs on an on-demand node (billed and seen as such)


@dataclass
class RunResult:
    attainment: float
    windows: int
    gpu_hours: float
    cost: float
    replicas: list[tuple[float, int]] = field(default_factory=list)
    ready: list[tuple[float, int]] = field(default_factory=list)  # (time, ready replicas)
    decisions: list[tuple[float, Decision]] = field(default_factory=list)


class MiniFleet:
    def __init__(self, params: FleetParams, replicas: int, seed: int = 1):
        self.p = params
        self.rng = np.random.default_rng(seed)
        self.t = 0.0
        self.fleet = [Replica(-1.0, False) for _ in range(replicas)]
        self.busy = 0
        self.queue: deque[list] = deque()  # [arrival time, count]
        self.arrivals: deque[tuple[float, int]] = deque()
        self.ttfts: deque[tuple[float, float, int]] = deque()  # (arrival time, ttft, count)
        self.scored: list[tuple[float, float, int]] = []
        self.cost = 0.0
        self.gpu_s = 0.0
        self.blackout: tuple[float, float] | None = None
        # False: no spot capacity in the region. Two-pool fleets (the twin) leave spot
        # replicas pending (no node, not billed) until it returns, then start like any other;
        # with `spot_lands_on_demand` (the in-cluster runtime: one Deployment, whose pods the
        # scheduler puts on whatever node it gets) they run on on-demand nodes instead.
        self.spot_available = True
        self.spot_lands_on_demand = False

    # -- model ----------------------------------------------------------------------------
    def ready(self) -> list[Replica]:
        return [r for r in self.fleet if r.ready_at <= self.t]

    def occupancy(self, ready: int) -> float:
        return self.busy / max(ready * self.p.slots, 1)

    def step(self, rate: float) -> None:
        p = self.p
        ready = len(self.ready())
        occ = self.occupancy(ready)
        n_new = int(self.rng.poisson(rate * p.dt))
        if n_new:
            self.queue.append([self.t, n_new])
            self.arrivals.append((self.t, n_new))
        service = p.service_s * (1 + p.slowdown * occ)
        done = int(self.rng.binomial(self.busy, min(1.0, p.dt / service))) if self.busy else 0
        self.busy -= done
        capacity = ready * p.slots
        if self.busy > capacity:  # replicas vanished under running requests: requeue them
            self.queue.appendleft([self.t, self.busy - capacity])
            self.busy = capacity
        free = capacity - self.busy
        prefill = p.prefill_s + (p.prefill_full_s - p.prefill_s) * occ
        while free > 0 and self.queue:
            head = self.queue[0]
            take = min(free, head[1])
            ttft = self.t - head[0] + prefill
            self.ttfts.append((head[0], ttft, take))
            self.scored.append((head[0], ttft, take))
            head[1] -= take
            free -= take
            self.busy += take
            if head[1] == 0:
                self.queue.popleft()
        placed = [r for r in self.fleet if r.ready_at != math.inf]
        for r in placed:
            price = p.price_spot if r.spot and not r.on_od_node else p.price_od
            self.cost += price * p.dt / 3600
        self.gpu_s += len(placed) * p.dt
        self.t += p.dt

    def observe(self) -> Observation:
        p = self.p
        lo = self.t - p.window_s
        while self.arrivals and self.arrivals[0][0] < lo:
            self.arrivals.popleft()
        while self.ttfts and self.ttfts[0][0] < lo:
            self.ttfts.popleft()
        ready = self.ready()
        starting = [r for r in self.fleet if r.ready_at > self.t]
        rate = sum(n for _, n in self.arrivals) / p.window_s
        ttft = weighted_quantile(self.ttfts, 0.95) if self.ttfts else None
        queued = sum(c for _, c in self.queue)
        obs = Observation(
            time_s=self.t,
            ready_replicas=len(ready),
            starting_replicas=len(starting),
            arrival_rate_rps=rate,
            ttft_quantile_s=ttft,
            e2e_quantile_s=None,
            in_flight=float(self.busy),
            queued=float(queued),
            price_on_demand_per_hour=p.price_od,
            price_spot_per_hour=p.price_spot,
            ready_spot=sum(r.spot and not r.on_od_node for r in ready),
            starting_spot=sum(r.spot and not r.on_od_node for r in starting),
        )
        if self.blackout and self.blackout[0] <= self.t < self.blackout[1]:
            obs = Observation(
                time_s=self.t,
                ready_replicas=obs.ready_replicas,
                starting_replicas=obs.starting_replicas,
                arrival_rate_rps=None,
                ttft_quantile_s=None,
                e2e_quantile_s=None,
                in_flight=None,
                queued=None,
                price_on_demand_per_hour=p.price_od,
                price_spot_per_hour=p.price_spot,
                ready_spot=obs.ready_spot,
                starting_spot=obs.starting_spot,
                metrics_age_s=self.t - self.blackout[0],
            )
        return obs

    def apply(self, d: Decision) -> None:
        want_spot, want_od = d.spot, d.replicas - d.spot
        for spot, want in ((True, want_spot), (False, want_od)):
            mine = [r for r in self.fleet if r.spot == spot]
            if len(mine) < want:
                missing = spot and not self.spot_available
                ready_at = math.inf if missing and not self.spot_lands_on_demand else self.t + self.p.cold_start_s
                self.fleet += [Replica(ready_at, spot, missing and self.spot_lands_on_demand)
                               for _ in range(want - len(mine))]
            elif len(mine) > want:
                # remove starting replicas first, then the newest ready ones
                drop = sorted(mine, key=lambda r: -r.ready_at)[: len(mine) - want]
                ids = {id(r) for r in drop}
                self.fleet = [r for r in self.fleet if id(r) not in ids]

    def set_spot_available(self, available: bool, lands_on_demand: bool = False) -> None:
        self.spot_available, self.spot_lands_on_demand = available, lands_on_demand
        if available:  # pending spot replicas get their nodes now
            for r in self.fleet:
                if r.spot and r.ready_at == math.inf:
                    r.ready_at = self.t + self.p.cold_start_s

    def reclaim_spot(self, share: float) -> int:
        spot = [r for r in self.ready() if r.spot]
        lost = spot[: int(len(spot) * share)]
        ids = {id(r) for r in lost}
        self.fleet = [r for r in self.fleet if id(r) not in ids]
        return len(lost)


def weighted_quantile(rows, q: float) -> float:
    vals = np.array([v for _, v, _ in rows])
    wts = np.array([c for _, _, c in rows], dtype=float)
    order = np.argsort(vals)
    cum = np.cumsum(wts[order])
    idx = int(np.searchsorted(cum, q * cum[-1]))
    return float(vals[order][min(idx, len(vals) - 1)])


def run(
    policy,
    rate_at: Callable[[float], float],
    duration_s: float,
    params: FleetParams | None = None,
    start_replicas: int = 4,
    seed: int = 1,
    events: dict[float, Callable[[MiniFleet], None]] | None = None,
    score_after_s: float = 300.0,
    target_s: float = 1.0,
) -> RunResult:
    params = params or FleetParams()
    fleet = MiniFleet(params, start_replicas, seed)
    events = dict(events or {})
    next_decision = params.window_s  # metrics need one trailing window first
    result = RunResult(0.0, 0, 0.0, 0.0)
    while fleet.t < duration_s:
        for at in [a for a in events if a <= fleet.t]:
            events.pop(at)(fleet)
        if fleet.t >= next_decision:
            d = policy.decide(fleet.observe())
            fleet.apply(d)
            result.decisions.append((fleet.t, d))
            next_decision += policy.interval_s
        result.replicas.append((fleet.t, len(fleet.fleet)))
        result.ready.append((fleet.t, len(fleet.ready())))
        fleet.step(rate_at(fleet.t))
    met = total = 0
    rows = [r for r in fleet.scored if r[0] >= score_after_s]
    for w in range(int(score_after_s // 60), int(duration_s // 60)):
        win = [r for r in rows if w * 60 <= r[0] < (w + 1) * 60]
        total += 1
        if not win or weighted_quantile(win, 0.95) <= target_s:
            met += 1
    result.attainment = met / total if total else 1.0
    result.windows = total
    result.gpu_hours = fleet.gpu_s / 3600
    result.cost = fleet.cost
    return result


# -- the model itself is checked against M/M/c ---------------------------------------------
def test_minifleet_waiting_probability_matches_erlang_c():
    """Fixed fleet, no slowdown: the share of requests that wait is Erlang C."""
    params = FleetParams(slots=4, service_s=4.0, slowdown=0.0, prefill_s=0.0, prefill_full_s=0.0, dt=0.05)
    fleet = MiniFleet(params, replicas=3, seed=7)
    rate = 2.4  # 12 servers, load 9.6 erlangs
    while fleet.t < 4000:
        fleet.step(rate)
    rows = [r for r in fleet.scored if r[0] > 200]
    waited = sum(c for _, v, c in rows if v > params.dt * 1.5) / sum(c for _, _, c in rows)
    expected = erlang_c(12, rate * 4.0)
    assert abs(waited - expected) < 0.2 * expected


def test_minifleet_cold_start_delays_new_replicas():
    params = FleetParams(cold_start_s=60.0)
    fleet = MiniFleet(params, replicas=2)
    fleet.apply(Decision(replicas=5))
    assert fleet.observe().ready_replicas == 2 and fleet.observe().starting_replicas == 3
    while fleet.t < 61:
        fleet.step(0.0)
    assert fleet.observe().ready_replicas == 5
