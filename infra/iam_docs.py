"""IAM policy documents (plain dicts), kept apart from the resources that attach them."""
from __future__ import annotations

from typing import Sequence

# AWS managed policies an EKS cluster and its managed nodes need (EKS User Guide,
# "Amazon EKS cluster IAM role" and "Amazon EKS node IAM role").
CLUSTER_MANAGED_POLICIES = ("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",)
NODE_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)


def assume_role(service: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def irsa_trust(oidc_provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> dict:
    """Only the controller's service account may assume the role (EKS IRSA)."""
    host = issuer_url.removeprefix("https://")
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": oidc_provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
            f"{host}:aud": "sts.amazonaws.com",
        }},
    }]}


def controller_reads() -> dict:
    """Least privilege for the controller's price refresh: both actions are read-only and
    support no resource-level permissions, hence Resource "*"."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "PriceReads", "Effect": "Allow",
        "Action": ["pricing:GetProducts", "ec2:DescribeSpotPriceHistory"],
        "Resource": "*",
    }]}


def kms_use(key_arn: str) -> dict:
    """EKS envelope encryption of Secrets with a customer managed key."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"],
        "Resource": key_arn,
    }]}


def tls_only_bucket(bucket_arn: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }]}


def replication(source_arn: str, source_key_arn: str,
                destinations: Sequence[tuple[str, str]]) -> dict:
    """S3 replication of KMS-encrypted objects (S3 User Guide, "Replicating encrypted objects").

    `destinations` is a list of (bucket ARN, KMS key ARN)."""
    dest_buckets = [d for d, _ in destinations]
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
         "Resource": [source_arn]},
        {"Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                                       "s3:GetObjectVersionTagging"],
         "Resource": [f"{source_arn}/*"]},
        {"Effect": "Allow", "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
         "Resource": [f"{d}/*" for d in dest_buckets]},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [source_key_arn]},
        {"Effect": "Allow", "Action": ["kms:Encrypt"], "Resource": [k for _, k in destinations]},
    ]}


def cluster_autoscaler(cluster_name: str) -> dict:
    """Cluster Autoscaler on AWS (its cloudprovider/aws README, "Full Cluster Autoscaler
    Features Policy"): read everywhere, change only node groups of this cluster. EKS tags the
    Auto Scaling groups of managed node groups `k8s.io/cluster-autoscaler/<cluster>=owned`.
    `eks:DescribeNodegroup` lets it scale a group up from zero nodes (pilot-light standbys)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Resource": "*", "Action": [
            "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
            "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
            "eks:DescribeNodegroup"]},
        {"Sid": "ScaleOwnGroups", "Effect": "Allow", "Resource": "*",
         "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
    ]}
