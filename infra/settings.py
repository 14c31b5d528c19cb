"""Settings of the estate that are not topology: versions, allow-lists, the controller image.

Read from `meridian:*` stack config by `infra/__main__.py`; the topology itself is read only
through `regions.validate.parse_topology`.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from regions.errors import InputError, Problem

# EKS standard support for 1.33 runs to 2026-07 (EKS Kubernetes release calendar); pin it so
# a `pulumi up` never upgrades the control plane by surprise.
EKS_VERSION = "1.33"
SYSTEM_INSTANCE_TYPE = "m6i.large"
CONTROLLER_NAMESPACE = "meridian-system"


@dataclass(frozen=True)
class EstateSettings:
    eks_version: str = EKS_VERSION
    # CIDRs allowed to reach the public EKS API endpoint; empty = private endpoint only.
    api_allow_list: tuple[str, ...] = ()
    controller_image: str = ""  # "" = the controller package's default image
    controller_namespace: str = CONTROLLER_NAMESPACE
    system_instance_type: str = SYSTEM_INSTANCE_TYPE
    extra_tags: dict[str, str] = field(default_factory=dict)


def settings_from_config(get) -> EstateSettings:
    """`get(key)` returns the raw config value or None (pulumi.Config("meridian").get_object)."""
    problems: list[Problem] = []
    allow = get("apiAllowList") or []
    if not isinstance(allow, list):
        problems.append(Problem("meridian:apiAllowList", "must be a list of CIDRs",
                                "e.g. [203.0.113.7/32]", "shape"))
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
    if problems:
        raise InputError("invalid meridian settings in the stack config", problems)
    return EstateSettings(
        eks_version=str(get("eksVersion") or EKS_VERSION),
        api_allow_list=tuple(str(c) for c in allow),
        controller_image=str(get("controllerImage") or ""),
    )
