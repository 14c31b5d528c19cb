"""DR wiring for data: S3 replication from each region to its DR partners, only where the
residency model allowed it (decided in `infra.layout`, re-checked by the policy pack).

S3 Replication Time Control replicates 99.99 % of objects within 15 minutes (S3 User Guide,
"Meeting compliance requirements with S3 RTC"); it is on for every strategy that promises
continuous replication, and off for backup-restore, whose RPO is the backup interval.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam_docs
from infra.components.data_store import ResidentDataStore
from infra.layout import Replication
from infra.naming import bucket_arn

RTC_MINUTES = 15


@dataclass
class ReplicationArgs:
    jurisdiction: str
    strategy: str
    replications: tuple[Replication, ...]
    stores: dict[str, ResidentDataStore]  # region -> its store
    providers: dict[str, aws.Provider]
    tags: dict[str, str]


class DataReplication(pulumi.ComponentResource):
    def __init__(self, name: str, args: ReplicationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("meridian:index:DataReplication", name, {"jurisdiction": args.jurisdiction}, opts)
        self.pairs: list[str] = []
        by_source: dict[tuple[str, str], list[Replication]] = {}
        for rep in args.replications:
            by_source.setdefault((rep.source, rep.data_class), []).append(rep)
        for (source, data_class), reps in by_source.items():
            self._replicate(f"{name}-{source}-{data_class}", source, data_class, reps, args)
        self.register_outputs({"pairs": self.pairs})

    def _replicate(self, n: str, source: str, data_class: str, reps: list[Replication],
                   args: ReplicationArgs) -> None:
        o = pulumi.ResourceOptions(parent=self, provider=args.providers[source])
        store = args.stores[source]
        src_bucket = store.bucket_names[data_class]
        dests = [(args.stores[r.destination].bucket_names[data_class], args.stores[r.destination].key.arn)
                 for r in reps]
        role = aws.iam.Role(f"{n}-role", assume_role_policy=json.dumps(iam_docs.assume_role("s3.amazonaws.com")),
                            tags=args.tags, opts=o)
        policy = pulumi.Output.all(store.key.arn, *[k for _, k in dests]).apply(
            lambda keys: json.dumps(iam_docs.replication(
                bucket_arn(src_bucket), keys[0], [(bucket_arn(b), k) for (b, _), k in zip(dests, keys[1:])])))
        role_policy = aws.iam.RolePolicy(f"{n}-policy", role=role.id, policy=policy, opts=o)
        rtc = args.strategy != "backup-restore"
        rules = [self._rule(i, r, bucket, key, rtc) for i, (r, (bucket, key)) in enumerate(zip(reps, dests))]
        versionings = [store.versioning[data_class]] + [args.stores[r.destination].versioning[data_class]
                                                        for r in reps]
        aws.s3.BucketReplicationConfig(
            n, bucket=src_bucket, role=role.arn, rules=rules,
            opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=[*versionings, role_policy])))
        self.pairs += [f"{source}->{r.destination}:{data_class}" for r in reps]

    @staticmethod
    def _rule(i: int, rep: Replication, bucket: str, key_arn, rtc: bool) -> dict:
        dest: dict = {"bucket": bucket_arn(bucket), "storage_class": "STANDARD",
                      "encryption_configuration": {"replica_kms_key_id": key_arn}}
        if rtc:
            dest["replication_time"] = {"status": "Enabled", "time": {"minutes": RTC_MINUTES}}
            dest["metrics"] = {"status": "Enabled", "event_threshold": {"minutes": RTC_MINUTES}}
        return {"id": f"to-{rep.destination}", "status": "Enabled", "priority": i + 1, "filter": {},
                "delete_marker_replication": {"status": "Enabled"},
                "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                "destination": dest}
