"""The policy pack on hand-made plans: each policy rejects a violating plan and accepts a fixed one.

No program run here: resources are written by hand as the engine would send them (camelCase
inputs, numbers as floats) and the policies are called through `infra.offline.plan.check`,
which builds `ResourceValidationArgs` / `StackValidationArgs` like the engine does.
"""
from __future__ import annotations

import json

import pytest
from pulumi_policy import PolicyProviderResource, ResourceValidationArgs

from infra.naming import TAG_DATA_CLASS, TAG_JURISDICTION
from infra.offline.plan import UNIQUE_NAMES, check
from infra.offline.runner import PlannedResource
from infra.policy import policies as P

DOMAIN = "x.example.com"


class Plan:
    """A tiny plan builder: providers per region, then resources using them."""

    def __init__(self):
        self.resources: list[PlannedResource] = []

    def add(self, typ: str, name: str, inputs: dict, region: str | None = None) -> PlannedResource:
        provider = f"urn:provider:{region}" if region else None
        if region and not any(r.urn == provider for r in self.resources):
            self.resources.append(PlannedResource("pulumi:providers:aws", f"aws-{region}", provider, region,
                                                  None, None, None, True, {"region": region}))
        res = PlannedResource(typ, name, f"urn:{typ}::{name}", region, None, None, provider, True, inputs)
        self.resources.append(res)
        return res

    def bucket(self, name: str, region: str, home: str = "eu", cls: str = "personal", *, tags=True,
               sse="aws:kms", block=True, tls=True, region_input: str | None = None) -> None:
        inputs = {"bucket": name}
        if tags:
            inputs["tags"] = {TAG_JURISDICTION: home, TAG_DATA_CLASS: cls}
        if region_input:
            inputs["region"] = region_input
        self.add(P.BUCKET, name, inputs, region)
        if sse:
            self.add(P.SSE, name + "-sse", {"bucket": name, "rules": [{"applyServerSideEncryptionByDefault": {
                "sseAlgorithm": sse, "kmsMasterKeyId": "arn:aws:kms::1:key/k"}}]}, region)
        if block is not None:
            flags = {f: True for f in P.PUBLIC_BLOCK_FLAGS}
            if block is not True:
                flags[block] = False
            self.add(P.PUBLIC_BLOCK, name + "-pab", {"bucket": name, **flags}, region)
        if tls:
            self.add(P.BUCKET_POLICY, name + "-policy", {"bucket": name, "policy": json.dumps(
                {"Statement": [{"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})},
                     region)

    def replicate(self, source: str, dest: str, region: str) -> None:
        self.add(P.REPLICATION, f"{source}-rep", {"bucket": source, "rules": [
            {"id": "r", "status": "Enabled", "destination": {"bucket": f"arn:aws:s3:::{dest}"}}]}, region)

    def record(self, name: str, host: str, target: str, **routing) -> None:
        self.add(P.RECORD, name, {"name": host, "type": "CNAME", "records": [target], **routing}, "us-east-1")


def _names(violations, policy: str) -> set[str]:
    return {v.resource for v in violations if v.policy == policy}


def _only(policy_name: str):
    return [p for p in P.POLICIES if p.name == policy_name]


def test_every_policy_in_the_pack_is_mandatory_except_the_tls_advisory():
    levels = {p.name: p.enforcement_level.value for p in P.POLICIES}
    assert levels.pop("bucket-tls-only") == "advisory"
    assert set(levels.values()) == {"mandatory"} and len(levels) == 11


def test_personal_bucket_outside_its_jurisdiction_is_rejected_reading_the_provider_region():
    bad = Plan()
    bad.bucket("eu-data", "us-east-1")
    found = check(bad.resources, policies=_only("personal-data-bucket-in-jurisdiction"))
    assert _names(found, "personal-data-bucket-in-jurisdiction") == {"eu-data"}
    assert "us-east-1" in found[0].message and found[0].level == "mandatory"
    good = Plan()
    good.bucket("eu-data", "eu-west-1")
    assert not check(good.resources, policies=_only("personal-data-bucket-in-jurisdiction"))


def test_a_region_argument_on_the_resource_wins_over_the_provider():
    p = Plan()
    p.bucket("moved", "eu-west-1", region_input="us-west-2")  # pulumi-aws v7 per-resource region
    assert _names(check(p.resources, policies=_only("personal-data-bucket-in-jurisdiction")),
                  "personal-data-bucket-in-jurisdiction") == {"moved"}


def test_a_region_unknown_during_preview_is_unprovable_not_skipped_or_taken_from_the_provider():
    from infra.offline.runner import UNKNOWN

    p = Plan()
    p.bucket("computed", "eu-west-1", region_input=UNKNOWN)  # e.g. region=other_resource.region
    found = check(p.resources, policies=_only("personal-data-bucket-in-jurisdiction"))
    assert [(v.resource, v.level) for v in found] == [("computed", "mandatory")]
    assert "region is unknown" in found[0].message


def test_a_declared_transfer_in_the_pack_config_allows_it():
    p = Plan()
    p.bucket("eu-in-uk", "eu-west-2")
    policy = _only("personal-data-bucket-in-jurisdiction")
    assert check(p.resources, policies=policy)
    assert not check(p.resources, {"allowedTransfers": [{"from": "eu", "to": "uk"}]}, policies=policy)


def test_policy_functions_take_engine_shaped_args_directly():
    args = ResourceValidationArgs(P.BUCKET, {"bucket": "b", "tags": {TAG_JURISDICTION: "jp",
                                                                     TAG_DATA_CLASS: "personal"}},
                                  "urn:b", "b", None, PolicyProviderResource("pulumi:providers:aws",
                                                                             {"region": "eu-west-1"}, "urn:p", "p"))
    messages = []
    _only("personal-data-bucket-in-jurisdiction")[0].validate(args, lambda m, u=None: messages.append(m))
    assert len(messages) == 1 and "jp" in messages[0]


def test_replication_of_personal_data_abroad_is_rejected_and_model_data_is_not():
    p = Plan()
    p.bucket("eu-src", "eu-west-1")
    p.bucket("us-dst", "us-east-1", home="us")
    p.replicate("eu-src", "us-dst", "eu-west-1")
    p.bucket("eu-model", "eu-west-1", cls="model")
    p.bucket("us-model", "us-east-1", home="us", cls="model")
    p.replicate("eu-model", "us-model", "eu-west-1")
    p.bucket("eu-dr", "eu-central-1")
    p.replicate("eu-dr", "eu-src", "eu-central-1")
    found = check(p.resources, policies=_only("personal-data-replication-in-jurisdiction"))
    assert _names(found, "personal-data-replication-in-jurisdiction") == {"eu-src-rep"}


def test_replication_to_a_bucket_outside_the_stack_cannot_be_proven_and_is_rejected():
    p = Plan()
    p.bucket("eu-src", "eu-west-1")
    p.replicate("eu-src", "somebody-elses-bucket", "eu-west-1")
    assert _names(check(p.resources, policies=_only("personal-data-replication-in-jurisdiction")),
                  "personal-data-replication-in-jurisdiction") == {"eu-src-rep"}


@pytest.mark.parametrize("sse", [None, "AES256"])
def test_bucket_without_kms_encryption_is_rejected(sse):
    p = Plan()
    p.bucket("plain", "eu-west-1", sse=sse)
    p.bucket("kms", "eu-west-1")
    assert _names(check(p.resources, policies=_only("bucket-encrypted-with-kms")),
                  "bucket-encrypted-with-kms") == {"plain"}


def _backup_plan(p: Plan, name: str, dest_region: str, cls: str = "personal", tags: bool = True) -> None:
    arn = f"arn:aws:backup:{dest_region}:123456789012:backup-vault:v"
    p.add(P.BACKUP_PLAN, name, {"rules": [{"ruleName": "hourly", "copyActions": [{"destinationVaultArn": arn}]}],
                                **({"tags": {TAG_JURISDICTION: "jp", TAG_DATA_CLASS: cls}} if tags else {})},
          "ap-northeast-1")


def test_backup_copies_of_personal_data_abroad_are_rejected():
    p = Plan()
    _backup_plan(p, "abroad", "eu-west-1")
    _backup_plan(p, "home", "ap-northeast-3")
    _backup_plan(p, "model-abroad", "eu-west-1", cls="model")
    _backup_plan(p, "untagged", "ap-northeast-3", tags=False)
    assert _names(check(p.resources, policies=_only("personal-data-backup-copy-in-jurisdiction")),
                  "personal-data-backup-copy-in-jurisdiction") == {"abroad", "untagged"}


def test_personal_table_replicas_abroad_or_without_kms_are_rejected():
    p = Plan()
    tags = {TAG_JURISDICTION: "us", TAG_DATA_CLASS: "personal"}
    sse = {"enabled": True, "kmsKeyArn": "arn:aws:kms::1:key/k"}
    p.add(P.TABLE, "abroad", {"tags": tags, "serverSideEncryption": sse,
                              "replicas": [{"regionName": "us-west-2"}, {"regionName": "eu-west-1"}]}, "us-east-1")
    p.add(P.TABLE, "no-kms", {"tags": tags, "replicas": [{"regionName": "us-west-2"}]}, "us-east-1")
    p.add(P.TABLE, "home", {"tags": tags, "serverSideEncryption": sse, "replicas": [{"regionName": "us-west-2"}]},
          "us-east-1")
    found = check(p.resources, policies=_only("personal-data-table-in-jurisdiction"))
    assert _names(found, "personal-data-table-in-jurisdiction") == {"abroad", "no-kms"}
    assert "eu-west-1" in next(v.message for v in found if v.resource == "abroad")


def test_eks_cluster_without_secrets_encryption_is_rejected():
    p = Plan()
    p.add(P.EKS_CLUSTER, "bare", {"name": "bare"}, "eu-west-1")
    p.add(P.EKS_CLUSTER, "logs-only", {"encryptionConfig": {"resources": ["secrets"], "provider": {}}}, "eu-west-1")
    p.add(P.EKS_CLUSTER, "good", {"encryptionConfig": {"resources": ["secrets"],
                                                       "provider": {"keyArn": "arn:aws:kms::1:key/k"}}}, "eu-west-1")
    assert _names(check(p.resources, policies=_only("eks-secrets-encrypted")),
                  "eks-secrets-encrypted") == {"bare", "logs-only"}


def test_public_access_must_be_blocked_on_every_bucket_with_all_four_flags():
    p = Plan()
    p.bucket("none", "eu-west-1", block=None)
    p.bucket("leaky", "eu-west-1", block="restrictPublicBuckets")
    p.bucket("closed", "eu-west-1")
    found = check(p.resources, policies=_only("bucket-public-access-blocked") + _only("public-access-block-complete"))
    assert _names(found, "bucket-public-access-blocked") == {"none", "leaky"}
    assert _names(found, "public-access-block-complete") == {"leaky-pab"}


def test_buckets_without_jurisdiction_and_data_class_tags_are_rejected():
    p = Plan()
    p.bucket("untagged", "eu-west-1", tags=False)
    p.bucket("tagged", "eu-west-1")
    found = check(p.resources, policies=_only("data-tags-present"))
    assert [v.resource for v in found] == ["untagged", "untagged"]  # both tags named


def _failover(p: Plan, secondary: str) -> None:
    host = f"eu.api.{DOMAIN}"
    p.record("eu-primary", host, f"eu-west-1.api.{DOMAIN}", failoverRoutingPolicies=[{"type": "PRIMARY"}])
    p.record("eu-secondary", host, f"{secondary}.api.{DOMAIN}", failoverRoutingPolicies=[{"type": "SECONDARY"}])


def test_failover_to_another_jurisdiction_is_rejected():
    bad = Plan()
    _failover(bad, "us-east-1")
    assert _names(check(bad.resources, policies=_only("failover-in-jurisdiction")),
                  "failover-in-jurisdiction") == {"eu-secondary"}
    good = Plan()
    _failover(good, "eu-central-1")
    assert not check(good.resources, policies=_only("failover-in-jurisdiction"))


def test_failover_is_followed_through_intermediate_names():
    p = Plan()
    _failover(p, "eu-central-1")
    p.resources = [r for r in p.resources if r.name != "eu-secondary"]
    p.record("eu-secondary", f"eu.api.{DOMAIN}", f"backup.{DOMAIN}", failoverRoutingPolicies=[{"type": "SECONDARY"}])
    p.record("backup", f"backup.{DOMAIN}", f"ap-northeast-1.api.{DOMAIN}")
    assert _names(check(p.resources, policies=_only("failover-in-jurisdiction")),
                  "failover-in-jurisdiction") == {"eu-secondary"}


def test_geolocation_sending_a_country_abroad_or_a_default_record_is_rejected():
    p = Plan()
    p.record("de", f"api.{DOMAIN}", f"eu.api.{DOMAIN}", geolocationRoutingPolicies=[{"country": "DE"}])
    p.record("fr", f"api.{DOMAIN}", f"us.api.{DOMAIN}", geolocationRoutingPolicies=[{"country": "FR"}])
    p.record("anyone", f"api.{DOMAIN}", f"eu.api.{DOMAIN}", geolocationRoutingPolicies=[{"country": "*"}])
    p.record("eu-lat", f"eu.api.{DOMAIN}", f"eu-west-1.api.{DOMAIN}", latencyRoutingPolicies=[{"region": "eu-west-1"}])
    p.record("us-lat", f"us.api.{DOMAIN}", f"us-east-1.api.{DOMAIN}", latencyRoutingPolicies=[{"region": "us-east-1"}])
    assert _names(check(p.resources, policies=_only("geolocation-in-jurisdiction")),
                  "geolocation-in-jurisdiction") == {"fr", "anyone"}


def test_a_geolocation_target_that_resolves_nowhere_is_rejected():
    p = Plan()
    p.record("de", f"api.{DOMAIN}", f"nowhere.{DOMAIN}", geolocationRoutingPolicies=[{"country": "DE"}])
    found = check(p.resources, policies=_only("geolocation-in-jurisdiction"))
    assert [v.resource for v in found] == ["de"] and "unresolvable" in found[0].message


def test_plain_http_is_only_advisory():
    p = Plan()
    p.bucket("no-tls", "eu-west-1", tls=False)
    found = check(p.resources)
    assert [(v.policy, v.level) for v in found] == [("bucket-tls-only", "advisory")]


def test_duplicate_type_and_name_is_a_mandatory_violation():
    p = Plan()
    p.bucket("twice", "eu-west-1")
    p.bucket("twice", "eu-central-1")
    found = check(p.resources, policies=[])
    assert {v.policy for v in found} == {UNIQUE_NAMES}
    assert sorted(v.resource for v in found) == ["twice", "twice-pab", "twice-policy", "twice-sse"]
