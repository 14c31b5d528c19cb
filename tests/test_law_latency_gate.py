"""The measured TTFT percentile gates scale-down: a fleet whose latency has used over half the
planning margin is not oversized, whatever the capacity model says."""
from __future__ import annotations

from controller.law.meridian import MeridianPolicy
from controller.law.types import Limits, Objective
from tests.test_law_properties import healthy


def run(ttft: float) -> list:
    """10 replicas carry a load queue-free for 5 minutes (24 in flight each, inside the 32
    slots); then the load falls to a quarter for 20 minutes, at a given measured TTFT."""
    policy = MeridianPolicy(Objective(percentile=95, ttft_s=1.0), Limits(min_replicas=1, max_replicas=60))
    for i in range(20):
        policy.decide(healthy(15.0 * i, ready=10, rate=30.0, service=8.0, ttft=0.5))
    return [policy.decide(healthy(300.0 + 15.0 * i, ready=10, rate=7.5, service=8.0, ttft=ttft)) for i in range(80)]


def test_oversized_fleet_with_latency_slack_scales_down():
    decisions = run(ttft=0.5)
    assert decisions[-1].replicas < 10
    assert any("scale down" in d.reason for d in decisions)


def test_fleet_at_the_latency_edge_does_not_scale_down():
    decisions = run(ttft=0.95)  # above 1 - (1 - 0.8) / 2 = 0.9 of the 1 s objective
    assert all(d.replicas >= 10 for d in decisions)
    assert any("planning margin: no scale-down" in d.reason for d in decisions)


def test_long_prompt_floor_near_the_objective_does_not_ratchet():
    """A service whose prompt mix alone reads 0.93 s at any load (objective 1 s) has room the
    load does not use: the gate sits half-way between that floor and the objective, so the
    fleet still shrinks when the load falls (a fixed 0.9 s gate would hold it for ever)."""
    policy = MeridianPolicy(Objective(percentile=95, ttft_s=1.0), Limits(min_replicas=1, max_replicas=60))
    for i in range(20):
        policy.decide(healthy(15.0 * i, ready=10, rate=30.0, service=8.0, ttft=0.93))
    decisions = [policy.decide(healthy(300.0 + 15.0 * i, ready=10, rate=7.5, service=8.0, ttft=0.93))
                 for i in range(80)]
    assert decisions[-1].replicas < 10
