"""The seasonal surge headroom: used on traffic that repeats, never on traffic that does not."""
from __future__ import annotations

import random

import pytest

from controller.law.forecast import RateForecaster
from controller.law.seasonal import BucketHistory, RollingQuantile, SeasonalSurge, pinball

STEP = 15.0  # decision interval
PERIOD = 10_800.0  # a short "day" keeps the test fast (36 horizons); the law's prior is 86,400 s
HORIZON = 300.0
LEVEL, SURGE = 50.0, 200.0
# a fifth of each period surges to 4x at the same phases: standing headroom for the plain
# surge quantile (0.9), which cannot tell when the next surge comes
SURGES = [(900.0 + 2160.0 * k, 900.0 + 2160.0 * k + 432.0) for k in range(5)]


def _periodic(t: float) -> float:
    phase = t % PERIOD
    return SURGE if any(a <= phase < b for a, b in SURGES) else LEVEL


def _forecasters():
    seasonal = SeasonalSurge(PERIOD, 60.0, STEP, z=1.645, min_windows=30.0)
    return RateForecaster(STEP, 2.0, 0.9, seasonal), RateForecaster(STEP, 2.0, 0.9), seasonal


def _feed(rate_at, periods: float, rng: random.Random):
    """Both forecasters (with and without the seasonal part) on the same noisy stream;
    returns {time: (seasonal forecast, plain forecast)}."""
    with_s, plain, seasonal = _forecasters()
    out = {}
    for i in range(int(periods * PERIOD / STEP)):
        t = i * STEP
        r = rate_at(t) * (1.0 + rng.uniform(-0.05, 0.05))
        for f in (with_s, plain):
            f.update(t, r)
        out[t] = (with_s.forecast(HORIZON), plain.forecast(HORIZON))
    return out, seasonal


def test_periodic_surges_are_pre_provisioned_and_the_calm_between_them_is_not():
    out, seasonal = _feed(_periodic, 4.0, random.Random(1))
    assert seasonal.proven and seasonal.statistic > 1.645
    day4 = 3 * PERIOD
    # half a horizon before each recurring surge the seasonal forecast already plans for it
    for a, _ in SURGES:
        fc, _plain = out[day4 + a - 150.0]
        assert fc.rate_rps >= 0.9 * SURGE, (a, fc)
        assert "seasonal" in fc.basis
    # mid-way between surges, far from the next, the seasonal headroom is nearly gone while
    # the plain surge quantile keeps the fleet sized for a surge that is not coming
    calm = [STEP * round((day4 + b + 500.0) / STEP) for _, b in SURGES]
    seasonal_calm = sum(out[t][0].rate_rps for t in calm) / len(calm)
    plain_calm = sum(out[t][1].rate_rps for t in calm) / len(calm)
    assert plain_calm > 2.5 * LEVEL
    assert seasonal_calm < 1.5 * LEVEL


def test_surges_at_random_times_never_switch_the_seasonal_forecast_on():
    rng = random.Random(2)
    # the same share of surge time and the same surge size, but at random phases
    starts = sorted(rng.uniform(0, 4 * PERIOD) for _ in range(20))

    def bursty(t: float) -> float:
        return SURGE if any(a <= t < a + 432.0 for a in starts) else LEVEL

    out, seasonal = _feed(bursty, 4.0, random.Random(3))
    assert seasonal.windows > 30.0  # it was scored, and lost
    assert not seasonal.proven
    for fc, plain in out.values():
        assert fc.rate_rps == plain.rate_rps and fc.basis == plain.basis


def test_nothing_is_seasonal_before_a_whole_period_has_been_scored():
    out, seasonal = _feed(_periodic, 1.9, random.Random(4))
    assert not seasonal.proven
    assert all(fc.rate_rps == plain.rate_rps for fc, plain in out.values())


def test_bucket_history_is_a_bounded_ring_of_per_bucket_peaks_and_means():
    h = BucketHistory(60.0, 600.0)
    for i in range(200):  # 50 minutes of samples, 15 s apart: only the last ~10 minutes kept
        h.add(i * 15.0, float(i))
    assert h.size == 11
    assert h.peak(0.0, 59.0) is None  # overwritten one ring ago
    assert h.peak(2940.0, 2999.0) == 199.0
    assert h.mean(2940.0, 2999.0) == pytest.approx((196 + 197 + 198 + 199) / 4)
    assert h.peak(2400.0, 2999.0) == 199.0 and h.mean(2880.0, 2939.0) == pytest.approx(193.5)


def test_rolling_quantile_forgets_the_oldest_values():
    q = RollingQuantile(keep=10, min_samples=5)
    for x in range(4):
        q.add(100.0 + x)
    assert q.quantile(0.5) is None  # fewer than min_samples
    for x in range(20):
        q.add(float(x))
    assert len(q) == 10 and q.quantile(0.0) == 10.0 and q.quantile(0.95) == 19.0


def test_pinball_loss_weighs_under_forecasts_by_q():
    assert pinball(10.0, 8.0, 0.9) == pytest.approx(1.8)
    assert pinball(8.0, 10.0, 0.9) == pytest.approx(0.2)
