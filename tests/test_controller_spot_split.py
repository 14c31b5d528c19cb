"""The spot split: with `spec.targetRef.spotName` the runtime scales two Deployments, the
policy's spot share on the spot one and the rest on the target, all or nothing. Driven
through the real `kubernetes` client against the API stand-in (controller.standin)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from controller.law.types import Decision, Observation
from controller.sources.base import MetricsUnavailable
from controller.standin import ApiStandIn, Fault
from tests.test_controller_helpers import NS, FixedPolicy, StaticSource, scaler
from tests.test_controller_kube import make

OD, SPOT = "llama-vllm", "llama-vllm-spot"
OD_SCALE, SPOT_SCALE = rf"/deployments/{OD}/scale$", rf"/deployments/{SPOT}/scale$"
G5 = {"node.kubernetes.io/instance-type": "g5.2xlarge", "topology.kubernetes.io/region": "us-east-1"}


def split_scaler(**extra) -> dict:
    extra.setdefault("cost", {"spotShare": 0.5})
    return scaler(targetRef={"name": OD, "spotName": SPOT}, **extra)


@pytest.fixture
def api():
    with ApiStandIn() as stand_in:
        stand_in.add_deployment(NS, OD, replicas=4)
        stand_in.add_deployment(NS, SPOT, replicas=0)
        stand_in.add_node("gpu-od", dict(G5, **{"karpenter.sh/capacity-type": "on-demand"}))
        stand_in.add_node("gpu-spot", dict(G5, **{"karpenter.sh/capacity-type": "spot"}))
        for i in range(4):
            stand_in.add_pod(NS, f"{OD}-{i}", {"app": OD}, "gpu-od")
        stand_in.add_scaler(split_scaler())
        yield stand_in


@dataclass
class SplitPolicy(FixedPolicy):
    """Asks for `replicas` in all, `spot` of them on spot; records what it saw."""

    spot: int = 0

    def decide(self, obs: Observation) -> Decision:
        self.seen.append(obs)
        return Decision(replicas=self.replicas, spot=self.spot, reason=f"wants {self.replicas}, {self.spot} on spot")


def replicas(api, name: str) -> int:
    return api.get("Deployment", NS, name)["spec"]["replicas"]


def status(api) -> dict:
    return api.get("InferenceScaler", NS, "llama")["status"]


def scale_patches(api) -> list[str]:
    """Which Deployments' scale was patched, in order."""
    return [r.path.split("/")[-2] for r in api.requests_matching("PATCH", r"/scale$")]


def test_the_split_is_applied_to_both_deployments(api):
    policy = SplitPolicy(6, spot=3)
    [out] = make(api, policy).sync()
    assert (out.result, out.current, out.desired) == ("scale_up", 4, 6)
    assert (replicas(api, OD), replicas(api, SPOT)) == (3, 3)
    assert scale_patches(api) == [SPOT, OD]  # growth first: the fleet never dips below both sizes
    for patch in api.requests_matching("PATCH", r"/scale$"):
        assert patch.content_type == "application/merge-patch+json" and patch.body["metadata"]["resourceVersion"]
    st = status(api)
    assert (st["replicas"], st["desiredReplicas"], st["spotReplicas"]) == (6, 6, 3)
    assert st["lastDecision"]["spotReplicas"] == 3
    obs = policy.seen[0]  # the spot Deployment is priced at the spot price whatever its nodes say
    assert st["pricePerHour"] == pytest.approx(3 * obs.price_on_demand_per_hour + 3 * obs.price_spot_per_hour,
                                               abs=1e-3)
    [event] = api.events("ScaledUp")
    assert f"{OD} from 4 to 3 and {SPOT} from 0 to 3" in event["message"]


def test_a_new_mix_at_the_same_size_moves_replicas_onto_spot(api):
    [out] = make(api, SplitPolicy(4, spot=2)).sync()
    assert out.result == "rebalance" and (replicas(api, OD), replicas(api, SPOT)) == (2, 2)
    assert f"scaled {OD} from 4 to 2 and {SPOT} from 0 to 2" in api.events("Rebalanced")[0]["message"]
    assert status(api)["lastDecision"]["reason"] == "Rebalanced"  # not "Held": the split moved


def test_spot_deployment_counts_reach_the_policy(api):
    api.add_deployment(NS, SPOT, replicas=3, ready=1)
    api.set_deployment_status(NS, OD, replicas=4, ready=3)
    policy = SplitPolicy(7, spot=3)
    make(api, policy).sync()
    obs = policy.seen[0]
    assert (obs.ready_replicas, obs.starting_replicas) == (4, 3)  # both Deployments
    assert (obs.ready_spot, obs.starting_spot) == (1, 2)  # the spot Deployment's own
    assert obs.price_spot_per_hour < obs.price_on_demand_per_hour


def test_a_failed_second_patch_reverts_the_first(api):
    api.faults.append(Fault("PATCH", OD_SCALE, status=403))  # a 4xx: not retried
    [out] = make(api, SplitPolicy(6, spot=3)).sync()
    assert out.result == "error"
    assert (replicas(api, OD), replicas(api, SPOT)) == (4, 0)
    assert scale_patches(api) == [SPOT, OD, SPOT]  # spot grown, on-demand refused, spot put back
    [event] = api.events("FailedRescale")
    assert f"could not scale {OD} from 4 to 3: HTTP 403" in event["message"]
    assert f"reverted {SPOT} to 0" in event["message"]
    st = status(api)
    assert (st["replicas"], st["spotReplicas"]) == (4, 0)
    active = next(c for c in st["conditions"] if c["type"] == "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedRescale")
    assert active["message"].startswith(f"{OD}: HTTP 403") and "reverted" in active["message"]


def test_revert_leaves_a_size_another_writer_set(api):
    def someone_rescales(ns, name, n):  # right after our spot patch lands, a person sets 7
        if name == SPOT and n == 3:
            api.objects[("Deployment", ns, name)]["spec"]["replicas"] = 7

    api.on_scale = someone_rescales
    api.faults.append(Fault("PATCH", OD_SCALE, status=403))
    [out] = make(api, SplitPolicy(6, spot=3)).sync()
    assert out.result == "error" and replicas(api, SPOT) == 7
    assert scale_patches(api) == [SPOT, OD]  # no revert patch over the other writer's size
    assert f"left {SPOT} at 7 (changed by another writer)" in api.events("FailedRescale")[0]["message"]


def test_a_missing_spot_deployment_names_its_field(api):
    api.delete("Deployment", NS, SPOT)
    [out] = make(api, SplitPolicy(6, spot=3)).sync()
    assert out.result == "target_missing" and scale_patches(api) == []
    ready = next(c for c in status(api)["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "TargetNotFound" and "fix spec.targetRef.spotName" in ready["message"]


def test_without_spot_name_one_deployment_is_scaled_as_before(api):
    api.add_scaler(scaler(cost={"spotShare": 0.5}))
    [out] = make(api, SplitPolicy(6, spot=3)).sync()
    assert (out.result, out.desired) == ("scale_up", 6)
    assert (replicas(api, OD), replicas(api, SPOT)) == (6, 0)
    assert not [r for r in api.requests if f"/deployments/{SPOT}" in r.path]  # never even read
    assert status(api)["spotReplicas"] == 3  # the plan, as before: one Deployment cannot enforce it
    assert "spotReplicas" not in status(api)["lastDecision"]


def test_dry_run_patches_nothing_and_tells_each_plan_once(api):
    make(api, SplitPolicy(6, spot=3), dry_run=True).sync()
    assert scale_patches(api) == [] and (replicas(api, OD), replicas(api, SPOT)) == (4, 0)
    assert f"would scale {OD} from 4 to 3 and {SPOT} from 0 to 3" in api.events("WouldScale")[0]["message"]
    st = status(api)
    assert (st["desiredReplicas"], st["spotReplicas"], st["lastDecision"]["spotReplicas"]) == (6, 0, 3)
    make(api, SplitPolicy(6, spot=3), dry_run=True).sync()
    assert len(api.events("WouldScale")) == 1
    make(api, SplitPolicy(6, spot=2), dry_run=True).sync()  # same total, another split: a new plan
    assert len(api.events("WouldScale")) == 2 and scale_patches(api) == []


@pytest.mark.parametrize("minimum, expect", [(1, (4, 2)), (8, (6, 2))])
def test_missing_metrics_hold_both_deployments(api, minimum, expect):
    """Only replicas.min may raise a held fleet, and the raise goes on demand."""
    api.add_deployment(NS, SPOT, replicas=2)
    api.add_scaler(split_scaler(min_=minimum))
    source = StaticSource(unavailable=MetricsUnavailable("QueryFailed", "connection refused"))
    policy = SplitPolicy(1, spot=0)
    [out] = make(api, policy, source=source).sync()
    assert out.result == "metrics_unavailable" and policy.seen == []
    assert (replicas(api, OD), replicas(api, SPOT)) == expect
    assert SPOT not in scale_patches(api)
    assert status(api)["spotReplicas"] == 2


def test_spot_never_exceeds_the_safe_total(api):
    [out] = make(api, SplitPolicy(40, spot=30)).sync()  # replicas.max is 10
    assert out.desired == 10
    assert (replicas(api, OD), replicas(api, SPOT)) == (0, 10)
    assert status(api)["spotReplicas"] == 10


def test_a_spot_deployment_another_scaler_targets_is_ambiguous(api):
    api.add_deployment(NS, "other-vllm", replicas=2)
    api.add_scaler(scaler(name="other", target=SPOT))
    outs = make(api, SplitPolicy(6, spot=3)).sync()
    assert [o.result for o in outs] == ["invalid_spec", "invalid_spec"]
    assert scale_patches(api) == []
    ready = next(c for c in status(api)["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "AmbiguousTarget" and f"llama, other all target Deployment {SPOT}" in ready["message"]
