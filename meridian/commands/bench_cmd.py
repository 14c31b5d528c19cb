"""`meridian bench`: baselines and oracle side by side on real traces, in the digital twin."""
from __future__ import annotations

import math
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from controller.law.types import Objective
from regions.errors import InputError, Problem
from regions.files import atomic_write_json, output_problem
from sim.bench import BenchConfig, run_bench
from sim.policies import REGISTRY
from sim.profiles import DEFAULT_INSTANCE
from sim.traces import TraceOptions, default_trace
from sim.traces.csv_columns import Columns

DEFAULT_POLICIES = "meridian,hpa,kpa,skyserve,skyserve-fallback,static,oracle"  # every registered policy


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="benchmark autoscalers on request traces in the digital twin",
        description="Replay traces through the fleet twin with each autoscaler. Each policy's knob is "
        "tuned on --tune-on to the cheapest value whose SLO window attainment is >= 0.99, then "
        "evaluated unchanged on every --trace. Prints a table; wall time and peak memory at the end.")
    p.add_argument("--trace", action="append", metavar="PATH[#SERIES]",
                   help="trace to evaluate (repeatable): Azure-style CSV, JSONL (timestamp ms, input_length, "
                   "output_length), any CSV with --time-column etc., or a rate curve PATH#SERIES. Paths may "
                   "be relative to ../shared/traces. Default: the Azure conversation trace")
    p.add_argument("--tune-on", metavar="PATH[#SERIES]",
                   help="trace the knobs are tuned on (default: the first --trace, i.e. hindsight tuning)")
    p.add_argument("--rate-scale", type=float, default=1.0, metavar="K",
                   help="K time-shifted superposed copies of each trace (fraction: thinning); for rate "
                   "curves, rates x K with the same CV")
    p.add_argument("--mean-rate", type=float, metavar="R", help="scale each trace to a mean of R req/s (--rate-scale then multiplies it)")
    p.add_argument("--days", type=float, metavar="D",
                   help="use only the first D days of each rate curve (refused if a curve is shorter); "
                   "request logs shorter than D days are used whole, so one --days serves a run that "
                   "mixes the one-hour Azure log with 14-day curves")
    p.add_argument("--start-day", type=float, default=0.0, metavar="S",
                   help="skip the first S days of each rate curve before --days (default 0): bench days "
                   "a policy was never developed on; request logs shorter than S days are used whole")
    p.add_argument("--percentile", type=float, default=95.0, help="TTFT percentile of the objective (default 95)")
    p.add_argument("--ttft-ms", type=float, default=1000.0, help="TTFT target in ms (default 1000)")
    p.add_argument("--e2e-ms", type=float, help="optional end-to-end latency target in ms")
    p.add_argument("--policies", default=DEFAULT_POLICIES, help=f"comma-separated (default {DEFAULT_POLICIES})")
    p.add_argument("--capacity", choices=("on-demand", "spot-mix"), default="on-demand",
                   help="on-demand for all (default), or spot for spot-capable policies at spot prices "
                   "with interruptions")
    p.add_argument("--topology", metavar="STACK_FILE",
                   help="Pulumi stack file: split the trace among its jurisdictions, one autoscaler per region")
    p.add_argument("--shares", metavar="J=S,...",
                   help="with --topology: traffic share per jurisdiction (default: equal shares)")
    p.add_argument("--placement", choices=("on", "off"),
                   help="with --topology (default on): clients see their round trip to the serving region "
                   "(regions.network), meridian routes each jurisdiction's load to the cheapest region that "
                   "fits the objective (controller.law.placement) and also runs closest-first as "
                   "meridian@closest for comparison; baselines route closest-first. off: no RTT, "
                   "closest-first for all (the twin before placement)")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE, help=f"GPU profile (default {DEFAULT_INSTANCE})")
    p.add_argument("--region", default="us-east-1",
                   help="region of the single-region fleet, serving its own jurisdiction's users (default us-east-1)")
    p.add_argument("--time-column", help="timestamp column of a generic CSV trace")
    p.add_argument("--prompt-column", help="prompt-token column of a generic CSV trace")
    p.add_argument("--output-column", help="output-token column of a generic CSV trace")
    p.add_argument("--time-unit", choices=("s", "ms", "us"), default="s", help="unit of numeric timestamps")
    p.add_argument("--step-s", type=float, default=10.0,
                   help="time step for rate curves expanded into cohorts, at most 60 (default 10 s; request logs use 1 s)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="policies tuned in parallel processes (default: 2, or 1 on a 1-CPU machine)")
    p.add_argument("--seed", type=int, default=0, help="seed for arrivals, cold starts and spot (default 0)")
    p.add_argument("--json", metavar="OUT", help="write results as JSON to OUT")
    p.add_argument("--plot", metavar="DIR", help="write PNG plots to DIR")
    p.set_defaults(func=run)


MAX_STEP_S = 60.0  # a step must not be longer than a scoring window (sim.score.WINDOW_S)


def _number_problems(args) -> list[Problem]:
    """Every numeric flag: finite, and in its range (nan and inf parse as floats)."""
    problems = []
    for flag, value, low in (("--rate-scale", args.rate_scale, "> 0"), ("--mean-rate", args.mean_rate, "> 0"),
                             ("--days", args.days, "> 0"), ("--ttft-ms", args.ttft_ms, "> 0"),
                             ("--e2e-ms", args.e2e_ms, "> 0"), ("--step-s", args.step_s, "> 0")):
        if value is not None and (not math.isfinite(value) or value <= 0):
            problems.append(Problem(flag, f"{value:g} is not a finite number {low}",
                                    fix=f"pass a number {low}, e.g. {_EXAMPLES[flag]}"))
    if not (math.isfinite(args.start_day) and args.start_day >= 0):
        problems.append(Problem("--start-day", f"{args.start_day:g} is not a finite number >= 0",
                                fix="pass a number of days >= 0, e.g. 7"))
    if math.isfinite(args.step_s) and args.step_s > MAX_STEP_S:
        problems.append(Problem("--step-s", f"{args.step_s:g} s is longer than the 60 s scoring window",
                                fix=f"use at most {MAX_STEP_S:g} s (default 10)"))
    if args.seed < 0:
        problems.append(Problem("--seed", f"{args.seed} is negative", fix="pass an integer >= 0"))
    return problems


_EXAMPLES = {"--rate-scale": "2", "--mean-rate": "50", "--days": "1", "--ttft-ms": "1000", "--e2e-ms": "30000",
             "--step-s": "10"}


def _output_problems(args) -> list[Problem]:
    """--json and --plot must be writable before hours of simulation, not after."""
    found = (output_problem("--json", args.json, want_dir=False), output_problem("--plot", args.plot, want_dir=True))
    return [p for p in found if p is not None]


def _config(args) -> BenchConfig:
    problems = _number_problems(args) + _output_problems(args)
    if not 0 < args.percentile < 100:
        problems.append(Problem("--percentile", f"{args.percentile} is not in (0, 100)", fix="e.g. 95"))
    if args.jobs < 1:
        problems.append(Problem("--jobs", "must be >= 1", fix="e.g. 2"))
    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    unknown = [p for p in policies if p not in REGISTRY]
    if unknown or not policies:
        problems.append(Problem("--policies", f"unknown or empty: {', '.join(unknown) or '(none)'}",
                                fix=f"choose from {', '.join(REGISTRY)}"))
    named = [args.time_column, args.prompt_column, args.output_column]
    if any(named) and not all(named):
        problems.append(Problem("--time-column/--prompt-column/--output-column", "give all three or none",
                                fix="name the timestamp, prompt-token and output-token columns"))
    if problems:
        raise InputError("bad bench options", problems)
    columns = Columns(*named, time_unit=args.time_unit) if all(named) else None
    traces = tuple(args.trace or [default_trace()])
    plain_csv = [t for t in traces + ((args.tune_on,) if args.tune_on else ())
                 if "#" not in t and not t.endswith((".jsonl", ".ndjson"))]
    if columns is not None and not plain_csv:
        raise InputError("bad bench options", [Problem(
            "--time-column/--prompt-column/--output-column", "no --trace or --tune-on is a CSV request log, "
            "so the column names would be ignored", fix="drop them, or pass the CSV trace they describe")])
    curves = any("#" in t for t in traces + ((args.tune_on,) if args.tune_on else ()))
    for flag, given in (("--days", args.days is not None), ("--start-day", args.start_day > 0)):
        if given and not curves:
            raise InputError("bad bench options", [Problem(
                flag, "applies to rate curves (PATH#SERIES), and no --trace or --tune-on is one",
                fix=f"drop {flag}, or pass a rate curve such as servegen_aggregate_rate_10min.csv#language/m-large")])
    topology = None
    if args.topology:
        from sim.topology_split import load_split
        topology = load_split(args.topology, args.shares, args.seed)
    elif args.shares or args.placement:
        flag = "--shares" if args.shares else "--placement"
        raise InputError("bad bench options", [Problem(flag, "only applies with --topology",
                                                        fix=f"add --topology STACK_FILE or drop {flag}")])
    return BenchConfig(
        traces=traces, tune_on=args.tune_on or traces[0],
        trace_options=TraceOptions(rate_scale=args.rate_scale, mean_rate=args.mean_rate, days=args.days,
                                   start_day=args.start_day,
                                   columns=columns, cohort_step_s=args.step_s, seed=args.seed),
        objective=Objective(percentile=args.percentile, ttft_s=args.ttft_ms / 1000.0,
                            e2e_s=args.e2e_ms / 1000.0 if args.e2e_ms else None),
        policies=policies, capacity=args.capacity, instance_type=args.instance_type, region=args.region,
        topology=topology, placement=topology is not None and args.placement != "off", seed=args.seed, jobs=args.jobs)


def run(args) -> int:
    t0 = time.perf_counter()
    cfg = _config(args)
    out = run_bench(cfg, keep_runs=bool(args.plot))
    runs = out.pop("_runs", None)
    print(render_table(out))
    write_outputs(args.json, args.plot, out, runs, cfg)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    workers_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    workers = f" (largest worker {workers_mb:.0f} MB)" if workers_mb > 0 else ""
    print(f"\nwall time {time.perf_counter() - t0:.1f} s, peak memory {peak_mb:.0f} MB{workers}")
    return 0


def _fmt(v, spec: str) -> str:
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "inf" if isinstance(v, float) and math.isinf(v) else "-"
    return format(v, spec)


COLUMNS = [("policy", "policy", "<18", "s"), ("knob", "knob", ">9", ".4g"), ("cost_usd", "cost $", ">14", ",.2f"),
           ("gpu_hours", "GPU h", ">11", ",.1f"), ("requests", "requests", ">15", ",.0f"),
           ("ttft_p50_s", "TTFT p50", ">9", ".3f"), ("ttft_p95_s", "p95", ">8", ".3f"),
           ("ttft_p99_s", "p99", ">8", ".3f"), ("e2e_p95_s", "E2E p95", ">8", ".1f"),
           ("slo_window_attainment", "SLO win", ">8", ".4f"), ("feasible_windows", "feasible", ">9", "d"),
           ("request_attainment", "req att", ">8", ".4f"), ("scale_events", "scales", ">7", "d"),
           ("max_replicas", "max rep", ">8", "d"), ("residency_violations", "resid viol", ">11", ",.0f")]


def render_table(out: dict) -> str:
    slo = out["slo"]
    lines = [f"objective: p{slo['percentile']:g} TTFT <= {slo['ttft_s'] * 1000:g} ms"
             + (f", p{slo['percentile']:g} E2E <= {slo['e2e_s']:g} s" if slo["e2e_s"] else "")
             + f"; SLO window attainment target {slo['target_attainment']}; capacity {slo['capacity']}; "
             f"{slo['instance_type']}; first {slo['warmup_s']:g} s not scored"]
    for entry in out["traces"]:
        mark = "  [HINDSIGHT: knobs tuned on this trace]" if entry["hindsight"] else ""
        lines.append(f"\ntrace {entry['name']}{mark}")
        lines.append("".join(format(title, align.replace("s", "")) for _, title, align, _ in COLUMNS))
        for row in entry["results"]:
            cells = []
            for key, _, align, spec in COLUMNS:
                v = row[key]
                cells.append(format(v if key == "policy" else _fmt(v, spec), align))
            flag = "" if out["tuned"][row["policy"]]["met"] else "  (tuning missed 0.99)"
            lines.append("".join(cells) + flag)
        lines += _region_lines(entry)
    return "\n".join(lines)


def _region_lines(entry: dict) -> list[str]:
    """Several regions: each policy's share of requests and cost per region, and what
    placement saved against the same policy routed closest-first."""
    rows = [r for r in entry["results"] if "regions" in r]
    if not rows:
        return []
    regions = list(rows[0]["regions"])
    width = max(16, *(len(r) + 2 for r in regions))
    lines = ["", "per region: share of requests / cost $",
             f"{'policy':<18}" + "".join(format(r, f">{width}") for r in regions)]
    for row in rows:
        total = sum(v["requests"] for v in row["regions"].values()) or 1.0
        cells = [f"{row['regions'][r]['requests'] / total:6.1%} / {_fmt(row['regions'][r]['cost_usd'], ',.2f')}"
                 for r in regions]
        lines.append(f"{row['policy']:<18}" + "".join(format(c, f">{width}") for c in cells))
    by_name = {r["policy"]: r for r in entry["results"]}
    for name, row in by_name.items():
        base = by_name.get(f"{name}@closest")
        if base is None:
            continue
        saving = 1.0 - row["cost_usd"] / base["cost_usd"] if base["cost_usd"] else float("nan")
        lines.append(f"placement saving: {name} ${row['cost_usd']:,.2f} vs closest-first ${base['cost_usd']:,.2f} "
                     f"({_fmt(saving, '.1%')} less); SLO win {row['slo_window_attainment']:.4f} vs "
                     f"{base['slo_window_attainment']:.4f}")
        for p in row.get("placements", []):
            lines.append(f"  t={p['time_s']:>7.0f} s {p['jurisdiction']}: {p['reason']}")
    return lines


def _clean(v):
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def write_outputs(json_path: str | None, plot_dir: str | None, out: dict, runs, cfg) -> None:
    """All or nothing: plots are drawn into a staging directory, then the JSON is written
    atomically, then the plots are moved into place; a failure removes what was staged."""
    staged: Path | None = None
    try:
        if plot_dir and runs:
            from sim.plots import write_plots
            target = Path(plot_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            drawn = write_plots(str(staged), out, runs, cfg)
        if json_path:
            try:
                write_json_atomic(json_path, out)
            except OSError as err:
                raise InputError("cannot write --json", [Problem("--json", str(err),
                                                                  fix="choose a writable file path")]) from None
        if staged is not None:
            target.mkdir(exist_ok=True)
            for path in drawn:
                os.replace(path, target / path.name)
                print(f"plot: {target / path.name}", file=sys.stderr)
    except OSError as err:
        raise InputError("cannot write --plot", [Problem("--plot", str(err),
                                                          fix="choose a writable directory")]) from None
    finally:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)


def write_json_atomic(path: str, data: dict) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target, _clean(data))
