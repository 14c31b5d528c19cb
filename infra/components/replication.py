"""DR wiring for data, per strategy as `regions.dr.REPLICATION` models it, only along the
pairs the residency model allowed (decided in `infra.layout`, re-checked by the policy pack):

- pilot-light, warm-standby, active-active: S3 cross-region replication with Replication
  Time Control (99.99 % of objects within 15 minutes; S3 User Guide, "S3 RTC");
- active-active additionally: a DynamoDB global table for session state (personal data),
  replicated among the actives, multi-writer, usually within a second (DynamoDB Developer
  Guide, "Global tables"), which is what `regions.dr` counts on for the active-active RPO;
- backup-restore: AWS Backup, an hourly plan whose recovery points are copied to the
  recovery region's vault (AWS Backup Developer Guide, "Creating backup copies across
  AWS Regions"); the recovery region runs nothing until it is restored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam_docs
from infra.components.data_store import ResidentDataStore
from infra.layout import Replication
from infra.naming import TAG_DATA_CLASS, backup_name, bucket_arn
from regions import dr

# S3 RTC has one setting, 15 minutes, which is the SLA bound regions.dr counts on.
RTC_MINUTES = int(dr.S3_RTC_BOUND_S // 60)
if dr.BACKUP_INTERVAL_S != 3600:
    raise ImportError("regions.dr.BACKUP_INTERVAL_S changed: change BACKUP_SCHEDULE (hourly) with it")
BACKUP_SCHEDULE = "cron(0 * ? * * *)"  # hourly: regions.dr.BACKUP_INTERVAL_S
BACKUP_RETENTION_DAYS = 35  # our choice: five weeks of hourly recovery points in both vaults
# A scheduled job must start within this many minutes or is cancelled (AWS Backup default 8 h,
# minimum 60: AWS Backup API, BackupRule.StartWindowMinutes); 60 keeps hourly jobs hourly.
BACKUP_START_WINDOW_MIN = 60
# AWS managed policies for AWS Backup, including S3 (AWS Backup Developer Guide, "Managed policies").
BACKUP_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
    "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
)


@dataclass
class ReplicationArgs:
    jurisdiction: str
    stack: str
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
        self._vaults: dict[str, tuple[aws.backup.Vault, pulumi.Output[str]]] = {}
        for (source, data_class), reps in by_source.items():
            if args.strategy == "backup-restore":
                self._backup(f"{name}-{source}-{data_class}", source, data_class, reps, args)
            else:
                self._replicate(f"{name}-{source}-{data_class}", source, data_class, reps, args)
        if args.strategy == "active-active":
            self._session_table(name, args)
        self.register_outputs({"pairs": self.pairs})

    def _session_table(self, n: str, args: ReplicationArgs) -> None:
        """Session state, written in whichever active region serves the user, replicated to the
        other actives the residency model allowed for personal data."""
        personal = [r for r in args.replications if r.data_class == "personal"]
        if not personal:
            return
        home = personal[0].source
        replicas = [r.destination for r in personal if r.source == home]
        aws.dynamodb.Table(
            f"{n}-sessions", name=f"meridian-{args.stack}-{args.jurisdiction}-sessions",
            billing_mode="PAY_PER_REQUEST", hash_key="id", attributes=[{"name": "id", "type": "S"}],
            ttl={"attribute_name": "expires_at", "enabled": True},
            stream_enabled=True, stream_view_type="NEW_AND_OLD_IMAGES",  # required by global tables
            server_side_encryption={"enabled": True, "kms_key_arn": args.stores[home].key.arn},
            point_in_time_recovery={"enabled": True},
            replicas=[{"region_name": r, "kms_key_arn": args.stores[r].key.arn, "point_in_time_recovery": True}
                      for r in replicas],
            tags={**args.tags, TAG_DATA_CLASS: "personal"},
            opts=pulumi.ResourceOptions(parent=self, provider=args.providers[home]))
        self.pairs += [f"{home}->{r}:sessions (global table)" for r in replicas]

    def _vault(self, region: str, args: ReplicationArgs) -> tuple[aws.backup.Vault, pulumi.Output[str]]:
        """One vault per region, with its ARN spelled out from the account id so the region is
        visible (and known) during `pulumi preview`, for the residency policy."""
        if region not in self._vaults:
            o = pulumi.ResourceOptions(parent=self, provider=args.providers[region])
            name = backup_name(args.stack, region)
            vault = aws.backup.Vault(f"{region}-vault", name=name, kms_key_arn=args.stores[region].key.arn,
                                     tags=args.tags, opts=o)
            account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(
                parent=self, provider=args.providers[region])).account_id
            arn = pulumi.Output.concat("arn:aws:backup:", region, ":", account, ":backup-vault:", name)
            self._vaults[region] = (vault, arn)
        return self._vaults[region]

    def _backup(self, n: str, source: str, data_class: str, reps: list[Replication],
                args: ReplicationArgs) -> None:
        o = pulumi.ResourceOptions(parent=self, provider=args.providers[source])
        vault, _ = self._vault(source, args)
        copies = [self._vault(r.destination, args) for r in reps]
        tags = {**args.tags, TAG_DATA_CLASS: data_class}
        plan_name = backup_name(args.stack, source, data_class)
        plan = aws.backup.Plan(f"{n}-backup", name=plan_name, tags=tags, rules=[{
            "rule_name": "hourly", "target_vault_name": vault.name, "schedule": BACKUP_SCHEDULE,
            "start_window": BACKUP_START_WINDOW_MIN,
            "lifecycle": {"delete_after": BACKUP_RETENTION_DAYS},
            "copy_actions": [{"destination_vault_arn": arn, "lifecycle": {"delete_after": BACKUP_RETENTION_DAYS}}
                             for _, arn in copies]}],
            opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=[v for v, _ in copies])))
        role = aws.iam.Role(f"{n}-backup-role",
                            assume_role_policy=json.dumps(iam_docs.assume_role("backup.amazonaws.com")),
                            tags=args.tags, opts=o)
        attachments = [aws.iam.RolePolicyAttachment(f"{n}-backup-{arn.rsplit('/', 1)[1]}", role=role.name,
                                                    policy_arn=arn, opts=o) for arn in BACKUP_MANAGED_POLICIES]
        bucket = args.stores[source].bucket_names[data_class]
        aws.backup.Selection(f"{n}-backup", name=plan_name, plan_id=plan.id, iam_role_arn=role.arn,
                             resources=[bucket_arn(bucket)],
                             opts=pulumi.ResourceOptions.merge(o, pulumi.ResourceOptions(depends_on=attachments)))
        self.pairs += [f"{source}->{r.destination}:{data_class} (hourly backup copy)" for r in reps]

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
