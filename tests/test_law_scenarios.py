"""Scenario tests of the meridian law in the small fleet model of `test_law_minifleet`.

The fleet model stands in for the digital twin: one pooled queue over batch slots,
cold starts, Prometheus-like trailing-window metrics. The same scenarios against the
twin itself live in `test_law_twin.py`.
"""
from __future__ import annotations

from controller.law.meridian import MeridianPolicy
from controller.law.types import Limits, Objective
from tests.test_law_minifleet import FleetParams, MiniFleet, run

OBJ = Objective(95.0, 1.0)
P = FleetParams()  # 16 slots, 8 s service at an empty batch (12 s at a full one), 120 s cold start


def full_batch_service_s() -> float:
    return P.service_s * (1 + P.slowdown)


def test_step_from_10_to_100_percent_is_absorbed_within_cold_start_plus_one_interval():
    low, high, step_at = 4.0, 40.0, 1800.0
    policy = MeridianPolicy(OBJ, Limits(max_replicas=300))
    result = run(policy, lambda t: low if t < step_at else high, 2700.0, P, start_replicas=4, seed=3)
    absorbed_by = step_at + P.cold_start_s + policy.interval_s
    need = high * full_batch_service_s() / P.slots  # replicas whose slots hold the full load
    ready_then = _ready_at(result, absorbed_by)
    assert ready_then >= need, f"{ready_then} ready at {absorbed_by:.0f} s, {need:.1f} needed"
    # and the objective holds again once the backlog of the cold start has drained
    late = [d for t, d in result.decisions if t >= absorbed_by + P.cold_start_s]
    assert late and all(d.replicas >= need for d in late)


def _ready_at(result, t: float) -> int:
    # replicas ordered at least one cold start before t are ready at t
    ordered = [d.replicas for when, d in result.decisions if when <= t - P.cold_start_s]
    return ordered[-1] if ordered else 0


def test_spot_reclaim_of_half_the_replicas_is_covered_by_on_demand_within_one_interval():
    policy = MeridianPolicy(OBJ, Limits(max_replicas=300, spot_share=1.0))
    fleet_box = {}

    def reclaim(fleet: MiniFleet) -> None:
        fleet_box["lost"] = fleet.reclaim_spot(0.5)
        fleet_box["at"] = fleet.t

    result = run(policy, lambda t: 20.0, 2400.0, P, start_replicas=22, seed=5, events={1800.0: reclaim})
    before = [d for t, d in result.decisions if t < fleet_box["at"]][-1]
    after = [d for t, d in result.decisions if t >= fleet_box["at"]][0]
    when = [t for t, d in result.decisions if t >= fleet_box["at"]][0]
    assert fleet_box["lost"] >= 5
    assert when - fleet_box["at"] <= policy.interval_s
    assert after.on_demand >= before.on_demand + fleet_box["lost"]
    assert after.spot == before.spot  # the spot target stays; on-demand covers the gap
    assert "on-demand covering spot" in after.reason


def test_five_minute_metrics_blackout_causes_no_scale_down():
    policy = MeridianPolicy(OBJ, Limits(max_replicas=300))
    start, end = 1800.0, 2100.0

    def blackout(fleet: MiniFleet) -> None:
        fleet.blackout = (start, end)

    # load falls sharply during the blackout: a law reading zeros would scale down
    result = run(policy, lambda t: 20.0 if t < start else 2.0, 2100.0, P, start_replicas=22, seed=9,
                 events={start: blackout})
    before = [d for t, d in result.decisions if t < start][-1]
    during = [d for t, d in result.decisions if start <= t < end]
    assert len(during) >= 19
    assert all(d.replicas >= before.replicas for d in during)
    assert all(not d.metrics_available for d in during[1:])
    assert all("stale" in d.reason or "unusable" in d.reason for d in during[1:])


def test_steady_load_meets_the_objective_without_flapping():
    policy = MeridianPolicy(OBJ, Limits(max_replicas=300))
    result = run(policy, lambda t: 20.0, 3600.0, P, start_replicas=22, seed=11)
    assert result.attainment >= 0.99
    sizes = [d.replicas for t, d in result.decisions if t > 1200]
    reversals = sum(1 for a, b, c in zip(sizes, sizes[1:], sizes[2:]) if (b - a) * (c - b) < 0)
    assert reversals <= 6  # one an ~8 minutes at most over 40 minutes
    assert max(sizes) <= 1.6 * (20.0 * full_batch_service_s() / P.slots)


# -- spot capacity that never comes -------------------------------------------------------
SPOT_SHARE = 0.5


def _no_spot(lands_on_demand: bool):
    def event(fleet: MiniFleet) -> None:
        fleet.set_spot_available(False, lands_on_demand=lands_on_demand)
    return event


def _late(result, after_s: float) -> list:
    return [d for t, d in result.decisions if t >= after_s]


def test_spot_that_never_becomes_ready_is_replaced_by_on_demand_not_covered_for_good():
    """No spot capacity in the region: the law must end up paying for what the load needs,
    not for the on-demand need plus a standing cover of the missing spot share."""
    duration, seed = 5400.0, 5
    od_only = run(MeridianPolicy(OBJ, Limits(max_replicas=300)), lambda t: 20.0, duration, P,
                  start_replicas=16, seed=seed)
    od_late = [d.replicas for d in _late(od_only, 60.0 + 5 * P.cold_start_s)]
    reference = max(od_late)
    for lands_on_demand in (False, True):  # twin-like two pools / one in-cluster Deployment
        policy = MeridianPolicy(OBJ, Limits(max_replicas=300, spot_share=SPOT_SHARE))
        result = run(policy, lambda t: 20.0, duration, P, start_replicas=16, seed=seed,
                     events={0.0: _no_spot(lands_on_demand)})
        # within 5 cold starts of the first spot order (60 s) the total is the on-demand
        # need; later only a one-replica spot probe rides on top of it now and then
        late = _late(result, 60.0 + 5 * P.cold_start_s)
        totals = [d.replicas for d in late]
        assert max(totals) <= reference + 1, (lands_on_demand, max(totals), reference)
        assert sum(totals) / len(totals) <= sum(od_late) / len(od_late) + 1
        assert sum(d.spot for d in late) <= len(late) * 1  # at most the probe on spot
        probing = [d for d in late if d.spot]
        assert 0 < len(probing) < 0.5 * len(late)  # spot is retried, with backoff
        assert all("spot short" in d.reason for d in late if not d.spot)
        assert result.attainment >= 0.99
        if lands_on_demand:  # every replica is billed on demand: cost near the on-demand-only law's
            assert result.cost <= 1.1 * od_only.cost, (result.cost, od_only.cost)


def test_spot_that_returns_is_used_again_without_a_capacity_gap():
    back_at, duration = 2400.0, 7200.0
    need = 20.0 * full_batch_service_s() / P.slots
    policy = MeridianPolicy(OBJ, Limits(max_replicas=300, spot_share=SPOT_SHARE))

    def spot_back(fleet: MiniFleet) -> None:
        fleet.set_spot_available(True)

    result = run(policy, lambda t: 20.0, duration, P, start_replicas=16, seed=5,
                 events={0.0: _no_spot(False), back_at: spot_back})
    given_up = _late(result, 60.0 + 5 * P.cold_start_s)
    assert any(d.spot == 0 and "spot short" in d.reason for d in given_up)
    # the longest retry backoff (30 min) plus a probe and a move, each a cold start
    settled = _late(result, back_at + policy.settings.spot_retry_max_s + 3 * P.cold_start_s)
    assert settled and all(d.spot == int(d.replicas * SPOT_SHARE) for d in settled)
    assert any("spot available again" in d.reason for t, d in result.decisions if t >= back_at)
    # make before break: ready capacity never falls below the need while moving back
    assert min(n for t, n in result.ready if t >= back_at) >= need
    assert result.attainment >= 0.99
