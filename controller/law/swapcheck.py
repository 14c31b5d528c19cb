"""A model swap on a real rate curve, the law seeing the revision or blind to it:
`python -P -m controller.law.swapcheck [--trace m-large] [--mean-rate 50] [--slots 64]
[--decode-factor 1] [--at-hour 24]`.

Two days of the curve as `meridian bench` prepares them (on-demand, seed 0, p95 TTFT <= 1 s).
At `--at-hour` the region's model is swapped for one with `--slots` batch slots and decode
`--decode-factor` times as fast (`sim.scenario.ModelSwap`: region-wide, in one step). meridian
runs twice: once seeing the twin's revision (the profile's fingerprint, as the runtime sees the
Deployment's pod template), once blind to it (the revision hidden, as from a source that cannot
tell). Prints SLO window attainment, cost and the mean fleet before and after the swap
(controller/law/BENCH.md, round 11).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys

import numpy as np

from chaos.targets.sim import rollout_profile
from controller.law.meridian import MeridianPolicy
from controller.law.types import Decision, Objective, Observation
from meridian import protocol
from regions.errors import InputError, Problem, closest
from sim.bench import BenchConfig, prepare
from sim.fleet import simulate
from sim.profiles import get_profile
from sim.scenario import ModelSwap, Scenario
from sim.score import score
from sim.traces import TraceOptions

CURVES = {protocol.short_name(t): t for t in protocol.TRACES if "#" in t}  # a day-long swap needs days


class Blind:
    """The law with the observation's revision hidden."""

    def __init__(self, law: MeridianPolicy):
        self.law, self.name, self.interval_s = law, law.name, law.interval_s

    def decide(self, obs: Observation) -> Decision:
        return self.law.decide(dataclasses.replace(obs, revision=None))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m controller.law.swapcheck", description=__doc__.split("\n\n")[1])
    p.add_argument("--trace", default="m-large", help=f"one of {', '.join(CURVES)} (default m-large)")
    p.add_argument("--mean-rate", type=float, default=50.0, help="req/s over the two days (default 50)")
    p.add_argument("--slots", type=int, default=64, help="batch slots of the new model (default 64; the old has 32)")
    p.add_argument("--decode-factor", type=float, default=1.0, help="new decode speed / old (default 1)")
    p.add_argument("--at-hour", type=float, default=24.0, help="when the swap happens, 0-48 (default 24)")
    a = p.parse_args(argv)
    problems = []
    if a.trace not in CURVES:
        guess = closest(a.trace, CURVES)
        problems.append(Problem("--trace", f"{a.trace!r} is not a rate curve",
                                f"did you mean {guess[0]}?" if guess else f"use one of {', '.join(CURVES)}"))
    if not (math.isfinite(a.mean_rate) and a.mean_rate > 0):
        problems.append(Problem("--mean-rate", f"{a.mean_rate}", "a positive rate in req/s"))
    if a.slots < 1:
        problems.append(Problem("--slots", f"{a.slots}", "at least 1"))
    if not (math.isfinite(a.decode_factor) and a.decode_factor > 0):
        problems.append(Problem("--decode-factor", f"{a.decode_factor}", "a positive factor"))
    if not (math.isfinite(a.at_hour) and 0 < a.at_hour < 48):
        problems.append(Problem("--at-hour", f"{a.at_hour}", "an hour inside the two days, 0-48"))
    if problems:
        raise InputError("bad swapcheck arguments", problems)
    return a


def main(argv: list[str] | None = None) -> int:
    try:
        a = parse(argv)
    except InputError as err:
        print(f"error: {err.render()}", file=sys.stderr)
        return err.exit_code
    trace = CURVES[a.trace]
    cfg = BenchConfig(traces=(trace,), tune_on=trace, policies=("meridian",),
                      trace_options=TraceOptions(mean_rate=a.mean_rate, days=2.0, cohort_step_s=10.0, seed=0),
                      objective=Objective(percentile=95.0, ttft_s=1.0))
    work = prepare(trace, cfg)
    old = get_profile(cfg.instance_type)
    new = rollout_profile(old, {"batch_slots": a.slots, "decode_speed_factor": a.decode_factor})
    fleet = dataclasses.replace(work.fleet, scenario=Scenario((ModelSwap(cfg.region, a.at_hour * 3600.0, new),)))
    print(f"{a.trace} at {a.mean_rate:g} req/s, days 0-1: at hour {a.at_hour:g} {old.batch_slots} -> "
          f"{a.slots} slots, decode x{a.decode_factor:g}")
    print(f"{'law':<15} {'attain':>7} {'cost $':>10} {'fleet before':>13} {'fleet after':>12}")
    for label, wrap in (("revision seen", lambda p: p), ("blind", Blind)):
        result = simulate(work.arrivals, fleet, lambda code: wrap(MeridianPolicy(cfg.objective, fleet.limits)))
        s = score(work.arrivals, result, cfg.objective, work.windows)
        t = result.timelines[cfg.region]
        size = np.asarray(t.ready) + np.asarray(t.starting)
        cut = int(len(size) * a.at_hour / 48.0)
        print(f"{label:<15} {s['slo_window_attainment']:>7.4f} {s['cost_usd']:>10,.2f} "
              f"{size[:cut].mean():>13.1f} {size[cut:].mean():>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
