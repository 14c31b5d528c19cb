"""The runtime against a local HTTP stand-in for the Kubernetes API (controller.standin),
driven through the real `kubernetes` client. No kube-apiserver can run here."""
from __future__ import annotations

import pytest

from controller.law.types import Decision

from controller.kube import KubeAdapter
from controller.prices import PriceBook
from controller.reconcile import Reconciler
from controller.sources.base import MetricsUnavailable
from controller.standin import ApiStandIn, Fault
from controller.telemetry import Telemetry
from tests.test_controller_helpers import NS, FixedPolicy, StaticSource, api_client, scaler

SCALE = r"/deployments/llama-vllm/scale$"


@pytest.fixture
def api():
    with ApiStandIn() as stand_in:
        stand_in.add_deployment(NS, "llama-vllm", replicas=2)
        stand_in.add_node("gpu-1", {"node.kubernetes.io/instance-type": "g5.2xlarge",
                                    "topology.kubernetes.io/region": "us-east-1",
                                    "karpenter.sh/capacity-type": "spot"})
        stand_in.add_pod(NS, "llama-vllm-a", {"app": "llama-vllm"}, "gpu-1")
        stand_in.add_pod(NS, "llama-vllm-b", {"app": "llama-vllm"}, "gpu-1")
        stand_in.add_scaler(scaler())
        yield stand_in


def make(api, policy, *, source=None, dry_run=False, leader=lambda: True, write_timeout=(1.0, 1.0), deadline=4.0):
    kube = KubeAdapter(api_client(api.url), write_timeout=write_timeout, request_timeout=(1.0, 1.0),
                       deadline_s=deadline, write_guard=leader)
    return Reconciler(kube, source or StaticSource(), PriceBook(), lambda o, l: policy,
                      is_leader=leader, dry_run=dry_run, telemetry=Telemetry())


def replicas(api) -> int:
    return api.get("Deployment", NS, "llama-vllm")["spec"]["replicas"]


def status(api) -> dict:
    return api.get("InferenceScaler", NS, "llama")["status"]


def condition(api, type_) -> dict:
    return next(c for c in status(api)["conditions"] if c["type"] == type_)


def test_scale_patch_body_status_and_event(api):
    [out] = make(api, FixedPolicy(5)).sync()
    assert (out.result, out.current, out.desired) == ("scale_up", 2, 5)
    [patch] = api.requests_matching("PATCH", SCALE)
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body["spec"] == {"replicas": 5}
    assert patch.body["metadata"]["resourceVersion"]  # optimistic concurrency precondition
    assert replicas(api) == 5
    st = status(api)
    assert st["replicas"] == 5 and st["desiredReplicas"] == 5
    assert st["lastDecision"]["reason"] == "ScaledUp"
    assert condition(api, "Ready")["status"] == "True"
    assert st["observed"]["ttftMs"] == 400.0
    [event] = api.events("ScaledUp")
    assert event["involvedObject"]["kind"] == "InferenceScaler" and event["involvedObject"]["name"] == "llama"
    assert "from 2 to 5" in event["message"]


def test_observation_carries_node_prices_and_spot_count(api):
    policy = FixedPolicy(2)
    make(api, policy).sync()
    obs = policy.seen[0]
    assert obs.ready_replicas == 2 and obs.ready_spot == 2
    assert obs.price_spot_per_hour is not None and obs.price_spot_per_hour < obs.price_on_demand_per_hour
    assert obs.in_flight == 16.0
    # both replicas run on spot nodes: they cost the spot price, not the on-demand one
    assert status(api)["pricePerHour"] == pytest.approx(2 * obs.price_spot_per_hour, abs=1e-3)


class SpotPlanningPolicy(FixedPolicy):
    def decide(self, obs):
        self.seen.append(obs)
        return Decision(replicas=self.replicas, spot=2, reason="plans 2 on spot")


def test_planned_spot_that_is_never_scheduled_is_reported_once(api):
    """The runtime cannot move pods between capacity types; when the plan counts on spot and no
    replica runs on a spot node, the operator is told (Event once, and in every decision message)."""
    api.add_node("gpu-od", {"node.kubernetes.io/instance-type": "g5.2xlarge",
                            "topology.kubernetes.io/region": "us-east-1",
                            "karpenter.sh/capacity-type": "on-demand"})
    for pod in ("llama-vllm-a", "llama-vllm-b"):
        api.add_pod(NS, pod, {"app": "llama-vllm"}, "gpu-od")
    r = make(api, SpotPlanningPolicy(2))
    r.sync()
    r.sync()
    [event] = api.events("SpotNotScheduled")
    assert "no replica of llama-vllm runs on a spot node" in event["message"]
    assert "spot node" in status(api)["lastDecision"]["message"]
    assert replicas(api) == 2  # a warning only: scaling is unchanged


def test_planned_spot_on_spot_nodes_is_not_reported(api):
    make(api, SpotPlanningPolicy(2)).sync()  # the fixture's pods run on a spot node
    assert api.events("SpotNotScheduled") == []


def test_hold_writes_status_but_does_not_patch(api):
    [out] = make(api, FixedPolicy(2)).sync()
    assert out.result == "hold"
    assert not api.requests_matching("PATCH", SCALE)
    assert status(api)["lastDecision"]["reason"] == "Held"


def test_conflict_rereads_and_retries_once(api):
    api.faults.append(Fault("PATCH", SCALE, status=409))
    [out] = make(api, FixedPolicy(4)).sync()
    assert out.result == "scale_up" and replicas(api) == 4
    patches = api.requests_matching("PATCH", SCALE)
    assert [p.status for p in patches] == [409, 200]
    assert api.requests_matching("GET", SCALE)  # the re-read
    rereads = api.requests_matching("GET", SCALE)
    assert patches[1].body["metadata"]["resourceVersion"] != "" and len(rereads) == 1


def test_second_conflict_gives_up_without_scaling(api):
    api.faults.append(Fault("PATCH", SCALE, status=409, times=2))
    [out] = make(api, FixedPolicy(4)).sync()
    assert out.result == "error" and replicas(api) == 2
    assert len(api.requests_matching("PATCH", SCALE)) == 2


def test_conflict_from_another_writer_is_not_overridden(api):
    """A 409 because someone else (a human, an HPA) rescaled while we decided: our step was
    computed from the old size, so it is not applied; the next sync decides again."""
    class RivalPolicy(FixedPolicy):
        def decide(self, obs):
            dep = api.get("Deployment", NS, "llama-vllm")
            dep["spec"]["replicas"] = 9  # a new resourceVersion: our patch precondition fails
            api.put("Deployment", dep)
            return super().decide(obs)

    [out] = make(api, RivalPolicy(3)).sync()
    assert out.result == "error" and replicas(api) == 9
    assert [p.status for p in api.requests_matching("PATCH", SCALE)] == [409]
    assert "another writer" in api.events("FailedRescale")[0]["message"]
    assert condition(api, "ScalingActive")["reason"] == "FailedRescale"


def test_conflict_after_our_own_write_landed_sends_nothing_more(api):
    class LandedPolicy(FixedPolicy):
        def decide(self, obs):  # as if a timed-out first attempt had been applied
            dep = api.get("Deployment", NS, "llama-vllm")
            dep["spec"]["replicas"] = 3
            api.put("Deployment", dep)
            return super().decide(obs)

    [out] = make(api, LandedPolicy(3)).sync()
    assert out.result == "scale_up" and replicas(api) == 3
    assert [p.status for p in api.requests_matching("PATCH", SCALE)] == [409]


def test_server_errors_are_retried_within_the_deadline(api):
    api.faults.append(Fault("PATCH", SCALE, status=500, times=2))
    [out] = make(api, FixedPolicy(3)).sync()
    assert out.result == "scale_up" and replicas(api) == 3
    assert [p.status for p in api.requests_matching("PATCH", SCALE)] == [500, 500, 200]


def test_timeout_is_retried(api):
    api.faults.append(Fault("PATCH", SCALE, delay_s=1.5))  # longer than the 1 s read timeout
    [out] = make(api, FixedPolicy(3)).sync()
    assert out.result == "scale_up" and replicas(api) == 3
    assert len(api.requests_matching("PATCH", SCALE)) >= 2


def test_persistent_5xx_stops_at_the_deadline(api):
    api.faults.append(Fault("PATCH", SCALE, status=503, times=-1))
    [out] = make(api, FixedPolicy(3), deadline=1.0).sync()
    assert out.result == "error" and replicas(api) == 2
    n = len(api.requests_matching("PATCH", SCALE))
    assert 2 <= n < 20


def test_client_errors_are_never_retried(api):
    api.faults.append(Fault("PATCH", SCALE, status=403, times=-1))
    [out] = make(api, FixedPolicy(3)).sync()
    assert out.result == "error" and replicas(api) == 2
    assert len(api.requests_matching("PATCH", SCALE)) == 1
    # the operator is told: a Warning event and the condition, with the status code
    assert "HTTP 403" in api.events("FailedRescale")[0]["message"]
    active = condition(api, "ScalingActive")
    assert (active["status"], active["reason"]) == ("False", "FailedRescale")
    assert status(api)["replicas"] == 2 and status(api)["desiredReplicas"] == 3


def test_deleted_target_sets_condition_and_skips(api):
    api.delete("Deployment", NS, "llama-vllm")
    [out] = make(api, FixedPolicy(3)).sync()
    assert out.result == "target_missing"
    ready = condition(api, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "TargetNotFound")
    assert len(api.events("TargetNotFound")) == 1
    assert not api.requests_matching("PATCH", SCALE)
    make(api, FixedPolicy(3)).sync()  # again: condition unchanged, no second event
    assert len(api.events("TargetNotFound")) == 1


def test_target_deleted_between_read_and_patch(api):
    api.faults.append(Fault("PATCH", SCALE, status=404))
    [out] = make(api, FixedPolicy(3)).sync()
    assert out.result == "target_missing"
    assert condition(api, "Ready")["reason"] == "TargetNotFound"


def test_invalid_spec_sets_condition_with_the_reason(api):
    api.add_scaler(scaler(min_=5, max_=2))
    [out] = make(api, FixedPolicy(3)).sync()
    assert out.result == "invalid_spec"
    ready = condition(api, "Ready")
    assert ready["reason"] == "InvalidSpec" and "min 5 exceeds max 2" in ready["message"]
    assert not api.requests_matching("PATCH", SCALE)
    assert api.events("InvalidSpec")


def test_two_scalers_on_one_deployment_neither_acts(api):
    """Like the HPA's AmbiguousSelector: two scalers would undo each other's steps."""
    api.add_scaler(scaler(name="llama-2"))
    outs = make(api, FixedPolicy(5)).sync()
    assert [o.result for o in outs] == ["invalid_spec", "invalid_spec"]
    assert not api.requests_matching("PATCH", SCALE) and replicas(api) == 2
    ready = condition(api, "Ready")
    assert ready["reason"] == "AmbiguousTarget" and "llama, llama-2" in ready["message"]
    api.delete("InferenceScaler", NS, "llama-2")
    [out] = make(api, FixedPolicy(5)).sync()
    assert out.result == "scale_up" and replicas(api) == 5


def test_metrics_unavailable_holds_even_if_the_policy_would_scale_down(api):
    api.add_deployment(NS, "llama-vllm", replicas=6)
    policy = FixedPolicy(1)
    source = StaticSource(unavailable=MetricsUnavailable("QueryFailed", "connection refused"))
    [out] = make(api, policy, source=source).sync()
    assert out.result == "metrics_unavailable" and out.desired == 6 and replicas(api) == 6
    assert policy.seen == []  # the law is not asked to decide on no data
    cond = condition(api, "MetricsAvailable")
    assert (cond["status"], cond["reason"]) == ("False", "QueryFailed")
    assert condition(api, "ScalingActive")["status"] == "False"
    assert api.events("MetricsUnavailable")


@pytest.mark.parametrize("wanted, expect, reason", [(0, 1, "TooFewReplicas"), (-3, 1, "TooFewReplicas"),
                                                    (1000, 10, "TooManyReplicas")])
def test_runtime_clamps_whatever_the_policy_says(api, wanted, expect, reason):
    [out] = make(api, FixedPolicy(wanted)).sync()
    assert out.desired == expect and replicas(api) == expect
    assert condition(api, "ScalingLimited")["reason"] == reason


def test_step_limits_apply(api):
    api.add_scaler(scaler(behavior={"maxScaleUpStep": 2}))
    [out] = make(api, FixedPolicy(9)).sync()
    assert out.desired == 4 and condition(api, "ScalingLimited")["reason"] == "ScaleUpLimit"


def test_policy_exception_holds(api):
    [out] = make(api, FixedPolicy(5, error=ZeroDivisionError("boom"))).sync()
    assert out.desired == 2 and replicas(api) == 2


def test_dry_run_writes_status_and_events_but_never_scale(api):
    [out] = make(api, FixedPolicy(7), dry_run=True).sync()
    assert out.desired == 7
    assert not api.requests_matching("PATCH", SCALE) and replicas(api) == 2
    assert status(api)["desiredReplicas"] == 7 and status(api)["replicas"] == 2
    assert "would scale" in api.events("WouldScale")[0]["message"]
    make(api, FixedPolicy(7), dry_run=True).sync()  # same answer: no second Event every sync
    assert len(api.events("WouldScale")) == 1
    make(api, FixedPolicy(8), dry_run=True).sync()  # a new answer is told
    assert len(api.events("WouldScale")) == 2 and replicas(api) == 2


def test_non_leader_writes_nothing(api):
    rec = make(api, FixedPolicy(7), leader=lambda: False)
    assert rec.sync() == []
    assert not [r for r in api.requests if r.method in ("PATCH", "POST", "PUT")]


def test_lease_lost_mid_sync_stops_before_the_next_write(api):
    api.add_deployment(NS, "second-vllm", replicas=2)
    api.add_scaler(scaler(name="second", target="second-vllm"))
    state = {"calls": 0}

    def leader():  # leadership ends after the first object's writes have started
        state["calls"] += 1
        return state["calls"] <= 3

    rec = make(api, FixedPolicy(5), leader=leader)
    rec.sync()
    writes = [r for r in api.requests if r.method in ("PATCH", "POST")]
    assert all("/second" not in r.path for r in writes)
    # calls 1-3: loop check, scale patch, event; the status write after the loss is refused
    assert replicas(api) == 5
    assert not api.requests_matching("PATCH", r"/inferencescalers/llama/status$")


def test_api_down_for_list_raises_to_the_loop(api):
    api.faults.append(Fault("GET", r"/inferencescalers$", status=503, times=-1))
    with pytest.raises(Exception):
        make(api, FixedPolicy(5), deadline=0.5).sync()
    assert replicas(api) == 2


def test_spec_the_policy_cannot_serve_sets_a_condition(api):
    from controller.law.meridian import MeridianPolicy

    api.add_scaler(scaler(objective={"e2eMs": 5000}))  # the meridian law needs a TTFT objective
    kube = KubeAdapter(api_client(api.url), request_timeout=(1.0, 1.0), deadline_s=2.0)
    rec = Reconciler(kube, StaticSource(), PriceBook(), MeridianPolicy, telemetry=Telemetry())
    [out] = rec.sync()
    assert out.result == "invalid_spec"
    ready = condition(api, "Ready")
    assert ready["reason"] == "PolicyRejectedSpec" and "TTFT" in ready["message"]
    assert not api.requests_matching("PATCH", SCALE)


def test_the_meridian_law_through_the_runtime(api):
    from controller.law.meridian import MeridianPolicy

    kube = KubeAdapter(api_client(api.url), request_timeout=(1.0, 1.0), deadline_s=2.0)
    rec = Reconciler(kube, StaticSource(), PriceBook(), MeridianPolicy, telemetry=Telemetry())
    [out] = rec.sync()
    assert out.result in ("scale_up", "scale_down", "hold")
    assert 1 <= out.desired <= 10
    assert status(api)["lastDecision"]["message"]  # the law's reason, shown to the operator


def test_writes_end_before_a_successor_could_lead(api):
    # 0.1 s left before another instance could take the lease: no write is even attempted
    kube = KubeAdapter(api_client(api.url), deadline_s=2.0, write_budget=lambda: 0.1)
    rec = Reconciler(kube, StaticSource(), PriceBook(), lambda o, l: FixedPolicy(5), telemetry=Telemetry())
    [out] = rec.sync()
    assert out.result == "error" and replicas(api) == 2
    assert not [r for r in api.requests if r.method in ("PATCH", "POST")]
    # 1 s left: the request's timeouts are cut to half of it instead of the usual (2, 3) s
    kube = KubeAdapter(api_client(api.url), deadline_s=2.0, write_budget=lambda: 1.0)
    seen = []
    real = kube.apps.patch_namespaced_deployment_scale
    kube.apps.patch_namespaced_deployment_scale = lambda *a, **kw: (seen.append(kw["_request_timeout"]),
                                                                    real(*a, **kw))[1]
    assert kube.patch_scale(NS, "llama-vllm", 5, "") == 5
    assert seen == [(0.5, 0.5)]
