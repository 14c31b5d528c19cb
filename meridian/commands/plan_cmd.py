"""`meridian plan`: the Pulumi program on a stack file under Pulumi's mock runtime, checked by
the policy pack; no Pulumi CLI, credentials or network needed."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from regions.errors import InputError, Problem


def register(sub) -> None:
    p = sub.add_parser(
        "plan", help="render the estate offline and check it against the policy pack",
        description="Run the Pulumi program (infra/) on a stack file under Pulumi's mock runtime, "
        "collect every resource it would create, run the CrossGuard policy pack over them and print "
        "resource counts per region. Exit 0 if no MANDATORY policy is violated, 2 otherwise (each "
        "violation listed) or when the topology is invalid.")
    p.add_argument("path", metavar="PATH", help="stack file, e.g. Pulumi.dev.yaml")
    p.add_argument("--json", metavar="OUT", help="write the plan as JSON: stack, resources (type, name, "
                   "region, parent, inputs) and violations (policy, resource, message, level)")
    p.add_argument("--diagram", metavar="OUT", help="draw jurisdictions, regions, DR and edge routing "
                   "with Graphviz; OUT ends in .svg or .png")
    p.set_defaults(func=run)


def run(args) -> int:
    from infra.offline import diagram
    from regions.files import atomic_write_json, check_output_file
    from infra.offline.plan import plan_stack
    from infra.offline.summary import summary, violations_text

    if args.json is not None:
        check_output_file(args.json, "--json")
    if args.diagram is not None:
        diagram.check_target(args.diagram)
        check_output_file(args.diagram, "--diagram")
    if args.json is not None and args.diagram is not None and \
            Path(args.json).resolve() == Path(args.diagram).resolve():
        raise InputError("--json and --diagram name the same file", [Problem(
            "--diagram", f"{args.diagram} is also the --json output", "give each output its own file", "flag")])
    started = time.perf_counter()
    print(f"planning {args.path} under Pulumi's mock runtime ...", file=sys.stderr)
    plan = plan_stack(args.path)
    print(f"planned {len(plan.resources)} resources in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    print(summary(plan))
    print()
    print(violations_text(plan))
    if args.json is not None:
        _written(lambda: atomic_write_json(args.json, plan.to_json()), args.json, "--json")
    if args.diagram is not None:
        _written(lambda: diagram.render(plan, args.diagram), args.diagram, "--diagram")
    return 2 if plan.mandatory else 0


def _written(write, path: str, flag: str) -> None:
    try:
        write()
    except OSError as err:
        raise InputError(f"{flag} {path}: could not be written", [Problem(
            flag, f"writing failed: {err.strerror or err}", "free space or pick another path", "flag")]) from None
    print(f"wrote {path}", file=sys.stderr)
