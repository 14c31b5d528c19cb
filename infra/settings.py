"""Settings of the estate that are not topology: versions, allow-lists, the controller image.

Read from `meridian:*` stack config by `infra/__main__.py`; the topology itself is read only
through `regions.validate.parse_topology`.
"""
from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Iterable

from regions.errors import InputError, Problem, closest

# Pinned so a `pulumi up` never upgrades the control plane by surprise. EKS gives a minor
# version 14 months of standard support, then 12 of extended support at an extra charge per
# cluster hour (EKS User Guide, "Understand the Kubernetes version lifecycle on EKS"); for 1.33
# standard support ended 2026-07-29. Move it together with addons.AUTOSCALER_CHART.
EKS_VERSION = "1.33"
SYSTEM_INSTANCE_TYPE = "m6i.large"
CONTROLLER_NAMESPACE = "meridian-system"
# Every `meridian:*` key the program reads; anything else is a typo that would be ignored.
KNOWN_KEYS = ("topology", "apiAllowList", "eksVersion", "controllerImage", "prometheusUrl")
_EKS_VERSION = re.compile(r"1\.\d{2}")  # EKS versions are Kubernetes minor versions, e.g. 1.33


@dataclass(frozen=True)
class EstateSettings:
    eks_version: str = EKS_VERSION
    # CIDRs allowed to reach the public EKS API endpoint; empty = private endpoint only.
    api_allow_list: tuple[str, ...] = ()
    controller_image: str = ""  # "" = the controller package's default image
    prometheus_url: str = ""  # the controller's default Prometheus; "" = per scaler (spec.metrics.prometheusUrl)
    controller_namespace: str = CONTROLLER_NAMESPACE
    system_instance_type: str = SYSTEM_INSTANCE_TYPE
    extra_tags: dict[str, str] = field(default_factory=dict)


def _json_list(text: str | None) -> list | None:
    """A list setting (stored by Pulumi as JSON text); None when it is not a list."""
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def settings_from_config(get, keys: Iterable[str] = ()) -> EstateSettings:
    """`get(key)` returns a setting's text or None (pulumi.Config("meridian").get: plain strings as
    set, lists as JSON text); `keys` are the stack's config keys, checked for `meridian:*` names
    the program never reads."""
    problems: list[Problem] = []
    for key in keys:
        ns, _, name = key.partition(":")
        if ns == "meridian" and name not in KNOWN_KEYS:
            close = closest(name, KNOWN_KEYS)
            problems.append(Problem(key, "is not a meridian setting, so it would be silently ignored",
                                    (f"did you mean meridian:{close[0]}? " if close else "") +
                                    f"known: {', '.join('meridian:' + k for k in KNOWN_KEYS)}", "unknown-key"))
    version = get("eksVersion")
    if version is not None and not _EKS_VERSION.fullmatch(str(version)):
        problems.append(Problem("meridian:eksVersion", f"{version!r} is not an EKS version",
                                f"write it as a quoted string like \"{EKS_VERSION}\" (unquoted YAML "
                                f"turns 1.30 into 1.3)", "eks-version"))
    allow = _json_list(get("apiAllowList"))
    if allow is None:
        problems.append(Problem("meridian:apiAllowList", f"{get('apiAllowList')!r} is not a list of CIDRs",
                                "write a list, e.g. [203.0.113.7/32], or "
                                "`pulumi config set --path 'meridian:apiAllowList[0]' 203.0.113.7/32`", "shape"))
        allow = []
    for i, cidr in enumerate(allow):
        try:
            net = ipaddress.ip_network(str(cidr), strict=True)
        except ValueError:
            problems.append(Problem(f"meridian:apiAllowList[{i}]", f"{cidr!r} is not a CIDR",
                                    "write it like 203.0.113.7/32", "cidr"))
            continue
        if net.prefixlen == 0:
            problems.append(Problem(f"meridian:apiAllowList[{i}]", "0.0.0.0/0 opens the EKS API "
                                    "endpoint to the internet", "list only your deployers' CIDRs",
                                    "cidr"))
    prometheus = str(get("prometheusUrl") or "")
    if prometheus and not prometheus.startswith(("http://", "https://")):
        problems.append(Problem("meridian:prometheusUrl", f"{prometheus!r} is not an http(s) URL",
                                "e.g. http://prometheus-server.monitoring.svc:9090", "url"))
    if problems:
        raise InputError("invalid meridian settings in the stack config", problems)
    return EstateSettings(
        eks_version=str(get("eksVersion") or EKS_VERSION),
        api_allow_list=tuple(str(c) for c in allow),
        controller_image=str(get("controllerImage") or ""),
        prometheus_url=prometheus,
    )
