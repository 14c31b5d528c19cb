"""`meridian controller ...`: install manifests and run the in-cluster autoscaler."""
from __future__ import annotations

import os
import sys
import tempfile

from regions.errors import InputError, Problem


def register(sub) -> None:
    p = sub.add_parser("controller", help="the in-cluster autoscaler: manifests and runtime",
                       description="The InferenceScaler controller. `manifests` prints everything "
                       "kubectl needs to install it; `run` starts the controller.")
    csub = p.add_subparsers(dest="controller_command", metavar="ACTION")
    _register_manifests(csub)
    _register_run(csub)
    p.set_defaults(func=lambda args: _help(p))


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

    text = manifests.to_yaml(manifests.render(args.namespace, args.image, _annotations(args.sa_annotation)
                                              or None))
    if not args.output:
        sys.stdout.write(text)
        return 0
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory):
        raise InputError("cannot write manifests", [Problem("--output", f"{directory} does not exist",
                                                            "create the directory or pick another path")])
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".manifests-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, args.output)
    except BaseException:
        os.unlink(tmp)
        raise
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
    r.add_argument("--dry-run", action="store_true",
                   help="decide, log, write status and Events, but never patch scale")
    r.add_argument("--max-syncs", type=int, help="stop after this many syncs (rehearsals)")
    r.set_defaults(func=run_controller)


def _run_config(args):
    from controller.runner import RunConfig

    problems = []
    if args.sync_interval <= 0:
        problems.append(Problem("--sync-interval", f"{args.sync_interval} is not positive", "e.g. 15"))
    if not (0 < args.retry_period < args.renew_deadline < args.lease_duration):
        problems.append(Problem("--retry-period/--renew-deadline/--lease-duration",
                                f"{args.retry_period} < {args.renew_deadline} < {args.lease_duration} does not hold",
                                "keep retry period < renew deadline < lease duration, e.g. 2 < 10 < 15"))
    if not 0 <= args.metrics_port <= 65535:
        problems.append(Problem("--metrics-port", f"{args.metrics_port} is not a port", "use 1-65535, or 0 for off"))
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
                     price_region=args.price_region, **extra)


def run_controller(args) -> int:
    from controller.runner import Controller, default_policy_factory

    cfg = _run_config(args)
    controller = Controller(cfg, default_policy_factory())
    controller.install_signal_handlers()
    return controller.run()
