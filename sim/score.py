"""Scores of one run against the latency objective.

Windows are 1-minute slices of arrival time. A window meets the objective when at least
`percentile` % of its requests (by weight) got their first token within the target (and
finished within the end-to-end target, if one is set); an empty window counts as met.
A window is feasible when unlimited ready capacity would meet it, i.e. when enough of its
requests' prefill alone (no queueing, idle batch) fits the target; only feasible windows
are scored. Requests and windows of the warm-up (the first minutes, where every policy
starts from the same warm fleet) are not scored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controller.law.types import Objective
from sim.fleet import RunResult
from sim.profiles import GpuProfile
from sim.traces.arrivals import Arrivals

WINDOW_S = 60.0


@dataclass(frozen=True)
class Windows:
    index: np.ndarray  # window of each arrival row
    scored_rows: np.ndarray  # bool per row
    scored: np.ndarray  # bool per window (after warm-up)
    feasible: np.ndarray  # bool per window


def windows(arrivals: Arrivals, objective: Objective, profile: GpuProfile, warmup_s: float) -> Windows:
    t, w = arrivals.time_s, arrivals.weight
    idx = (t // WINDOW_S).astype(np.int64)
    n = int(math.ceil(arrivals.duration_s / WINDOW_S))
    idx = np.minimum(idx, n - 1)
    rows = t >= warmup_s
    scored = np.arange(n) * WINDOW_S >= warmup_s
    best = profile.prefill_s(arrivals.prompt_tokens, 0.0)
    ok = best <= objective.ttft_s if objective.ttft_s is not None else np.ones(len(t), bool)
    if objective.e2e_s is not None:
        ok &= best + arrivals.output_tokens * profile.tpot_s(0.0) <= objective.e2e_s
    feasible = _window_met(idx, w, ok, n, objective.percentile)
    return Windows(idx, rows, scored, feasible)


def _window_met(idx, w, ok, n, percentile) -> np.ndarray:
    tot = np.bincount(idx, weights=w, minlength=n)
    good = np.bincount(idx, weights=w * ok, minlength=n)
    return (tot <= 0) | (good >= tot * percentile / 100.0 - 1e-9)


def weighted_percentiles(values: np.ndarray, weights: np.ndarray, qs) -> list[float]:
    if len(values) == 0 or weights.sum() <= 0:
        return [float("nan")] * len(qs)
    order = np.argsort(values, kind="stable")
    v, cum = values[order], np.cumsum(weights[order])
    return [float(v[min(int(np.searchsorted(cum, q / 100.0 * cum[-1])), len(v) - 1)]) for q in qs]


def score(arrivals: Arrivals, result: RunResult, objective: Objective, win: Windows) -> dict:
    w = arrivals.weight
    ok = result.ttft_s <= objective.ttft_s if objective.ttft_s is not None else np.isfinite(result.ttft_s)
    if objective.e2e_s is not None:
        ok &= result.e2e_s <= objective.e2e_s
    n = len(win.feasible)
    rows = win.scored_rows
    met = _window_met(win.index[rows], w[rows], ok[rows], n, objective.percentile)
    judged = win.scored & win.feasible
    p50, p95, p99 = weighted_percentiles(result.ttft_s[rows], w[rows], (50, 95, 99))
    (e95,) = weighted_percentiles(result.e2e_s[rows], w[rows], (95,))
    return {
        "cost_usd": result.cost_usd,
        "gpu_hours": result.gpu_hours,
        "requests": float(w.sum()),
        "ttft_p50_s": p50, "ttft_p95_s": p95, "ttft_p99_s": p99, "e2e_p95_s": e95,
        "slo_window_attainment": float(met[judged].mean()) if judged.any() else 1.0,
        "feasible_windows": int(judged.sum()),
        "request_attainment": float((w[rows] * ok[rows]).sum() / max(w[rows].sum(), 1e-12)),
        "scale_events": result.scale_events,
        "max_replicas": result.max_replicas,
        "residency_violations": result.residency_violations,
        "failed_requests": result.failed_requests,
        **_per_region(result, w),
    }


def _per_region(result: RunResult, w: np.ndarray) -> dict:
    """Several regions: each one's requests (all, warm-up included) and cost, and any
    placement changes. A single-region run gets nothing more (its JSON stays as it was)."""
    if len(result.regions) < 2:
        return {}
    out = {"regions": {code: {"requests": float(w[result.served_region == i].sum()),
                              "cost_usd": result.region_cost_usd.get(code, float("nan"))}
                       for i, code in enumerate(result.regions)}}
    if result.placements:
        out["placements"] = [{"time_s": t, "jurisdiction": j, "reason": why} for t, j, why in result.placements]
    return out


def misses_so_far(arrivals: Arrivals, ttft: np.ndarray, e2e: np.ndarray, objective: Objective, win: Windows,
                  decided_until_s: float) -> int:
    """Scored, feasible windows already missed for good: every request in them arrived at least
    a target before `decided_until_s`, so one still waiting has missed too (its TTFT is inf here)."""
    target = max(objective.ttft_s or 0.0, objective.e2e_s or 0.0)
    n = len(win.feasible)
    done = (np.arange(n) + 1) * WINDOW_S <= decided_until_s - target
    rows = win.scored_rows & done[win.index]
    ok = ttft <= objective.ttft_s if objective.ttft_s is not None else np.isfinite(ttft)
    if objective.e2e_s is not None:
        ok &= e2e <= objective.e2e_s
    w = arrivals.weight
    met = _window_met(win.index[rows], w[rows], ok[rows], n, objective.percentile)
    return int((~met & win.scored & win.feasible & done).sum())
