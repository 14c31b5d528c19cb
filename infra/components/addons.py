"""What makes a cluster GPU-ready and elastic, installed with Helm through pulumi-kubernetes:

- NVIDIA device plugin: advertises `nvidia.com/gpu` on GPU nodes (the EKS AL2023 NVIDIA AMI
  brings the driver and container toolkit, not the plugin);
- Cluster Autoscaler: adds and removes nodes in the managed node groups when the meridian
  controller changes replica counts, including scale-up from zero in pilot-light standbys.

Chart versions are pinned: Cluster Autoscaler chart 9.51.0 ships autoscaler 1.33.0, matching
the pinned EKS 1.33 (kubernetes/autoscaler chart releases); NVIDIA device plugin chart 0.17.1.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.components.controller import IRSA_ANNOTATION
from infra.naming import LABEL_POOL

DEVICE_PLUGIN_CHART = ("nvidia-device-plugin", "0.17.1", "https://nvidia.github.io/k8s-device-plugin")
AUTOSCALER_CHART = ("cluster-autoscaler", "9.51.0", "https://kubernetes.github.io/autoscaler")
AUTOSCALER_SERVICE_ACCOUNT = ("kube-system", "cluster-autoscaler")


@dataclass
class ClusterAddonsArgs:
    region: str
    cluster_name: str
    provider: k8s.Provider
    autoscaler_role_arn: pulumi.Input[str]


class ClusterAddons(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("meridian:index:ClusterAddons", name, {"region": args.region}, opts)
        o = pulumi.ResourceOptions(parent=self, provider=args.provider)
        chart, version, repo = DEVICE_PLUGIN_CHART
        k8s.helm.v3.Release(f"{name}-nvidia-device-plugin", chart=chart, version=version, namespace="kube-system",
                            repository_opts={"repo": repo}, values={
                                "nodeSelector": {LABEL_POOL: "gpu"},
                                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                                 "effect": "NoSchedule"}]}, opts=o)
        chart, version, repo = AUTOSCALER_CHART
        namespace, service_account = AUTOSCALER_SERVICE_ACCOUNT
        k8s.helm.v3.Release(f"{name}-cluster-autoscaler", chart=chart, version=version, namespace=namespace,
                            repository_opts={"repo": repo}, values={
                                "cloudProvider": "aws", "awsRegion": args.region,
                                "autoDiscovery": {"clusterName": args.cluster_name},
                                "rbac": {"serviceAccount": {"name": service_account, "annotations": {
                                    IRSA_ANNOTATION: args.autoscaler_role_arn}}},
                                "nodeSelector": {LABEL_POOL: "system"},
                                "extraArgs": {"balance-similar-node-groups": True, "expander": "least-waste",
                                              "skip-nodes-with-system-pods": False}}, opts=o)
        self.register_outputs({})
