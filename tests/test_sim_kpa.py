"""KPA baseline: panic mode entry and exit (Knative `autoscaler.go` semantics)."""
from __future__ import annotations

from controller.law.types import Limits, Observation
from sim.policies.kpa import KPAPolicy


def obs(t: float, ready: int, concurrency: float) -> Observation:
    return Observation(time_s=t, ready_replicas=ready, starting_replicas=0, arrival_rate_rps=None,
                       ttft_quantile_s=None, e2e_quantile_s=None, in_flight=concurrency, queued=0.0,
                       price_on_demand_per_hour=1.0)


def feed(kpa: KPAPolicy, start: float, end: float, ready: int, concurrency: float):
    d, t = None, start
    while t < end:
        d = kpa.decide(obs(t, ready, concurrency))
        t += 2.0
    return d


def test_stable_mode_follows_the_stable_window():
    kpa = KPAPolicy(target=10, limits=Limits(max_replicas=1000))
    d = feed(kpa, 0, 120, ready=5, concurrency=50)
    assert d.replicas == 5 and not kpa.panicking


def test_below_panic_threshold_no_panic():
    kpa = KPAPolicy(target=10, limits=Limits(max_replicas=1000))
    feed(kpa, 0, 120, ready=5, concurrency=50)
    feed(kpa, 120, 130, ready=5, concurrency=90)  # panic-window demand 9 pods = 1.8x ready
    assert not kpa.panicking


def test_panic_entry_hold_and_exit():
    kpa = KPAPolicy(target=10, limits=Limits(max_replicas=1000))
    feed(kpa, 0, 120, ready=5, concurrency=50)
    d = feed(kpa, 120, 130, ready=5, concurrency=300)  # 30 pods wanted = 6x ready: panic
    assert kpa.panicking
    assert d.replicas == 30  # panic window drives it, not the slower stable window
    # Load falls back: while panicking, never scale down.
    d = feed(kpa, 130, 180, ready=30, concurrency=50)
    assert kpa.panicking and d.replicas == 30
    # A full stable window (60 s) after the last over-threshold tick, panic ends.
    d = feed(kpa, 180, 260, ready=30, concurrency=50)
    assert not kpa.panicking
    assert d.replicas < 30


def test_scale_down_limited_by_max_scale_down_rate():
    kpa = KPAPolicy(target=10, limits=Limits(max_replicas=1000))
    d = feed(kpa, 0, 120, ready=40, concurrency=10)  # wants 1 pod, may only halve per decision
    assert d.replicas == 20


def test_starts_in_panic_holding_the_warm_fleet_then_halves_at_most():
    # newAutoscaler: more than one ready pod at start -> panic mode holding that count, so the
    # empty windows of a fresh autoscaler do not scale a warm fleet down at once.
    kpa = KPAPolicy(target=10, limits=Limits(max_replicas=1000))
    assert kpa.decide(obs(1, ready=10, concurrency=10)).replicas == 10 and kpa.panicking
    assert feed(kpa, 3, 61, ready=10, concurrency=10).replicas == 10 and kpa.panicking
    d = feed(kpa, 63, 70, ready=10, concurrency=10)
    assert not kpa.panicking and d.replicas == 5  # max scale-down rate 2


def test_every_one_second_sample_counts_decisions_every_two_seconds():
    kpa = KPAPolicy(target=10, limits=Limits(max_replicas=1000))
    decisions = []
    for t in range(1, 121):  # 100 in-flight on even seconds, 0 on odd ones: the mean is 50
        decisions.append(kpa.decide(obs(t, ready=5, concurrency=100.0 if t % 2 == 0 else 0.0)))
    assert decisions[-1].replicas == 5  # 10 if only the tick seconds were sampled
    ticks = {id(d) for d in decisions}
    assert len(ticks) == 60  # one decision per 2 s tick, repeated in between
