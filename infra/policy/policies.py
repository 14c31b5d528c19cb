"""meridian's CrossGuard policies: residency, encryption at rest, no public access.

Plain module: building a `PolicyPack` starts a gRPC server, so that happens only in
`__main__.py`. Tests and `meridian plan` call `validate` on each policy directly with
`ResourceValidationArgs` / `StackValidationArgs` they build themselves.

Properties are read as the engine sends them (camelCase, numbers as floats). The region
of a resource is its own `region` argument (pulumi-aws v7) or its provider's `region`.
Personal data may leave its jurisdiction only along a transfer listed in the policy config
`allowedTransfers` (e.g. `[{"from": "eu", "to": "uk"}]`), mirroring the topology's `transfers`.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.naming import TAG_DATA_CLASS, TAG_JURISDICTION, bucket_from_arn
from infra.policy.dns import RECORD, normal, record_reach
from infra.policy.preview import UNKNOWN, value
from regions.catalog import load_catalog
from regions.jurisdictions import load_jurisdictions
from regions.residency import DataClass

BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
BACKUP_PLAN = "aws:backup/plan:Plan"
TABLE = "aws:dynamodb/table:Table"
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PUBLIC_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")

CONFIG_SCHEMA = PolicyConfigSchema(properties={"allowedTransfers": {
    "type": "array", "default": [],
    "items": {"type": "object", "required": ["from", "to"],
              "properties": {"from": {"type": "string"}, "to": {"type": "string"}}}}})


# ---------------------------------------------------------------- helpers

def region_of(props: Mapping[str, Any], provider) -> str | None:
    """The resource's `region` argument, else its provider's `region`; None when neither is
    known (a region computed from another resource is unknown during preview: unprovable)."""
    own = value(props, "region")
    if own is UNKNOWN:
        return None
    if isinstance(own, str) and own:
        return own
    theirs = value(provider.props, "region") if provider is not None else None
    return theirs if isinstance(theirs, str) and theirs else None


def jurisdiction_of_region(region: str | None) -> str | None:
    r = load_catalog().regions.get(region or "")
    return r.jurisdiction if r else None


def transfers(config: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(str(t.get("from")), str(t.get("to"))) for t in config.get("allowedTransfers") or []
            if isinstance(t, Mapping)}


def may_hold_personal(home: str, region: str | None, allowed: set[tuple[str, str]]) -> bool:
    where = jurisdiction_of_region(region)
    return where is not None and (where == home or (home, where) in allowed)


def _tags(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return props.get("tags") or {}


def _of_type(resources: Iterable, typ: str) -> list:
    return [r for r in resources if r.resource_type == typ]


def _buckets(resources: Iterable) -> dict[str, Any]:
    """Bucket name -> resource; sub-resources refer to a bucket by its (fixed) name."""
    return {r.props.get("bucket"): r for r in _of_type(resources, BUCKET) if r.props.get("bucket")}


def _by_bucket(resources: Iterable, typ: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in _of_type(resources, typ):
        out.setdefault(r.props.get("bucket"), []).append(r)
    return out


# ---------------------------------------------------------------- resource policies

def _personal_bucket_home(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != BUCKET:
        return
    tags = _tags(args.props)
    if tags.get(TAG_DATA_CLASS) != DataClass.PERSONAL.value:
        return
    home, region = tags.get(TAG_JURISDICTION), region_of(args.props, args.provider)
    if region is None:
        report(f"personal-data bucket {args.name}: its region is unknown; set the provider's `region` "
               f"or the bucket's `region` argument so residency can be checked")
    elif not may_hold_personal(str(home), region, transfers(args.get_config())):
        report(f"personal-data bucket {args.name} of jurisdiction {home} is in {region} "
               f"({jurisdiction_of_region(region) or 'unknown jurisdiction'}); keep it in {home} or "
               f"declare the transfer in allowedTransfers")


def _personal_table_home(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A personal-data DynamoDB table and every global-table replica stay in the jurisdiction."""
    if args.resource_type != TABLE:
        return
    tags = _tags(args.props)
    if tags.get(TAG_DATA_CLASS) != DataClass.PERSONAL.value:
        return
    home, allowed = str(tags.get(TAG_JURISDICTION)), transfers(args.get_config())
    where = [("table", region_of(args.props, args.provider))]
    where += [("replica", value(r, "regionName")) for r in args.props.get("replicas") or [] if isinstance(r, Mapping)]
    for what, region in where:
        if not may_hold_personal(home, region, allowed):
            report(f"personal-data table {args.name}: {what} in {region or 'an unknown region'} "
                   f"({jurisdiction_of_region(region) or 'unknown jurisdiction'}) is outside {home}")
    if not value(args.props.get("serverSideEncryption"), "kmsKeyArn"):  # set, if unknown in preview
        report(f"personal-data table {args.name} is not encrypted with a customer managed KMS key; "
               f"set serverSideEncryption {{enabled: true, kmsKeyArn}}")


def _backup_copy_home(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Backup copies are another way data leaves a region: the destination vault's ARN names
    its region (arn:aws:backup:REGION:ACCOUNT:backup-vault:NAME)."""
    if args.resource_type != BACKUP_PLAN:
        return
    copies = [c for rule in args.props.get("rules") or [] for c in rule.get("copyActions") or []]
    if not copies:
        return
    tags = _tags(args.props)
    home, cls = tags.get(TAG_JURISDICTION), tags.get(TAG_DATA_CLASS)
    if home is None or cls is None:
        report(f"backup plan {args.name} copies recovery points across regions but has no "
               f"{TAG_JURISDICTION}/{TAG_DATA_CLASS} tags, so residency cannot be checked; tag it")
        return
    if cls != DataClass.PERSONAL.value:
        return
    for copy in copies:
        arn = str(value(copy, "destinationVaultArn") or "")
        parts = arn.split(":")
        region = parts[3] if len(parts) > 3 and parts[2] == "backup" else None
        if not may_hold_personal(str(home), region, transfers(args.get_config())):
            report(f"backup plan {args.name} copies personal data of {home} to {arn or '?'} "
                   f"({jurisdiction_of_region(region) or 'unknown jurisdiction'}); copy only to vaults in {home}")


def _data_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (BUCKET, TABLE):
        return
    tags = _tags(args.props)
    home, cls = tags.get(TAG_JURISDICTION), tags.get(TAG_DATA_CLASS)
    if home not in load_jurisdictions():
        report(f"{args.name}: tag {TAG_JURISDICTION} is {home!r}; set it to the jurisdiction "
               f"whose data the bucket holds (one of {', '.join(sorted(load_jurisdictions()))})")
    if cls not in {d.value for d in DataClass}:
        report(f"{args.name}: tag {TAG_DATA_CLASS} is {cls!r}; set it to one of "
               f"{', '.join(d.value for d in DataClass)}")


def _eks_secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != EKS_CLUSTER:
        return
    configs = args.props.get("encryptionConfig") or []
    configs = [configs] if isinstance(configs, Mapping) else list(configs)
    ok = any("secrets" in (c.get("resources") or []) and value(c.get("provider"), "keyArn")
             for c in configs if isinstance(c, Mapping))
    if not ok:
        report(f"EKS cluster {args.name} does not encrypt Kubernetes Secrets with a KMS key; set "
               f"encryptionConfig {{provider: {{keyArn}}, resources: [secrets]}}")


def _public_block_flags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != PUBLIC_BLOCK:
        return
    off = [f for f in PUBLIC_BLOCK_FLAGS if args.props.get(f) is not True]
    if off:
        report(f"public access block {args.name} leaves {', '.join(off)} off; set all four to true")


# ---------------------------------------------------------------- stack policies

def _bucket_encryption(args: StackValidationArgs, report: ReportViolation) -> None:
    sse = _by_bucket(args.resources, SSE)
    for name, bucket in _buckets(args.resources).items():
        algos = [(value(rule.get("applyServerSideEncryptionByDefault"), "sseAlgorithm"),
                  value(rule.get("applyServerSideEncryptionByDefault"), "kmsMasterKeyId"))  # a new key: unknown
                 for c in sse.get(name, []) for rule in (c.props.get("rules") or [])]
        if not any(a in KMS_ALGORITHMS and key for a, key in algos):
            report(f"bucket {name} has no KMS encryption at rest; add a "
                   f"BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms and a key", bucket.urn)


def _bucket_public_access(args: StackValidationArgs, report: ReportViolation) -> None:
    blocks = _by_bucket(args.resources, PUBLIC_BLOCK)
    for name, bucket in _buckets(args.resources).items():
        if not any(all(b.props.get(f) is True for f in PUBLIC_BLOCK_FLAGS) for b in blocks.get(name, [])):
            report(f"bucket {name} has no public access block with all four settings true; "
                   f"add a BucketPublicAccessBlock", bucket.urn)


def _bucket_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    policies = _by_bucket(args.resources, BUCKET_POLICY)
    for name, bucket in _buckets(args.resources).items():
        texts = [str(p.props.get("policy") or "") for p in policies.get(name, [])]
        if not any("aws:SecureTransport" in t and "Deny" in t for t in texts):
            report(f"bucket {name} accepts plain HTTP; add a policy denying aws:SecureTransport=false",
                   bucket.urn)


def _replication_home(args: StackValidationArgs, report: ReportViolation) -> None:
    buckets, allowed = _buckets(args.resources), transfers(args.get_config())
    for rep in _of_type(args.resources, REPLICATION):
        source = buckets.get(rep.props.get("bucket"))
        tags = _tags(source.props) if source else {}
        if source is None:
            report(f"replication {rep.name}: source bucket {rep.props.get('bucket')!r} is not in this stack, "
                   f"so its data class is unknown", rep.urn)
            continue
        if tags.get(TAG_DATA_CLASS) != DataClass.PERSONAL.value:
            continue
        home = str(tags.get(TAG_JURISDICTION))
        for rule in rep.props.get("rules") or []:
            arn = str((rule.get("destination") or {}).get("bucket") or "")
            dest = buckets.get(bucket_from_arn(arn))
            region = region_of(dest.props, dest.provider) if dest else None
            if dest is None:
                report(f"replication {rep.name} sends personal data of {home} to {arn or '?'}, which is not "
                       f"in this stack; its region cannot be proven", rep.urn)
            elif not may_hold_personal(home, region, allowed):
                report(f"replication {rep.name} sends personal data of {home} to {bucket_from_arn(arn)} in "
                       f"{region} ({jurisdiction_of_region(region) or 'unknown'}); replicate only inside "
                       f"{home} or declare the transfer", rep.urn)


def _failover_home(args: StackValidationArgs, report: ReportViolation) -> None:
    allowed = transfers(args.get_config())
    groups: dict[tuple[str, str], list] = {}
    for r in _of_type(args.resources, RECORD):
        if r.props.get("failoverRoutingPolicies"):
            groups.setdefault((normal(r.props.get("name")), str(r.props.get("type"))), []).append(r)
    for (name, _), records in groups.items():
        reach = {r.name: record_reach(r.props, args.resources) for r in records}
        primary = [r for r in records if r.props["failoverRoutingPolicies"][0].get("type") == "PRIMARY"]
        homes = {jurisdiction_of_region(x) for p in primary for x in reach[p.name]}
        if len(homes) != 1 or None in homes:
            for p in primary or records:
                report(f"failover record {p.name} ({name}): primary reaches {sorted(map(str, reach[p.name]))}, "
                       f"not one known jurisdiction", p.urn)
            continue
        home = homes.pop()
        for r in records:
            for region in reach[r.name]:
                if not may_hold_personal(home, region, allowed):
                    report(f"failover record {r.name} ({name}) fails over from {home} to {region} "
                           f"({jurisdiction_of_region(region) or 'unknown'}); point it at a region of {home}",
                           r.urn)


def _geolocation_home(args: StackValidationArgs, report: ReportViolation) -> None:
    allowed = transfers(args.get_config())
    country_home = {c: code for code, j in load_jurisdictions().items() for c in j.countries}
    for r in _of_type(args.resources, RECORD):
        for geo in r.props.get("geolocationRoutingPolicies") or []:
            country = geo.get("country")
            home = country_home.get(str(country))
            if home is None:
                report(f"geolocation record {r.name} matches {country or geo.get('continent') or 'a default'} "
                       f"location, which spans jurisdictions; route single countries of known jurisdictions",
                       r.urn)
                continue
            for region in record_reach(r.props, args.resources):
                if not may_hold_personal(home, region, allowed):
                    report(f"geolocation record {r.name} sends users in {country} ({home}) to "
                           f"{region or 'an unresolvable name'}; send them only to regions of {home}", r.urn)


# ---------------------------------------------------------------- the pack's policies

M, A = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy("personal-data-bucket-in-jurisdiction",
                             "Personal-data buckets live only in their jurisdiction (or a declared transfer's).",
                             _personal_bucket_home, M, CONFIG_SCHEMA),
    StackValidationPolicy("personal-data-replication-in-jurisdiction",
                          "Personal data replicates only to buckets in its jurisdiction.",
                          _replication_home, M, CONFIG_SCHEMA),
    ResourceValidationPolicy("personal-data-table-in-jurisdiction",
                             "Personal-data DynamoDB tables and their replicas stay in the jurisdiction, "
                             "KMS-encrypted.", _personal_table_home, M, CONFIG_SCHEMA),
    ResourceValidationPolicy("personal-data-backup-copy-in-jurisdiction",
                             "Backups of personal data are copied only to vaults in its jurisdiction.",
                             _backup_copy_home, M, CONFIG_SCHEMA),
    StackValidationPolicy("bucket-encrypted-with-kms", "Every bucket is encrypted at rest with KMS.",
                          _bucket_encryption, M),
    ResourceValidationPolicy("eks-secrets-encrypted", "EKS encrypts Kubernetes Secrets with a KMS key.",
                             _eks_secrets, M),
    StackValidationPolicy("bucket-public-access-blocked", "Every bucket blocks public access.",
                          _bucket_public_access, M),
    ResourceValidationPolicy("public-access-block-complete", "Public access blocks set all four flags.",
                             _public_block_flags, M),
    ResourceValidationPolicy("data-tags-present",
                             "Buckets and tables carry meridian.dev/jurisdiction and meridian.dev/data-class tags.",
                             _data_tags, M),
    StackValidationPolicy("failover-in-jurisdiction", "No failover record targets another jurisdiction.",
                          _failover_home, M, CONFIG_SCHEMA),
    StackValidationPolicy("geolocation-in-jurisdiction",
                          "Geolocation records send a country's users only to its jurisdiction's regions.",
                          _geolocation_home, M, CONFIG_SCHEMA),
    StackValidationPolicy("bucket-tls-only", "Buckets refuse plain-HTTP requests.", _bucket_tls_only, A),
]
