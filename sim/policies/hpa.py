"""`hpa`: the Kubernetes Horizontal Pod Autoscaler (autoscaling/v2) on a Pods metric.

Source: Kubernetes documentation, "Horizontal Pod Autoscaling" (algorithm details,
stabilization window, scaling policies) and `pkg/controller/podautoscaler` in
kubernetes/kubernetes (`replica_calculator.go` `calcPlainMetricReplicas`,
`horizontal.go` `stabilizeRecommendationWithBehaviors`, `calculateScaleUpLimitWithScalingRules`,
`calculateScaleDownLimitWithBehaviors`). Metric: in-flight requests per pod (running +
waiting), AverageValue target = the knob. Defaults as documented: tolerance 0.1, sync
period 15 s, scale-up: no stabilization, policies 4 pods or 100 % per 15 s (Max);
scale-down: 300 s stabilization (highest recommendation in the window), 100 % per 15 s.

Pods still starting have no metric ("missing pods"): when the ratio says scale up they
count as using 0, when it says scale down as using the target, and the move is dropped if
that flips its direction or lands within tolerance (as `calcPlainMetricReplicas` does).
`groupPods` would instead set Pending pods aside (0 on a scale-up, left out on a
scale-down); the twin does not split a cold start into Pending (node join, 45-90 s) and
Running-without-metrics (model load, the larger part per `sim/data/gpu_profiles.json`), so
every starting pod is treated as missing. The two differ only on a scale-down while pods
start, which the 300 s scale-down stabilization mostly masks.

Warm start: a new HPA has an empty recommendation history; here it starts as if it had
been recommending the warm fleet's size (an HPA that has been running, not one just
created), so its first 300 s are not a scale-down with no stabilization behind it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from controller.law.types import Decision, Limits, Objective, Observation


@dataclass(frozen=True)
class ScalingPolicy:
    kind: str  # "Pods" or "Percent"
    value: float
    period_s: float


@dataclass(frozen=True)
class Behavior:
    up_window_s: float = 0.0
    up_policies: tuple = (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))
    up_select: str = "Max"
    down_window_s: float = 300.0
    down_policies: tuple = (ScalingPolicy("Percent", 100, 15),)
    down_select: str = "Max"


def raw_replicas(current: int, usage_ratio: float, ready: int, missing: int, target: float,
                 tolerance: float = 0.1) -> int:
    """`calcPlainMetricReplicas`: desired replicas from the usage ratio over pods with metrics."""
    if ready == 0 and missing == 0:
        return current
    if missing == 0:
        if abs(1.0 - usage_ratio) <= tolerance:
            return current
        return math.ceil(usage_ratio * ready)
    # Recompute with missing pods assumed at 0 (scale up) or at target (scale down).
    total_usage = usage_ratio * target * ready
    if usage_ratio > 1.0:
        new_ratio = total_usage / (target * (ready + missing))
    else:
        new_ratio = (total_usage + target * missing) / (target * (ready + missing))
    if abs(1.0 - new_ratio) <= tolerance or (usage_ratio > 1.0) != (new_ratio > 1.0):
        return current
    new = math.ceil(new_ratio * (ready + missing))
    if (new_ratio < 1.0 and new > current) or (new_ratio > 1.0 and new < current):
        return current
    return new


class HPAPolicy:
    uses_latency = False  # never reads TTFT/E2E quantiles (lets the twin skip computing them)
    name = "hpa"
    interval_s = 15.0

    def __init__(self, target_per_pod: float, limits: Limits, behavior: Behavior = Behavior(),
                 tolerance: float = 0.1):
        self.target = target_per_pod
        self.limits = limits
        self.behavior = behavior
        self.tolerance = tolerance
        self.recommendations: list[tuple[float, int]] = []
        self.events: list[tuple[float, int]] = []  # (time, replica change) for rate limits
        self.spec_replicas: int | None = None

    def decide(self, obs: Observation) -> Decision:
        now = obs.time_s
        current = self.spec_replicas if self.spec_replicas is not None else obs.replicas
        if self.spec_replicas is None:
            # Warm start: as if it had been recommending the current count all along (docstring).
            self.recommendations.append((now - 1e-6, current))
        if obs.in_flight is None or obs.queued is None or obs.ready_replicas == 0:
            return Decision(current, reason="no metrics: keep replicas", metrics_available=False)
        per_pod = (obs.in_flight + obs.queued) / obs.ready_replicas
        ratio = per_pod / self.target
        desired = raw_replicas(current, ratio, obs.ready_replicas, obs.starting_replicas, self.target,
                               self.tolerance)
        final = self.normalize(now, current, desired)
        self.spec_replicas = final
        return Decision(final, reason=f"in-flight/pod {per_pod:.2f} vs target {self.target:.2f}: "
                                      f"recommend {desired}, after behavior {final}")

    def normalize(self, now: float, current: int, desired: int) -> int:
        """Stabilization, then behavior rate limits and min/max, as `horizontal.go` does."""
        b = self.behavior
        up_rec = down_rec = desired
        for t, r in self.recommendations:
            if t > now - b.up_window_s:
                up_rec = min(up_rec, r)
            if t > now - b.down_window_s:
                down_rec = max(down_rec, r)
        stabilized = current
        if stabilized < up_rec:
            stabilized = up_rec
        if stabilized > down_rec:
            stabilized = down_rec
        horizon = max(b.up_window_s, b.down_window_s)
        self.recommendations = [(t, r) for t, r in self.recommendations if t > now - horizon]
        self.recommendations.append((now, desired))
        final = stabilized
        if stabilized > current:
            allowed = min(self.limits.max_replicas, max(current, self.scale_up_limit(now, current)))
            final = min(stabilized, allowed)
        elif stabilized < current:
            allowed = max(self.limits.min_replicas, min(current, self.scale_down_limit(now, current)))
            final = max(stabilized, allowed)
        final = max(self.limits.min_replicas, min(self.limits.max_replicas, final))
        if final != current:
            self.events.append((now, final - current))
        longest = max([p.period_s for p in b.up_policies + b.down_policies] or [0])
        self.events = [(t, d) for t, d in self.events if t > now - longest]
        return final

    def _changes(self, now: float, period: float) -> tuple[int, int]:
        """Replicas added and deleted by this autoscaler within the last `period` seconds."""
        recent = [d for t, d in self.events if t > now - period]
        return sum(d for d in recent if d > 0), -sum(d for d in recent if d < 0)

    def scale_up_limit(self, now: float, current: int) -> int:
        limits = []
        for p in self.behavior.up_policies:
            added, deleted = self._changes(now, p.period_s)
            start = current - added + deleted
            limits.append(start + p.value if p.kind == "Pods" else math.ceil(start * (1 + p.value / 100.0)))
        return (max if self.behavior.up_select == "Max" else min)(limits)

    def scale_down_limit(self, now: float, current: int) -> int:
        limits = []
        for p in self.behavior.down_policies:
            added, deleted = self._changes(now, p.period_s)
            start = current + deleted - added
            limits.append(start - p.value if p.kind == "Pods" else int(start * (1 - p.value / 100.0)))
        return (min if self.behavior.down_select == "Max" else max)(limits)


def make(objective: Objective, limits: Limits, knob: float) -> HPAPolicy:
    return HPAPolicy(target_per_pod=knob, limits=limits)
