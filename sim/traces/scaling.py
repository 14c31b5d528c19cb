"""Scaling a request log: `--rate-scale K`, `--mean-rate R` and `--days D`.

`--rate-scale K` superposes K copies of the trace, each shifted in time by a seeded random
offset and wrapped around the trace's duration, so the rate is K times as high while the
per-second burst structure is kept (the copies' bursts do not line up). A fractional part
is one more copy thinned to that share; K < 1 keeps each request with probability K.
`--mean-rate R` is `--rate-scale R / mean`. `--days D` keeps the first D days; it is meant
for rate curves (refused when a curve is shorter), and a request log shorter than D days
is used whole, so one `--days` serves a bench that mixes hour-long logs with long curves.
`--start-day S` first skips S days the same way (days the law was never developed on can
then be benched: the protocol's default uses days 0-2 of the 14-day curves).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from regions.errors import InputError, Problem
from sim.traces.arrivals import Arrivals


def check_days(name: str, days: float | None, duration_s: float, start_day: float = 0.0) -> None:
    """`--days D` (after `--start-day S`) beyond the trace would silently bench a shorter run
    than asked for."""
    total_days = duration_s / 86400.0
    if start_day > 0 and start_day >= total_days - 1e-9:
        raise InputError("--start-day is beyond the trace", [Problem(
            "--start-day", f"day {start_day:g} asked, but {name} lasts {total_days:.4g} days",
            fix=f"use a --start-day below {total_days:.4g}, or drop it")])
    if days is not None and (start_day + days) * 86400.0 > duration_s + 1e-6:
        longest = math.floor((total_days - start_day) * 1e4) / 1e4
        where = f" from day {start_day:g}" if start_day > 0 else ""
        raise InputError("--days is beyond the trace", [Problem(
            "--days", f"{days:g} days asked{where}, but {name} lasts {total_days:.4g} days",
            fix=f"use --days {longest:g} or less, or drop --days")])


def window_days(trace: Arrivals, start_day: float, days: float | None) -> Arrivals:
    """A request log's days [start_day, start_day + days), re-timed to start at 0; a log
    shorter than the window's start (or end) is used whole (see the module docstring)."""
    start = start_day * 86400.0
    if start > 0 and trace.duration_s > start:
        later = trace.take(trace.time_s >= start)
        trace = replace(later, time_s=later.time_s - start, duration_s=trace.duration_s - start)
    if days is None or trace.duration_s <= days * 86400.0:
        return trace
    end = days * 86400.0
    return trace.take(trace.time_s < end, duration_s=end)


def scale_requests(trace: Arrivals, k: float, seed: int = 0) -> Arrivals:
    if k == 1.0:
        return trace
    rng = np.random.default_rng(seed + 7919)
    copies = []
    whole, part = int(math.floor(k)), k - math.floor(k)
    for i in range(whole + (1 if part > 1e-9 else 0)):
        shift = 0.0 if i == 0 else rng.random() * trace.duration_s
        keep = np.ones(len(trace.time_s), bool) if i < whole else rng.random(len(trace.time_s)) < part
        t = (trace.time_s[keep] + shift) % trace.duration_s
        copies.append((t, trace.weight[keep], trace.prompt_tokens[keep], trace.output_tokens[keep],
                       trace.homes()[keep]))
    t, w, p, o, h = (np.concatenate(parts) for parts in zip(*copies))
    order = np.argsort(t, kind="stable")
    notes = trace.notes + [f"rate scaled x{k:g} ({whole} shifted copies"
                           + (f" + one thinned to {part:.2f})" if part > 1e-9 else ")")]
    return Arrivals(name=trace.name, time_s=t[order], weight=w[order], prompt_tokens=p[order],
                    output_tokens=o[order], duration_s=trace.duration_s, cohorts=trace.cohorts,
                    home=None if trace.home is None else h[order], jurisdictions=trace.jurisdictions,
                    notes=notes, cache={})
