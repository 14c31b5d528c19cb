"""Trace loaders: every format becomes `Arrivals` (see `arrivals.py`).

`load_trace(spec, options)` picks the loader from the spec: `PATH#SERIES` is a rate curve,
`*.jsonl` JSON Lines, a CSV with Azure's header the Azure loader, any other CSV the named
columns in `options.columns`.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from regions.errors import InputError, Problem
from sim.traces.arrivals import Arrivals, refuse, shared_traces_dir
from sim.traces.azure_csv import load_azure, looks_like_azure
from sim.traces.csv_columns import Columns, load_csv
from sim.traces.jsonl import load_jsonl
from sim.traces.rate_curve import COLUMNS as RATE_COLUMNS, load_rate_curve, series_names
from sim.traces.scaling import scale_requests, window_days

# A scaled request log is held request by request: 10 M requests (the Azure hour at 3,000 req/s)
# peaked at 1.8 GB in one process, so half that leaves room for the bench's tuning workers.
MAX_REQUESTS = 5_000_000

__all__ = ["Arrivals", "TraceOptions", "load_trace", "shared_traces_dir", "default_trace"]


@dataclass(frozen=True)
class TraceOptions:
    rate_scale: float = 1.0
    mean_rate: float | None = None
    days: float | None = None
    start_day: float = 0.0  # days skipped before the --days window (see scaling.py)
    columns: Columns | None = None
    cohort_step_s: float = 5.0
    seed: int = 0


def default_trace() -> str:
    return str(shared_traces_dir() / "azure_llm_2023" / "AzureLLMInferenceTrace_conv.csv")


def resolve(path: str) -> Path:
    """A path as given, or relative to the shared traces directory."""
    p = Path(path)
    if not p.exists() and (shared_traces_dir() / path).exists():
        return shared_traces_dir() / path
    return p


def load_trace(spec: str, options: TraceOptions = TraceOptions(), flag: str = "--trace") -> Arrivals:
    """The trace `spec` names; `flag` is the option a missing file is blamed on."""
    path_text, _, series = spec.partition("#")
    path = resolve(path_text)
    if not path.is_file():
        raise InputError(f"no trace at {path_text}", [Problem(
            flag, f"{path_text} is not a file (also looked in {shared_traces_dir()})",
            fix="give a path to a CSV, JSONL or rate-curve CSV (PATH#SERIES)")])
    bad = [name for name, v in (("--rate-scale", options.rate_scale), ("--mean-rate", options.mean_rate),
                                ("--days", options.days)) if v is not None and not (0 < v < math.inf)]
    if bad:
        raise InputError("bad trace scaling", [Problem(
            "/".join(bad), "must be a finite number > 0", fix="pass values > 0")])
    if not (0 <= options.start_day < math.inf):
        raise InputError("bad trace scaling", [Problem(
            "--start-day", f"{options.start_day:g} must be a finite number >= 0", fix="pass a number of days >= 0")])
    try:
        trace = _load(path, series, options)
    except UnicodeDecodeError as err:
        raise refuse(path, None, f"not UTF-8 text ({err.reason} at byte {err.start})",
                     "pass a CSV or JSON Lines text file") from None
    except csv.Error as err:
        raise refuse(path, None, f"unreadable CSV ({err})", "pass a plain comma-separated text file") from None
    except OSError as err:
        raise refuse(path, None, f"cannot read it ({err.strerror})", "check the path and its permissions") from None
    if trace.requests <= 0:
        raise refuse(path, None, f"{trace.name} has no requests" + (" (every rate is 0)" if series else ""),
                     "pass a trace with traffic, or a longer --days")
    return trace


def _load(path: Path, series: str, options: TraceOptions) -> Arrivals:
    if series:
        trace = load_rate_curve(path, series, days=options.days, start_day=options.start_day, mean_rate=options.mean_rate,
                                rate_scale=options.rate_scale, step_s=options.cohort_step_s,
                                seed=options.seed)
        trace.name = f"{path.name}#{series}"
        return trace
    trace = window_days(_load_requests(path, options), options.start_day, options.days)
    scale = options.rate_scale
    if options.mean_rate is not None:
        scale *= options.mean_rate / max(trace.mean_rate_rps, 1e-12)
    if len(trace.time_s) * scale > MAX_REQUESTS:  # refused before the copies are made, not swapped
        most = MAX_REQUESTS / max(trace.duration_s, 1e-9)
        raise InputError("scaled trace too large for the twin", [Problem(
            "--mean-rate/--rate-scale", f"{path.name} scaled x{scale:,.4g} would hold "
            f"{len(trace.time_s) * scale:,.0f} requests, more than the {MAX_REQUESTS:,} that fit the 2 GB memory budget",
            f"ask for a mean rate of at most {most:,.0f} req/s on this trace, or use a rate curve (PATH#SERIES)")])
    return scale_requests(trace, scale, options.seed)


def _load_requests(path: Path, options: TraceOptions) -> Arrivals:
    if path.suffix in (".jsonl", ".ndjson"):
        return load_jsonl(path)
    if options.columns is not None:
        return load_csv(path, options.columns)
    with open(path, newline="") as f:
        header = next(csv.reader(f), [])
    if looks_like_azure(header):
        return load_azure(path)
    if not header:
        raise refuse(path, 1, "empty file", "pass a trace with a header and request rows")
    if set(RATE_COLUMNS) <= {h.strip() for h in header}:
        series = ", ".join(series_names(path)) or "none"
        raise refuse(path, 1, f"a rate curve needs a series: PATH#SERIES (series in file: {series})",
                     f"e.g. --trace '{path}#{series.split(', ')[0]}'")
    raise InputError(f"unknown trace format {path}", [Problem(
        f"{path}:1", f"header {', '.join(header)} is not Azure's (TIMESTAMP, ContextTokens, GeneratedTokens)",
        fix="name the columns with --time-column, --prompt-column and --output-column, "
            "or use PATH#SERIES for a rate curve")])
