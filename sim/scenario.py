"""Failure and market scenarios injected into the twin (what chaos drills drive).

A `Scenario` is a list of events. Each event turns itself into timed actions on a
`Schedule` (`schedule(sched)`); the fleet applies the actions at their step. A new kind of
event is one small class with a `schedule` method; the fleet needs no change unless it
needs a new action verb.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from regions.errors import InputError, Problem
from sim.profiles import GpuProfile, get_profile


@dataclass
class Schedule:
    """Actions by time: (time_s, verb, args). The fleet sorts them into its steps."""

    actions: list[tuple[float, str, tuple]] = field(default_factory=list)

    def at(self, time_s: float, verb: str, *args) -> None:
        self.actions.append((float(time_s), verb, args))


def _window(name: str, start_s: float, end_s: float) -> None:
    if not (0 <= start_s < end_s):
        raise InputError(f"bad {name} event", [Problem(
            name, f"start {start_s} and end {end_s} must satisfy 0 <= start < end", fix="fix the times")])


@dataclass(frozen=True)
class RegionOutage:
    """The region is unreachable: its replicas, queue and running requests are lost; the edge
    fails its users over to the next region residency allows. It returns empty at `end_s`."""

    region: str
    start_s: float
    end_s: float

    def schedule(self, sched: Schedule) -> None:
        _window("RegionOutage", self.start_s, self.end_s)
        sched.at(self.start_s, "region_down", self.region)
        sched.at(self.end_s, "region_up", self.region)


@dataclass(frozen=True)
class AzOutage:
    """One availability zone fails: `fraction` of the region's replicas (default one zone's
    share) die at `start_s` and are replaced in the remaining zones (cold start). `end_s`, when
    the zone returns, changes nothing: the replacements already run elsewhere."""

    region: str
    start_s: float
    end_s: float
    fraction: float | None = None

    def schedule(self, sched: Schedule) -> None:
        _window("AzOutage", self.start_s, self.end_s)
        sched.at(self.start_s, "kill", self.region, self.fraction, False, 0.0)


@dataclass(frozen=True)
class SpotReclaim:
    """`fraction` of the region's spot replicas get the two-minute interruption notice at `at_s`."""

    region: str
    fraction: float
    at_s: float
    notice_s: float = 120.0

    def schedule(self, sched: Schedule) -> None:
        if not 0 < self.fraction <= 1:
            raise InputError("bad SpotReclaim event", [Problem("fraction", "must be in (0, 1]", fix="e.g. 0.5")])
        sched.at(self.at_s, "kill", self.region, self.fraction, True, self.notice_s)


@dataclass(frozen=True)
class MetricsBlackout:
    """Scrapes fail: policies see metric fields as None and a growing `metrics_age_s`."""

    start_s: float
    end_s: float

    def schedule(self, sched: Schedule) -> None:
        _window("MetricsBlackout", self.start_s, self.end_s)
        sched.at(self.start_s, "blackout", True)
        sched.at(self.end_s, "blackout", False)


@dataclass(frozen=True)
class LatencyInjection:
    """Adds `extra_s` to every first token served in `region` during the window."""

    region: str
    extra_s: float
    start_s: float
    end_s: float

    def schedule(self, sched: Schedule) -> None:
        _window("LatencyInjection", self.start_s, self.end_s)
        sched.at(self.start_s, "latency", self.region, self.extra_s)
        sched.at(self.end_s, "latency", self.region, 0.0)


@dataclass(frozen=True)
class PriceSpike:
    """Multiplies the region's prices (spot only, or all capacity) during the window."""

    region: str
    multiplier: float
    start_s: float
    end_s: float
    spot_only: bool = True

    def schedule(self, sched: Schedule) -> None:
        _window("PriceSpike", self.start_s, self.end_s)
        sched.at(self.start_s, "price", self.region, self.multiplier, self.spot_only)
        sched.at(self.end_s, "price", self.region, 1.0, self.spot_only)


@dataclass(frozen=True)
class TrafficSurge:
    """Multiplies arrivals (of one jurisdiction, or all) during the window."""

    multiplier: float
    start_s: float
    end_s: float
    jurisdiction: str | None = None

    def schedule(self, sched: Schedule) -> None:
        _window("TrafficSurge", self.start_s, self.end_s)
        sched.at(self.start_s, "surge", self.jurisdiction, self.multiplier, self.end_s)


@dataclass(frozen=True)
class ModelSwap:
    """A different model or instance type takes over `region` at `at_s`: a rolling deployment
    compressed into one step, region-wide (the fleet counts a region's replicas, it keeps no
    list of them, so they cannot differ one by one). From `at_s` every replica has `profile`'s
    batch slots, prefill and decode speed, replicas launched later draw its cold start, and the
    region bills at the catalog price of `profile.instance_type` (refused at fleet setup where
    the region does not offer it). The replica count does not change. Requests already in a
    slot finish at the old speed (the old pods drain them); while they hold more slots than the
    new batch size leaves, nothing new is admitted. `profile` is an instance type of
    `sim/data/gpu_profiles.json` or a `GpuProfile` (e.g. `dataclasses.replace` of one: another
    model on the same instance). The oracle baseline still plans with the fleet's first
    profile, and the live TTFT gauge reads the one window that spans the swap at the new
    prefill speed (the scores use each request's own)."""

    region: str
    at_s: float
    profile: str | GpuProfile

    def gpu_profile(self) -> GpuProfile:
        if isinstance(self.profile, GpuProfile):
            p = self.profile
            if p.batch_slots >= 1 and p.prefill_tokens_per_s > 0 and p.decode_tokens_per_s_batch1 > 0:
                return p
            raise InputError("bad ModelSwap event", [Problem(
                "profile", f"{p.instance_type}: batch_slots {p.batch_slots}, prefill {p.prefill_tokens_per_s} tok/s, "
                f"decode {p.decode_tokens_per_s_batch1} tok/s", fix="at least one slot and positive speeds")])
        return get_profile(self.profile, field="profile")

    def schedule(self, sched: Schedule) -> None:
        if not (math.isfinite(self.at_s) and self.at_s >= 0):
            raise InputError("bad ModelSwap event", [Problem(
                "at_s", f"{self.at_s} is not a time in the run", fix="seconds from the start, >= 0")])
        sched.at(self.at_s, "swap", self.region, self.gpu_profile())


@dataclass(frozen=True)
class Scenario:
    events: tuple = ()

    def schedule(self) -> Schedule:
        sched = Schedule()
        for event in self.events:
            event.schedule(sched)
        sched.actions.sort(key=lambda a: a[0])
        return sched
