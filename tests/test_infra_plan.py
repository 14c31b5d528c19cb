"""The Pulumi program on the example stacks, under Pulumi's own mock runtime.

Each stack is planned once per module (the program run is the slow part). The mocks only
make up outputs (ids, ARNs, endpoints); every input checked here is what the program sent.
Expectations are derived from the topology and the region catalog, not from the program.
"""
from __future__ import annotations

import collections
import functools
import json
import math
from pathlib import Path

import pytest

from infra.offline.plan import plan_stack
from infra.policy.dns import record_targets, resolve_regions
from infra.policy.policies import jurisdiction_of_region
from regions.jurisdictions import load_jurisdictions

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "eu-only")
CLUSTER, NODE_GROUP = "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup"
BUCKET, RECORD = "aws:s3/bucket:Bucket", "aws:route53/record:Record"


@functools.lru_cache(maxsize=None)
def _plan(stack: str):
    return plan_stack(ROOT / f"Pulumi.{stack}.yaml")


@pytest.fixture(params=STACKS)
def plan(request):
    return _plan(request.param)


@pytest.fixture
def dev():
    return _plan("dev")


def _regions(plan):
    return {rr.region: (code, rr.role, j.dr.strategy)
            for code, j in plan.topology.jurisdictions.items() for rr in j.regions}


def test_example_stacks_pass_every_policy_and_names_are_unique(plan):
    assert plan.resources and not plan.mandatory, plan.mandatory
    keys = collections.Counter((r.type, r.name) for r in plan.resources)
    assert [k for k, n in keys.items() if n > 1] == []


def test_every_region_gets_a_cluster_with_pinned_version_encrypted_secrets_and_private_endpoint(plan):
    for region in _regions(plan):
        clusters = plan.of_type(CLUSTER, region)
        assert len(clusters) == 1, region
        c = clusters[0].inputs
        assert c["version"] == "1.33"
        assert c["encryptionConfig"]["resources"] == ["secrets"] and c["encryptionConfig"]["provider"]["keyArn"]
        assert c["vpcConfig"]["endpointPrivateAccess"] is True and c["vpcConfig"]["endpointPublicAccess"] is False
        assert {"api", "audit", "authenticator"} <= set(c["enabledClusterLogTypes"])


def test_node_groups_have_the_workloads_instance_types_and_capacity_types(plan):
    for region, (code, role, strategy) in _regions(plan).items():
        workloads = [w for w in plan.topology.workloads if code in w.jurisdictions]
        expected = {("m6i.large", "ON_DEMAND")}
        expected |= {(w.instance_type, "ON_DEMAND") for w in workloads}
        expected |= {(w.instance_type, "SPOT") for w in workloads if w.spot_share > 0}
        groups = plan.of_type(NODE_GROUP, region)
        got = [(g.inputs["instanceTypes"][0], g.inputs["capacityType"]) for g in groups]
        assert sorted(got) == sorted(expected), region
        for g in groups:
            labels = g.inputs.get("labels") or {}
            if g.inputs["capacityType"] == "SPOT" or labels.get("meridian.dev/pool") == "gpu":
                want = "spot" if g.inputs["capacityType"] == "SPOT" else "on-demand"
                assert labels["meridian.dev/capacity-type"] == want
                assert g.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
                assert g.inputs["amiType"] == "AL2023_x86_64_NVIDIA"


def test_gpu_capacity_follows_the_dr_strategy(dev):
    """Pilot-light standby: zero GPU nodes; warm standby: the workload minimum; serving: minimum."""
    chat = dev.topology.workloads[0]
    for region, (_, role, strategy) in _regions(dev).items():
        on_demand = [g for g in dev.of_type(NODE_GROUP, region)
                     if (g.inputs.get("labels") or {}).get("meridian.dev/capacity-type") == "on-demand"]
        spot = [g for g in dev.of_type(NODE_GROUP, region) if g.inputs["capacityType"] == "SPOT"]
        lo = 0 if (strategy, role) == ("pilot-light", "standby") else chat.replicas.min
        assert [g.inputs["scalingConfig"]["minSize"] for g in on_demand] == [lo], region
        assert [g.inputs["scalingConfig"]["desiredSize"] for g in on_demand] == [lo], region
        assert [g.inputs["scalingConfig"]["maxSize"] for g in on_demand] == [chat.replicas.max]
        assert [(g.inputs["scalingConfig"]["minSize"], g.inputs["scalingConfig"]["maxSize"]) for g in spot] == \
            [(0, math.ceil(chat.replicas.max * chat.spot_share))]
    assert ("pilot-light", "standby") in {(s, r) for _, r, s in _regions(dev).values()}


def test_every_region_gets_a_private_encrypted_tagged_bucket_per_data_class(plan):
    for region, (code, _, _) in _regions(plan).items():
        classes = {c for w in plan.topology.workloads if code in w.jurisdictions for c in w.data_classes}
        buckets = plan.of_type(BUCKET, region)
        assert {b.inputs["tags"]["meridian.dev/data-class"] for b in buckets} == classes
        assert {b.inputs["tags"]["meridian.dev/jurisdiction"] for b in buckets} == {code}
        names = {b.inputs["bucket"] for b in buckets}
        for typ in ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                    "aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketPolicy:BucketPolicy"):
            assert {r.inputs["bucket"] for r in plan.of_type(typ, region)} == names, (region, typ)


def test_every_cluster_runs_the_controller_from_the_controller_package(plan):
    from controller.manifests import render

    expected = sorted((o["kind"], o["metadata"]["name"]) for o in render())
    for region in _regions(plan):
        installed = sorted((r.inputs.get("kind"), r.inputs["metadata"]["name"]) for r in plan.resources
                           if r.type.startswith("kubernetes:") and r.region == region
                           and r.parent.endswith("-controller"))
        assert installed == expected, region
        deploy = next(r for r in plan.resources if r.type == "kubernetes:apps/v1:Deployment" and r.region == region)
        args = deploy.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--price-region") + 1] == region and "--price-refresh" in args  # uses its IRSA role
        assert "--prometheus-url" not in args  # none configured: each scaler names its own
        sa = next(r for r in plan.resources if r.type == "kubernetes:core/v1:ServiceAccount" and r.region == region)
        role = sa.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert role.startswith("arn:aws:iam::") and region in role


def test_controller_role_is_least_privilege_and_trusts_only_its_service_account(plan):
    policies = [json.loads(r.inputs["policy"]) for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")
                if r.name.endswith("-controller-policy")]
    assert len(policies) == len(_regions(plan))
    for p in policies:
        actions = {a for s in p["Statement"] for a in s["Action"]}
        assert actions == {"pricing:GetProducts", "ec2:DescribeSpotPriceHistory"}
    trusts = [json.loads(r.inputs["assumeRolePolicy"]) for r in plan.of_type("aws:iam/role:Role")
              if r.name.endswith("-controller-role")]
    for t in trusts:
        cond = t["Statement"][0]["Condition"]["StringEquals"]
        assert "system:serviceaccount:meridian-system:meridian-controller" in cond.values()


def test_every_cluster_is_gpu_ready_and_elastic(plan):
    """Device plugin tolerating the GPU taint; Cluster Autoscaler scoped to its own cluster."""
    for region in _regions(plan):
        cluster = plan.of_type(CLUSTER, region)[0].inputs["name"]
        releases = {r.inputs["chart"]: r.inputs for r in plan.of_type("kubernetes:helm.sh/v3:Release", region)}
        assert set(releases) == {"nvidia-device-plugin", "cluster-autoscaler"}
        plugin = releases["nvidia-device-plugin"]["values"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in plugin["tolerations"]
        ca = releases["cluster-autoscaler"]["values"]
        assert ca["autoDiscovery"]["clusterName"] == cluster and ca["awsRegion"] == region
        role = ca["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert region in role
        policy = next(json.loads(r.inputs["policy"]) for r in plan.of_type("aws:iam/rolePolicy:RolePolicy", region)
                      if r.name.endswith("-autoscaler-policy"))
        scale = next(s for s in policy["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"])
        assert scale["Condition"]["StringEquals"] == {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}


def test_creation_order_that_aws_and_kubernetes_require(plan):
    """Replication waits for versioning on both buckets; in-cluster installs wait for nodes."""
    by_urn = {r.urn: r for r in plan.resources}

    def deps(r):
        return {(by_urn[u].type, by_urn[u].name) for u in r.dependencies if u in by_urn}

    versioning = "aws:s3/bucketVersioning:BucketVersioning"
    for rep in plan.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
        buckets = {rep.inputs["bucket"], *[x["destination"]["bucket"].split(":::")[1] for x in rep.inputs["rules"]]}
        versioned = {by_urn[u].inputs["bucket"] for u in rep.dependencies if by_urn.get(u) and by_urn[u].type == versioning}
        assert buckets <= versioned, rep.name
    for p in plan.of_type("pulumi:providers:kubernetes"):
        assert (NODE_GROUP, f"{p.region}-cluster-system") in deps(p)
    block = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
    for policy in plan.of_type("aws:s3/bucketPolicy:BucketPolicy"):  # S3 refuses the two at once
        assert (block, policy.name) in deps(policy)


def test_personal_data_never_replicates_or_is_backed_up_across_a_jurisdiction(plan):
    buckets = {b.inputs["bucket"]: b for b in plan.of_type(BUCKET)}
    moved = 0
    for rep in plan.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
        source = buckets[rep.inputs["bucket"]]
        for rule in rep.inputs["rules"]:
            dest = buckets[rule["destination"]["bucket"].split(":::")[1]]
            assert jurisdiction_of_region(dest.region) == jurisdiction_of_region(source.region)
            assert dest.inputs["tags"]["meridian.dev/data-class"] == source.inputs["tags"]["meridian.dev/data-class"]
            moved += 1
    assert moved > 0


def test_active_active_jurisdictions_share_sessions_through_a_global_table_of_their_actives(plan):
    tables = {(t.region, tuple(sorted(r["regionName"] for r in t.inputs["replicas"])))
              for t in plan.of_type("aws:dynamodb/table:Table")}
    expected = set()
    for code, j in plan.topology.jurisdictions.items():
        if j.dr.strategy == "active-active":
            expected.add((j.serving[0], tuple(sorted(j.serving[1:]))))
    assert tables == expected


def test_failover_records_stay_inside_the_jurisdiction_and_health_checks_are_fast(plan):
    failovers = [r for r in plan.of_type(RECORD) if r.inputs.get("failoverRoutingPolicies")]
    assert failovers
    by_name, view = collections.defaultdict(set), plan.as_policy_resources()
    for r in failovers:
        for t in record_targets(r.inputs):
            by_name[r.inputs["name"]] |= {jurisdiction_of_region(x) for x in resolve_regions(t, view)}
    assert all(len(js) == 1 and None not in js for js in by_name.values()), by_name
    checks = plan.of_type("aws:route53/healthCheck:HealthCheck")
    assert checks and {c.inputs["requestInterval"] for c in checks} == {10}


def test_eu_geolocation_records_resolve_only_to_eu_regions(plan):
    eu = set(load_jurisdictions()["eu"].countries)
    eu_regions = {r for r, (code, _, _) in _regions(plan).items() if code == "eu"}
    geo = [r for r in plan.of_type(RECORD) if (r.inputs.get("geolocationRoutingPolicies") or [{}])[0].get("country") in eu]
    assert {r.inputs["geolocationRoutingPolicies"][0]["country"] for r in geo} == eu
    reached, view = set(), plan.as_policy_resources()
    for r in geo:
        reached |= {x for t in record_targets(r.inputs) for x in resolve_regions(t, view)}
    assert reached == eu_regions  # every eu region reachable, nothing else, no dead end


def test_edge_does_not_cache_the_inference_api_and_origin_groups_stay_in_their_jurisdiction(plan):
    dist = plan.of_type("aws:cloudfront/distribution:Distribution")
    assert len(dist) == 1
    d = dist[0].inputs
    api = [b for b in d["orderedCacheBehaviors"] if b["pathPattern"].endswith("/v1/*")]
    assert {b["pathPattern"] for b in api} == {f"/{j}/v1/*" for j in plan.topology.jurisdictions}
    assert {b["cachePolicyId"] for b in api} == {"4135ea2d-6df8-44a3-9df3-4b5a84be39ad"}  # CachingDisabled
    for group in d.get("originGroups") or []:
        members = {jurisdiction_of_region(m["originId"]) for m in group["members"]}
        assert members == {group["originId"].removeprefix("group-")}
    used = {b["targetOriginId"] for b in d["orderedCacheBehaviors"]} | {d["defaultCacheBehavior"]["targetOriginId"]}
    used |= {m["originId"] for g in d.get("originGroups") or [] for m in g["members"]}
    assert {o["originId"] for o in d["origins"]} == used - {g["originId"] for g in d.get("originGroups") or []}


def test_outputs_name_clusters_buckets_node_groups_and_domains(plan):
    regions = plan.outputs["regions"]
    assert set(regions) == set(_regions(plan))
    for region, out in regions.items():
        cluster = plan.of_type(CLUSTER, region)[0]
        assert out["clusterName"] == cluster.inputs["name"] and out["clusterEndpoint"].startswith("https://")
        assert sorted(out["nodeGroupNames"]) == sorted(g.inputs["nodeGroupName"]
                                                       for g in plan.of_type(NODE_GROUP, region))
        assert sorted(out["bucketNames"].values()) == sorted(b.inputs["bucket"] for b in plan.of_type(BUCKET, region))
    domain = plan.topology.domain
    assert plan.outputs["domainNames"]["api"] == f"api.{domain}"
    assert {k for k in plan.outputs["domainNames"]} == {"api", "edge", *plan.topology.jurisdictions}


ALL_STRATEGIES = {"config": {"aws:region": "us-east-1", "meridian:topology": {
    "domain": "all.example.com",
    "jurisdictions": {
        "eu": {"regions": [{"region": "eu-west-1", "role": "primary"}, {"region": "eu-north-1", "role": "standby"},
                           {"region": "eu-central-1", "role": "standby"}],
               "dr": {"strategy": "pilot-light", "rto_seconds": 1800, "rpo_seconds": 900}},
        "us": {"regions": [{"region": "us-east-2", "role": "active"}, {"region": "us-west-2", "role": "active"}],
               "dr": {"strategy": "active-active", "rto_seconds": 120, "rpo_seconds": 5}},
        "jp": {"regions": [{"region": "ap-northeast-1", "role": "primary"},
                           {"region": "ap-northeast-3", "role": "standby"}],
               "dr": {"strategy": "backup-restore", "rto_seconds": 14400, "rpo_seconds": 3600}}},
    "workloads": [{"name": "chat", "instance_type": "g6.xlarge", "data_classes": ["personal", "model"],
                   "jurisdictions": ["eu", "us", "jp"], "slo": {"percentile": 95, "ttft_ms": 900},
                   "replicas": {"min": 2, "max": 8}, "spot_share": 0.5}]}}}


@functools.lru_cache(maxsize=None)
def _preview_all():
    from infra.__main__ import main
    from infra.offline.runner import run_offline

    return run_offline(main, "all", ALL_STRATEGIES["config"], preview=True)


def _failover_answer(records, name: str, down: set[str]) -> str:
    """Which region Route 53 answers for `name` when the regions in `down` fail their health
    checks: a failover set answers its PRIMARY if healthy, else its SECONDARY; a record without a
    health check counts as healthy and its CNAME is followed (within this zone)."""
    from infra.policy.dns import region_in_host

    pair = {r.inputs["failoverRoutingPolicies"][0]["type"]: r for r in records if r.inputs["name"] == name}
    assert set(pair) == {"PRIMARY", "SECONDARY"}, name
    primary = region_in_host(pair["PRIMARY"].inputs["records"][0])
    assert primary and pair["PRIMARY"].inputs.get("healthCheckId"), "a PRIMARY must be a health-checked region"
    if primary not in down:
        return primary
    target = pair["SECONDARY"].inputs["records"][0]
    region = region_in_host(target)
    if region:
        assert pair["SECONDARY"].inputs.get("healthCheckId")
        return region
    assert "healthCheckId" not in pair["SECONDARY"].inputs  # a link in the chain is always "healthy"
    return _failover_answer(records, target, down)


def test_failover_chains_through_every_standby_in_order_inside_the_jurisdiction():
    """Two pilot-light standbys: both get a cluster, so both must be reachable by DNS."""
    records = [r for r in _preview_all().resources if r.type == RECORD and r.inputs.get("failoverRoutingPolicies")]
    host = "eu.api.all.example.com"
    assert _failover_answer(records, host, set()) == "eu-west-1"
    assert _failover_answer(records, host, {"eu-west-1"}) == "eu-north-1"
    assert _failover_answer(records, host, {"eu-west-1", "eu-north-1"}) == "eu-central-1"
    checks = {r.inputs["fqdn"] for r in _preview_all().resources if r.type == "aws:route53/healthCheck:HealthCheck"}
    assert {f"{x}.api.all.example.com" for x in ("eu-west-1", "eu-north-1", "eu-central-1")} <= checks
    (dist,) = [r.inputs for r in _preview_all().resources if r.type == "aws:cloudfront/distribution:Distribution"]
    assert "eu-central-1" not in {o["originId"] for o in dist["origins"]}  # an origin group takes two members


def test_each_strategy_deploys_the_mechanism_and_numbers_the_validator_promises():
    """regions.dr builds the RTO/RPO floors from these numbers; the estate must use the same."""
    from regions import dr

    res = _preview_all().resources
    of = lambda typ: [r for r in res if r.type == typ]  # noqa: E731
    checks = of("aws:route53/healthCheck:HealthCheck")
    assert {(c.inputs["requestInterval"], c.inputs["failureThreshold"]) for c in checks} == \
        {(dr.HEALTH_CHECK_INTERVAL_S, dr.HEALTH_CHECK_FAILURE_THRESHOLD)}
    routed = [r for r in of(RECORD) if r.inputs.get("failoverRoutingPolicies") or r.inputs.get("latencyRoutingPolicies")]
    assert routed and {r.inputs["ttl"] for r in routed} == {dr.DNS_TTL_S}
    # pilot-light (eu): continuous S3 replication with RTC at the SLA bound, to every standby
    reps = [r for r in of("aws:s3/bucketReplicationConfig:BucketReplicationConfig") if r.region == "eu-west-1"]
    rules = [rule for r in reps for rule in r.inputs["rules"]]
    assert {rule["destination"]["replicationTime"]["time"]["minutes"] * 60 for rule in rules} == {dr.S3_RTC_BOUND_S}
    assert {rule["id"] for rule in rules} == {"to-eu-north-1", "to-eu-central-1"}
    # backup-restore (jp): hourly backups that start within the hour, copied to the standby
    plans = [p for p in of("aws:backup/plan:Plan") if p.region == "ap-northeast-1"]
    assert plans
    for plan_ in plans:
        (rule,) = plan_.inputs["rules"]
        assert rule["schedule"] == "cron(0 * ? * * *)" and rule["startWindow"] * 60 <= dr.BACKUP_INTERVAL_S
        assert [c["destinationVaultArn"].split(":")[3] for c in rule["copyActions"]] == ["ap-northeast-3"]
    # active-active (us): session state in a global table across the actives
    tables = of("aws:dynamodb/table:Table")
    assert [(t.region, [x["regionName"] for x in t.inputs["replicas"]]) for t in tables] == [("us-east-2", ["us-west-2"])]


def test_under_preview_every_value_the_residency_policies_read_is_already_known(tmp_path):
    """`pulumi preview` of a new stack knows no ARN or id yet. The policies must still decide:
    regions, tags, bucket names, replication and backup targets, DNS names are all known."""
    import yaml

    from infra.offline.plan import check, policy_config
    from infra.offline.runner import UNKNOWN
    from regions.validate import load_stack

    path = tmp_path / "Pulumi.all.yaml"
    path.write_text(yaml.safe_dump(ALL_STRATEGIES))
    run = _preview_all()
    assert any(UNKNOWN in json.dumps(r.inputs) for r in run.resources)  # it really was a preview
    read = {  # type -> the inputs the residency policies read
        "pulumi:providers:aws": lambda i: [i["region"]],
        BUCKET: lambda i: [i["bucket"], *i["tags"].values()],
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig":
            lambda i: [i["bucket"], *[r["destination"]["bucket"] for r in i["rules"]]],
        "aws:backup/plan:Plan": lambda i: [*i["tags"].values(), *[c["destinationVaultArn"] for r in i["rules"]
                                                                   for c in r["copyActions"]]],
        "aws:dynamodb/table:Table": lambda i: [*i["tags"].values(), *[r["regionName"] for r in i["replicas"]]],
        RECORD: lambda i: [i["name"], *i.get("records", [])],
    }
    seen = collections.Counter()
    for r in run.resources:
        if r.name == "edge-cert-validation":  # ACM's DNS proof: named by ACM, routes no user
            continue
        if r.type in read:
            assert UNKNOWN not in read[r.type](r.inputs), (r.type, r.name)
            seen[r.type] += 1
    assert set(seen) == set(read)
    # Every policy runs (none "can't run during preview", which the engine reports only as
    # advisory, so a MANDATORY policy would silently not gate) and none is violated.
    assert check(run.resources, policy_config(load_stack(path))) == []
