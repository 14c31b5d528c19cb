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
