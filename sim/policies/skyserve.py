"""`skyserve`: SkyServe's request-rate autoscaler.

Source: SkyPilot `sky/serve/autoscalers.py` (`RequestRateAutoscaler`) and the SkyServe
paper (Mao et al., "SkyServe: Serving AI Models across Regions and Clouds with Spot
Instances", EuroSys 2025). QPS = requests in the last 60 s window / 60; target replicas
= ceil(QPS / target_qps_per_replica) within [min, max]; a change is applied only after
the new target has been consistently above (below) the current one for
upscale_delay 300 s (downscale_delay 1200 s), counted in decision intervals of 20 s;
with no replicas at all it scales at once. Knob: target QPS per replica.
"""
from __future__ import annotations

import math

from controller.law.types import Decision, Limits, Objective, Observation


class SkyServePolicy:
    uses_latency = False  # never reads TTFT/E2E quantiles (lets the twin skip computing them)
    name = "skyserve"
    interval_s = 20.0

    def __init__(self, target_qps: float, limits: Limits, upscale_delay_s: float = 300.0,
                 downscale_delay_s: float = 1200.0):
        self.target_qps = target_qps
        self.limits = limits
        self.up_threshold = int(upscale_delay_s / self.interval_s)
        self.down_threshold = int(downscale_delay_s / self.interval_s)
        self.up_counter = self.down_counter = 0
        self.target_replicas: int | None = None

    def raw_target(self, qps: float) -> int:
        n = math.ceil(qps / self.target_qps)
        return max(self.limits.min_replicas, min(self.limits.max_replicas, n))

    def update_target(self, obs: Observation) -> tuple[int, str]:
        if self.target_replicas is None:
            self.target_replicas = obs.replicas
        if obs.arrival_rate_rps is None:
            return self.target_replicas, "no request-rate data: keep"
        new = self.raw_target(obs.arrival_rate_rps)
        if self.target_replicas == 0:
            self.target_replicas = new
        elif new > self.target_replicas:
            self.up_counter += 1
            self.down_counter = 0
            if self.up_counter >= self.up_threshold:
                self.up_counter = 0
                self.target_replicas = new
        elif new < self.target_replicas:
            self.down_counter += 1
            self.up_counter = 0
            if self.down_counter >= self.down_threshold:
                self.down_counter = 0
                self.target_replicas = new
        else:
            self.up_counter = self.down_counter = 0
        return self.target_replicas, (f"qps {obs.arrival_rate_rps:.2f} / {self.target_qps:.2f} -> {new}; "
                                      f"up {self.up_counter}/{self.up_threshold} "
                                      f"down {self.down_counter}/{self.down_threshold}")

    def decide(self, obs: Observation) -> Decision:
        target, why = self.update_target(obs)
        return Decision(target, reason=why, metrics_available=obs.arrival_rate_rps is not None)


def make(objective: Objective, limits: Limits, knob: float) -> SkyServePolicy:
    return SkyServePolicy(target_qps=knob, limits=limits)
