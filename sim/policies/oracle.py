"""`oracle`: perfect foresight of arrivals; the cost lower bound the others are compared to.

Not a published algorithm: it reads the region's future arrivals (`prepare`, which only
the oracle has), computes the batch slots they will keep busy (Little's law: arrival rate
x service time, smoothed over 60 s), turns that into replicas at the knob's slot
utilization, and asks at every moment for the most any instant in the next cold-start
(95th percentile) + one interval will need, so replicas are ready before the load comes
and released as soon as it is gone (billing is per second). Knob: target slot
utilization; the bench tunes it to the cheapest value meeting the objective.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from controller.law.types import Decision, Limits, Objective, Observation
from sim.profiles import GpuProfile


@dataclass
class Future:
    step_s: float
    count: np.ndarray
    prompt_sum: np.ndarray
    output_sum: np.ndarray
    profile: GpuProfile


def _rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    c = np.concatenate(([0.0], np.cumsum(x)))
    out = np.empty_like(x)
    idx = np.arange(len(x))
    lo = np.maximum(0, idx + 1 - w)
    out[:] = (c[idx + 1] - c[lo]) / (idx + 1 - lo)
    return out


def _forward_max(x: np.ndarray, w: int) -> np.ndarray:
    padded = np.concatenate((x, np.full(w - 1, x[-1] if len(x) else 0.0)))
    return sliding_window_view(padded, w).max(axis=1)


class OraclePolicy:
    uses_latency = False  # never reads TTFT/E2E quantiles (lets the twin skip computing them)
    name = "oracle"
    interval_s = 15.0

    def __init__(self, utilization: float, limits: Limits):
        self.utilization = utilization
        self.limits = limits
        self.plan: np.ndarray | None = None
        self.step_s = 1.0

    def prepare(self, future: Future) -> None:
        p, dt = future.profile, future.step_s
        u = self.utilization
        slot_s = (p.prefill_s(future.prompt_sum, u) + future.output_sum * p.tpot_s(u))  # work per step
        busy = _rolling_mean(slot_s / dt, max(1, round(60.0 / dt)))
        need = np.ceil(busy / (p.batch_slots * u) - 1e-9)
        lead = max(1, math.ceil((p.cold_start_p95_s + self.interval_s) / dt))
        self.plan = _forward_max(need, lead + 1)
        self.step_s = dt

    def decide(self, obs: Observation) -> Decision:
        if self.plan is None:
            return Decision(obs.replicas, reason="oracle without a future: keep")
        s = min(len(self.plan) - 1, int(round(obs.time_s / self.step_s)))
        n = max(self.limits.min_replicas, min(self.limits.max_replicas, int(self.plan[s])))
        return Decision(n, reason=f"foresight at utilization {self.utilization:.2f}: {n}")


def make(objective: Objective, limits: Limits, knob: float) -> OraclePolicy:
    return OraclePolicy(utilization=knob, limits=limits)
