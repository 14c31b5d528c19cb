"""`meridian bench-protocol`: the issue-5 comparison of meridian against every baseline."""
from __future__ import annotations

import math
from pathlib import Path

from regions.errors import InputError, Problem


def register(sub) -> None:
    p = sub.add_parser(
        "bench-protocol", help="meridian vs every baseline under the tuning protocol, at several scales",
        description="Runs `meridian bench` on the shared Azure trace and the ServeGen m-large and m-mid "
        "curves, once per trace used as --tune-on, at each --rates mean rate (on-demand) and at "
        "--spot-rate (spot-mix), then prints meridian's attainment and cost against the oracle, the best "
        "baseline tuned in hindsight and the cheapest baseline tuned on another trace. Takes several "
        "minutes on a 2-core machine; the JSON of every bench run is kept in --out.")
    p.add_argument("--out", default="bench-protocol", help="directory for the bench JSON (default bench-protocol/)")
    p.add_argument("--rates", default="5,50,300", help="mean request rates, comma-separated (default 5,50,300)")
    p.add_argument("--days", type=float, default=2.0, help="days of each rate curve (default 2)")
    p.add_argument("--start-day", type=float, default=0.0,
                   help="skip this many days of each rate curve first (default 0); e.g. 7 benches days "
                   "7-9, which the law was never developed on")
    p.add_argument("--spot-rate", type=float, default=50.0,
                   help="mean rate of the spot-mix run; 0 skips it (default 50)")
    p.add_argument("--rescore", action="store_true",
                   help="do not run the benches; score the JSON a previous run left in --out")
    p.set_defaults(func=run)


def run(args) -> int:
    from meridian import protocol

    problems = []
    try:
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        rates = []
    if not rates or not all(math.isfinite(r) and r > 0 for r in rates):
        problems.append(Problem("--rates", f"{args.rates!r} is not a list of positive numbers", "e.g. 5,50,300"))
    if not (math.isfinite(args.days) and args.days > 0):
        problems.append(Problem("--days", f"{args.days:g} is not a positive number", "e.g. 2"))
    if not (math.isfinite(args.start_day) and args.start_day >= 0):
        problems.append(Problem("--start-day", f"{args.start_day:g} is not a number >= 0", "e.g. 7"))
    if not (math.isfinite(args.spot_rate) and args.spot_rate >= 0):
        problems.append(Problem("--spot-rate", f"{args.spot_rate:g} is not >= 0", "e.g. 50, or 0 to skip"))
    if not args.rescore:  # the JSON of hours of benches goes there: check it before the first one
        from regions.files import output_problem

        problems += [p for p in (output_problem("--out", args.out, want_dir=True),) if p is not None]
    if problems:
        raise InputError("bad bench-protocol options", problems)
    target = 0.99
    rows = protocol.run(Path(args.out), rates, args.days, args.spot_rate or None, target, rescore=args.rescore,
                        start_day=args.start_day)
    print(protocol.table(rows, target))
    return 0
