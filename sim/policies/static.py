"""`static`: a fixed replica count (peak provisioning). Knob: the count."""
from __future__ import annotations

from controller.law.types import Decision, Limits, Objective, Observation


class StaticPolicy:
    uses_latency = False  # never reads TTFT/E2E quantiles (lets the twin skip computing them)
    name = "static"
    interval_s = 15.0

    def __init__(self, replicas: int):
        self.replicas = int(replicas)

    def warm_start(self, shared_warm_start: int) -> int:
        """A fixed fleet is always at its size, from the first second."""
        return self.replicas

    def decide(self, obs: Observation) -> Decision:
        return Decision(replicas=self.replicas, reason=f"static fleet of {self.replicas}")


def make(objective: Objective, limits: Limits, knob: float) -> StaticPolicy:
    return StaticPolicy(max(limits.min_replicas, min(limits.max_replicas, round(knob))))
