"""The metric-source port: one call, one typed sample, or `MetricsUnavailable`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from controller.spec import ScalerSpec


@dataclass(frozen=True)
class LoadSample:
    """What the metrics say about one Deployment now. Latency `None` = no traffic in the window."""

    arrival_rate_rps: float | None
    ttft_quantile_s: float | None
    e2e_quantile_s: float | None
    in_flight: float | None
    queued: float | None
    age_s: float  # age of the newest raw sample behind these figures
    mean_prompt_tokens: float | None = None
    mean_output_tokens: float | None = None


class MetricsUnavailable(Exception):
    """No trustworthy figures: the runtime holds the current size (fail static)."""

    def __init__(self, reason: str, message: str):
        self.reason = reason  # short CamelCase, bounded set: used as a metric label and condition reason
        self.message = message
        super().__init__(f"{reason}: {message}")


UNAVAILABLE_REASONS = ("QueryFailed", "QueryRejected", "NoData", "NotANumber", "Stale", "BadResponse")


class MetricSource(Protocol):
    def sample(self, spec: ScalerSpec) -> LoadSample: ...
