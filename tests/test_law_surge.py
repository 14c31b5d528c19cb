"""The surge headroom on clumpy traffic: a silent spell must not turn the next request into a
10^15-fold "surge", headroom never plans above what the service has shown, and a clump the
rate window dilutes still counts (found on the ServeGen m-mid curve at 5 req/s, where the
old law forecast 2.6e16 req/s and sat at max_replicas for 13 % of two days)."""
from __future__ import annotations

from dataclasses import replace

from controller.law.forecast import GrowthQuantile, RateForecaster
from controller.law.meridian import MeridianPolicy
from controller.law.online import SlidingQuantile
from controller.law.types import Limits, Objective
from tests.test_law_properties import healthy


def test_level_after_a_silent_horizon_is_exactly_zero():
    g = GrowthQuantile(q=0.9, min_samples=10)
    t = 0.0
    for rate in (0.1, 0.7, 0.2, 1.3, 0.3, 2.9):  # sums that floats cannot cancel exactly
        g.update(t, rate, horizon_s=60.0)
        t += 15.0
    for _ in range(8):  # two silent horizons
        g.update(t, 0.0, horizon_s=60.0)
        t += 15.0
    assert g.level == 0.0


def test_surge_headroom_never_plans_above_the_highest_rate_seen():
    """Clumpy traffic: a light level now and then, a rate 40x that level within the next
    horizon. With the miss budget's quantile at its top the learnt ratio is 40, but applied at
    a busy level it must not ask for a rate the service has never reached."""
    f = RateForecaster(15.0, max_ratio=2.0, growth_quantile=1.0)
    t = 0.0
    for i in range(400):
        f.update(t, 25.0 if i % 20 == 10 else 0.5)
        t += 15.0
    for _ in range(8):  # a busy spell at the old peak
        f.update(t, 25.0)
        t += 15.0
    fc = f.forecast(horizon_s=60.0)
    assert f.growth.ratio() >= 40.0  # learnt from the light level
    assert fc.rate_rps <= 25.0 + 1e-9  # 40 x 25 = 1,000 req/s was never seen


def test_a_clump_at_a_queue_onset_raises_the_highest_rate_but_not_the_ratios():
    plain, clumpy = GrowthQuantile(q=1.0, min_samples=10), GrowthQuantile(q=1.0, min_samples=10)
    for i in range(100):
        for g in (plain, clumpy):
            g.update(15.0 * i, 10.0, horizon_s=60.0)
        if i == 50:
            clumpy.note_demand(80.0)  # 640 requests present at 8 s each: 80 req/s worth
    assert clumpy.ratio() == plain.ratio() == 1.0
    assert plain.highest == 10.0 and clumpy.highest == 80.0


def test_sliding_quantile_keeps_only_the_latest_samples():
    q = SlidingQuantile(keep=10, min_samples=5)
    for x in range(4):
        q.add(float(x))
    assert q.quantile(0.5) is None  # too few to say
    for x in range(100):
        q.add(float(x))
    assert q.quantile(0.0) == 90.0 and q.quantile(1.0) == 99.0 and len(q) == 10


def _policy_after_calm_spell() -> tuple[MeridianPolicy, float]:
    """10 replicas, a prompt mix that moves the queue-free TTFT between 0.75 s and 0.97 s
    from window to window, whatever the load (objective 1 s)."""
    policy = MeridianPolicy(Objective(percentile=95, ttft_s=1.0), Limits(min_replicas=1, max_replicas=60))
    t = 0.0
    for i in range(40):
        policy.decide(healthy(t, ready=10, rate=10.0 + (i % 5), service=8.0, ttft=0.97 if i % 2 else 0.75))
        t += 15.0
    return policy, t


def test_a_long_wait_with_no_queue_at_the_look_counts_as_load():
    """A clump's queue can build and drain between two looks: the look sees no queue and a
    light batch, but a 5 s first token is waiting, not prefill -- a miss more capacity fixes."""
    policy, t = _policy_after_calm_spell()
    before = policy._budget.misses, policy._budget.unfixable
    policy.decide(replace(healthy(t, ready=10, rate=4.0, service=8.0), ttft_quantile_s=5.0))
    assert (policy._budget.misses, policy._budget.unfixable) == (before[0] + 1, before[1])


def test_a_near_miss_the_prompt_mix_explains_is_not_counted_as_load():
    """The same light batch missing by 10 ms: within a bad window's prefill, so the prompt
    mix spent it, not a load that more replicas would carry."""
    policy, t = _policy_after_calm_spell()
    before = policy._budget.misses, policy._budget.unfixable
    policy.decide(replace(healthy(t, ready=10, rate=4.0, service=8.0), ttft_quantile_s=1.01))
    assert (policy._budget.misses, policy._budget.unfixable) == (before[0], before[1] + 1)
