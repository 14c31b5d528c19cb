"""Rate curves (ServeGen aggregate: `model, window_start_s, total_rate_rps, rate_weighted_cv`).

Xiang et al., "ServeGen: Workload Characterization of LLM Serving", arXiv:2505.09999; the
shared file sums per-client fitted rates per 600 s window. One series is chosen with
`PATH#SERIES`. Arrivals inside each window follow a Gamma renewal process with the window's
rate and coefficient of variation (inter-arrival shape 1/cv^2, mean 1/rate), seeded:

- small curves (expected arrivals <= EXACT_LIMIT): every inter-arrival time is drawn, giving
  a request log;
- large curves (the 14-day `m-mid` is ~2e9 requests): per time step, the renewal-process
  central limit theorem gives the count (mean rate*dt, variance rate*dt*cv^2); we draw it from
  a Gamma with those moments (non-negative) and represent the step by COHORT_ROWS
  prompt-stratified rows of the token mix whose weights sum to the count.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from sim.traces.arrivals import Arrivals, refuse
from sim.traces.scaling import check_days
from sim.traces.token_mix import azure_mix

COLUMNS = ("model", "window_start_s", "total_rate_rps", "rate_weighted_cv")
EXACT_LIMIT = 2_000_000
COHORT_ROWS = 8


def series_names(path: str | Path) -> list[str]:
    """The series a rate-curve CSV holds (its `model` column), in file order."""
    with open(path, newline="") as f:
        return list(dict.fromkeys(row["model"] for row in csv.DictReader(f) if row.get("model")))


def read_series(path: str | Path, series: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window starts, rates and CVs of one series, validated."""
    starts, rates, cvs, seen = [], [], [], set()
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in (next(reader, None) or [])]
        if not header:
            raise refuse(path, 1, "empty file", "pass a rate-curve CSV with a header row")
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise refuse(path, 1, f"missing column(s) {', '.join(missing)}; header has {', '.join(header)}",
                         f"a rate curve needs columns {', '.join(COLUMNS)}")
        im, it, ir, ic = (header.index(c) for c in COLUMNS)
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < len(header):
                raise refuse(path, line, f"{len(row)} fields, header has {len(header)}", "complete the row")
            seen.add(row[im])
            if row[im] != series:
                continue
            try:
                start, rate, cv = float(row[it]), float(row[ir]), float(row[ic])
            except ValueError:
                raise refuse(path, line, "window_start_s, total_rate_rps or rate_weighted_cv is not a number",
                             "fix the row") from None
            if not all(np.isfinite([start, rate, cv])) or rate < 0 or cv < 0:
                raise refuse(path, line, "negative or non-finite rate or CV", "rates and CVs must be >= 0")
            if starts and start <= starts[-1]:
                raise refuse(path, line, f"window_start_s {start:g} not after {starts[-1]:g}",
                             "sort the series by window_start_s")
            starts.append(start)
            rates.append(rate)
            cvs.append(cv)
    if not starts:
        avail = ", ".join(sorted(seen)) or "none"
        raise refuse(path, None, f"series {series!r} has no rows (series in file: {avail})",
                     "choose one as PATH#SERIES")
    return np.array(starts) - starts[0], np.array(rates), np.array(cvs)


def load_rate_curve(path: str | Path, series: str, *, days: float | None = None, start_day: float = 0.0,
                    mean_rate: float | None = None, rate_scale: float = 1.0,
                    step_s: float = 5.0, seed: int = 0) -> Arrivals:
    starts, rates, cvs = read_series(path, series)
    width = float(np.median(np.diff(starts))) if len(starts) > 1 else 600.0
    ends = np.append(starts[1:], starts[-1] + width)
    check_days(f"{Path(path).name}#{series}", days, float(ends[-1]), start_day)
    first, last = start_day * 86400.0, (start_day + days) * 86400.0 if days is not None else float(ends[-1])
    keep = (ends > first) & (starts < last)
    starts, rates, cvs = np.maximum(starts[keep], first) - first, rates[keep], cvs[keep]
    ends = np.minimum(ends[keep], last) - first
    notes = [f"rate curve {series}: {len(starts)} windows of {width:g} s"
             + (f" from day {start_day:g}" if start_day > 0 else "")]
    lengths = ends - starts
    base_mean = float((rates * lengths).sum() / lengths.sum())
    if mean_rate is not None and base_mean > 0:
        rates = rates * (mean_rate / base_mean)
        notes.append(f"rates scaled to mean {mean_rate:g} req/s (from {base_mean:.1f})")
    # K superposed independent copies: rate x K, index of dispersion (cv^2) unchanged.
    rates = rates * rate_scale
    rng = np.random.default_rng(seed)
    mix = azure_mix()
    name = f"{Path(path).name}#{series}"
    expected = float((rates * lengths).sum())
    if expected <= EXACT_LIMIT:
        return _exact(name, rng, mix, starts, ends, rates, cvs, notes)
    return _cohorts(name, rng, mix, starts, ends, rates, cvs, step_s, notes)


def _exact(name, rng, mix, starts, ends, rates, cvs, notes) -> Arrivals:
    chunks = []
    for start, end, rate, cv in zip(starts, ends, rates, cvs):
        if rate <= 0:
            continue
        span = end - start
        shape = 1.0 / max(cv, 1e-3) ** 2
        t, out = start + rng.random() / rate, []
        while t < end:  # a few vectorised batches per window
            n = int(rate * span * 1.2) + 16
            gaps = rng.gamma(shape, 1.0 / (shape * rate), n)
            ts = t + np.concatenate(([0.0], np.cumsum(gaps[:-1])))
            out.append(ts[ts < end])
            t = ts[-1] + gaps[-1]
        chunks.append(np.concatenate(out))
    t = np.concatenate(chunks) if chunks else np.zeros(0)
    prompt, output = mix.sample(rng, len(t))
    notes.append("arrivals: Gamma renewal process per window (every request drawn)")
    return Arrivals(name=name, time_s=t, weight=np.ones(len(t)), prompt_tokens=prompt,
                    output_tokens=output, duration_s=float(ends[-1]), notes=notes)


def _cohorts(name, rng, mix, starts, ends, rates, cvs, step_s, notes) -> Arrivals:
    duration = float(ends[-1])
    steps = int(np.ceil(duration / step_s))
    step_start = np.arange(steps) * step_s
    window = np.clip(np.searchsorted(starts, step_start, side="right") - 1, 0, len(starts) - 1)
    mean = rates[window] * step_s
    var_ratio = np.maximum(cvs[window], 1e-3) ** 2
    counts = np.where(mean > 0, rng.gamma(np.maximum(mean / var_ratio, 1e-12), var_ratio), 0.0)
    k = COHORT_ROWS
    prompt, output = mix.stratified(rng, steps, k)
    t = (step_start[:, None] + step_s * (np.arange(k)[None, :] + 0.5) / k).ravel()
    notes.append(f"arrivals: Gamma renewal counts per {step_s:g} s step (CLT), {k} stratified rows per step")
    return Arrivals(name=name, time_s=t, weight=np.repeat(counts / k, k), prompt_tokens=prompt.ravel(),
                    output_tokens=output.ravel(), duration_s=duration, cohorts=True, notes=notes)
