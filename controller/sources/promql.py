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
"""
from __future__ import annotations

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
        )
    override = {
        "ttft": m.query("ttft"), "e2e": m.query("e2e"), "arrival_rate": m.query("arrivalRate"),
        "in_flight": m.query("inFlight"), "queued": m.query("queued"),
    }
    return QuerySet(**{**qs.__dict__, **{k: v for k, v in override.items() if v}})
