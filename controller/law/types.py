"""The contract between every autoscaling policy and whatever runs it.

An `Observation` is what Prometheus would say about one inference Deployment at one
time; a `Decision` is the desired replica count and capacity mix with a reason. The
twin (`sim`), the in-cluster runtime and the drills all speak these types, so the
same `decide` code runs in each. Fields that a metric source could not produce are
`None` (never 0), so a policy can tell "no traffic" from "no data".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Objective:
    """Latency objective: the `percentile` of TTFT and/or end-to-end latency, in seconds."""

    percentile: float = 95.0
    ttft_s: float | None = 1.0
    e2e_s: float | None = None
    # share of 1-minute windows that must meet it (issue 5: 0.99); the rest is the
    # allowance a policy may spend (added for the law's miss budget)
    window_attainment: float = 0.99


@dataclass(frozen=True)
class Limits:
    """Bounds a decision must respect, from the InferenceScaler spec or the bench."""

    min_replicas: int = 1
    max_replicas: int = 100
    max_step_up: int | None = None  # replicas added per decision; None = unbounded
    max_step_down: int | None = None  # replicas removed per decision; None = unbounded
    scale_down_delay_s: float = 300.0
    budget_per_hour: float | None = None  # USD/h ceiling for the whole Deployment
    spot_share: float = 0.0  # highest share of replicas allowed on spot
    cold_start_s: float | None = None  # operator's estimate; policies may learn their own


@dataclass(frozen=True)
class Observation:
    time_s: float
    ready_replicas: int
    starting_replicas: int
    arrival_rate_rps: float | None  # trailing-window request rate
    ttft_quantile_s: float | None  # TTFT at the objective's percentile, trailing window
    e2e_quantile_s: float | None
    in_flight: float | None  # requests being processed (batch slots in use), all replicas
    queued: float | None  # requests waiting for a batch slot, all replicas
    price_on_demand_per_hour: float  # per replica
    price_spot_per_hour: float | None = None
    ready_spot: int = 0  # of ready_replicas, how many run on spot
    starting_spot: int = 0
    metrics_age_s: float = 0.0  # age of the newest sample behind the metric fields
    mean_prompt_tokens: float | None = None
    mean_output_tokens: float | None = None
    # what the replicas run: a fingerprint of the Deployment's pod template (model, image,
    # instance type), None where unknown. A new one means what was learnt about one replica
    # (its batch slots, service time, first token) describes another model.
    revision: str | None = None

    @property
    def replicas(self) -> int:
        return self.ready_replicas + self.starting_replicas


@dataclass(frozen=True)
class Decision:
    replicas: int  # desired total
    spot: int = 0  # of which on spot capacity
    reason: str = ""
    budget_limited: bool = False
    metrics_available: bool = True
    predicted_ttft_s: float | None = None

    @property
    def on_demand(self) -> int:
        return self.replicas - self.spot


class Policy(Protocol):
    """An autoscaler: deterministic for a given sequence of observations."""

    name: str
    interval_s: float  # how often it wants to be asked (its sync period)

    def decide(self, obs: Observation) -> Decision: ...
