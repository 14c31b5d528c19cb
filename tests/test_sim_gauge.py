"""The twin's live TTFT gauge reads what Prometheus would: the window's percentile over its requests.

The gauge (sim/observe.py) is an approximation built per step; the scores use every request's
own TTFT. Here a fixed-size fleet replays a request log and a cohort rate curve while a
recording policy keeps every observation, and each gauge reading is compared with the
percentile of the TTFTs of the requests that arrived in the same trailing minute.
"""
from __future__ import annotations

import numpy as np
import pytest

from controller.law.types import Decision, Limits, Objective
from sim.fleet import FleetConfig, simulate
from sim.traces import TraceOptions, load_trace


class Recorder:
    """Holds the fleet at its size and keeps (scrape time, gauge) pairs."""

    name = "recorder"
    interval_s = 15.0

    def __init__(self, replicas: int):
        self.replicas, self.seen = replicas, []

    def decide(self, obs):
        if obs.ttft_quantile_s is not None:
            self.seen.append((obs.time_s - obs.metrics_age_s, obs.ttft_quantile_s))
        return Decision(replicas=self.replicas, reason="hold")


def gauge_over_truth(arrivals, step_s: float, replicas: int) -> np.ndarray:
    cfg = FleetConfig(step_s=step_s, objective=Objective(), initial_replicas=replicas,
                      limits=Limits(min_replicas=1, max_replicas=replicas))
    policy = Recorder(replicas)
    result = simulate(arrivals, cfg, lambda code: policy)
    order = np.argsort(arrivals.time_s, kind="stable")
    t, w, ttft = arrivals.time_s[order], arrivals.weight[order], result.ttft_s[order]
    ratios = []
    for scraped, gauge in policy.seen:
        lo, hi = np.searchsorted(t, scraped + step_s - 60.0), np.searchsorted(t, scraped + step_s)
        x, ww = ttft[lo:hi], w[lo:hi]
        if ww.sum() < 20:
            continue
        k = np.argsort(x)
        cum = np.cumsum(ww[k])
        truth = x[k][min(np.searchsorted(cum, 0.95 * cum[-1]), len(k) - 1)]
        assert np.isfinite(truth), "the fleet is sized to serve every request"
        ratios.append(gauge / truth)
    assert len(ratios) > 50
    return np.array(ratios)


def test_gauge_matches_window_percentile_on_a_cohort_rate_curve(tmp_path):
    """Large rate curves become cohorts of 8 stratified rows per step; the percentile lies
    inside the top stratum, which a per-step index into the rows never reached (the gauge
    read about half the true p95 before the sketch)."""
    rows = [f"m,{i * 600},{30.0 + 10.0 * (i % 6)},1.5" for i in range(72)]  # 12 h, ~1.7e6 req
    p = tmp_path / "curve.csv"
    p.write_text("model,window_start_s,total_rate_rps,rate_weighted_cv\n" + "\n".join(rows) + "\n")
    arrivals = load_trace(f"{p}#m", TraceOptions(rate_scale=2.0, cohort_step_s=10.0))
    assert arrivals.cohorts
    ratios = gauge_over_truth(arrivals, 10.0, replicas=100)
    assert np.median(ratios) == pytest.approx(1.0, abs=0.05)
    assert np.quantile(ratios, 0.1) > 0.85 and np.quantile(ratios, 0.9) < 1.15


def test_gauge_matches_window_percentile_on_a_request_log():
    arrivals = load_trace("azure_llm_2023/AzureLLMInferenceTrace_conv.csv", TraceOptions(mean_rate=20.0))
    ratios = gauge_over_truth(arrivals, 1.0, replicas=12)
    assert np.median(ratios) == pytest.approx(1.0, abs=0.05)
    assert np.quantile(ratios, 0.1) > 0.85 and np.quantile(ratios, 0.9) < 1.15
