"""`meridian drill`: list actions and probes, validate an experiment, run a drill.

Exit status: 0 when the steady-state hypothesis held and every expectation was met,
1 when the drill deviated, was aborted or failed, 2 for an invalid or refused
experiment (printed with every problem's key path).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chaos import catalog

RUN_EPILOG = """\
targets:
  sim   the digital twin (default): replays a trace (default: the shared Azure LLM
        conversation trace) with the meridian control law or --policy
  aws   boto3, one explicit region per client; needs --yes and an allow-list of
        account ids and regions (experiment 'allow:' or MERIDIAN_DRILL_ALLOWED_ACCOUNTS /
        MERIDIAN_DRILL_ALLOWED_REGIONS)
  kube  the Kubernetes API from your kubeconfig; needs --yes and an allow-listed
        context (allow.contexts or MERIDIAN_DRILL_ALLOWED_CONTEXTS)
Resources tagged meridian.dev/protected=true are never touched. --dry-run prints every
call it would make and changes nothing. See chaos/README.md.
"""


def register(sub) -> None:
    p = sub.add_parser("drill", help="chaos drills: region outage, spot reclaim, metrics blackout ...",
                       description="Run chaos drills from experiment files (YAML): a steady-state "
                       "hypothesis, a method of faults, rollbacks, stop conditions and expected "
                       "RTO/RPO, against the digital twin, AWS or Kubernetes.")
    dsub = p.add_subparsers(dest="drill_command", metavar="SUBCOMMAND")

    lst = dsub.add_parser("list", help="print the actions and probes a drill may use")
    lst.set_defaults(func=run_list)

    val = dsub.add_parser("validate", help="check an experiment file; exit 2 with every problem")
    val.add_argument("path", help="experiment YAML file, e.g. chaos/drills/eu-primary-outage.yaml")
    val.add_argument("--target", choices=catalog.TARGETS, help="validate for this target instead")
    val.set_defaults(func=run_validate)

    run = dsub.add_parser("run", help="run a drill and write its journal",
                          formatter_class=argparse.RawDescriptionHelpFormatter, epilog=RUN_EPILOG,
                          description="Run a drill: steady state before, the method with stop "
                          "conditions polled, steady state during and after, rollbacks, and "
                          "expectations. Progress goes to stderr, the summary to stdout.")
    run.add_argument("path", help="experiment YAML file")
    run.add_argument("--target", choices=catalog.TARGETS, help="override the experiment's target")
    run.add_argument("--trace", help="sim: request trace (default: the shared Azure LLM trace)")
    run.add_argument("--policy",
                     help="sim: autoscaling policy to drill (default meridian; a baseline such as "
                     "hpa, kpa, skyserve, static to compare)")
    run.add_argument("--dry-run", action="store_true", help="print every call it would make; change nothing")
    run.add_argument("--journal", metavar="OUT",
                     help="journal path (default: <experiment name>.journal.json in the cwd)")
    run.add_argument("--rollback-strategy", choices=("always", "on-failure", "never"), default="always",
                     help="when rollbacks run (default always: success, deviation, abort, error, Ctrl-C)")
    run.add_argument("--yes", action="store_true", help="confirm a drill against real systems (aws, kube)")
    run.add_argument("--endpoint-url", help="aws: API endpoint override (e.g. a local moto_server)")
    run.add_argument("--kubeconfig", help="kube: kubeconfig file (default: ~/.kube/config)")
    run.add_argument("--context", help="kube: kubeconfig context")
    run.set_defaults(func=run_drill)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_list(args) -> int:
    print(catalog.describe())
    return 0


def run_validate(args) -> int:
    from chaos.validate import load_experiment

    v = load_experiment(args.path, target=args.target)
    x = v.experiment
    print(f"{args.path}: valid - '{x.title}' on {x.target}, {len(x.method)} action(s), "
          f"{len(x.steady_state)} steady-state probe(s), {len(x.stop_conditions)} stop condition(s), "
          f"{x.duration_seconds:g} s")
    return 0


def run_drill(args) -> int:
    from chaos import dryrun, runner, safety, summary
    from chaos.targets import make_target
    from chaos.validate import load_experiment

    v = load_experiment(args.path, target=args.target)
    x = v.experiment
    say = _progress
    options = _target_options(args, x.target)
    if x.target != "sim":
        options["allowed"] = safety.check_real_target(x, yes=args.yes, dry_run=args.dry_run)
    if args.dry_run:
        target = None if x.target == "sim" else make_target(x.target, dry_run=True, say=say, **options)
        dryrun.plan(x, target, v.topology, say, rollback_strategy=args.rollback_strategy)
        return 0
    journal = _journal_path(args.journal or f"{Path(args.path).stem}.journal.json")
    target = make_target(x.target, say=say, **options)
    outcome = runner.run(x, target, v.topology, rollback_strategy=args.rollback_strategy,
                         journal_path=journal, progress=say)
    print(summary.render(x, outcome, journal))
    return outcome.exit_code


def _target_options(args, target: str) -> dict:
    """The flags that belong to `target`; a flag for another target is refused."""
    from regions.errors import InputError, Problem

    flags = {"sim": {"trace": args.trace, "policy": args.policy},  # the sim target defaults to meridian
             "aws": {"endpoint_url": args.endpoint_url},
             "kube": {"kubeconfig": args.kubeconfig, "context": args.context}}
    foreign = [name for t, opts in flags.items() if t != target
               for name, value in opts.items() if value is not None]
    if foreign:
        raise InputError(f"options for another target given to {'an' if target == 'aws' else 'a'} {target} drill", [
            Problem(f"--{n.replace('_', '-')}", f"does not apply to target {target}",
                    "drop it, or pick the target it belongs to with --target") for n in foreign])
    url = args.endpoint_url
    if url is not None and not (url.startswith(("http://", "https://")) and url.split("://", 1)[1].strip()):
        raise InputError("bad --endpoint-url", [Problem(
            "--endpoint-url", f"{url!r} is not an http(s) URL", "e.g. http://127.0.0.1:5000 for a local moto_server")])
    return {k: v for k, v in flags[target].items() if v is not None}


def _journal_path(text: str) -> str:
    """Refuse, before anything runs, a journal path that cannot be written (a file is really
    tried next to it: permission bits say nothing for root or on a read-only file system).
    Missing folders are created only when the journal is written, so a drill refused later
    leaves nothing behind."""
    from regions.errors import InputError
    from regions.files import output_problem

    problem = output_problem("--journal", text, want_dir=False)
    if problem is not None:
        raise InputError(f"cannot write the journal to {text}", [problem])
    return text


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
