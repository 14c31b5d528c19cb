"""`meridian controller ...`: install manifests and run the in-cluster autoscaler."""
from __future__ import annotations

import math
import os
import re
import sys

from regions.errors import InputError, Problem
from regions.files import atomic_write_text, check_output_file


def register(sub) -> None:
    p = sub.add_parser("controller", help="the in-cluster autoscaler: manifests and runtime",
                       description="The InferenceScaler controller. `manifests` prints everything "
                       "kubectl needs to install it; `run` starts the controller.")
    csub = p.add_subparsers(dest="controller_command", metavar="ACTION")
    _register_manifests(csub)
    _register_run(csub)
    _register_rehearse(csub)
    p.set_defaults(func=lambda args: _help(p))


# Kubernetes object names (kubernetes.io/docs/concepts/overview/working-with-objects/names):
# namespaces are RFC 1123 labels, Leases RFC 1123 subdomains.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _name_problems(flag: str, values, pattern: re.Pattern, what: str) -> list[Problem]:
    return [Problem(flag, f"{v!r} is not a valid {what}",
                    "use lower-case letters, digits and '-' (e.g. inference)") for v in values
            if not pattern.match(v or "")]


def _finite_problems(args, flags: dict[str, str]) -> list[Problem]:
    """nan/inf parse as floats but mean nothing as durations or factors."""
    return [Problem(flag, f"{getattr(args, attr)} is not a finite number", "pass a plain number, e.g. 15")
            for flag, attr in flags.items()
            if getattr(args, attr) is not None and not math.isfinite(getattr(args, attr))]


def _price_region_problems(region: str | None) -> list[Problem]:
    if not region:
        return []
    from regions.catalog import load_catalog

    if region in load_catalog().regions:
        return []
    return [Problem("--price-region", f"{region!r} is not in the region catalog",
                    "see `meridian regions` for the known regions")]


def _help(parser) -> int:
    parser.print_help()
    return 2


def _register_manifests(csub) -> None:
    from controller import manifests

    m = csub.add_parser("manifests", help="print the CRD, RBAC, Deployment… as YAML for kubectl",
                        description="Print every object the controller needs (Namespace, CRD, "
                        "ServiceAccount, least-privilege RBAC, Service, Deployment, PDB) as "
                        "multi-document YAML: `meridian controller manifests | kubectl apply -f -`.")
    m.add_argument("--namespace", default=manifests.DEFAULT_NAMESPACE,
                   help=f"namespace the controller runs in (default {manifests.DEFAULT_NAMESPACE})")
    m.add_argument("--image", default=manifests.DEFAULT_IMAGE,
                   help="controller image, built from deploy/Dockerfile (default %(default)s)")
    m.add_argument("--sa-annotation", action="append", default=[], metavar="KEY=VALUE",
                   help="ServiceAccount annotation, e.g. eks.amazonaws.com/role-arn=arn:aws:iam::…"
                   " (repeatable)")
    m.add_argument("--prometheus-url", help="Prometheus the controller queries (its --prometheus-url)")
    m.add_argument("--price-region", help="region whose prices the controller uses for unlabelled nodes")
    m.add_argument("--price-refresh", type=float, default=0.0, metavar="SECONDS",
                   help="with --price-region: refresh prices from AWS this often (needs the IRSA annotation)")
    m.add_argument("-o", "--output", help="write to this file (atomically) instead of stdout")
    m.set_defaults(func=run_manifests)


def _annotations(pairs: list[str]) -> dict[str, str]:
    out, problems = {}, []
    for i, pair in enumerate(pairs):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            problems.append(Problem(f"--sa-annotation[{i}]", f"{pair!r} is not KEY=VALUE",
                                    "write e.g. --sa-annotation eks.amazonaws.com/role-arn=arn:…"))
        out[key] = value
    if problems:
        raise InputError("bad --sa-annotation", problems)
    return out


def run_manifests(args) -> int:
    from controller import manifests

    problems = _finite_problems(args, {"--price-refresh": "price_refresh"})
    problems += _name_problems("--namespace", [args.namespace], _DNS_LABEL, "namespace name")
    if not args.image.strip():
        problems.append(Problem("--image", "empty", "name the controller image, e.g. "
                                "registry.example.com/meridian-controller:0.1.0"))
    if args.prometheus_url and not args.prometheus_url.startswith(("http://", "https://")):
        problems.append(Problem("--prometheus-url", f"{args.prometheus_url!r} is not an http(s) URL",
                                "e.g. http://prometheus-operated.monitoring.svc:9090"))
    if args.price_refresh < 0 or (args.price_refresh > 0 and not args.price_region):
        problems.append(Problem("--price-refresh", "needs --price-region and a non-negative interval",
                                "e.g. --price-region eu-west-1 --price-refresh 3600"))
    problems += _price_region_problems(args.price_region)  # the controller would refuse it at start
    if problems:
        raise InputError("bad flags for `meridian controller manifests`", problems)
    if args.output is not None:
        check_output_file(args.output, "--output")
    objects = manifests.render(args.namespace, args.image, _annotations(args.sa_annotation) or None,
                               prometheus_url=args.prometheus_url, price_region=args.price_region,
                               price_refresh_s=args.price_refresh)
    text = manifests.to_yaml(objects)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        atomic_write_text(args.output, text)
    except OSError as err:
        raise InputError("cannot write manifests", [Problem(
            "--output", f"{args.output}: {err.strerror or err}", "free space or pick another path")]) from None
    return 0


def _register_run(csub) -> None:
    from controller import manifests

    r = csub.add_parser("run", help="run the controller (in a cluster, or against --kubeconfig)",
                        description="Every sync interval: list InferenceScalers, query Prometheus, ask the "
                        "control law, patch the target Deployment's scale, write status and Events. Only the "
                        "holder of the Lease acts. Serves /healthz, /readyz and /metrics.")
    k = r.add_argument_group("Kubernetes")
    k.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster service account)")
    k.add_argument("--context", help="kubeconfig context")
    k.add_argument("--api-server", metavar="URL",
                   help="talk to this API URL without credentials (a local stand-in or `kubectl proxy`)")
    k.add_argument("--namespace", action="append", default=[], dest="namespaces",
                   help="watch only this namespace (repeatable; default: all namespaces)")
    r.add_argument("--sync-interval", type=float, default=15.0, metavar="SECONDS",
                   help="seconds between syncs (default 15, like the HPA)")
    r.add_argument("--prometheus-url", help="Prometheus base URL (a scaler's spec.metrics.prometheusUrl wins)")
    le = r.add_argument_group("leader election (coordination.k8s.io Lease)")
    le.add_argument("--no-leader-elect", dest="leader_elect", action="store_false",
                    help="act without a Lease (only when exactly one instance runs)")
    le.add_argument("--leader-elect-name", default=manifests.LEASE_NAME, help="Lease name (default %(default)s)")
    le.add_argument("--leader-elect-namespace", default=os.environ.get("POD_NAMESPACE") or manifests.DEFAULT_NAMESPACE,
                    help="Lease namespace (default $POD_NAMESPACE or %(default)s)")
    le.add_argument("--lease-duration", type=float, default=15.0, metavar="S",
                    help="how long a silent leader keeps the lease (default 15)")
    le.add_argument("--renew-deadline", type=float, default=10.0, metavar="S",
                    help="a leader that has not renewed for this long stops acting (default 10)")
    le.add_argument("--retry-period", type=float, default=2.0, metavar="S",
                    help="how often to try to acquire or renew (default 2)")
    le.add_argument("--identity", help="this instance's name in the Lease (default $POD_NAME or hostname)")
    r.add_argument("--metrics-host", default="0.0.0.0", help="bind address for /metrics and probes")
    r.add_argument("--metrics-port", type=int, default=manifests.METRICS_PORT,
                   help="port for /metrics, /healthz, /readyz (default %(default)s; 0 = off)")
    r.add_argument("--price-region", help="region for nodes without a topology.kubernetes.io/region label")
    r.add_argument("--price-refresh", type=float, default=0.0, metavar="SECONDS",
                   help="refresh --price-region's prices from the AWS Pricing API and EC2 spot history this "
                   "often (needs AWS credentials, e.g. IRSA; default 0 = use the shipped catalog)")
    r.add_argument("--dry-run", action="store_true",
                   help="decide, log, write status and Events, but never patch scale")
    r.add_argument("--max-syncs", type=int, help="stop after this many sync intervals (rehearsals)")
    r.add_argument("--policy", default="meridian",
                   help="autoscaling policy: meridian (the control law, default) or a baseline from the "
                   "benchmark (hpa, kpa, skyserve, static…; needs --knob)")
    r.add_argument("--knob", type=float, help="the baseline policy's knob (see `meridian bench --help`)")
    r.add_argument("--time-scale", type=float, default=1.0, metavar="FACTOR",
                   help="rehearsals only: the policy sees time pass FACTOR times faster than the wall clock")
    r.set_defaults(func=run_controller)


def _run_config(args):
    from controller.runner import RunConfig

    problems = _finite_problems(args, {
        "--sync-interval": "sync_interval", "--lease-duration": "lease_duration",
        "--renew-deadline": "renew_deadline", "--retry-period": "retry_period",
        "--price-refresh": "price_refresh", "--time-scale": "time_scale", "--knob": "knob"})
    if problems:  # the range checks below would only repeat them
        raise InputError("bad flags for `meridian controller run`", problems)
    problems += _name_problems("--namespace", args.namespaces, _DNS_LABEL, "namespace name")
    problems += _name_problems("--leader-elect-namespace", [args.leader_elect_namespace], _DNS_LABEL,
                               "namespace name")
    problems += _name_problems("--leader-elect-name", [args.leader_elect_name], _DNS_SUBDOMAIN, "Lease name")
    if args.api_server and args.kubeconfig:
        problems.append(Problem("--api-server/--kubeconfig", "both given; one would be ignored",
                                "pass one of them"))
    if args.context and not args.kubeconfig:
        problems.append(Problem("--context", "only means something with --kubeconfig",
                                "add --kubeconfig PATH, or drop --context"))
    if args.identity is not None and not args.identity.strip():
        problems.append(Problem("--identity", "empty", "omit it to use $POD_NAME or the hostname"))
    if args.knob is not None and args.policy == "meridian":
        problems.append(Problem("--knob", "the meridian policy has no knob",
                                "drop --knob, or pick a baseline with --policy (hpa, kpa, …)"))
    if args.sync_interval <= 0:
        problems.append(Problem("--sync-interval", f"{args.sync_interval} is not positive", "e.g. 15"))
    if not (0 < args.retry_period < args.renew_deadline < args.lease_duration):
        problems.append(Problem("--retry-period/--renew-deadline/--lease-duration",
                                f"{args.retry_period} < {args.renew_deadline} < {args.lease_duration} does not hold",
                                "keep retry period < renew deadline < lease duration, e.g. 2 < 10 < 15"))
    if not 0 <= args.metrics_port <= 65535:
        problems.append(Problem("--metrics-port", f"{args.metrics_port} is not a port", "use 1-65535, or 0 for off"))
    if args.price_refresh < 0 or (args.price_refresh > 0 and not args.price_region):
        problems.append(Problem("--price-refresh", "needs --price-region and a non-negative interval",
                                "e.g. --price-region eu-west-1 --price-refresh 3600"))
    problems += _price_region_problems(args.price_region)
    if args.time_scale <= 0:
        problems.append(Problem("--time-scale", f"{args.time_scale} is not positive", "1 outside rehearsals"))
    if args.max_syncs is not None and args.max_syncs < 1:
        problems.append(Problem("--max-syncs", "must be at least 1", "omit it to run until SIGTERM"))
    for flag, url in (("--prometheus-url", args.prometheus_url), ("--api-server", args.api_server)):
        if url and not url.startswith(("http://", "https://")):
            problems.append(Problem(flag, f"{url!r} is not an http(s) URL", "e.g. http://prometheus:9090"))
    if problems:
        raise InputError("bad flags for `meridian controller run`", problems)
    extra = {"identity": args.identity} if args.identity else {}
    return RunConfig(kubeconfig=args.kubeconfig, context=args.context, api_server=args.api_server,
                     namespaces=tuple(args.namespaces), sync_interval_s=args.sync_interval,
                     prometheus_url=args.prometheus_url, leader_elect=args.leader_elect,
                     lease_name=args.leader_elect_name, lease_namespace=args.leader_elect_namespace,
                     lease_duration_s=args.lease_duration, renew_deadline_s=args.renew_deadline,
                     retry_period_s=args.retry_period, metrics_host=args.metrics_host,
                     metrics_port=args.metrics_port, dry_run=args.dry_run, max_syncs=args.max_syncs,
                     price_region=args.price_region, price_refresh_s=args.price_refresh,
                     time_scale=args.time_scale, **extra)


def policy_factory(name: str, knob: float | None):
    """The policy by name. The composition root may reach the bench's baselines in `sim`;
    the runtime itself only knows the Policy protocol."""
    from controller.runner import default_policy_factory

    if name == "meridian":
        return default_policy_factory()
    from sim.policies import KNOBS, REGISTRY

    if name not in REGISTRY:
        raise InputError(f"unknown policy {name!r}", [Problem(
            "--policy", f"{name!r} is not a policy", f"use meridian or one of {', '.join(sorted(REGISTRY))}")])
    if knob is None:
        raise InputError(f"policy {name} needs a knob", [Problem(
            "--knob", "missing", f"{name}'s knob is the {KNOBS[name].meaning}, e.g. --knob {KNOBS[name].low * 4:g}")])
    if not knob > 0:  # a target per pod, a QPS, a utilization or a replica count: never <= 0
        raise InputError(f"policy {name} needs a positive knob", [Problem(
            "--knob", f"{knob:g} is not > 0", f"{name}'s knob is the {KNOBS[name].meaning}, e.g. --knob {KNOBS[name].low * 4:g}")])
    factory = REGISTRY[name]
    return lambda objective, limits: factory(objective, limits, knob)


def run_controller(args) -> int:
    from controller.runner import Controller

    cfg = _run_config(args)
    controller = Controller(cfg, policy_factory(args.policy, args.knob))
    with controller.signal_handlers():
        return controller.run()


def _register_rehearse(csub) -> None:
    r = csub.add_parser("rehearse", help="closed loop: the twin plays the cluster, the controller drives it",
                        description="Play a stretch of a real trace on the digital twin while `meridian "
                        "controller run` (a separate process) drives it through the real boundaries: the "
                        "twin's replicas export vLLM-style metrics that a real Prometheus scrapes, and its "
                        "Deployment lives in a local Kubernetes API stand-in whose scale the controller "
                        "patches. Time is compressed. Mid-run, a spot reclaim (--reclaim-at) or a model rollout "
                        "(--rollout-at: the twin's model and the Deployment's pod template change together) shows "
                        "how the controller copes. Needs the Debian `prometheus` binary.")
    r.add_argument("--trace", help="trace spec as for `meridian bench` (default: the shared Azure trace)")
    r.add_argument("--start", type=float, default=0.0, metavar="SECONDS", help="where in the trace to begin")
    r.add_argument("--minutes", type=float, default=10.0, help="twin minutes to play (default 10)")
    r.add_argument("--speed", type=float, default=10.0, help="twin seconds per wall second (default 10)")
    r.add_argument("--rate-scale", type=float, default=4.0, help="multiply the trace's rate (default 4)")
    r.add_argument("--ttft-ms", type=float, default=2000.0, help="TTFT objective in ms (default 2000)")
    r.add_argument("--percentile", type=float, default=95.0, help="objective percentile (default 95)")
    r.add_argument("--min-replicas", type=int, default=1)
    r.add_argument("--max-replicas", type=int, default=40)
    r.add_argument("--initial-replicas", type=int, help="default: enough for the first minute at 70%% of slots")
    r.add_argument("--policy", default="meridian", help="meridian (default) or a bench baseline (needs --knob)")
    r.add_argument("--knob", type=float, help="the baseline's knob")
    sp = r.add_argument_group("spot (the split over two Deployments, `targetRef.spotName`)")
    sp.add_argument("--spot-share", type=float, metavar="SHARE",
                    help="run the split: a second Deployment, <target>-spot, on the twin's spot capacity, and "
                    "cost.spotShare SHARE (0 < SHARE <= 1); the fleet starts on demand, as when spotName is "
                    "first set; random spot interruptions are off")
    sp.add_argument("--reclaim-at", type=float, metavar="MINUTE",
                    help="at this twin minute, interrupt --reclaim-share of the ready spot replicas with the "
                    "two-minute notice (needs --spot-share; must leave the notice's two minutes in the run)")
    sp.add_argument("--reclaim-share", type=float, metavar="SHARE",
                    help="share of the ready spot replicas the reclaim interrupts (default 0.5)")
    ro = r.add_argument_group("model rollout (the chaos action model_rollout's new model, on the same instance)")
    ro.add_argument("--rollout-at", type=float, metavar="MINUTE",
                    help="at this twin minute the twin swaps its model for the one the flags below describe, "
                    "and the Deployment's pod template changes in the same step (a new --model arg), so the "
                    "controller sees a new revision and relearns a replica's batch (needs at least one of "
                    "the two flags below)")
    ro.add_argument("--rollout-batch-slots", type=int, metavar="N",
                    help="the new model's batch slots per replica (default: the old model's)")
    ro.add_argument("--rollout-decode-factor", type=float, metavar="F",
                    help="the new model's decode speed relative to the old one's (0.5: twice as slow; default 1)")
    r.set_defaults(func=run_rehearse)


def run_rehearse(args) -> int:
    import shutil

    from controller.law.types import Objective
    from controller.rehearsal import RehearsalConfig, rollout_changes, rollout_problems, run, spot_problems
    from sim.profiles import get_profile, spot_model

    problems = _finite_problems(args, {"--minutes": "minutes", "--speed": "speed", "--rate-scale": "rate_scale",
                                       "--ttft-ms": "ttft_ms", "--start": "start", "--knob": "knob",
                                       "--spot-share": "spot_share", "--reclaim-at": "reclaim_at",
                                       "--reclaim-share": "reclaim_share", "--rollout-at": "rollout_at",
                                       "--rollout-decode-factor": "rollout_decode_factor"})
    if problems:  # the range checks below would only repeat them
        raise InputError("bad flags for `meridian controller rehearse`", problems)
    if args.spot_share is not None and args.spot_share <= 0:
        problems.append(Problem("--spot-share", f"{args.spot_share:g} is outside (0, 1]",
                                "e.g. 0.5, or omit it to rehearse one Deployment"))
    if args.reclaim_share is not None and args.reclaim_at is None:
        problems.append(Problem("--reclaim-share", "means nothing without --reclaim-at", "add --reclaim-at MINUTE"))
    reclaim_share = 0.5 if args.reclaim_share is None else args.reclaim_share
    problems += spot_problems(args.spot_share or 0.0, args.reclaim_at, reclaim_share, args.minutes,
                              spot_model().notice_s)
    rollout = dict(rollout_at_min=args.rollout_at, rollout_batch_slots=args.rollout_batch_slots,
                   rollout_decode_factor=args.rollout_decode_factor)
    problems += rollout_problems(args.rollout_at, rollout_changes(RehearsalConfig(**rollout)), args.minutes,
                                 get_profile())
    for flag, value in (("--minutes", args.minutes), ("--speed", args.speed), ("--rate-scale", args.rate_scale),
                        ("--ttft-ms", args.ttft_ms)):
        if not value > 0:
            problems.append(Problem(flag, f"{value} is not positive", "pass a value > 0"))
    if not 50 <= args.percentile <= 99.9:
        problems.append(Problem("--percentile", f"{args.percentile} is outside 50..99.9", "e.g. 95"))
    if not 1 <= args.min_replicas <= args.max_replicas:
        problems.append(Problem("--min-replicas/--max-replicas", "need 1 <= min <= max", "e.g. 1 and 40"))
    elif args.initial_replicas is not None and not args.min_replicas <= args.initial_replicas <= args.max_replicas:
        problems.append(Problem("--initial-replicas", f"{args.initial_replicas} is outside --min-replicas "
                                f"{args.min_replicas} .. --max-replicas {args.max_replicas}",
                                "pass a count between them, or omit it to size the fleet for the first minute"))
    if args.start < 0:
        problems.append(Problem("--start", "negative", "seconds from the trace's beginning"))
    if shutil.which("prometheus") is None:
        problems.append(Problem("prometheus", "the prometheus binary is not on PATH",
                                "install it (Debian: apt-get install prometheus)"))
    if problems:
        raise InputError("bad flags for `meridian controller rehearse`", problems)
    policy_factory(args.policy, args.knob)  # fail fast, before starting servers
    cfg = RehearsalConfig(trace=args.trace, start_s=args.start, minutes=args.minutes, speed=args.speed,
                          rate_scale=args.rate_scale,
                          objective=Objective(percentile=args.percentile, ttft_s=args.ttft_ms / 1000.0),
                          min_replicas=args.min_replicas, max_replicas=args.max_replicas,
                          initial_replicas=args.initial_replicas, policy=args.policy, knob=args.knob,
                          spot_share=args.spot_share or 0.0, reclaim_at_min=args.reclaim_at,
                          reclaim_share=reclaim_share, **rollout)
    spot = f", spot share {cfg.spot_share:g}" if cfg.spot_share else ""
    if cfg.reclaim_at_min is not None:
        spot += f", {cfg.reclaim_share:.0%} of spot reclaimed at minute {cfg.reclaim_at_min:g}"
    if cfg.rollout_at_min is not None:
        spot += f", a model rollout at minute {cfg.rollout_at_min:g}"
    print(f"rehearsal: {args.minutes:g} twin minutes at {args.speed:g}x (~{args.minutes * 60 / args.speed:.0f} s), "
          f"policy {args.policy}{spot}", file=sys.stderr, flush=True)
    last = [-1]

    def progress(share: float) -> None:
        pct = int(share * 100) // 10 * 10
        if pct > last[0]:
            last[0] = pct
            print(f"  {pct}%", file=sys.stderr, flush=True)

    result = run(cfg, progress)
    print(result.table(cfg.objective))
    if result.controller_exit not in (0, None):
        print(f"warning: the controller exited with {result.controller_exit}", file=sys.stderr)
        return 1
    return 0
