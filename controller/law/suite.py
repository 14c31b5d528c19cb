"""The law's ten-sweep check: `python -m controller.law.suite --out DIR [--against DIR] [--jobs N]`.

Ten sweeps of `controller.law.sweep`'s 12 runs (`--days 2`): seeds 0-4 on the first days of the
rate curves, and seed 0 on five held-out day ranges (`--start-day` 7, 11, 3, 5, 9). Each sweep is
saved as `DIR/<sweep>.json` in `sweep --save`'s format, so one sweep can be rerun alone with
`python -m controller.law.sweep --seed S --start-day D --against DIR/<sweep>.json`.

`--against` a base's DIR applies the rule the law's changes are judged by (BENCH.md, round 13):
no run under the target that was not already under it in the base, no sweep's total more than
+0.1 % above the base's (a change that moves a two-day small-fleet run onto another path moves
that run by a few per cent, and with it one sweep by a few hundredths of one), and the ten totals
together lower. Six of the sweeps were the rule before round 13; the two kinds of failure it
guards against (a new miss on a day range nobody tuned on, and a saving on one sweep bought
with a loss on another) were each found only on the sweeps added last.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from controller.law import sweep
from regions.files import atomic_write_text, output_problem

# (name, seed, start day): five seeds, then five held-out day ranges of the 14-day curves
SWEEPS = (("seed-0", 0, 0.0), ("seed-1", 1, 0.0), ("seed-2", 2, 0.0), ("seed-3", 3, 0.0), ("seed-4", 4, 0.0),
          ("days-7", 0, 7.0), ("days-11", 0, 11.0), ("days-3", 0, 3.0), ("days-5", 0, 5.0), ("days-9", 0, 9.0))
DAYS = 2.0
MAX_SWEEP_RISE = 0.001  # +0.1 % of a sweep's total (module docstring)

Runs = dict[str, dict[str, float]]


def units() -> list[tuple[str, str, str, float, str, int, float]]:
    """Every run of every sweep: (sweep, key, capacity, rate, trace, seed, start day)."""
    return [(name, sweep.key(capacity, rate, short), capacity, rate, trace, seed, start)
            for name, seed, start in SWEEPS
            for capacity, rate in sweep.MODES
            for short, trace in sweep.TRACES]


def _run(unit: tuple[str, str, str, float, str, int, float]) -> tuple[str, str, float, float]:
    name, k, capacity, rate, trace, seed, start = unit
    cost, att = sweep.run_one(capacity, rate, trace, seed, DAYS, start)
    return name, k, cost, att


def judge(runs: dict[str, Runs], base: dict[str, Runs]) -> tuple[bool, list[str]]:
    """The ten-sweep rule (module docstring) over the sweeps both have: (passes, why)."""
    why: list[str] = []
    names = [n for n in runs if n in base]
    new_misses = [f"{n}: {k} {r['attainment']:.4f}" for n in names for k, r in runs[n].items()
                  if r["attainment"] < sweep.TARGET and base[n].get(k, {}).get("attainment", 1.0) >= sweep.TARGET]
    if new_misses:
        why.append(f"runs newly under {sweep.TARGET}: " + "; ".join(new_misses))
    total = old = 0.0
    for n in names:
        common = [k for k in runs[n] if k in base[n]]
        t, o = sum(runs[n][k]["cost"] for k in common), sum(base[n][k]["cost"] for k in common)
        total, old = total + t, old + o
        if o and t > o * (1.0 + MAX_SWEEP_RISE):
            why.append(f"{n}: total {(t / o - 1) * 100:+.2f}% (more than +{MAX_SWEEP_RISE * 100:.1f}%)")
    if not names:
        why.append("no sweep in common with the base")
    elif not total < old:
        why.append(f"the {len(names)} totals together are not lower ({total:,.2f} vs {old:,.2f})")
    return not why, why


def biggest_moves(runs: dict[str, Runs], base: dict[str, Runs], rises: bool, count: int = 3) -> list[tuple[str, str, float]]:
    """The runs whose cost moved most against the base, up (`rises`) or down: (sweep, run,
    change %); a sweep total hides which run moved it, and a reviewer needs the run."""
    moves = [(n, k, (r["cost"] / base[n][k]["cost"] - 1) * 100)
             for n in runs if n in base for k, r in runs[n].items() if base[n].get(k, {}).get("cost")]
    moves = [m for m in moves if (m[2] > 0 if rises else m[2] < 0)]
    return sorted(moves, key=lambda m: -abs(m[2]))[:count]


def _load_base(parser: argparse.ArgumentParser, folder: str) -> dict[str, Runs]:
    path = Path(folder)
    if not path.is_dir():
        parser.error(f"--against {folder}: not a directory; give an --out directory of an earlier run")
    base = {}
    for name, _, _ in SWEEPS:
        f = path / f"{name}.json"
        if f.exists():
            base[name] = sweep.saved_runs(parser, str(f))
    if not base:
        parser.error(f"--against {folder}: holds none of {', '.join(n + '.json' for n, _, _ in SWEEPS)}; "
                     "give an --out directory of an earlier run")
    return base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controller.law.suite",
        description="meridian's law on ten sweeps of the issue-5 protocol's 12 runs (seeds 0-4; held-out days "
        "7, 11, 3, 5 and 9 at seed 0), saved per sweep, and judged against a base run by the law's rule.")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the ten sweeps' JSON files")
    parser.add_argument("--against", metavar="DIR", help="an earlier --out directory to judge this law against")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, in worker processes (default 2)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: must be at least 1")
    problem = output_problem("--out", args.out, want_dir=True)
    if problem is not None:
        parser.error(f"--out {args.out}: {problem.message}; {problem.fix}")
    base = _load_base(parser, args.against) if args.against else {}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    todo = units()
    runs: dict[str, Runs] = {name: {} for name, _, _ in SWEEPS}
    t0 = time.perf_counter()
    # one job runs in this process (no worker to start: what a test or a debugger wants)
    pool = ProcessPoolExecutor(max_workers=args.jobs) if args.jobs > 1 else None
    with pool or contextlib.nullcontext():
        for i, (name, k, cost, att) in enumerate((pool.map if pool else map)(_run, todo), 1):
            runs[name][k] = {"cost": cost, "attainment": att}
            print(f"[{i}/{len(todo)} {time.perf_counter() - t0:.0f} s] {name} {k}: {cost:,.2f} $ {att:.4f}",
                  file=sys.stderr, flush=True)
            if len(runs[name]) == len(sweep.MODES) * len(sweep.TRACES):
                seed, start = next((s, d) for n, s, d in SWEEPS if n == name)
                doc = {"seed": seed, "days": DAYS, "start_day": start, "runs": runs[name]}
                atomic_write_text(out / f"{name}.json", json.dumps(doc, indent=1))

    print(f"{'sweep':<10}{'total $':>14}{'lowest':>8}" + (f"{'base $':>14}{'change':>9}" if base else "")
          + f"  runs under {sweep.TARGET}")
    for name, _, _ in SWEEPS:
        r = runs[name]
        total = sum(v["cost"] for v in r.values())
        lowest = min(v["attainment"] for v in r.values())
        under = [k for k, v in r.items() if v["attainment"] < sweep.TARGET]
        line = f"{name:<10}{total:>14,.2f}{lowest:>8.4f}"
        if base:
            old = sum(base[name][k]["cost"] for k in r if k in base[name]) if name in base else 0.0
            line += f"{old:>14,.2f}{(total / old - 1) * 100:>+8.2f}%" if old else f"{'-':>14}{'-':>9}"
        print(f"{line}  {', '.join(under) or '-'}")
    print(f"{'all':<10}{sum(v['cost'] for r in runs.values() for v in r.values()):>14,.2f}")
    if base:
        for label, moved in (("largest rises", biggest_moves(runs, base, rises=True)),
                             ("largest falls", biggest_moves(runs, base, rises=False))):
            if moved:
                print(f"{label}: " + "; ".join(f"{n} {k} {c:+.1f}%" for n, k, c in moved))
        ok, why = judge(runs, base)
        print(f"verdict: {'PASS' if ok else 'FAIL'}" + ("" if ok else ": " + "; ".join(why)))
    print(f"wall {time.perf_counter() - t0:.0f} s; sweeps saved in {out}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
