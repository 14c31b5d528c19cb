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
