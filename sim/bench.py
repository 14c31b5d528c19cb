"""The benchmark: tune each policy's knob on one trace, run every policy on every trace.

Protocol (issue 4):
- Every policy gets the same fleet (region(s), GPU profile, prices, limits) and the same
  warm start: each region begins with the replicas that keep the batch slots 70 % busy in
  the busiest minute of the warm-up (first `warmup_s`, default 5 minutes), and the
  warm-up is not scored. HPA-style stabilization histories start as if at that count.
- Tuning: each policy's single knob (see `sim.policies.KNOBS`) is set on the `tune_on`
  trace to the cheapest value whose SLO window attainment is at least 0.99, found by
  bisection (log scale for targets, integers for the static count), then used unchanged
  on every evaluated trace. Tuning on an evaluated trace is hindsight, marked as such.
- Scores: `sim.score`. An objective leaving fewer than half of a trace's windows feasible
  is refused.
- Placement (`BenchConfig.placement`, with a topology): every client sees its round trip to
  the serving region (`regions.network`), and each region's autoscaler is given the objective
  less the longest round trip of the users it may serve (`sim.geo.server_objectives`: what
  its server-side metrics must hold); baselines route closest first, the policies in
  `sim.policies.PLACEMENT_AWARE` (meridian) route by `controller.law.placement` and warm-start
  where it places the load. `NAME@closest` runs such a policy with closest-first routing, the
  counterfactual the saving is measured against (added automatically for meridian).
"""
from __future__ import annotations

import math
import multiprocessing
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from controller.law.types import Limits, Objective
from regions.catalog import load_catalog
from regions.errors import InputError, Problem
from sim.fleet import EarlyStop, Fleet, FleetConfig, RunResult, simulate
from sim.policies import CLOSEST, KNOBS, ON_DEMAND_TWIN, PLACEMENT_AWARE, REGISTRY, SPOT_CAPABLE
from sim.profiles import DEFAULT_INSTANCE, GpuProfile, get_profile
from sim.score import Windows, misses_so_far, score, windows
from sim.traces import Arrivals, TraceOptions, load_trace, resolve

WARM_UTILIZATION = 0.7
UNTUNED = 1.0  # knob passed to policies that have none (not in sim.policies.KNOBS)
MAX_REPLICA_HEADROOM = 4.0  # max_replicas = busiest minute's need at 25 % slot utilization
# Far beyond any one cluster; the laws' sizing scans replica counts, so a trace scaled to
# billions of replicas would run for hours, not fail.
MAX_FLEET = 1_000_000
# The twin keeps per-step Python lists: measured 0.44 kB per step (a 5-day request log at
# 1 s steps peaks at 269 MB). 1.5 M steps (17 days of 1 s steps, 170 days of 10 s) keep the
# parent and two tuning workers within the 2 GB; more is refused, not swapped.
MAX_STEPS = 1_500_000


@dataclass(frozen=True)
class BenchConfig:
    traces: tuple[str, ...]
    tune_on: str
    trace_options: TraceOptions = TraceOptions()
    objective: Objective = Objective()
    policies: tuple[str, ...] = ("hpa", "kpa", "skyserve", "skyserve-fallback", "static", "oracle")
    capacity: str = "on-demand"
    instance_type: str = DEFAULT_INSTANCE
    region: str = "us-east-1"
    jurisdiction: str | None = None  # users of the single-region fleet; None: the region's own jurisdiction
    topology: object | None = None  # sim.topology_split.Split when --topology is given
    placement: bool = False  # with a topology: client RTT, and cost-aware routing for meridian
    warmup_s: float = 300.0
    target_attainment: float = 0.99
    tune_iterations: int = 4  # bisections inside a factor-2 bracket: knob within ~4 %
    tune_precision: float = 0.02  # static count: within 2 % (or one replica)
    jobs: int = 1  # policies tuned in parallel processes
    early_stop: bool = True  # stop a tuning run once it has missed more windows than 0.99 allows
    seed: int = 0


@dataclass
class Workload:
    """A trace made ready for the fleet: arrivals, regions, warm start, limits, windows."""

    spec: str
    arrivals: Arrivals
    fleet: FleetConfig
    windows: Windows
    profile: GpuProfile
    placed_initial: dict | None = None  # warm start when routing by placement ("cost")


@dataclass
class Tuned:
    knob: float
    attainment: float
    cost_usd: float
    met: bool
    evaluations: int
    history: list = field(default_factory=list)
    scores: dict = field(default_factory=dict)  # knob -> scores on the tuning trace


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _busy_slots_per_minute(a: Arrivals, profile: GpuProfile) -> np.ndarray:
    """Batch slots the arrivals of each minute keep busy (Little's law) at the warm utilization."""
    service = profile.service_s(a.prompt_tokens, a.output_tokens, WARM_UTILIZATION)
    minute = (a.time_s // 60).astype(np.int64)
    return np.bincount(minute, weights=a.weight * service, minlength=1) / 60.0


def prepare(spec: str, cfg: BenchConfig, flag: str = "--trace") -> Workload:
    options = cfg.trace_options
    arrivals = load_trace(spec, options, flag)
    profile = get_profile(cfg.instance_type)
    route_order = None
    if cfg.topology is not None:
        arrivals, regions, transfers = cfg.topology.apply(arrivals)
        route_order = cfg.topology.route_order() if hasattr(cfg.topology, "route_order") else None
    else:
        arrivals.jurisdictions = (cfg.jurisdiction or _region_jurisdiction(cfg.region),)
        regions, transfers = (cfg.region,), ()
    step = options.cohort_step_s if arrivals.cohorts else 1.0
    if arrivals.duration_s / step > MAX_STEPS:
        raise InputError("trace too long for the twin", [Problem(
            spec, f"it spans {arrivals.duration_s / 86400:,.1f} days: {arrivals.duration_s / step:,.0f} steps of "
            f"{step:g} s, more than the {MAX_STEPS:,} that fit the 2 GB memory budget",
            fix="cut it with --days, or check the timestamp unit (--time-unit)")])
    slots = profile.batch_slots
    initial, peak = _warm_start(arrivals, regions, cfg, route_order, profile)
    geo_on = cfg.placement and cfg.topology is not None and route_order is not None
    serving, placed_initial = None, None
    if geo_on:
        serving = {code: cfg.topology.topology.jurisdictions[code].serving for code in arrivals.jurisdictions}
        placed_order = {code: _placed_first(code, serving[code], cfg, regions, transfers) + route_order[code]
                        for code in arrivals.jurisdictions}
        placed_initial, _ = _warm_start(arrivals, regions, cfg, placed_order, profile)
    max_replicas = max(max(initial.values()), math.ceil(peak * MAX_REPLICA_HEADROOM / slots) + 2)
    if max_replicas > MAX_FLEET:
        most = arrivals.mean_rate_rps * MAX_FLEET / max_replicas
        raise InputError("fleet too large for the twin", [Problem(
            "--mean-rate/--rate-scale", f"{spec} at {arrivals.mean_rate_rps:,.4g} req/s would allow up to "
            f"{max_replicas:,} replicas, more than the {MAX_FLEET:,} the twin models (sizing scans replica "
            "counts, so such a run takes hours)", fix=f"ask for a mean rate of at most {most:,.0f} req/s")])
    limits = Limits(min_replicas=1, max_replicas=max_replicas,
                    spot_share=1.0 if cfg.capacity == "spot-mix" else 0.0,
                    cold_start_s=profile.cold_start_median_s)
    fleet = FleetConfig(regions=tuple(regions), instance_type=cfg.instance_type, step_s=step,
                        capacity=cfg.capacity, objective=cfg.objective, limits=limits,
                        initial_replicas=initial, transfers=tuple(transfers), route_order=route_order,
                        placement="closest" if geo_on else "off", serving=serving, seed=cfg.seed)
    win = windows(arrivals, cfg.objective, profile, cfg.warmup_s)
    if not win.scored.any():
        raise InputError("trace too short for the bench", [Problem(
            spec, f"it lasts {arrivals.duration_s:.0f} s; the first {cfg.warmup_s:g} s are the unscored warm-up "
            "and scoring needs at least one 1-minute window after it",
            fix=f"use a trace longer than {cfg.warmup_s + 60:g} s")])
    judged = win.feasible[win.scored]
    if judged.size and judged.mean() < 0.5:
        raise InputError("objective not feasible on this trace", [Problem(
            "--ttft-ms/--percentile",
            f"only {judged.mean():.0%} of {spec}'s 1-minute windows could meet p{cfg.objective.percentile:g} "
            f"TTFT <= {cfg.objective.ttft_s:g} s even with unlimited replicas (prefill alone is too slow "
            f"on {cfg.instance_type})",
            fix="raise --ttft-ms, lower --percentile, or choose a faster --instance-type")])
    Fleet(arrivals, fleet, lambda code: None)  # fills the per-step cache before workers fork
    log(f"{arrivals.name}: {arrivals.requests:,.0f} requests over {arrivals.duration_s / 3600:.1f} h "
        f"({arrivals.mean_rate_rps:.2f} req/s), step {step:g} s, warm start {initial}"
        + (f" (placed: {placed_initial})" if placed_initial else "")
        + f", max {max_replicas} replicas, {win.feasible[win.scored].mean():.1%} of windows feasible")
    return Workload(spec, arrivals, fleet, win, profile, placed_initial)


def _warm_start(arrivals: Arrivals, regions, cfg: BenchConfig, route_order, profile: GpuProfile) -> tuple[dict, float]:
    """Per region, the replicas that keep its first-choice load's slots 70 % busy in the
    busiest warm-up minute; and the busiest minute's busy slots of any region."""
    initial, peak = {}, 0.0
    for code, (rows, share) in _region_load(arrivals, regions, cfg, route_order).items():
        busy = _busy_slots_per_minute(arrivals.take(rows), profile) * share if rows.any() else np.zeros(1)
        warm = busy[: max(1, int(math.ceil(cfg.warmup_s / 60)))].max()
        initial[code] = max(1, math.ceil(warm / (profile.batch_slots * WARM_UTILIZATION)))
        peak = max(peak, busy.max())
    return initial, peak


def _placed_first(code: str, serving, cfg: BenchConfig, regions, transfers) -> tuple[str, ...]:
    """Where `controller.law.placement` puts `code`'s load at the start of a run."""
    from sim.geo import static_placement

    first = static_placement(code, serving, cfg.objective, cfg.instance_type, transfers=transfers,
                             topology_regions=regions).first
    return (first,) if first else ()


def _region_jurisdiction(code: str) -> str:
    """Whose users a single-region fleet serves: its own jurisdiction's (residency lets a
    region serve its own jurisdiction's personal data, and nobody else's without a transfer)."""
    catalog = load_catalog()
    if code not in catalog.regions:
        raise InputError(f"unknown region {code}", [Problem(
            "--region", f"{code} is not in the catalog",
            fix=f"choose one of {', '.join(sorted(catalog.regions))} (`meridian regions`)")])
    return catalog.regions[code].jurisdiction


def _region_load(arrivals: Arrivals, regions, cfg: BenchConfig, route_order) -> dict[str, tuple]:
    """Per region, the rows it serves while all is healthy (its jurisdictions' first choice)
    and the share of their weight it carries. A topology object without `route_order` (only
    `region_shares`) gets every row at its share."""
    everything = np.ones(len(arrivals.time_s), bool)
    if cfg.topology is None:
        return {regions[0]: (everything, 1.0)}
    if route_order is None:
        return {code: (everything, share) for code, share in cfg.topology.region_shares(arrivals).items()}
    homes = arrivals.homes()
    out = {code: (np.zeros(len(homes), bool), 1.0) for code in regions}
    for j, code in enumerate(arrivals.jurisdictions):
        out[route_order[code][0]][0][homes == j] = True
    return out


def run_policy(work: Workload, name: str, knob: float, cfg: BenchConfig,
               progress: Callable[[float], None] | None = None, checkpoint=None) -> tuple[RunResult, dict]:
    name, _, routing = name.partition("@")
    factory = REGISTRY[name]
    fleet = work.fleet
    if name in PLACEMENT_AWARE and routing != CLOSEST and work.placed_initial is not None:
        fleet = replace(fleet, placement="cost", initial_replicas=work.placed_initial)
    if cfg.capacity == "spot-mix" and name not in SPOT_CAPABLE:
        fleet = replace(fleet, capacity="on-demand", limits=replace(fleet.limits, spot_share=0.0))
    objectives = {}
    if fleet.placement != "off":  # each region's autoscaler holds what is left after its users' round trip
        from sim.geo import server_objectives
        objectives = server_objectives(cfg.objective, work.arrivals.jurisdictions, fleet.regions, fleet.transfers)
    result = simulate(work.arrivals, fleet,
                      lambda code: factory(objectives.get(code, cfg.objective), fleet.limits, knob), progress,
                      checkpoint)
    return result, score(work.arrivals, result, cfg.objective, work.windows)


def tune(work: Workload, name: str, cfg: BenchConfig) -> Tuned:
    """Cheapest knob whose SLO window attainment on `work` reaches the target. A policy
    without a knob in `KNOBS`, or with a one-point range (one that takes the objective
    itself), is run once, as is."""
    spec = KNOBS.get(name)
    scores: dict = {}
    if spec is None or spec.low == spec.high:  # nothing to search (meridian's range is one point)
        knob = UNTUNED if spec is None else spec.low
        _, s = run_policy(work, name, knob, cfg)
        ok = s["slo_window_attainment"] >= cfg.target_attainment - 1e-12
        log(f"tune {name:<17} has no knob: attainment {s['slo_window_attainment']:.4f} cost ${s['cost_usd']:,.2f}")
        return Tuned(knob, s["slo_window_attainment"], s["cost_usd"], ok, 1, [], {knob: s})
    history = []

    judged = int((work.windows.scored & work.windows.feasible).sum())
    budget = (1.0 - cfg.target_attainment) * judged  # windows that may miss

    def evaluate(knob: float) -> bool:
        t0 = time.perf_counter()
        show = _progress(f"tune {name} {knob:.4g}") if work.fleet.step_s > 1 and cfg.jobs <= 1 else None
        misses = [0]

        def hopeless(fleet, upto: int) -> bool:
            ttft, e2e = fleet.latencies_so_far(upto)
            misses[0] = misses_so_far(work.arrivals, ttft, e2e, cfg.objective, work.windows, upto * fleet.dt)
            return misses[0] > budget + 1e-9

        try:
            _, s = run_policy(work, name, knob, cfg, show, checkpoint=hopeless if cfg.early_stop else None)
        except EarlyStop as stop:
            bound = 1.0 - misses[0] / max(judged, 1)
            history.append((knob, bound, math.inf))
            log(f"tune {name:<17} knob {knob:10.4g}: attainment < {bound:.4f} (stopped at {stop.fraction:.0%}: "
                f"{misses[0]} windows missed, at most {budget:.1f} allowed) ({time.perf_counter() - t0:.1f} s)")
            return False
        history.append((knob, s["slo_window_attainment"], s["cost_usd"]))
        scores[knob] = s
        log(f"tune {name:<17} knob {knob:10.4g}: attainment {s['slo_window_attainment']:.4f} "
            f"cost ${s['cost_usd']:,.2f} ({time.perf_counter() - t0:.1f} s)")
        return s["slo_window_attainment"] >= cfg.target_attainment - 1e-12

    if spec.integer:
        _tune_count(work, evaluate, cfg.tune_precision)
    else:
        _tune_target(spec, _guess(name, work), evaluate, cfg.tune_iterations + spec.extra_iterations)
    passing = [h for h in history if h[1] >= cfg.target_attainment - 1e-12]
    if passing:
        knob, att, cost = min(passing, key=lambda h: (h[2], -h[1]))
        return Tuned(knob, att, cost, True, len(history), history, scores)
    knob, att, cost = max(history, key=lambda h: (h[1], -h[2]))
    log(f"tune {name}: no knob reached {cfg.target_attainment}; using the best ({knob:g}, {att:.4f})")
    return Tuned(knob, att, cost, False, len(history), history, scores)


def _guess(name: str, work: Workload) -> float | None:
    """Where the search starts: 60 % of a replica's batch slots (or of its request rate)."""
    p, a = work.profile, work.arrivals
    service = float(np.average(p.service_s(a.prompt_tokens, a.output_tokens, 0.6), weights=a.weight))
    return {"hpa": 0.6 * p.batch_slots, "kpa": 0.6 * p.batch_slots,
            "skyserve": 0.6 * p.batch_slots / service, "skyserve-fallback": 0.6 * p.batch_slots / service,
            "oracle": 0.6}.get(name)


def _tune_count(work: Workload, good, precision: float) -> None:
    """Smallest replica count that meets the target: from the busiest minute's need at 70 %
    slot utilization, step by x1.25 until the target is bracketed, then bisect down to
    `precision` (relative) or one replica."""
    cap = work.fleet.limits.max_replicas
    busy = _busy_slots_per_minute(work.arrivals, work.profile).max()
    regions = max(1, len(work.fleet.regions))
    x = max(1, min(cap, math.ceil(busy / regions / (work.profile.batch_slots * WARM_UTILIZATION))))
    if good(x):
        hi = x
        while True:
            lo = max(0, min(hi - 1, int(hi / 1.25)))
            if lo <= 0 or not good(lo):
                break
            hi = lo
    else:
        lo = x
        while True:
            hi = min(cap, max(lo + 1, math.ceil(lo * 1.25)))
            if good(hi):
                break
            if hi >= cap:
                return
            lo = hi
    while hi - lo > max(1, int(precision * hi)):
        mid = (lo + hi) // 2
        if good(mid):
            hi = mid
        else:
            lo = mid


def _tune_target(spec, guess: float | None, good, iterations: int) -> None:
    """Largest (cheapest) knob that still meets the target: bracket by doubling/halving from
    the guess, then bisect `iterations` times in log space."""
    x = min(spec.high, max(spec.low, guess if guess else math.sqrt(spec.low * spec.high)))
    if good(x):
        lo = x
        while True:
            hi = min(spec.high, lo * 2)
            if hi <= lo:
                return
            if not good(hi):
                break
            lo = hi
    else:
        hi = x
        while True:
            lo = max(spec.low, hi / 2)
            if lo >= hi:
                return
            if good(lo):
                break
            hi = lo
    lo, hi = math.log(lo), math.log(hi)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if good(math.exp(mid)):
            lo = mid
        else:
            hi = mid


_FORKED: tuple | None = None  # state inherited by forked workers (tuning: workload; evaluation: workloads)


def _tune_one(name: str) -> tuple[str, Tuned]:
    work, cfg = _FORKED
    return name, tune(work, name, cfg)


def _can_fork() -> bool:
    """Fork workers only from a single-threaded process. A fork copies locks that other
    threads hold at that instant (logging, stdio, a progress heartbeat) and the child can
    wait on them forever, which is what happened when the demo ran the bench in-process
    beside its progress thread. Otherwise the policies run one after another."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _tune_all(work: Workload, cfg: BenchConfig) -> dict[str, Tuned]:
    """Tune every policy; with `jobs` > 1, policies are tuned in parallel forked workers
    (they share the prepared workload copy-on-write; only knobs and scores come back)."""
    global _FORKED
    twins = _twins(cfg)
    names = [n for n in cfg.policies if n not in twins]
    jobs = min(cfg.jobs, len(names))
    if jobs <= 1 or not _can_fork():
        done = {name: tune(work, name, cfg) for name in names}
    else:
        # Costliest first (KPA decides every step), so the workers finish together.
        order = sorted(names, key=lambda n: (n != "kpa", n != "hpa"))
        _FORKED = (work, cfg)
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                done = dict(pool.imap_unordered(_tune_one, order))
        finally:
            _FORKED = None
    for name, same_as in twins.items():
        log(f"tune {name:<17} = {same_as} on {cfg.capacity} capacity (identical decisions): reusing its knob")
        done[name] = done[same_as]
    return {name: done[name] for name in cfg.policies}


def _twins(cfg: BenchConfig) -> dict[str, str]:
    """Policies that decide exactly like another one under this capacity (ON_DEMAND_TWIN)."""
    if cfg.capacity != "on-demand":
        return {}
    return {n: ON_DEMAND_TWIN[n] for n in cfg.policies if ON_DEMAND_TWIN.get(n) in cfg.policies}


def _evaluate_one(job: tuple[str, str, float, bool]):
    spec, name, knob, keep = job
    workloads, cfg = _FORKED
    return (spec, name), _evaluate(workloads[spec], name, knob, cfg, keep, quiet=True)


def _evaluate(work: Workload, name: str, knob: float, cfg: BenchConfig, keep: bool, quiet: bool = False):
    """Scores of one run, and (with `keep`) the small summary the plots need."""
    t0 = time.perf_counter()
    show = None if quiet or work.fleet.step_s <= 1 else _progress(f"run {name}")
    result, s = run_policy(work, name, knob, cfg, show)
    log(f"run  {name:<17} on {work.arrivals.name}: attainment {s['slo_window_attainment']:.4f} "
        f"cost ${s['cost_usd']:,.2f} ({time.perf_counter() - t0:.1f} s)")
    if not keep:
        return None, s
    from sim.plots import PlotRun
    return PlotRun.of(work.arrivals, result), s


def _evaluate_all(workloads: dict, jobs: list, tuned: dict, cfg: BenchConfig, keep: bool) -> dict:
    """Evaluate every (trace, policy), in forked workers when `jobs` > 1."""
    global _FORKED
    if cfg.jobs <= 1 or len(jobs) <= 1 or not _can_fork():
        return {(spec, name): _evaluate(workloads[spec], name, tuned[name].knob, cfg, keep) for spec, name in jobs}
    order = sorted(jobs, key=lambda j: (j[1] != "kpa", j[1] != "hpa"))
    _FORKED = (workloads, cfg)
    try:
        with multiprocessing.get_context("fork").Pool(min(cfg.jobs, len(jobs))) as pool:
            return dict(pool.imap_unordered(_evaluate_one, [(spec, name, tuned[name].knob, keep)
                                                           for spec, name in order]))
    finally:
        _FORKED = None


def _progress(label: str) -> Callable[[float], None]:
    def report(frac: float) -> None:
        print(f"\r[bench] {label}: {frac:4.0%}", end="", file=sys.stderr, flush=True)
        if frac >= 0.95:
            print("\r", end="", file=sys.stderr)
    return report


def _canonical(spec: str) -> str:
    """One spelling per trace (relative, absolute or via ../shared/traces), to spot hindsight."""
    path, sep, series = spec.partition("#")
    return str(resolve(path).resolve()) + sep + series


def with_counterfactuals(cfg: BenchConfig) -> BenchConfig:
    """With placement over a topology, each placement-aware policy also runs closest-first
    (`NAME@closest`), so the table shows what the placement saved."""
    if not (cfg.placement and cfg.topology is not None):
        return cfg
    extra = tuple(f"{n}@{CLOSEST}" for n in cfg.policies if n in PLACEMENT_AWARE and f"{n}@{CLOSEST}" not in cfg.policies)
    return replace(cfg, policies=cfg.policies + extra)


def run_bench(cfg: BenchConfig, keep_runs: bool = False) -> dict:
    cfg = with_counterfactuals(cfg)
    unknown = [p for p in cfg.policies if p.partition("@")[0] not in REGISTRY
               or p.partition("@")[2] not in ("", CLOSEST)]
    if unknown:
        raise InputError("unknown policy", [Problem("--policies", f"{', '.join(unknown)} not known",
                                                    fix=f"choose from {', '.join(REGISTRY)}")])
    workloads = {spec: prepare(spec, cfg) for spec in dict.fromkeys(cfg.traces)}
    same = {spec: _canonical(spec) == _canonical(cfg.tune_on) for spec in workloads}
    tune_work = next((workloads[spec] for spec in workloads if same[spec]), None) or prepare(cfg.tune_on, cfg, "--tune-on")
    tuned = _tune_all(tune_work, cfg)
    out = {
        "slo": {"percentile": cfg.objective.percentile, "ttft_s": cfg.objective.ttft_s,
                "e2e_s": cfg.objective.e2e_s, "window_s": 60.0, "target_attainment": cfg.target_attainment,
                "warmup_s": cfg.warmup_s, "capacity": cfg.capacity, "instance_type": cfg.instance_type},
        "tuned": {name: {"knob": t.knob, "meaning": KNOBS[name].meaning if name in KNOBS else "none (untuned)",
                         "tune_on": cfg.tune_on,
                         "attainment_on_tune": t.attainment, "met": t.met, "evaluations": t.evaluations}
                  for name, t in tuned.items()},
        "traces": [],
    }
    runs = {}
    jobs = [(spec, name) for spec in workloads for name in cfg.policies]
    evaluated = {}
    if not keep_runs:  # the twin is deterministic: a hindsight run was already scored while tuning
        for spec, name in list(jobs):
            if same[spec] and tuned[name].knob in tuned[name].scores:
                evaluated[(spec, name)] = (None, tuned[name].scores[tuned[name].knob])
                jobs.remove((spec, name))
                log(f"run  {name:<17} on {workloads[spec].arrivals.name}: scored while tuning (same knob, same seed)")
    twins = _twins(cfg)
    evaluated.update(_evaluate_all(workloads, [j for j in jobs if j[1] not in twins], tuned, cfg, keep_runs)
                     if jobs else {})
    for spec, name in jobs:
        if name in twins:
            evaluated[(spec, name)] = evaluated[(spec, twins[name])]
    for spec, work in workloads.items():
        entry = {"trace": spec, "name": work.arrivals.name, "hindsight": same[spec],
                 "regions": list(work.fleet.regions), "jurisdictions": list(work.arrivals.jurisdictions),
                 "requests": work.arrivals.requests, "duration_s": work.arrivals.duration_s,
                 "notes": work.arrivals.notes, "results": []}
        for name in cfg.policies:
            result, s = evaluated[(spec, name)]
            entry["results"].append({"policy": name, "knob": tuned[name].knob, **s})
            if keep_runs:
                runs[(spec, name)] = result
        out["traces"].append(entry)
    if keep_runs:
        out["_runs"] = runs
    return out
