"""Unit tests of the control law's parts: queueing, estimators, forecast, stabiliser, mix."""
from __future__ import annotations

import math
import re

import pytest

from controller.law.capacity import CapacityEstimator, Sample
from controller.law.coldstart import ColdStartLearner
from controller.law.cost import MixPlanner
from controller.law.forecast import RateForecaster
from controller.law.meridian import MeridianPolicy
from controller.law.online import ForgettingLine, RelearningEwma
from controller.law.queueing import erlang_b, erlang_c, replicas_for_wait, wait_quantile, wait_tail
from controller.law.settings import LawSettings
from controller.law.stabilise import Stabiliser
from controller.law.types import Limits, Objective, Observation


def _exact_erlang_b(c: int, a: float) -> float:
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


# -- queueing ------------------------------------------------------------------------------
def test_erlang_c_textbook_value():
    # 2 erlangs on 3 servers: C = 4/9 (e.g. Kleinrock vol. 1, M/M/c worked example)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9, rel=1e-9)


@pytest.mark.parametrize("c,a", [(65, 55.0), (100, 90.0), (500, 470.0), (3000, 2900.0), (200, 150.0)])
def test_large_server_erlang_b_matches_exact_recursion(c, a):
    assert erlang_b(c, a) == pytest.approx(_exact_erlang_b(c, a), rel=0.02)


def test_unstable_queue_always_waits():
    assert erlang_c(10, 10.0) == 1.0
    assert wait_tail(10, 12.0, 5.0, 1.0) == 1.0
    assert math.isinf(wait_quantile(10, 12.0, 5.0, 0.05))


def test_wait_quantile_inverts_wait_tail():
    q = wait_quantile(40, 32.0, 8.0, 0.01)
    assert q > 0
    assert wait_tail(40, 32.0, 8.0, q) == pytest.approx(0.01, rel=1e-6)


def test_replicas_for_wait_is_smallest_meeting_the_tail():
    n, wait = replicas_for_wait(20.0, 10.0, 16.0, 0.5, 0.025, 1, 1000)
    assert wait_tail(int(n * 16), 200.0, 10.0, 0.5) <= 0.025
    assert wait_tail(int((n - 1) * 16), 200.0, 10.0, 0.5) > 0.025
    assert wait <= 0.5


def test_square_root_staffing_runs_large_fleets_hotter():
    """Sizing from the waiting tail, not a utilisation target: utilisation grows with scale."""
    small, _ = replicas_for_wait(2.0, 10.0, 8.0, 0.2, 0.025, 1, 10_000)
    large, _ = replicas_for_wait(200.0, 10.0, 8.0, 0.2, 0.025, 1, 10_000)
    assert 20.0 / (small * 8) < 2000.0 / (large * 8)


# -- online estimators -----------------------------------------------------------------------
def test_relearning_ewma_restarts_after_sustained_shift_not_single_outlier():
    e = RelearningEwma(alpha=0.1, shift=0.3, patience=3)
    for _ in range(20):
        e.update(10.0)
    e.update(30.0)
    assert e.value < 13.0
    e.update(10.0)
    for _ in range(3):
        e.update(20.0)
    assert e.value == pytest.approx(20.0)
    assert e.relearned == 1


def test_forgetting_line_finds_a_real_slope_and_ignores_noise():
    line = ForgettingLine(0.98, min_spread=0.01, patience=0)
    for i in range(40):
        x = 1.0 + (i % 8)
        line.add(x, 2.0 + 0.5 * x + (0.01 if i % 2 else -0.01))
    assert line.slope() == pytest.approx(0.5, rel=0.05)
    noise = ForgettingLine(0.98, min_spread=0.01, patience=0)
    ys = [1.0, 1.4, 0.7, 1.2, 0.8, 1.3, 0.9, 1.1, 0.6, 1.5]
    for i, y in enumerate(ys):
        noise.add(1.0 + (i * 7 % 10) / 10, y)
    assert noise.slope() == 0.0  # not significant


def test_capacity_learns_slots_from_a_queue_and_service_from_littles_law():
    s = LawSettings()
    est = CapacityEstimator(1.0, s)
    for i in range(10):  # calm: 4 replicas, 20 req/s, 8 s per request -> 160 in flight
        est.update(Sample(i * 15.0, 4, 20.0, 160.0, 0.0, 0.4))
    view = est.view()
    assert view.slots is None
    assert view.service_s == pytest.approx(8.0, rel=0.01)
    assert view.safe_concurrency == pytest.approx(40.0)
    assert view.concurrency_cap == pytest.approx(40.0 * s.probe_growth)
    est.update(Sample(150.0, 4, 30.0, 192.0, 25.0, 2.0))  # every slot busy, 25 waiting
    assert est.view().slots == pytest.approx(48.0)


def _learnt_slots() -> CapacityEstimator:
    """4 replicas at 20 req/s, 8 s a request, then a queue showing 48 slots each."""
    est = CapacityEstimator(1.0, LawSettings())
    for i in range(10):
        est.update(Sample(i * 15.0, 4, 20.0, 160.0 + (30.0 if i % 2 else -30.0), 0.0, 0.4))
    est.update(Sample(150.0, 4, 30.0, 192.0, 25.0, 2.0))
    return est


def test_a_new_model_forgets_the_batch_but_not_the_traffic():
    est = _learnt_slots()
    before = est.view()
    assert before.slots == pytest.approx(48.0) and before.safe_mean_concurrency is not None
    est.new_model()
    view = est.view()
    assert view.slots is None and view.safe_mean_concurrency is None
    assert view.safe_concurrency == pytest.approx(48.0)  # the probe starts at the old batch
    assert view.limited_by == "probe"
    # the service fit restarts (an old one's error would read as burstiness), the old slot time
    # its floor until the new fit has a rate window; the first token relearns a shift by
    # forgetting, and the burstiness is the traffic's: both kept
    assert view.service_s == pytest.approx(before.service_s, rel=0.05) and view.first_token_s is not None
    assert est.service.weight == 0
    for i in range(8):  # a rate window of calm looks at a faster model: 4 s a request
        est.update(Sample(300.0 + i * 15.0, 4, 20.0, 80.0, 0.0, 0.4))
    assert est.view().service_s == pytest.approx(4.0, rel=0.05)
    assert view.peakedness == pytest.approx(before.peakedness) and view.peakedness > 1.0


def _probe_after_new_model(levels: list[float], ttft: float = 0.4) -> float:
    """The probe bound after one calm rate window (4 looks) per level of in-flight per replica."""
    est = _learnt_slots()
    est.new_model()  # probe at 48
    looks = [20.0] * 4 + [level for level in levels for _ in range(4)]  # the queue's window drains first
    for i, per_replica in enumerate(looks):  # 10 replicas, no queue
        est.update(Sample(200.0 + i * 15.0, 10, 30.0, 10 * per_replica, 0.0, ttft))
    return est.view().safe_concurrency


def test_after_a_new_model_the_probe_steps_up_a_window_at_a_time():
    g = LawSettings().probe_growth
    assert _probe_after_new_model([46.0]) == pytest.approx(48.0 * g)  # within a step of the bound
    # each further step needs a window within a step of the new bound
    assert _probe_after_new_model([46.0, 46.0]) == pytest.approx(48.0 * g)
    assert _probe_after_new_model([46.0, 50.0, 55.0]) == pytest.approx(48.0 * g ** 3)
    # replicas far below the bound: nothing is learnt about the level above it
    assert _probe_after_new_model([20.0, 20.0]) == pytest.approx(48.0)
    # the first token beyond the planning margin: this level costs latency, no step
    assert _probe_after_new_model([46.0, 46.0], ttft=0.9) == pytest.approx(48.0)


def test_the_probe_does_not_step_in_time_without_a_new_model():
    est = CapacityEstimator(1.0, LawSettings())
    for i in range(12):
        est.update(Sample(i * 15.0, 10, 30.0, 10 * 46.0, 0.0, 0.4))
    assert est.view().safe_concurrency == pytest.approx(46.0)


def test_peakedness_counts_bursts_that_queue():
    """A burst that outruns the slots shows as waiting requests; the burstiness estimate
    must see it (an estimate learnt only from queue-free looks never does)."""
    def learn(burst_waiting: float) -> float:
        est = CapacityEstimator(1.0, LawSettings())
        for i in range(40):  # 4 replicas, 5 req/s x 8 s = 40 in flight, Poisson-like
            est.update(Sample(i * 15.0, 4, 5.0, 40.0 + (3.0 if i % 2 else -3.0), 0.0, 0.4))
        calm = est.view().peakedness
        # a clump: every slot of the 4 x 32 taken and more waiting
        est.update(Sample(600.0, 4, 5.0, 128.0, burst_waiting, 3.0))
        return calm, est.view().peakedness

    calm, after_small = learn(0.0)
    _, after_clump = learn(500.0)
    assert calm < 1.5  # Poisson-like spread
    assert after_clump > after_small > calm
    assert after_clump > 20.0  # (128 + 500 - 40)^2 / 40 in a ~50-sample memory


def test_cold_start_learnt_from_replica_counts():
    c = ColdStartLearner(prior_s=300.0)
    assert c.estimate_s() == 300.0
    c.update(0.0, 4, 0)
    c.update(15.0, 4, 3)  # three ordered between t=0 and t=15
    c.update(30.0, 4, 3)
    c.update(135.0, 7, 0)  # all ready by t=135
    assert c.samples == 3
    assert c.estimate_s() == pytest.approx(135.0)


# -- forecast ----------------------------------------------------------------------------------
def test_forecast_holds_recent_peak_and_extrapolates_a_sustained_trend():
    f = RateForecaster(15.0, 2.0)
    for i in range(20):
        f.update(i * 15.0, 100.0 if i == 12 else 50.0)
    fc = f.forecast(horizon_s=180.0)
    assert fc.basis == "peak-hold" and fc.rate_rps == 100.0
    g = RateForecaster(15.0, 2.0)
    for i in range(20):
        g.update(i * 15.0, 50.0 + i)  # +1 req/s every 15 s
    fc = g.forecast(horizon_s=180.0)
    assert fc.basis == "trend"
    assert fc.rate_rps == pytest.approx(69.0 + (180.0 + 15.0) / 15.0, rel=0.02)


def _bursting() -> RateForecaster:
    f = RateForecaster(15.0, 2.0)
    for i in range(12):
        f.update(i * 15.0, 50.0 + (1.0 if i % 2 else -1.0))
    f.update(180.0, 80.0)  # +30 req/s in one interval of a 60 s trailing window
    return f


def test_forecast_extrapolates_a_burst_the_fleet_cannot_absorb():
    fc = _bursting().forecast(horizon_s=180.0, overloaded=True)
    assert fc.burst and fc.basis == "burst"
    # the window has seen 15 of 60 s of the step: 45 s more of +2 req/s per second
    assert fc.rate_rps == pytest.approx(80.0 + 2.0 * 45.0, rel=0.05)


def test_forecast_does_not_extrapolate_a_spike_the_fleet_absorbs():
    fc = _bursting().forecast(horizon_s=180.0, overloaded=False)
    assert fc.burst and fc.basis != "burst"
    assert fc.rate_rps == pytest.approx(80.0)


# -- stabiliser ----------------------------------------------------------------------------------
def test_stabiliser_fast_up_slow_bounded_down():
    st = Stabiliser(window_s=300.0, max_down_share=0.1, step=0.05, max_band=0.25)
    assert st.apply(0.0, 10, 20).replicas == 20
    assert st.apply(15.0, 20, 5).replicas == 20  # inside the window: hold
    out = st.apply(330.0, 20, 5)  # window has passed: down, but by at most 10 %
    assert out.replicas == 18 and "limited" in out.note


def test_stabiliser_widens_band_after_flapping():
    st = Stabiliser(window_s=60.0, max_down_share=0.5, step=0.05, max_band=0.25)
    st.apply(0.0, 20, 20)
    assert st.apply(61.0, 20, 18).replicas == 18  # a scale-down...
    st.apply(75.0, 18, 20)  # ...reversed within the window
    assert st.band == pytest.approx(0.05)


# -- cost mix --------------------------------------------------------------------------------------
def _obs(**kw) -> Observation:
    base = dict(time_s=0.0, ready_replicas=10, starting_replicas=0, arrival_rate_rps=10.0,
                ttft_quantile_s=0.5, e2e_quantile_s=None, in_flight=50.0, queued=0.0,
                price_on_demand_per_hour=4.0, price_spot_per_hour=1.5)
    base.update(kw)
    return Observation(**base)


def test_mix_covers_reclaimed_spot_with_on_demand():
    planner = MixPlanner()
    limits = Limits(max_replicas=100, spot_share=0.5)
    first = planner.plan(_obs(time_s=0.0, ready_spot=5), 10, limits, cold_start_s=200.0, floor=1)
    assert (first.replicas, first.spot, first.fallback) == (10, 5, 0)
    # well after the spot replicas became ready, half of them are reclaimed
    later = planner.plan(_obs(time_s=600.0, ready_replicas=8, ready_spot=3), 10, limits, 200.0, 1)
    assert later.spot == 5 and later.fallback == 2 and later.replicas == 12


def test_mix_does_not_cover_spot_it_just_ordered():
    planner = MixPlanner()
    limits = Limits(max_replicas=100, spot_share=0.5)
    planner.plan(_obs(time_s=0.0, ready_spot=5), 10, limits, 200.0, 1)
    grow = planner.plan(_obs(time_s=15.0, ready_spot=5, starting_spot=5), 20, limits, 200.0, 1)
    assert grow.spot == 10 and grow.fallback == 0


def test_mix_respects_budget_and_says_so():
    planner = MixPlanner()
    limits = Limits(max_replicas=100, budget_per_hour=20.0)
    mix = planner.plan(_obs(), 10, limits, 200.0, 1)
    assert mix.budget_limited and mix.replicas == 5  # 5 x 4 USD/h
    assert "budget" in mix.note


def test_growth_quantile_learns_how_far_the_rate_rises_within_a_horizon():
    from controller.law.forecast import GrowthQuantile

    g = GrowthQuantile(q=0.9, min_samples=10)
    assert g.ratio() == 1.0  # nothing learnt yet: no headroom
    for i in range(400):  # every 10th sample a spike to twice the level
        g.update(i * 15.0, 100.0 if i % 10 == 0 else 50.0, horizon_s=60.0)
    # most samples see the next spike within 60 s (4 samples): the 0.9 quantile is 2x
    assert g.ratio() == 2.0
    smooth = GrowthQuantile(q=0.9, min_samples=10)
    for i in range(400):
        smooth.update(i * 15.0, 50.0, horizon_s=60.0)
    assert smooth.ratio() == 1.0


def test_mix_keeps_running_on_demand_until_replacing_spot_is_ready():
    planner = MixPlanner()
    limits = Limits(max_replicas=100, spot_share=1.0)
    # a warm fleet of 10 on-demand replicas, moved onto spot: on-demand stays meanwhile
    first = planner.plan(_obs(time_s=0.0, ready_spot=0), 10, limits, 200.0, 1)
    assert first.spot == 10 and first.replicas == 20 and first.fallback == 10
    half = planner.plan(_obs(time_s=120.0, ready_replicas=15, ready_spot=5, starting_replicas=15,
                             starting_spot=5), 10, limits, 200.0, 1)
    assert half.fallback == 5  # released as spot comes up


def test_growth_quantile_is_not_inflated_by_dips_back_to_the_usual_level():
    from controller.law.forecast import GrowthQuantile

    # a steady 50 req/s with a one-sample dip to 5 every 10th sample: the rate never
    # rises above its usual level, so there is no surge to provision for (measured from
    # the dip itself, the climb back would look like a 10x surge)
    g = GrowthQuantile(q=0.95, min_samples=10)
    for i in range(400):
        g.update(i * 15.0, 5.0 if i % 10 == 0 else 50.0, horizon_s=60.0)
    assert g.ratio() * g.base(50.0) <= 1.5 * 50.0  # from the dip: 10x
    assert g.base(5.0) > 40.0  # just after a dip the base is the recent level, not the dip


def test_trend_is_extrapolated_no_further_than_the_history_behind_it():
    f = RateForecaster(15.0, max_ratio=2.0, growth_quantile=0.9)
    for i in range(10):  # 135 s of a steady climb, 1 req/s per 15 s
        f.update(15.0 * i, 10.0 + i)
    fc = f.forecast(horizon_s=200.0)
    assert fc.basis == "trend"
    # 19 req/s now plus 135 s (not the 215 s horizon) of the slope
    assert fc.rate_rps == pytest.approx(19.0 + 135.0 / 15.0, rel=0.01)


# -- spot that does not come -------------------------------------------------------------------
def test_mix_covers_missing_spot_for_two_cold_starts_then_plans_on_demand_instead():
    planner = MixPlanner()
    limits = Limits(max_replicas=100, spot_share=0.5)
    cold = 200.0
    plans = {}
    for i in range(60):  # 15 min: the 5 spot replicas never become ready; 15 on-demand run
        t = 15.0 * i
        obs = _obs(time_s=t, ready_replicas=10 if i == 0 else 15, ready_spot=0,
                   starting_replicas=5, starting_spot=5)
        plans[t] = planner.plan(obs, 10, limits, cold, 1)
    assert plans[0.0].spot == 5 and plans[0.0].replicas == 15  # on-demand kept: make before break
    assert all(p.fallback == 5 and p.replicas == 15 for t, p in plans.items() if t < 2 * cold)
    given_up = [p for t, p in plans.items() if 2 * cold <= t < 2 * cold + 300.0]
    assert given_up and all((p.replicas, p.spot, p.fallback) == (10, 0, 0) for p in given_up)
    assert "spot short" in given_up[0].note and "retrying spot in 300 s" in given_up[0].note


def test_spot_watch_probes_with_doubling_backoff_and_lifts_when_spot_is_ready():
    from controller.law.spotwatch import SpotWatch

    watch = SpotWatch(2.0, 300.0, 1800.0)
    cold = 100.0
    probes: list[float] = []
    t = 0.0
    while t < 6 * 3600:
        plan = watch.update(t, 8, 0, cold)
        if plan.cap == 1 and (not probes or t - probes[-1] > 2 * cold):
            probes.append(t)
        t += 15.0
    assert watch.cap == 0
    gaps = [b - a for a, b in zip(probes, probes[1:])]
    # a probe waits 2 cold starts, then the backoff: 10, 20, 30, 30... min after the first's 5
    assert probes[0] == pytest.approx(2 * cold + 300.0, abs=15.0)
    assert [g - 2 * cold for g in gaps[:4]] == pytest.approx([600, 1200, 1800, 1800], abs=15.0)
    # a probed spot replica becomes ready: spot is back, the full share is planned again
    while watch.update(t, 8, 0, cold).cap != 1:
        t += 15.0
    plan = watch.update(t + 15.0, 8, 1, cold)
    assert plan.cap is None and "spot available again" in plan.note
    assert watch.backoff_s == 300.0


def test_spot_watch_keeps_waiting_while_spot_makes_progress():
    from controller.law.spotwatch import SpotWatch

    watch = SpotWatch(2.0, 300.0, 1800.0)
    # a large spot order arriving one replica per cold start is slow, not missing
    for i in range(40):
        plan = watch.update(15.0 * i, 20, i // 10, 150.0)
        assert plan.cap is None


def test_cold_start_is_not_learnt_from_spot_that_never_becomes_ready():

    law = MeridianPolicy(Objective(95.0, 1.0), Limits(max_replicas=100, spot_share=0.5, cold_start_s=120.0))
    # 4 spot replicas wait from t=0 and never start; on-demand ones take 120 s each
    od_ready, od_starting = 10, 0
    for i in range(200):
        t = 15.0 * i
        if i % 20 == 0:
            od_starting += 1
        if i % 20 == 8:  # 120 s after it was ordered
            od_starting, od_ready = od_starting - 1, od_ready + 1
        d = law.decide(_obs(time_s=t, ready_replicas=od_ready, starting_replicas=od_starting + 4,
                            ready_spot=0, starting_spot=4))
    # the forecast horizon is the cold start plus one interval: 120 + 15 s, not the ~50 min
    # the missing spot replicas have waited
    horizon = float(re.search(r"(\d+) s horizon", d.reason).group(1))
    assert horizon <= 120.0 + 15.0 + 15.0, d.reason


def test_the_law_starts_its_replica_estimate_again_on_a_new_revision():
    law = MeridianPolicy(Objective(95.0, 1.0), Limits(max_replicas=50))

    def look(t: float, revision: str | None, queued: float = 0.0):
        law.decide(_obs(time_s=t, ready_replicas=4, arrival_rate_rps=20.0, in_flight=128.0, queued=queued,
                        revision=revision))

    for i in range(6):
        look(i * 15.0, "a", queued=10.0)  # every slot busy: 32 per replica
    assert law._capacity.slots == pytest.approx(32.0)
    look(90.0, None)  # a source that cannot tell: no new model
    look(105.0, "a")
    assert law._capacity.slots == pytest.approx(32.0)
    look(120.0, "b")  # a rollout
    assert law._capacity.slots is None
    assert law._capacity.view().safe_concurrency == pytest.approx(32.0)


def _one_replica_law(rate: float, in_flight: list[float]) -> list[int]:
    """A law that has only ever seen one replica with no queue (its slot count unknown),
    fed a steady rate and the in-flight counts given in turn: the sizes it asked for."""
    law = MeridianPolicy(Objective(percentile=95, ttft_s=1.0), Limits(min_replicas=1, max_replicas=10, cold_start_s=240))
    asked = []
    for i in range(60):
        obs = Observation(time_s=15.0 * i, ready_replicas=1, starting_replicas=0, arrival_rate_rps=rate,
                          ttft_quantile_s=0.5, e2e_quantile_s=10.0, in_flight=in_flight[i % len(in_flight)],
                          queued=0.0, price_on_demand_per_hour=1.2)
        asked.append(law.decide(obs).replicas)
    return asked


def test_the_queue_free_level_seen_on_one_replica_does_not_keep_a_clumpy_load_on_it():
    # 1.8 req/s at ~11 s a slot: ~20 in flight, up to 29, on a batch bounded at ~32. The
    # queueing model wants a second replica; the level seen queue-free on the one replica
    # used to cut it back to one, where the next clump queued for a whole cold start
    asked = _one_replica_law(1.8, [12.0, 20.0, 29.0, 16.0, 24.0, 10.0, 27.0, 18.0])
    assert asked[-1] == 2 and min(asked[8:]) == 2


def test_the_queue_free_level_still_caps_a_small_batch_guess_at_two():
    # 0.12 req/s, 0-4 in flight: the probe bound (4.4 slots) is a guess, and the queueing
    # model on it asks for 3; the level seen queue-free holds it to the pooled minimum
    asked = _one_replica_law(0.12, [0.0, 2.0, 3.0, 1.0, 0.0, 4.0, 1.0, 2.0])
    assert max(asked) == 2
