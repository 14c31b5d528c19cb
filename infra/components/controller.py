"""The meridian controller installed into one cluster with pulumi-kubernetes.

The objects come from `controller.manifests.render()`, kept once in the controller package
(the same list `meridian controller manifests` prints for kubectl); this component only maps
each dict to its typed pulumi-kubernetes resource, in the order given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pulumi
import pulumi_kubernetes as k8s

from controller import manifests

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# How often the controller re-reads on-demand and spot prices with its IRSA role. Our choice,
# not an AWS figure: spot prices move a few times a day per pool, and hourly keeps the calls
# to the Pricing and EC2 APIs at 24 a day per cluster.
PRICE_REFRESH_S = 3600.0


def _meta_only(cls) -> Callable:
    return lambda name, obj, opts: cls(name, metadata=obj["metadata"], opts=opts)


def _with_spec(cls) -> Callable:
    return lambda name, obj, opts: cls(name, metadata=obj["metadata"], spec=obj["spec"], opts=opts)


def _role(cls) -> Callable:
    return lambda name, obj, opts: cls(name, metadata=obj["metadata"], rules=obj["rules"], opts=opts)


def _binding(cls) -> Callable:
    return lambda name, obj, opts: cls(name, metadata=obj["metadata"], role_ref=obj["roleRef"],
                                       subjects=obj["subjects"], opts=opts)


# (apiVersion, kind) -> constructor. A kind missing here is a programming error, raised loudly.
KINDS: dict[tuple[str, str], Callable] = {
    ("v1", "Namespace"): _meta_only(k8s.core.v1.Namespace),
    ("v1", "ServiceAccount"): _meta_only(k8s.core.v1.ServiceAccount),
    ("v1", "Service"): _with_spec(k8s.core.v1.Service),
    ("v1", "ConfigMap"): lambda n, o, opts: k8s.core.v1.ConfigMap(n, metadata=o["metadata"],
                                                                  data=o.get("data"), opts=opts),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
        _with_spec(k8s.apiextensions.v1.CustomResourceDefinition),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): _role(k8s.rbac.v1.ClusterRole),
    ("rbac.authorization.k8s.io/v1", "Role"): _role(k8s.rbac.v1.Role),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): _binding(k8s.rbac.v1.ClusterRoleBinding),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _binding(k8s.rbac.v1.RoleBinding),
    ("apps/v1", "Deployment"): _with_spec(k8s.apps.v1.Deployment),
    ("policy/v1", "PodDisruptionBudget"): _with_spec(k8s.policy.v1.PodDisruptionBudget),
}


@dataclass
class ControllerInstallArgs:
    region: str
    provider: k8s.Provider  # the cluster's
    namespace: str
    image: str  # "" = the controller package's default
    irsa_role_arn: pulumi.Input[str]
    prometheus_url: str = ""  # "" = each scaler names its own (spec.metrics.prometheusUrl)


class ControllerInstall(pulumi.ComponentResource):
    def __init__(self, name: str, args: ControllerInstallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("meridian:index:ControllerInstall", name, {"region": args.region}, opts)
        provider = args.provider
        # The IRSA role exists for the price refresh: the controller prices its own region.
        objects = manifests.render(namespace=args.namespace, image=args.image or manifests.DEFAULT_IMAGE,
                                   service_account_annotations={IRSA_ANNOTATION: "__IRSA__"},
                                   prometheus_url=args.prometheus_url or None, price_region=args.region,
                                   price_refresh_s=PRICE_REFRESH_S)
        created: list[pulumi.Resource] = []
        foundations: list[pulumi.Resource] = []  # Namespace and CRD: everything else needs them
        for obj in objects:
            obj = _irsa(obj, args.irsa_role_arn)
            key = (obj["apiVersion"], obj["kind"])
            if key not in KINDS:
                raise TypeError(f"controller.manifests.render() returned {key}, which ControllerInstall "
                                f"cannot install yet; add it to infra.components.controller.KINDS")
            res_name = f"{name}-{obj['kind'].lower()}-{obj['metadata']['name']}"
            # The Deployment also waits for its ServiceAccount and RBAC.
            deps = list(created) if obj["kind"] == "Deployment" else list(foundations)
            res = KINDS[key](res_name, obj, pulumi.ResourceOptions(parent=self, provider=provider,
                                                                   depends_on=deps))
            created.append(res)
            if obj["kind"] in ("Namespace", "CustomResourceDefinition"):
                foundations.append(res)
        self.register_outputs({"namespace": args.namespace, "objects": len(created)})


def _irsa(obj: dict, role_arn: pulumi.Input[str]) -> dict:
    """Put the role ARN (an Output) where render() was asked to put the annotation."""
    annotations = obj.get("metadata", {}).get("annotations") or {}
    if annotations.get(IRSA_ANNOTATION) != "__IRSA__":
        return obj
    return {**obj, "metadata": {**obj["metadata"], "annotations": {**annotations, IRSA_ANNOTATION: role_arn}}}
