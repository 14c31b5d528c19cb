"""Guards for real targets: confirmation, allow-lists, protected resources.

A drill against AWS or Kubernetes runs only with `--yes` (or as a dry run), and
only where an allow-list says: AWS accounts and regions, Kubernetes contexts, from the
experiment's `allow` section or the environment (MERIDIAN_DRILL_ALLOWED_ACCOUNTS,
MERIDIAN_DRILL_ALLOWED_REGIONS, MERIDIAN_DRILL_ALLOWED_CONTEXTS, comma-separated); a
value listed in either is allowed. Kubernetes namespaces are bounded by the blast radius. Resources tagged (AWS) or
labelled (Kubernetes) `meridian.dev/protected=true` are never touched.
"""
from __future__ import annotations

import os
from typing import Mapping

from chaos.model import AllowList, Experiment
from regions.errors import InputError, Problem

PROTECTED_KEY = "meridian.dev/protected"
ENV_ACCOUNTS = "MERIDIAN_DRILL_ALLOWED_ACCOUNTS"
ENV_REGIONS = "MERIDIAN_DRILL_ALLOWED_REGIONS"
ENV_CONTEXTS = "MERIDIAN_DRILL_ALLOWED_CONTEXTS"


class ProtectedResource(InputError):
    """The drill would touch a resource tagged meridian.dev/protected=true."""


def is_protected(tags: Mapping[str, str] | None) -> bool:
    return str((tags or {}).get(PROTECTED_KEY, "")).lower() == "true"


def refuse_protected(kind: str, ident: str) -> None:
    raise ProtectedResource(f"refused: {kind} {ident} is protected", [Problem(
        ident, f"tagged {PROTECTED_KEY}=true; drills never touch protected resources",
        "drill a resource that is not protected, or remove the tag if the protection is stale",
        "protected")])


def allow_list(experiment: Experiment, env: Mapping[str, str] | None = None) -> AllowList:
    env = os.environ if env is None else env
    split = lambda s: tuple(v.strip() for v in s.split(",") if v.strip())  # noqa: E731
    return AllowList(
        tuple(dict.fromkeys(experiment.allow.accounts + split(env.get(ENV_ACCOUNTS, "")))),
        tuple(dict.fromkeys(experiment.allow.regions + split(env.get(ENV_REGIONS, "")))),
        tuple(dict.fromkeys(experiment.allow.contexts + split(env.get(ENV_CONTEXTS, "")))),
    )


def regions_touched(experiment: Experiment) -> list[tuple[str, str]]:
    """(key path, region) for every action and probe that names a region."""
    out = []
    for i, a in enumerate(experiment.method):
        if a.region:
            out.append((f"method[{i}].region", a.region))
    for section in ("steady_state", "stop_conditions"):
        for i, p in enumerate(getattr(experiment, section)):
            if p.params.get("region"):
                out.append((f"{section}[{i}].region", p.params["region"]))
    return out


def check_real_target(experiment: Experiment, *, yes: bool, dry_run: bool,
                      env: Mapping[str, str] | None = None) -> AllowList:
    """Refuse a real-target drill without confirmation or outside the allow-list."""
    problems = []
    if not (yes or dry_run):
        problems.append(Problem("--yes", f"target {experiment.target} changes real systems; "
                                "confirmation is required", "add --yes (or try --dry-run first)",
                                "confirm"))
    allowed = allow_list(experiment, env)
    if experiment.target == "aws":
        if not allowed.accounts:
            problems.append(Problem("allow.accounts", "no AWS account is allow-listed",
                                    f"list the account id under allow.accounts or in {ENV_ACCOUNTS}",
                                    "allow-list"))
        if not allowed.regions:
            problems.append(Problem("allow.regions", "no region is allow-listed",
                                    f"list regions under allow.regions or in {ENV_REGIONS}", "allow-list"))
        else:
            for path, region in regions_touched(experiment):
                if region not in allowed.regions:
                    problems.append(Problem(path, f"region {region} is not allow-listed "
                                            f"({', '.join(allowed.regions)})",
                                            f"add it to allow.regions or {ENV_REGIONS}", "allow-list"))
    if experiment.target == "kube" and not allowed.contexts:
        problems.append(Problem("allow.contexts", "no Kubernetes context is allow-listed",
                                f"list the kubeconfig context under allow.contexts or in {ENV_CONTEXTS}",
                                "allow-list"))
    if problems:
        raise InputError(f"refused to run '{experiment.title}' on {experiment.target}", problems)
    return allowed


def check_account(account: str, allowed: AllowList) -> None:
    if account not in allowed.accounts:
        raise InputError("refused: the credentials belong to an account that is not allow-listed", [
            Problem("allow.accounts", f"account {account} is not in ({', '.join(allowed.accounts)})",
                    f"use credentials of an allow-listed account or add {account} deliberately",
                    "allow-list")])


def check_context(context: str, allowed: AllowList) -> None:
    if context not in allowed.contexts:
        raise InputError("refused: the kubeconfig context is not allow-listed", [
            Problem("allow.contexts", f"context {context} is not in ({', '.join(allowed.contexts)})",
                    f"pick an allow-listed context with --context, or add {context} deliberately",
                    "allow-list")])
