"""Shared pieces for the controller tests (no tests here).

`ProportionalPolicy` and `FixedPolicy` are test doubles standing in for the control law
(`controller.law.meridian`), which is developed separately: they let these tests check
what the runtime does with a decision, not how good the decision is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from kubernetes import client

from controller.law.types import Decision, Limits, Objective, Observation
from controller.sources.base import LoadSample, MetricsUnavailable

NS = "inference"


def scaler(name="llama", target="llama-vllm", *, min_=1, max_=10, **spec_extra) -> dict:
    spec = {"targetRef": {"name": target}, "objective": {"ttftMs": 800}, "replicas": {"min": min_, "max": max_},
            "metrics": {"preset": "vllm"}}
    spec.update(spec_extra)
    return {"apiVersion": "meridian.dev/v1alpha1", "kind": "InferenceScaler",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def api_client(url: str, agent: str = "test") -> client.ApiClient:
    cfg = client.Configuration()
    cfg.host = url
    cfg.retries = 0
    api = client.ApiClient(cfg)
    api.user_agent = agent
    return api


@dataclass
class FixedPolicy:
    """Always asks for `replicas` (or raises `error`)."""

    replicas: int
    error: Exception | None = None
    name: str = "fixed"
    interval_s: float = 15.0
    seen: list[Observation] = field(default_factory=list)

    def decide(self, obs: Observation) -> Decision:
        self.seen.append(obs)
        if self.error:
            raise self.error
        return Decision(replicas=self.replicas, reason=f"fixed policy wants {self.replicas}")


class ProportionalPolicy:
    """Replicas = ceil(in-flight / slots per replica); stands in for the real law."""

    name = "proportional"
    interval_s = 15.0

    def __init__(self, objective: Objective, limits: Limits, slots: float = 8.0):
        self.objective, self.limits, self.slots = objective, limits, slots

    def decide(self, obs: Observation) -> Decision:
        want = math.ceil(((obs.in_flight or 0.0) + (obs.queued or 0.0)) / self.slots)
        want = min(max(want, self.limits.min_replicas), self.limits.max_replicas)
        return Decision(replicas=want, reason=f"{obs.in_flight} in flight / {self.slots} slots")


class StaticSource:
    """A metric source returning a fixed sample, or raising MetricsUnavailable."""

    def __init__(self, sample: LoadSample | None = None, unavailable: MetricsUnavailable | None = None):
        self.sample_value = sample or LoadSample(arrival_rate_rps=10.0, ttft_quantile_s=0.4, e2e_quantile_s=5.0,
                                                 in_flight=16.0, queued=0.0, age_s=5.0)
        self.unavailable = unavailable

    def sample(self, spec) -> LoadSample:
        if self.unavailable:
            raise self.unavailable
        return self.sample_value
