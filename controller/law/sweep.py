"""The law's 12-run check: `python -m controller.law.sweep [--seed N] [--save F] [--against F]`.

Runs `meridian bench` with `--policies meridian` only, each trace tuned on itself (the
knob-free law runs unchanged, so this is the meridian column of `meridian bench-protocol`):
on-demand at mean rates 5, 50 and 300 req/s and spot-mix at 50, on the Azure conversation
log and the ServeGen m-large and m-mid curves, `--days 2`. Prints cost and SLO window
attainment per run and the totals. `--save` keeps the figures as JSON; `--against` a saved
file prints each run's change and whether the variant passes the law's acceptance rule
(every run >= the target and a lower total cost). One run at a time (the machine is shared).
Ten sweeps at once, with the rule the law's changes are judged by: `controller.law.suite`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from meridian import cli, protocol
from regions.errors import InputError
from regions.files import atomic_write_text, check_output_file

TRACES = tuple((protocol.short_name(t), t) for t in protocol.TRACES)
MODES = (("on-demand", 5.0), ("on-demand", 50.0), ("on-demand", 300.0), ("spot-mix", 50.0))
TARGET = 0.99  # issue 5's SLO window attainment


def run_one(capacity: str, rate: float, trace: str, seed: int, days: float, start_day: float = 0.0) -> tuple[float, float]:
    """(cost $, SLO window attainment) of meridian on one trace, tuned on itself."""
    with tempfile.TemporaryDirectory(prefix="law-sweep-") as tmp:
        out = Path(tmp) / "run.json"
        argv = ["bench", "--trace", trace, "--tune-on", trace, "--mean-rate", f"{rate:g}",
                "--capacity", capacity, "--policies", "meridian", "--seed", str(seed), "--json", str(out)]
        if "#" in trace:  # --days cuts rate curves; bench refuses it for the one-hour Azure log alone
            argv += ["--days", f"{days:g}", "--start-day", f"{start_day:g}"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            code = cli.main(argv)
        if code != 0:
            raise SystemExit(f"meridian {' '.join(argv)} exited {code}:\n{err.getvalue()}")
        result = json.loads(out.read_text())["traces"][0]["results"][0]
    return result["cost_usd"], result["slo_window_attainment"]


def verdict(runs: dict[str, dict[str, float]], before: dict[str, dict[str, float]]) -> tuple[bool, str]:
    """The law's acceptance rule for a variant against its base on the same seed: every
    run at or above the target, and a lower total cost over the runs both have."""
    common = [k for k in runs if k in before]
    total = sum(runs[k]["cost"] for k in common)
    old = sum(before[k]["cost"] for k in common)
    lowest = min((runs[k]["attainment"] for k in runs), default=float("nan"))
    ok = bool(common) and lowest >= TARGET and total < old
    change = (total / old - 1) * 100 if old else float("nan")
    return ok, (f"verdict: {'PASS' if ok else 'FAIL'} (every run >= {TARGET}: {lowest >= TARGET}; "
                f"total {total:,.2f} vs {old:,.2f}: {change:+.2f}%)")


def key(capacity: str, rate: float, short: str) -> str:
    return f"{capacity} R={rate:g} {short}"


def saved_runs(parser: argparse.ArgumentParser, path: str) -> dict[str, dict[str, float]]:
    """The runs of a `--save` file; a file that is not one is a usage error (exit 2), before
    any run starts."""
    try:
        runs = json.loads(Path(path).read_text())["runs"]
        if not all(isinstance(r, dict) and isinstance(r.get("cost"), (int, float))
                   and not isinstance(r.get("cost"), bool) for r in runs.values()):
            raise TypeError
        return runs
    except OSError as e:
        parser.error(f"--against {path}: cannot read it ({e.strerror}); give a file written by --save")
    except (ValueError, KeyError, TypeError, AttributeError):
        parser.error(f"--against {path}: not a file written by --save (JSON with a 'runs' object "
                     "of {'cost', 'attainment'} per run); write one with --save FILE first")


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The flags the bench would refuse only at the run that uses them, and --save, refused
    (exit 2) before the first run rather than after the last."""
    if not (math.isfinite(args.days) and args.days > 0):
        parser.error(f"--days {args.days:g}: not a positive number of days; e.g. --days 2")
    if not (math.isfinite(args.start_day) and args.start_day >= 0):
        parser.error(f"--start-day {args.start_day:g}: not a number of days >= 0; e.g. --start-day 7")
    if args.seed < 0:
        parser.error(f"--seed {args.seed}: negative; pass an integer >= 0")
    if args.save is not None:
        try:
            check_output_file(args.save, "--save")
        except InputError as err:
            problem = err.problems[0]
            parser.error(f"--save {args.save}: {problem.message}; {problem.fix}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controller.law.sweep",
        description="meridian alone on the issue-5 protocol's 12 runs (on-demand R=5/50/300 and spot-mix R=50 "
        "on azure, m-large and m-mid, --days 2): cost and SLO window attainment per run, and totals.")
    parser.add_argument("--seed", type=int, default=0, help="bench seed: arrivals, cold starts, spot (default 0)")
    parser.add_argument("--days", type=float, default=2.0, help="days of each rate curve (default 2)")
    parser.add_argument("--start-day", type=float, default=0.0,
                        help="skip this many days of each rate curve first (default 0; e.g. 7: held-out days)")
    parser.add_argument("--only", default="", help="run only keys containing this text, e.g. 'R=5 ' or m-mid")
    parser.add_argument("--save", metavar="FILE", help="write the figures as JSON to FILE")
    parser.add_argument("--against", metavar="FILE", help="a --save file to compare with (same seed)")
    args = parser.parse_args(argv)
    _check_args(parser, args)  # before any run: a run is minutes, all twelve an hour or more
    before = saved_runs(parser, args.against) if args.against else {}
    keys = [key(capacity, rate, short) for capacity, rate in MODES for short, _ in TRACES]
    if not any(args.only in k for k in keys):
        parser.error(f"--only {args.only!r} matches no run; the runs are: {', '.join(keys)}")
    runs: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    print(f"{'run':<28}{'cost $':>12}{'attain':>8}" + (f"{'before $':>12}{'change':>8}" if before else ""))
    for capacity, rate in MODES:
        for short, trace in TRACES:
            k = key(capacity, rate, short)
            if args.only not in k:
                continue
            cost, att = run_one(capacity, rate, trace, args.seed, args.days, args.start_day)
            runs[k] = {"cost": cost, "attainment": att}
            line = f"{k:<28}{cost:>12,.2f}{att:>8.4f}" + ("" if att >= TARGET else " <")
            if k in before:
                b = before[k]["cost"]
                line += f"{b:>12,.2f}{(cost / b - 1) * 100:>+7.1f}%"
            print(line, flush=True)
    for capacity in dict.fromkeys(c for c, _ in MODES):
        total = sum(r["cost"] for k, r in runs.items() if k.startswith(capacity + " "))
        line = f"total {capacity:<22}{total:>12,.2f}"
        old = sum(r["cost"] for k, r in before.items() if k.startswith(capacity + " ") and k in runs)
        if before and old:
            line += f"{'':>8}{old:>12,.2f}{(total / old - 1) * 100:>+7.1f}%"
        print(line)
    total = sum(r["cost"] for r in runs.values())
    lowest = min((r["attainment"] for r in runs.values()), default=float("nan"))
    print(f"total {'all':<22}{total:>12,.2f}  lowest attainment {lowest:.4f}")
    if before:
        print(verdict(runs, before)[1])
    sys.stdout.flush()
    print(f"wall {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.save:
        doc = {"seed": args.seed, "days": args.days, "start_day": args.start_day, "runs": runs}
        try:
            atomic_write_text(args.save, json.dumps(doc, indent=1))
        except OSError as e:  # checked before the runs; the disk may still fill up meanwhile
            print(f"error: --save {args.save}: could not be written ({e.strerror or e}); the figures are above",
                  file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
