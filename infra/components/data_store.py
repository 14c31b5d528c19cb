"""Resident data store: one S3 bucket per data class in a region, KMS-encrypted, versioned,
public access blocked, TLS-only, tagged with the jurisdiction whose data it holds."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam_docs
from infra.naming import TAG_DATA_CLASS, TAG_JURISDICTION, bucket_arn


@dataclass
class DataStoreArgs:
    region: str
    jurisdiction: str
    buckets: dict[str, str]  # data class -> bucket name
    provider: aws.Provider
    tags: dict[str, str]


class ResidentDataStore(pulumi.ComponentResource):
    key: aws.kms.Key
    bucket_names: dict[str, str]
    versioning: dict[str, aws.s3.BucketVersioning]  # replication needs versioning first

    def __init__(self, name: str, args: DataStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("meridian:index:ResidentDataStore", name, {"region": args.region}, opts)
        o = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.key = aws.kms.Key(f"{name}-key", description=f"meridian data at rest in {args.region}",
                               enable_key_rotation=True, deletion_window_in_days=30, tags=args.tags, opts=o)
        self.bucket_names, self.versioning = dict(args.buckets), {}
        for data_class, bucket in args.buckets.items():
            self._bucket(f"{name}-{data_class}", bucket, data_class, args, o)
        self.register_outputs({"bucketNames": self.bucket_names, "keyArn": self.key.arn})

    def _bucket(self, n: str, bucket: str, data_class: str, args: DataStoreArgs,
                o: pulumi.ResourceOptions) -> None:
        tags = {**args.tags, TAG_JURISDICTION: args.jurisdiction, TAG_DATA_CLASS: data_class}
        b = aws.s3.Bucket(n, bucket=bucket, tags=tags, opts=o)
        # Sub-resources name the bucket by its fixed name (known at preview) and depend on it.
        dep = pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=[b]))
        aws.s3.BucketOwnershipControls(n, bucket=bucket, rule={"object_ownership": "BucketOwnerEnforced"},
                                       opts=dep)
        block = aws.s3.BucketPublicAccessBlock(n, bucket=bucket, block_public_acls=True, block_public_policy=True,
                                               ignore_public_acls=True, restrict_public_buckets=True, opts=dep)
        aws.s3.BucketServerSideEncryptionConfiguration(n, bucket=bucket, rules=[{
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                        "kms_master_key_id": self.key.arn},
            "bucket_key_enabled": True}], opts=dep)
        self.versioning[data_class] = aws.s3.BucketVersioning(
            n, bucket=bucket, versioning_configuration={"status": "Enabled"}, opts=dep)
        # After the block: S3 refuses concurrent PutBucketPolicy/PutPublicAccessBlock on one
        # bucket (409 OperationAborted, hashicorp/terraform-provider-aws#7628).
        aws.s3.BucketPolicy(n, bucket=bucket, policy=json.dumps(iam_docs.tls_only_bucket(bucket_arn(bucket))),
                            opts=pulumi.ResourceOptions.merge(dep, pulumi.ResourceOptions(depends_on=[b, block])))
