"""`kpa`: Knative Pod Autoscaler (concurrency metric), scale to zero off.

Source: Knative Serving docs, "Configuring the autoscaler" / "Kubernetes Pod Autoscaler
(KPA)" (stable window 60 s, panic window 10 % of it = 6 s, panic threshold 200 %,
max scale-up rate 1000, max scale-down rate 2), and `pkg/autoscaler/scaling/autoscaler.go`
in knative/serving (`Scale`: desired stable/panic pod counts, clamped to
[ready/maxScaleDownRate, ready*maxScaleUpRate]; panic starts when the panic-window
desired count reaches the threshold times ready pods, lasts until a full stable window
passes without it, and never scales down while panicking). Knob: target concurrency per
pod (what Knative calls the target after target-utilization is applied). Knative
averages per-second concurrency samples from the queue-proxies over each window and the
autoscaler ticks every 2 s (`tickInterval`): this policy is asked every second (1 s
scrapes), keeps every sample, and decides on the 2 s ticks (in between it repeats its last
decision). Like `newAutoscaler`, it starts in panic mode holding the ready count when more
than one pod is ready, so a restart (here: the bench's warm start) does not scale down
before the windows have data.
"""
from __future__ import annotations

import math
from collections import deque

from controller.law.types import Decision, Limits, Objective, Observation


class KPAPolicy:
    uses_latency = False  # never reads TTFT/E2E quantiles (lets the twin skip computing them)
    name = "kpa"
    interval_s = 1.0  # asked every second, to sample like Knative's 1 s metric scraper
    tick_s = 2.0  # Knative's autoscaler tickInterval: decisions every 2 s
    scrape_interval_s = 1.0

    def __init__(self, target: float, limits: Limits, stable_window_s: float = 60.0,
                 panic_window_pct: float = 10.0, panic_threshold_pct: float = 200.0,
                 max_scale_up_rate: float = 1000.0, max_scale_down_rate: float = 2.0):
        self.target = target
        self.limits = limits
        self.stable_window_s = stable_window_s
        self.panic_window_s = stable_window_s * panic_window_pct / 100.0
        self.panic_threshold = panic_threshold_pct / 100.0
        self.max_up = max_scale_up_rate
        self.max_down = max_scale_down_rate
        self.samples: deque = deque()  # (time, concurrency)
        self.panic_since: float | None = None
        self.max_panic_pods = 0
        self.last_tick: float | None = None
        self.last: Decision | None = None

    @property
    def panicking(self) -> bool:
        return self.panic_since is not None

    def _window_mean(self, now: float, window: float) -> float | None:
        vals = [c for t, c in self.samples if t > now - window]
        return sum(vals) / len(vals) if vals else None

    def decide(self, obs: Observation) -> Decision:
        now = obs.time_s
        if self.last_tick is None and obs.ready_replicas > 1:  # newAutoscaler: start panicking
            self.panic_since, self.max_panic_pods = now, obs.ready_replicas
        if obs.in_flight is not None and obs.queued is not None:
            at = now - obs.metrics_age_s
            if not self.samples or self.samples[-1][0] < at:  # one sample per scrape
                self.samples.append((at, obs.in_flight + obs.queued))
        if self.last is not None and now - self.last_tick < self.tick_s - 1e-9:
            return self.last
        self.last_tick = now
        self.last = self.tick(now, obs)
        return self.last

    def tick(self, now: float, obs: Observation) -> Decision:
        while self.samples and self.samples[0][0] <= now - self.stable_window_s:
            self.samples.popleft()
        stable = self._window_mean(now, self.stable_window_s)
        panic = self._window_mean(now, self.panic_window_s)
        if stable is None or panic is None:
            return Decision(obs.replicas, reason="no concurrency data: keep", metrics_available=False)
        return self.scale(now, stable, panic, obs.ready_replicas)

    def scale(self, now: float, stable: float, panic: float, ready: int) -> Decision:
        ready_count = max(1.0, float(ready))
        max_up = math.ceil(self.max_up * ready_count)
        max_down = math.floor(ready_count / self.max_down)
        dspc = math.ceil(stable / self.target)
        dppc = math.ceil(panic / self.target)
        desired_stable = int(min(max(dspc, max_down), max_up))
        desired_panic = int(min(max(dppc, max_down), max_up))
        over = dppc / ready_count >= self.panic_threshold
        if over:
            self.panic_since = now
        elif self.panic_since is not None and self.panic_since + self.stable_window_s < now:
            self.panic_since = None
            self.max_panic_pods = 0
        desired = desired_stable
        if self.panic_since is not None:
            desired = max(desired, desired_panic)
            if desired > self.max_panic_pods:
                self.max_panic_pods = desired
            else:
                desired = self.max_panic_pods
        desired = max(self.limits.min_replicas, min(self.limits.max_replicas, desired))
        mode = "panic" if self.panicking else "stable"
        return Decision(desired, reason=f"{mode}: concurrency stable {stable:.1f} panic {panic:.1f} "
                                        f"target {self.target:.2f}/pod -> {desired}")


def make(objective: Objective, limits: Limits, knob: float) -> KPAPolicy:
    return KPAPolicy(target=knob, limits=limits)
