"""`meridian` command line: one sub-command per module in `meridian.commands`.

Bad input anywhere (regions.errors.InputError) becomes a message on stderr and
exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from regions.errors import InputError

# Each module exposes `register(subparsers)`, which adds its parser and sets `func`.
COMMAND_MODULES = [  # in the order `meridian --help` lists them
    "meridian.commands.demo_cmd",
    "meridian.commands.regions_cmd",
    "meridian.commands.validate_cmd",
    "meridian.commands.placement_cmd",
    "meridian.commands.plan_cmd",
    "meridian.commands.bench_cmd",
    "meridian.commands.protocol_cmd",
    "meridian.commands.controller_cmd",
    "meridian.commands.drill_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meridian",
        description="Multi-region AI inference under data-residency rules: plan the estate, "
        "run the autoscaler, drill failures, and benchmark on a digital twin.",
    )
    parser.add_argument("--log-level", default="WARNING", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                        help="log level, any case (default WARNING)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from meridian import logs

    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"error: {err.render()}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # e.g. `meridian regions | head`: the reader left, that is fine
        if sys.stdout is sys.__stdout__:  # keep Python from complaining again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
