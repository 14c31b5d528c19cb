"""HPA baseline against the worked examples in the Kubernetes documentation
("Horizontal Pod Autoscaling": algorithm details, stabilization window, scaling policies)."""
from __future__ import annotations

from controller.law.types import Limits, Observation
from sim.policies.hpa import Behavior, HPAPolicy, ScalingPolicy, raw_replicas


def obs(t: float, ready: int, in_flight: float, starting: int = 0) -> Observation:
    return Observation(time_s=t, ready_replicas=ready, starting_replicas=starting, arrival_rate_rps=None,
                       ttft_quantile_s=None, e2e_quantile_s=None, in_flight=in_flight, queued=0.0,
                       price_on_demand_per_hour=1.0)


def test_ratio_doubles_and_halves():
    # Docs: current 200m vs desired 100m doubles the replicas; 50m halves them.
    assert raw_replicas(current=4, usage_ratio=200 / 100, ready=4, missing=0, target=100) == 8
    assert raw_replicas(current=4, usage_ratio=50 / 100, ready=4, missing=0, target=100) == 2


def test_tolerance_skips_small_changes():
    assert raw_replicas(current=10, usage_ratio=1.08, ready=10, missing=0, target=1) == 10
    assert raw_replicas(current=10, usage_ratio=1.2, ready=10, missing=0, target=1) == 12


def test_missing_pods_are_conservative():
    # Scaling up: pods without metrics count as 0; if that flips the ratio below 1 (or into the
    # tolerance), no change.
    assert raw_replicas(current=4, usage_ratio=1.15, ready=2, missing=2, target=10) == 4
    # A clear overload still scales up, over all pods (ready + missing).
    assert raw_replicas(current=4, usage_ratio=3.0, ready=2, missing=2, target=10) == 6
    # Scaling down: missing pods count as using the target (docs: "100% of the desired
    # value"), so 2 ready pods at half the target with 2 missing give (1 + 2) / 4 -> 3 pods,
    # not the 1 pod the ready pods alone would say.
    assert raw_replicas(current=4, usage_ratio=0.5, ready=2, missing=2, target=10) == 3
    # ... and a ratio that becomes 1 within tolerance keeps the count.
    assert raw_replicas(current=4, usage_ratio=0.8, ready=2, missing=2, target=10) == 4


def test_default_scale_up_is_4_pods_or_100_percent_per_15s():
    hpa = HPAPolicy(target_per_pod=10, limits=Limits(max_replicas=100))
    seen = []
    replicas = 1
    for i in range(4):
        d = hpa.decide(obs(15.0 * (i + 1), ready=replicas, in_flight=200.0 * replicas))
        replicas = d.replicas
        seen.append(replicas)
    assert seen == [5, 10, 20, 40]  # max(+4 pods, +100 %) each period


def test_scale_down_waits_for_the_stabilization_window():
    hpa = HPAPolicy(target_per_pod=10, limits=Limits(max_replicas=100))
    assert hpa.decide(obs(15, ready=10, in_flight=100)).replicas == 10
    t, replicas = 15.0, 10
    while t < 15 + 300 - 15:
        t += 15
        replicas = hpa.decide(obs(t, ready=replicas, in_flight=20)).replicas
        assert replicas == 10, t  # the highest recommendation in the last 300 s is still 10
    later = hpa.decide(obs(15 + 300 + 15, ready=10, in_flight=20))
    assert later.replicas == 2


def test_scale_down_policies_example_from_the_docs():
    # Docs: Pods 4 / 60 s and Percent 10 / 60 s; 80 replicas scaled towards 10 lose 8, then 8
    # (72 * 10 % = 7.2 rounds to 8), and below 40 replicas 4 at a time.
    behavior = Behavior(down_window_s=0.0, down_policies=(ScalingPolicy("Pods", 4, 60),
                                                          ScalingPolicy("Percent", 10, 60)))
    hpa = HPAPolicy(target_per_pod=10, limits=Limits(max_replicas=100), behavior=behavior)
    hpa.spec_replicas = 80
    seq = [80]
    for i in range(1, 30):
        seq.append(hpa.decide(obs(60.0 * i, ready=seq[-1], in_flight=100)).replicas)
        if seq[-1] == 10:
            break
    assert seq[:3] == [80, 72, 64]
    below = [b - a for a, b in zip(seq, seq[1:]) if a <= 40 and b > 10]
    assert below and all(step <= -4 for step in below)
    assert seq[-1] == 10


def test_no_metrics_keeps_replicas():
    hpa = HPAPolicy(target_per_pod=10, limits=Limits())
    o = Observation(time_s=15, ready_replicas=6, starting_replicas=0, arrival_rate_rps=None, ttft_quantile_s=None,
                    e2e_quantile_s=None, in_flight=None, queued=None, price_on_demand_per_hour=1.0)
    d = hpa.decide(o)
    assert d.replicas == 6 and not d.metrics_available
