"""Observation.revision: a fingerprint of what the replicas run (the Deployments' pod
templates), so the law can tell a new model from more of the same. Driven through the real
`kubernetes` client against the API stand-in (controller.standin), plus the pure pieces."""
from __future__ import annotations

import re

import pytest

from controller.kube import RESTARTED_AT, TargetState, template_fingerprint
from controller.standin import ApiStandIn
from controller.targets import Targets
from tests.test_controller_helpers import NS, FixedPolicy, scaler
from tests.test_controller_kube import make
from tests.test_controller_spot_split import OD, SPOT, SplitPolicy, split_scaler

TEMPLATE = {"metadata": {"labels": {"app": OD}},
            "spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai:v0.6.0",
                                     "args": ["--model", "meta-llama/Llama-3-8B"]}],
                     "nodeSelector": {"node.kubernetes.io/instance-type": "g5.2xlarge"}}}


@pytest.fixture
def api():
    with ApiStandIn() as stand_in:
        stand_in.add_deployment(NS, OD, replicas=2)
        stand_in.add_scaler(scaler())
        yield stand_in


def seen_revisions(api, policy, *changes) -> list[str | None]:
    """Sync once, then once after each change; the revision the policy saw at each sync."""
    reconciler = make(api, policy)
    reconciler.sync()
    for change in changes:
        change()
        reconciler.sync()
    return [obs.revision for obs in policy.seen]


def container(image="vllm/vllm-openai", args=None) -> dict:
    """A template patch replacing the server container (a merge patch replaces lists whole)."""
    server = {"name": "server", "image": image} | ({"args": args} if args else {})
    return {"spec": {"containers": [server]}}


def restarted(at: str) -> dict:
    return {"metadata": {"annotations": {RESTARTED_AT: at}}}


# -- through the client --------------------------------------------------------------------
def test_the_revision_holds_across_syncs_and_our_own_scaling(api):
    policy = FixedPolicy(5)
    first, second = seen_revisions(api, policy, lambda: None)
    assert policy.seen[1].ready_replicas == 5  # the first sync scaled 2 → 5 in between
    assert re.fullmatch(r"[0-9a-f]{12}", first) and second == first


@pytest.mark.parametrize("patch", [container(image="vllm/vllm-openai:v0.7.0"),
                                   container(args=["--model", "Qwen/Qwen2.5-7B"])],
                         ids=["image", "args"])
def test_a_new_container_is_a_new_revision(api, patch):
    before, after = seen_revisions(api, FixedPolicy(2), lambda: api.patch_pod_template(NS, OD, patch))
    assert before and after and after != before


def test_a_rollout_restart_is_not_a_new_revision(api):
    revisions = seen_revisions(api, FixedPolicy(2),
                               lambda: api.patch_pod_template(NS, OD, restarted("2026-12-03T10:00:00Z")),
                               lambda: api.patch_pod_template(NS, OD, restarted("2026-12-03T11:30:00Z")))
    assert revisions[0] and revisions == [revisions[0]] * 3


def test_a_rollout_of_the_spot_twin_is_a_new_revision(api):
    api.add_deployment(NS, SPOT, replicas=0)
    api.add_scaler(split_scaler())
    first, second, third = seen_revisions(api, SplitPolicy(4, spot=2), lambda: None,
                                          lambda: api.patch_pod_template(NS, SPOT, container(image="vllm:v2")))
    assert second == first  # both Deployments scaled by the first sync: still the same model
    (od_before, spot_before), (od_after, spot_after) = first.split("+"), third.split("+")
    assert od_after == od_before and spot_after != spot_before


# -- the pure pieces -----------------------------------------------------------------------
def test_fingerprint_ignores_key_order():
    reordered = {"spec": dict(reversed(TEMPLATE["spec"].items())), "metadata": TEMPLATE["metadata"]}
    assert list(reordered) != list(TEMPLATE)
    assert template_fingerprint(reordered) == template_fingerprint(TEMPLATE)


def test_fingerprint_ignores_only_the_restart_annotation():
    restart = restarted("2026-12-03T10:00:00Z")["metadata"]
    other = {"annotations": {"prometheus.io/scrape": "true"}}
    assert template_fingerprint({**TEMPLATE, "metadata": {**TEMPLATE["metadata"], **restart}}) == \
        template_fingerprint(TEMPLATE)
    assert template_fingerprint({**TEMPLATE, "metadata": {**TEMPLATE["metadata"], **other}}) != \
        template_fingerprint(TEMPLATE)


def test_fingerprint_sees_an_image_change():
    server = {**TEMPLATE["spec"]["containers"][0], "image": "vllm/vllm-openai:v0.7.0"}
    new_image = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "containers": [server]}}
    assert re.fullmatch(r"[0-9a-f]{12}", template_fingerprint(TEMPLATE))
    assert template_fingerprint(new_image) != template_fingerprint(TEMPLATE)


def test_no_template_has_no_fingerprint():
    assert template_fingerprint(None) == template_fingerprint({}) == ""


def target(template_hash: str, name: str = OD) -> TargetState:
    return TargetState(name, replicas=2, ready=2, current=2, resource_version="1", template_hash=template_hash)


@pytest.mark.parametrize("targets, revision", [
    (Targets(target("abc123def456")), "abc123def456"),
    (Targets(target("abc123def456"), target("0123456789ab", SPOT)), "abc123def456+0123456789ab"),
    (Targets(target("")), None),
    (Targets(target("abc123def456"), target("", SPOT)), None),
], ids=["one", "with-spot", "unknown", "spot-unknown"])
def test_targets_revision(targets, revision):
    assert targets.revision == revision


# -- rollouts under way ----------------------------------------------------------------------
def test_a_rollout_under_way_is_no_revision_until_every_pod_runs_the_new_template(api):
    """While old and new pods serve side by side the fleet is neither model: the policy is told
    nothing new (None keeps what it learnt) until the rollout is done, so it relearns from a
    fleet that runs the new model only."""
    policy = FixedPolicy(2)
    first, during, after = seen_revisions(api, policy,
                                          lambda: api.roll_out(NS, OD, container(image="vllm:v2")),
                                          lambda: api.finish_rollout(NS, OD))
    assert re.fullmatch(r"[0-9a-f]{12}", first)
    assert during is None
    assert after and after != first


def test_our_own_scaling_after_a_rollout_keeps_the_revision(api):
    policy = FixedPolicy(5)  # the first sync after the rollout scales 2 -> 5
    revisions = seen_revisions(api, policy, lambda: (api.roll_out(NS, OD, container(image="vllm:v2")),
                                                     api.finish_rollout(NS, OD)), lambda: None)
    assert revisions[1] and revisions[2] == revisions[1] != revisions[0]


def deployment(generation=2, observed=2, replicas=3, updated=3, current=3) -> dict:
    status = {"replicas": current}
    if observed is not None:
        status["observedGeneration"] = observed
    if updated:
        status["updatedReplicas"] = updated
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas}, "status": status}


@pytest.mark.parametrize("dep, rolling", [
    (deployment(), False),
    (deployment(observed=1), True),  # the new spec not yet observed
    (deployment(updated=1), True),  # one of three pods on the new template
    (deployment(updated=None), True),  # none yet: the API omits a zero count
    (deployment(current=4), True),  # an old pod still running beside three new ones
    (deployment(observed=None, updated=None), False),  # no Deployment controller wrote it
    (deployment(replicas=0, updated=None, current=0), False),  # scaled to zero, nothing to roll
], ids=["done", "unobserved", "partial", "none-updated", "old-pod-left", "no-controller", "zero"])
def test_rollout_in_progress(dep, rolling):
    from controller.kube import rollout_in_progress
    assert rollout_in_progress(dep) is rolling
