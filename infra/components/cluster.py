"""Regional cluster: network, EKS with KMS-encrypted secrets, CPU system and GPU node groups,
IRSA roles, the GPU add-ons, and the controller installed through pulumi-kubernetes."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from controller.manifests import APP_NAME
from infra import iam_docs
from infra.components.addons import AUTOSCALER_SERVICE_ACCOUNT, ClusterAddons, ClusterAddonsArgs
from infra.components.controller import ControllerInstall, ControllerInstallArgs
from infra.components.network import RegionalNetwork, RegionalNetworkArgs
from infra.layout import GpuGroup, RegionLayout, subnet_plan
from infra.naming import LABEL_CAPACITY, LABEL_INSTANCE, LABEL_POOL
from infra.settings import EstateSettings

# Control-plane log types EKS can ship to CloudWatch (EKS User Guide, "Control plane logs").
CONTROL_PLANE_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
LOG_RETENTION_DAYS = 90  # our choice: a quarter of audit history; EKS's default keeps logs forever
# System group: two nodes so the controller (2 replicas, PDB minAvailable 1) and CoreDNS survive
# one node's loss; up to four for add-on growth. Our sizing, not an AWS figure.
SYSTEM_NODES = {"min_size": 2, "desired_size": 2, "max_size": 4}
# Root volume per node: inference images with CUDA run to 10-20 GB and weights are cached on the
# node, so GPU nodes get far more than the 20 GiB EKS default.
SYSTEM_DISK_GIB, GPU_DISK_GIB = 50, 200
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
_CAPACITY_API = {"on-demand": "ON_DEMAND", "spot": "SPOT"}


@dataclass
class RegionalClusterArgs:
    layout: RegionLayout
    cluster_name: str
    provider: aws.Provider
    settings: EstateSettings
    tags: dict[str, str]


class RegionalCluster(pulumi.ComponentResource):
    cluster: aws.eks.Cluster
    node_group_names: list[pulumi.Output[str]]
    controller_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RegionalClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("meridian:index:RegionalCluster", name, {"region": args.layout.region}, opts)
        self._name, self._args = name, args
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        lay = args.layout
        self.network = RegionalNetwork(f"{name}-net", RegionalNetworkArgs(
            region=lay.region, cidr=lay.vpc_cidr, subnets=subnet_plan(lay.vpc_cidr, lay.availability_zones),
            cluster_name=args.cluster_name, provider=args.provider, tags=args.tags),
            opts=pulumi.ResourceOptions(parent=self))
        self.cluster = self._control_plane()
        node_role = self._node_role()
        system = self._node_group("system", node_role, None)
        groups = [system] + [self._node_group(f"gpu-{g.instance_type.replace('.', '-')}-{g.capacity}", node_role, g)
                             for g in lay.gpu_groups]
        self.node_group_names = [g.node_group_name for g in groups]
        self._oidc = self._oidc_provider()
        self.controller_role_arn = self._irsa_role("controller", args.settings.controller_namespace, APP_NAME,
                                                   iam_docs.controller_reads())
        autoscaler_role_arn = self._irsa_role("autoscaler", *AUTOSCALER_SERVICE_ACCOUNT,
                                              iam_docs.cluster_autoscaler(args.cluster_name))
        # Everything installed in the cluster waits for the system nodes it runs on.
        k8s_provider = k8s.Provider(f"{name}-k8s", kubeconfig=self._kubeconfig(),
                                    opts=pulumi.ResourceOptions(parent=self, depends_on=[system]))
        ClusterAddons(f"{name}-addons", ClusterAddonsArgs(
            region=lay.region, cluster_name=args.cluster_name, provider=k8s_provider,
            autoscaler_role_arn=autoscaler_role_arn), opts=pulumi.ResourceOptions(parent=self))
        self.controller = ControllerInstall(f"{name}-controller", ControllerInstallArgs(
            region=lay.region, provider=k8s_provider,
            namespace=args.settings.controller_namespace, image=args.settings.controller_image,
            irsa_role_arn=self.controller_role_arn, prometheus_url=args.settings.prometheus_url),
            opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({
            "clusterName": self.cluster.name, "endpoint": self.cluster.endpoint,
            "nodeGroupNames": self.node_group_names, "controllerRoleArn": self.controller_role_arn,
        })

    def _control_plane(self) -> aws.eks.Cluster:
        n, a, o = self._name, self._args, self._opts
        key = aws.kms.Key(f"{n}-eks-secrets", description=f"EKS secrets envelope key for {a.cluster_name}",
                          enable_key_rotation=True, deletion_window_in_days=30, tags=a.tags, opts=o)
        aws.kms.Alias(f"{n}-eks-secrets", name=f"alias/{a.cluster_name}-secrets", target_key_id=key.key_id,
                      opts=o)
        role = aws.iam.Role(f"{n}-cluster-role",
                            assume_role_policy=json.dumps(iam_docs.assume_role("eks.amazonaws.com")),
                            tags=a.tags, opts=o)
        attachments = [aws.iam.RolePolicyAttachment(f"{n}-cluster-{arn.rsplit('/', 1)[1]}", role=role.name,
                                                    policy_arn=arn, opts=o)
                       for arn in iam_docs.CLUSTER_MANAGED_POLICIES]
        kms_policy = aws.iam.RolePolicy(f"{n}-cluster-kms", role=role.id,
                                        policy=key.arn.apply(lambda arn: json.dumps(iam_docs.kms_use(arn))),
                                        opts=o)
        # Created before the cluster so retention is ours, not EKS's never-expire default.
        logs = aws.cloudwatch.LogGroup(f"{n}-control-plane", name=f"/aws/eks/{a.cluster_name}/cluster",
                                       retention_in_days=LOG_RETENTION_DAYS, tags=a.tags, opts=o)
        allow = list(a.settings.api_allow_list)
        return aws.eks.Cluster(
            f"{n}-eks", name=a.cluster_name, version=a.settings.eks_version, role_arn=role.arn,
            vpc_config={"subnet_ids": self.network.private_subnet_ids + self.network.public_subnet_ids,
                        "endpoint_private_access": True, "endpoint_public_access": bool(allow),
                        **({"public_access_cidrs": allow} if allow else {})},
            encryption_config={"provider": {"key_arn": key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=CONTROL_PLANE_LOGS,
            access_config={"authentication_mode": "API",
                           "bootstrap_cluster_creator_admin_permissions": True},
            tags=a.tags,
            opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(
                depends_on=[*attachments, kms_policy, logs])))

    def _node_role(self) -> aws.iam.Role:
        n, o = self._name, self._opts
        role = aws.iam.Role(f"{n}-node-role",
                            assume_role_policy=json.dumps(iam_docs.assume_role("ec2.amazonaws.com")),
                            tags=self._args.tags, opts=o)
        self._node_attachments = [
            aws.iam.RolePolicyAttachment(f"{n}-node-{arn.rsplit('/', 1)[1]}", role=role.name,
                                         policy_arn=arn, opts=o)
            for arn in iam_docs.NODE_MANAGED_POLICIES]
        return role

    def _node_group(self, suffix: str, role: aws.iam.Role, gpu: GpuGroup | None) -> aws.eks.NodeGroup:
        n, a = self._name, self._args
        if gpu is None:  # the system group runs the controller, CoreDNS and add-ons
            sizing = dict(SYSTEM_NODES)
            extra = {"instance_types": [a.settings.system_instance_type], "capacity_type": "ON_DEMAND",
                     "disk_size": SYSTEM_DISK_GIB,
                     "ami_type": "AL2023_x86_64_STANDARD", "labels": {LABEL_POOL: "system"}}
        else:
            sizing = {"min_size": gpu.min_size, "desired_size": gpu.desired_size, "max_size": gpu.max_size}
            extra = {"instance_types": [gpu.instance_type], "capacity_type": _CAPACITY_API[gpu.capacity],
                     "disk_size": GPU_DISK_GIB,
                     "ami_type": "AL2023_x86_64_NVIDIA", "taints": [GPU_TAINT],
                     "labels": {LABEL_POOL: "gpu", LABEL_CAPACITY: gpu.capacity,
                                LABEL_INSTANCE: gpu.instance_type}}
        return aws.eks.NodeGroup(
            f"{n}-{suffix}", cluster_name=self.cluster.name, node_group_name=suffix,
            node_role_arn=role.arn, subnet_ids=self.network.private_subnet_ids,
            scaling_config=sizing, update_config={"max_unavailable": 1}, tags=a.tags, **extra,
            # The controller and cluster autoscaler own the desired size after creation.
            opts=pulumi.ResourceOptions.merge(self._opts, pulumi.ResourceOptions(
                depends_on=self._node_attachments, ignore_changes=["scalingConfig.desiredSize"])))

    def _oidc_provider(self) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """The cluster's OIDC issuer as an IAM identity provider: the basis of IRSA."""
        issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        oidc = aws.iam.OpenIdConnectProvider(f"{self._name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"],
                                             tags=self._args.tags, opts=self._opts)
        return oidc.arn, issuer

    def _irsa_role(self, what: str, namespace: str, service_account: str, policy: dict) -> pulumi.Output[str]:
        """A role only `namespace/service_account` of this cluster can assume, with `policy` inline."""
        n, o = self._name, self._opts
        trust = pulumi.Output.all(*self._oidc).apply(
            lambda v: json.dumps(iam_docs.irsa_trust(v[0], v[1], namespace, service_account)))
        role = aws.iam.Role(f"{n}-{what}-role", assume_role_policy=trust, tags=self._args.tags, opts=o)
        aws.iam.RolePolicy(f"{n}-{what}-policy", role=role.id, policy=json.dumps(policy), opts=o)
        return role.arn

    def _kubeconfig(self) -> pulumi.Output[str]:
        """Token from `aws eks get-token` so no credential is stored in the state."""
        region = self._args.layout.region
        c = self.cluster
        return pulumi.Output.all(c.name, c.endpoint, c.certificate_authority.data).apply(
            lambda v: json.dumps({
                "apiVersion": "v1", "kind": "Config", "current-context": v[0],
                "clusters": [{"name": v[0], "cluster": {"server": v[1], "certificate-authority-data": v[2]}}],
                "contexts": [{"name": v[0], "context": {"cluster": v[0], "user": v[0]}}],
                "users": [{"name": v[0], "user": {"exec": {
                    "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                    "args": ["eks", "get-token", "--cluster-name", v[0], "--region", region]}}}],
            }))
