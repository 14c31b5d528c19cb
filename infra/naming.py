"""Names, hostnames and tags the program, the policies and the plan agree on.

Bucket names are set explicitly (not auto-named) so that replication rules and the
policy pack can refer to a bucket by name during `pulumi preview`, when ARNs of new
buckets are still unknown.
"""
from __future__ import annotations

import hashlib
import re

TAG_JURISDICTION = "meridian.dev/jurisdiction"
TAG_DATA_CLASS = "meridian.dev/data-class"
TAG_STACK = "meridian.dev/stack"
TAG_ROLE = "meridian.dev/region-role"
LABEL_CAPACITY = "meridian.dev/capacity-type"
LABEL_INSTANCE = "meridian.dev/instance-type"
LABEL_POOL = "meridian.dev/pool"  # system | gpu

_S3_MAX = 63  # S3 bucket names: 3-63 chars, lowercase letters, digits, hyphens


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# AWS Backup plan, selection and vault names: at most 50 characters (AWS Backup API reference,
# CreateBackupPlan BackupPlanName, CreateBackupSelection SelectionName, CreateBackupVault).
BACKUP_NAME_MAX = 50


def fit(name: str, limit: int) -> str:
    """`name` if it fits in `limit` characters, else its head and a hash of the whole: still
    unique and stable across runs."""
    if len(name) <= limit:
        return name
    return f"{name[: limit - 9].rstrip('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def backup_name(stack: str, region: str, data_class: str = "") -> str:
    """A backup vault (`data_class` empty) or plan name, unique per account and region."""
    return fit("-".join(x for x in ("meridian", stack, region, data_class) if x), BACKUP_NAME_MAX)


def bucket_name(domain: str, stack: str, region: str, data_class: str) -> str:
    """Globally unique, deterministic: `<domain>-<stack>-<region>-<class>`, shortened with a hash."""
    tail = f"-{region}-{data_class}"
    head = slug(f"{domain}-{stack}") if stack else slug(domain)
    if len(head) + len(tail) > _S3_MAX:
        digest = hashlib.sha256(head.encode()).hexdigest()[:8]
        head = f"{head[: _S3_MAX - len(tail) - 9].rstrip('-')}-{digest}"
    return f"{head}{tail}"


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def bucket_from_arn(arn: str) -> str:
    return arn.split(":::", 1)[1].split("/", 1)[0] if ":::" in arn else arn


def cluster_name(stack: str, region: str) -> str:
    return f"meridian-{slug(stack) or 'stack'}-{region}"


def api_host(domain: str) -> str:
    """What users call: geolocation records send each country to its jurisdiction."""
    return f"api.{domain}"


def jurisdiction_host(domain: str, jurisdiction: str) -> str:
    """Latency or failover records among one jurisdiction's regions."""
    return f"{jurisdiction}.api.{domain}"


def failover_host(domain: str, jurisdiction: str, level: int) -> str:
    """Level 0 is the jurisdiction's name; level k >= 1 is where the k-th standby is PRIMARY,
    the SECONDARY of level k-1 (a chain of Route 53 failover sets, one per extra standby)."""
    base = jurisdiction_host(domain, jurisdiction)
    return base if level == 0 else f"dr{level}.{base}"


def region_host(domain: str, region: str) -> str:
    """A region's inference endpoint; published by the cluster's ingress (external-dns)."""
    return f"{region}.api.{domain}"


def edge_host(domain: str) -> str:
    return f"edge.{domain}"
