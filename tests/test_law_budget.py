"""The miss budget (adaptive conformal inference on the surge quantile), alone and in the law."""
from __future__ import annotations

import random

from controller.law.budget import MissBudget
from controller.law.meridian import MeridianPolicy
from controller.law.types import Limits, Objective, Observation


def test_long_run_miss_share_converges_to_the_allowance_whatever_the_prior():
    # a service where provisioning for quantile q misses with probability 1 - q:
    # the budget must find q = 1 - allowed from far on either side
    for prior in (0.4, 0.0):
        rng = random.Random(7)
        budget = MissBudget(allowed=0.005, prior_alpha=prior, step=0.005)
        missed = 0
        looks = 40_000
        for _ in range(looks):
            miss = rng.random() > budget.quantile
            missed += miss
            budget.update(miss)
            assert -budget.step - 1e-12 <= budget.alpha <= 1 + budget.step + 1e-12
        assert abs(missed / looks - 0.005) < 0.002
        assert abs(budget.quantile - 0.995) < 0.01


def test_misses_raise_the_quantile_and_calm_lowers_it():
    budget = MissBudget(allowed=0.005, prior_alpha=0.1, step=0.005)
    for _ in range(13):  # one missed cold start
        budget.update(True)
    raised = budget.quantile
    assert raised > 0.95
    for _ in range(2000):
        budget.update(False)
    assert budget.quantile < raised


def _obs(t: float, ttft: float, queued: float, in_flight: float = 150.0) -> Observation:
    return Observation(time_s=t, ready_replicas=10, starting_replicas=0, arrival_rate_rps=20.0,
                       ttft_quantile_s=ttft, e2e_quantile_s=None, in_flight=in_flight, queued=queued,
                       price_on_demand_per_hour=1.0)


def test_law_counts_misses_capacity_could_fix_against_its_headroom():
    obj = Objective(95.0, 1.0)
    queued, busy, light = (MeridianPolicy(obj, Limits(max_replicas=100)) for _ in range(3))
    for law in (queued, busy, light):  # calm: 15 of the batch per replica seen, no queue,
        for i in range(10):  # a prompt mix that moves the first token between 0.6 and 1.4 s
            law.decide(_obs(15.0 * i, 0.6 if i % 2 else 1.4, 0.0))
    start = queued._budget.quantile
    for i in range(10, 30):
        queued.decide(_obs(15.0 * i, 3.0, 40.0))  # slow first tokens while requests wait
        busy.decide(_obs(15.0 * i, 3.0, 0.0))  # no queue, but the batch as full as ever seen
        light.decide(_obs(15.0 * i, 1.2, 0.0, in_flight=30.0))  # a light batch: long prompts
    assert queued._budget.quantile > start and busy._budget.quantile > start
    assert queued._forecaster.growth.q == queued._budget.quantile <= obj.window_attainment
    assert light._budget.quantile <= start


def test_a_long_miss_streak_does_not_wind_the_budget_up():
    budget = MissBudget(allowed=0.005, prior_alpha=0.1, step=0.005)
    for _ in range(1000):  # misses that even the largest surge seen does not cover
        budget.update(True)
    assert budget.alpha == -budget.step and budget.quantile == 1.0
    for _ in range(201):  # 1 / allowed calm looks bring it back below the top quantile
        budget.update(False)
    assert budget.quantile < 1.0


def test_the_surge_headroom_never_plans_for_surges_rarer_than_the_objective_allows():
    # one burst of misses drives the budget to its top: the objective's quantile, not 1.0,
    # where the forecast would plan for the largest surge ever seen
    obj = Objective(95.0, 1.0, window_attainment=0.99)
    law = MeridianPolicy(obj, Limits(max_replicas=100))
    growth = law._forecaster.growth
    for k in range(400):  # a history of modest surges (x1.0-x1.4) and two rare giant ones
        growth._add(20.0 if k in (100, 300) else 1.0 + 0.001 * k, 20.0)
    for i in range(10):
        law.decide(_obs(15.0 * i, 0.5, 0.0))
    for i in range(10, 60):
        law.decide(_obs(15.0 * i, 3.0, 40.0))  # slow first tokens while requests wait
    assert law._budget.quantile == growth.q == 0.99
    assert growth.ratio() < 1.5  # the 99th percentile surge, not the x20 seen twice


def test_a_miss_streak_at_a_top_below_one_does_not_wind_the_budget_past_it():
    budget = MissBudget(allowed=0.005, prior_alpha=0.1, step=0.005, top=0.99)
    for _ in range(1000):
        budget.update(True)
    assert budget.quantile == 0.99
    for _ in range(201):  # as at a top of 1: 1 / allowed calm looks bring it back below
        budget.update(False)
    assert budget.quantile < 0.99
    import pytest

    with pytest.raises(ValueError, match="top quantile"):
        MissBudget(allowed=0.005, prior_alpha=0.1, step=0.005, top=0.0)


def test_no_allowance_only_ever_tightens_and_a_bad_target_is_refused():
    import pytest

    strict = MeridianPolicy(Objective(95.0, 1.0, window_attainment=1.0), Limits(max_replicas=100))
    q0 = strict._budget.quantile
    for i in range(10):
        strict.decide(_obs(15.0 * i, 0.5, 0.0))  # calm looks: nothing to relax with no allowance
    assert strict._budget.quantile == q0
    with pytest.raises(ValueError, match="window attainment"):
        MeridianPolicy(Objective(95.0, 1.0, window_attainment=0.0), Limits())


def test_the_law_spends_what_the_prompt_mix_leaves_of_the_allowance_never_less_than_half():
    # allowance 1 %: with 0.2 % of looks lost to the prompt mix the law's own share is
    # 0.8 % less the sampling margin (0.07 % after 60,000 independent looks), and the adapted
    # quantile converges to it; with 0.8 % lost it keeps its floor, 0.5 %
    for unfixable_share, expected in ((0.002, 0.008 - 1.645 * (0.01 / 60_000) ** 0.5), (0.008, 0.005)):
        rng = random.Random(11)
        budget = MissBudget(allowed=0.005, prior_alpha=0.1, step=0.005, allowance=0.01)
        missed = 0
        looks = 60_000
        for _ in range(looks):
            lost = rng.random() < unfixable_share
            miss = not lost and rng.random() > budget.quantile
            missed += miss
            budget.update(miss, unfixable=lost)
        assert abs(budget.allowed - expected) < 0.0007
        assert abs(missed / looks - expected) < 0.002


def test_an_allowance_below_the_floor_is_refused():
    import pytest

    with pytest.raises(ValueError):
        MissBudget(allowed=0.005, prior_alpha=0.1, step=0.005, allowance=0.004)


def test_the_margin_widens_for_misses_in_runs_and_narrows_with_looks():
    """Misses that come in runs (a missed window is seen by every look whose trailing window
    covers it) make the share of missed looks noisier: the margin below the allowance grows
    with the run length and shrinks as the looks add up."""
    def budget_after(looks: int, run: int) -> MissBudget:
        budget = MissBudget(allowed=0.005, prior_alpha=0.1, step=0.005, allowance=0.01)
        for i in range(looks):
            budget.update(i % 1000 < run)  # one run of `run` misses every 1,000 looks
        return budget

    single, clustered, longer = budget_after(10_000, 1), budget_after(10_000, 8), budget_after(40_000, 8)
    assert clustered.margin() > single.margin() > 0
    assert longer.margin() < clustered.margin()
    assert abs(clustered.margin() - 1.645 * (0.01 * 8 / 10_000) ** 0.5) < 1e-12
    assert clustered.allowed == max(0.005, 0.01 - clustered.margin())



def _look(t: float, rate: float, ttft: float, in_flight: float, queued: float) -> Observation:
    return Observation(time_s=t, ready_replicas=10, starting_replicas=0, arrival_rate_rps=rate,
                       ttft_quantile_s=ttft, e2e_quantile_s=None, in_flight=in_flight, queued=queued,
                       price_on_demand_per_hour=1.0)


def _law_that_knows_its_slots_and_first_token() -> tuple[MeridianPolicy, float]:
    law, t = MeridianPolicy(Objective(95.0, 1.0), Limits(max_replicas=100)), 0.0
    for _ in range(4):  # a queue with 32 in flight per replica: the slot count
        law.decide(_look(t, 40.0, 3.0, 320.0, 50.0))
        t += 15.0
    for i in range(40):  # calm: the first-token line
        law.decide(_look(t, 20.0, 0.5 if i % 2 else 0.7, 150.0, 0.0))
        t += 15.0
    assert law._capacity.slots == 32.0 and law._prefill_bound() < 1.3
    return law, t


def test_a_near_silent_windows_long_prompts_are_not_counted_as_waiting():
    # 0.2 req/s: the window's 12 arrivals and the 2 in flight fit the 320 free slots many times
    # over, so its 1.3 s percentile (a long prompt or two) cannot be a queue, whatever the
    # prefill line's bound says: allowance spent, not a reason for more headroom
    sparse, t = _law_that_knows_its_slots_and_first_token()
    before = sparse._budget.misses
    sparse.decide(_look(t, 0.2, 1.3, 2.0, 0.0))
    assert sparse._budget.misses == before and sparse._budget.unfixable == 1
    # the same TTFT in a window whose arrivals could outnumber the slots: a clump may have
    # queued and drained between two looks, so it counts against the headroom
    busy, t = _law_that_knows_its_slots_and_first_token()
    busy.decide(_look(t, 20.0, 1.3, 150.0, 0.0))
    assert busy._budget.misses == before + 1 and busy._budget.unfixable == 0


def test_a_near_silent_windows_long_prompts_do_not_hold_the_fleet():
    # the same sparse window must not block a scale-down either ("TTFT has used over half the
    # planning margin"): 12 arrivals on 320 free slots say nothing about the fleet's size
    law, t = _law_that_knows_its_slots_and_first_token()
    assert not law._latency_tight(_look(t, 0.2, 1.3, 2.0, 0.0))
    # a light batch in a window that could have queued still holds it
    assert law._latency_tight(_look(t, 20.0, 1.3, 150.0, 0.0))
