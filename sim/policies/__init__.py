"""Autoscaling policies by name: each factory takes (objective, limits, knob) -> Policy.

Baselines (faithful re-implementations, sources in each module's docstring) and the
oracle. `KNOBS` says what each knob is, its search range and whether a larger value is
cheaper (used by the bench's tuning protocol). A policy that takes the objective itself
needs only a `REGISTRY` line; without a `KNOBS` entry the bench runs it untuned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from controller.law import meridian as meridian_law
from controller.law.types import Limits, Objective, Policy
from sim.policies import hpa, kpa, oracle, skyserve, skyserve_fallback, static


@dataclass(frozen=True)
class Knob:
    meaning: str
    low: float
    high: float
    integer: bool = False
    larger_is_cheaper: bool = True  # larger knob -> fewer replicas
    extra_iterations: int = 0  # bisections beyond the bench's default (cheap, precision-critical knobs)


Factory = Callable[[Objective, Limits, float], Policy]

REGISTRY: dict[str, Factory] = {
    "hpa": hpa.make,
    "kpa": kpa.make,
    "skyserve": skyserve.make,
    "skyserve-fallback": skyserve_fallback.make,
    "static": static.make,
    "oracle": oracle.make,
    "meridian": meridian_law.make,
}

KNOBS: dict[str, Knob] = {
    "hpa": Knob("target in-flight requests per pod", 0.5, 64.0),
    "kpa": Knob("target concurrency per pod", 0.5, 64.0),
    "skyserve": Knob("target QPS per replica", 0.05, 20.0),
    "skyserve-fallback": Knob("target QPS per replica", 0.05, 20.0),
    "static": Knob("replica count", 1, 100_000, integer=True, larger_is_cheaper=False),
    # The lower bound: worth a finer search (its runs are among the cheapest to simulate).
    "oracle": Knob("target slot utilization", 0.05, 1.0, extra_iterations=3),
    "meridian": Knob("none (learns from observations; the bench's tuning runs it unchanged)", 1.0, 1.0),
}

SPOT_CAPABLE = {"skyserve-fallback", "meridian"}

# With a topology and placement on (sim.bench), these route each jurisdiction's load by
# controller.law.placement; every other policy keeps closest-first routing. "NAME@closest"
# runs one of them closest-first instead: the counterfactual for the placement's saving.
PLACEMENT_AWARE = {"meridian"}
CLOSEST = "closest"

# Policies whose decisions are identical to another's when no spot is offered (on-demand
# capacity): the bench tunes and runs the other once and reports it under both names.
ON_DEMAND_TWIN = {"skyserve-fallback": "skyserve"}
