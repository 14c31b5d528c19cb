"""Decision speed of the meridian law: `python -m controller.law.bench [--decisions N]`.

Feeds one policy a synthetic but realistic observation stream (a diurnal rate with
bursts, replicas following the decisions after a cold start, in-flight by Little's law
with a slot limit, a queue when the slots are full, a TTFT that grows with occupancy,
an occasional stale scrape) and prints decisions per second and CPU seconds. The
random stream is drawn before timing starts; the small fleet bookkeeping between
decisions is timed with `decide`, so the figure is an upper bound for `decide` alone.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from controller.law.meridian import MeridianPolicy
from controller.law.types import Limits, Objective, Observation


MAX_DECISIONS = 1_000_000  # a few hundred MB of observations, well inside the 2 GB budget


def observation_stream(n: int, seed: int = 0) -> list[dict]:
    """Fields of `n` observations, 15 s apart, before the replica counts are known."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * 15.0
    rate = 40.0 + 25.0 * np.sin(2 * math.pi * t / 86_400.0) + rng.normal(0.0, 2.0, n)
    bursts = rng.random(n) < 0.01
    rate = np.maximum(0.0, rate * np.where(bursts, 1.8, 1.0))
    stale = rng.random(n) < 0.002
    return [
        {"time_s": float(t[i]), "rate": float(rate[i]), "stale": bool(stale[i]), "noise": float(rng.normal(0, 0.03))}
        for i in range(n)
    ]


def run(decisions: int, seed: int = 0) -> tuple[float, float, int]:
    """Returns (cpu seconds, wall seconds, final replicas)."""
    stream = observation_stream(decisions, seed)
    policy = MeridianPolicy(Objective(95.0, 1.0), Limits(min_replicas=1, max_replicas=500, spot_share=0.5))
    slots, service, cold = 32, 10.0, 180.0
    ready, starting = 20, []  # starting: ready-at times
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for row in stream:
        now = row["time_s"]
        ready += sum(1 for s in starting if s <= now)
        starting = [s for s in starting if s > now]
        busy = row["rate"] * service
        in_flight = min(busy, ready * slots)
        queued = max(0.0, busy - ready * slots)
        occupancy = in_flight / max(ready * slots, 1)
        obs = Observation(
            time_s=now,
            ready_replicas=ready,
            starting_replicas=len(starting),
            arrival_rate_rps=None if row["stale"] else row["rate"],
            ttft_quantile_s=0.3 + 0.3 * occupancy + row["noise"] + (2.0 if queued else 0.0),
            e2e_quantile_s=None,
            in_flight=in_flight,
            queued=queued,
            price_on_demand_per_hour=1.21,
            price_spot_per_hour=0.45,
            ready_spot=ready // 2,
            metrics_age_s=120.0 if row["stale"] else 0.0,
        )
        d = policy.decide(obs)
        total = ready + len(starting)
        if d.replicas > total:
            starting += [now + cold] * (d.replicas - total)
        elif d.replicas < total:
            drop = total - d.replicas
            cancel = min(drop, len(starting))
            starting = starting[: len(starting) - cancel]
            ready -= drop - cancel
    return time.process_time() - cpu0, time.perf_counter() - wall0, ready + len(starting)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controller.law.bench",
        description="Time the meridian control law's decide() on a synthetic observation stream "
        "(fleet model included in the timing, so the figure is an upper bound on decide alone).",
    )
    parser.add_argument("--decisions", type=int, default=10_000, help="decisions to time (default 10000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.decisions <= 0:
        parser.error("--decisions must be > 0")
    if args.decisions > MAX_DECISIONS:  # the stream is drawn in memory before timing starts
        parser.error(f"--decisions must be at most {MAX_DECISIONS:,} (the observation stream is held in memory); "
                     "the default 10000 is plenty for a stable figure")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    cpu, wall, final = run(args.decisions, args.seed)
    print(f"decisions        {args.decisions}")
    print(f"cpu seconds      {cpu:.3f}")
    print(f"wall seconds     {wall:.3f}")
    print(f"decisions/s      {args.decisions / max(cpu, 1e-9):,.0f} (per CPU second)")
    print(f"us per decision  {cpu / args.decisions * 1e6:.1f}")
    print(f"final replicas   {final}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
