"""PromQL for the presets. Latency histograms are in seconds.

Metric names are the serving engines' own:
- vLLM: `vllm:time_to_first_token_seconds`, `vllm:e2e_request_latency_seconds` (histograms),
  `vllm:num_requests_running`, `vllm:num_requests_waiting` (gauges), `vllm:request_success_total`
  (counter) — vLLM docs, "Production Metrics".
- TGI: `tgi_request_duration` (e2e histogram), `tgi_request_queue_duration`,
  `tgi_batch_forward_duration{method="prefill"}` (histograms), `tgi_batch_current_size`,
  `tgi_queue_size` (gauges), `tgi_request_count` (counter) — TGI docs, "Metrics".
  TGI has no TTFT histogram: TTFT is estimated as queue-time quantile + prefill quantile.
- generic: one latency histogram `<name>_bucket`; it measures TTFT when the objective sets
  ttftMs, else end-to-end latency; arrival rate is `rate(<name>_count)`.
Explicit `queries` override the preset's query for that field.

`coverage` says how many seconds of the window the arrival counter's series cover, so that
a `rate()` over series younger than the window (it divides by the whole window) is not acted
on; see `coverage()`. An explicit `queries.arrivalRate` names no counter: no coverage check.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from controller.spec import ScalerSpec


@dataclass(frozen=True)
class QuerySet:
    freshness: str | None  # returns the timestamp (s) of the newest raw sample
    ttft: str | None
    e2e: str | None
    arrival_rate: str | None
    in_flight: str | None
    queued: str | None
    mean_prompt_tokens: str | None = None
    mean_output_tokens: str | None = None
    coverage: str | None = None  # seconds of the window the arrival counter's series cover


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def matchers(spec: ScalerSpec, extra: str = "") -> str:
    pairs = [("namespace", spec.namespace)] + [kv for kv in spec.metrics.labels if kv[0] != "namespace"]
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + (("," + extra) if extra else "") + "}"


def _quantile(q: float, bucket: str, sel: str, window: str) -> str:
    return f"histogram_quantile({q:g}, sum by (le) (rate({bucket}{sel}[{window}])))"


def _ratio(metric: str, sel: str, window: str) -> str:
    return f"sum(rate({metric}_sum{sel}[{window}])) / sum(rate({metric}_count{sel}[{window}]))"


# Subquery steps per window. Without an explicit resolution a subquery steps at the global
# evaluation_interval (1 m by default) and aligned to it: measured on Prometheus 2.42 with a
# 15 s interval, a 20 s window read as covered 5.5 s by a long-lived series. With window/20
# the answer is within one step (5 % of the window) of the truth.
COVERAGE_STEPS = 20


def coverage(counter: str, sel: str, spec: ScalerSpec) -> str:
    """Seconds from the oldest sample of any of `counter`'s series in the window to now.

    Each subquery step's `timestamp()` is its series' latest raw sample (looking back up to
    Prometheus's lookback delta, 5 m), so a series older than the window answers at least
    window - one step, idle or not, and a series that started mid-window answers its age
    (within one step). `min` over series: the oldest counts, since one young pod in an old
    fleet under-reads only its own share of the sum."""
    window = spec.metrics.window
    step_ms = max(1, round(spec.metrics.window_s * 1000 / COVERAGE_STEPS))
    return f"time() - min(min_over_time(timestamp({counter}{sel})[{window}:{step_ms}ms]))"


def build(spec: ScalerSpec) -> QuerySet:
    m, q, w = spec.metrics, spec.objective.percentile / 100.0, spec.metrics.window
    sel = matchers(spec)
    if m.preset == "vllm":
        qs = QuerySet(
            freshness=f"max(timestamp(vllm:num_requests_running{sel}))",
            ttft=_quantile(q, "vllm:time_to_first_token_seconds_bucket", sel, w),
            e2e=_quantile(q, "vllm:e2e_request_latency_seconds_bucket", sel, w),
            arrival_rate=f"sum(rate(vllm:request_success_total{sel}[{w}]))",
            in_flight=f"sum(vllm:num_requests_running{sel})",
            queued=f"sum(vllm:num_requests_waiting{sel})",
            mean_prompt_tokens=_ratio("vllm:request_prompt_tokens", sel, w),
            mean_output_tokens=_ratio("vllm:request_generation_tokens", sel, w),
            coverage=coverage("vllm:request_success_total", sel, spec),
        )
    elif m.preset == "tgi":
        prefill = matchers(spec, 'method="prefill"')
        qs = QuerySet(
            freshness=f"max(timestamp(tgi_queue_size{sel}))",
            ttft=f"({_quantile(q, 'tgi_request_queue_duration_bucket', sel, w)}) + "
                 f"({_quantile(q, 'tgi_batch_forward_duration_bucket', prefill, w)})",
            e2e=_quantile(q, "tgi_request_duration_bucket", sel, w),
            arrival_rate=f"sum(rate(tgi_request_count{sel}[{w}]))",
            in_flight=f"sum(tgi_batch_current_size{sel})",
            queued=f"sum(tgi_queue_size{sel})",
            coverage=coverage("tgi_request_count", sel, spec),
        )
    else:  # generic
        h = m.histogram
        lat = _quantile(q, f"{h}_bucket", sel, w) if h else None
        measures_ttft = spec.objective.ttft_s is not None
        qs = QuerySet(
            freshness=f"max(timestamp({h}_count{sel}))" if h else None,
            ttft=lat if measures_ttft else None,
            e2e=None if measures_ttft else lat,
            arrival_rate=f"sum(rate({h}_count{sel}[{w}]))" if h else None,
            in_flight=None,
            queued=None,
            coverage=coverage(f"{h}_count", sel, spec) if h else None,
        )
    override = {
        "ttft": m.query("ttft"), "e2e": m.query("e2e"), "arrival_rate": m.query("arrivalRate"),
        "in_flight": m.query("inFlight"), "queued": m.query("queued"),
    }
    changes = {k: v for k, v in override.items() if v}
    if "arrival_rate" in changes:  # an explicit arrival query: which counter it reads is unknown
        changes["coverage"] = None
    return dataclasses.replace(qs, **changes)
