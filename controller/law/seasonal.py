"""Seasonal surge headroom: what the same horizon one period ago says, once it has proven itself.

Human traffic repeats daily, so the rise that came within one horizon of this time a day
ago may come again. At time t, for horizon h and period P, the seasonal forecast of the
highest rate in [t, t + h] is

    S(t) = base(t) * peak[t - P, t - P + h] / level[t - P - h, t - P]

(the day-ago surge, relative to the day-ago level, scaled to the current base -- the same
base `GrowthQuantile` measures surges from). Its errors are learnt like the surge ratio's:
the quantile q (the miss budget's) of how far the outcome rose above S, so the headroom
planned is S * quantile(outcome / S). When the day-ago profile predicts the surges, that
residual is tight and the headroom shrinks before calm hours and grows before busy ones;
when it does not, the residual is wide and S * quantile is the dearer forecast.

The period is a prior (settings.py), not a fact about the service: the seasonal forecast is
*used* only while it beats the non-seasonal surge headroom over the last whole period of
this service's own history, by a one-sided Diebold-Mariano test (Diebold & Mariano, "Comparing Predictive
Accuracy", J. Business & Economic Statistics 13, 1995) on the pinball loss at q -- the
proper scoring rule for a q-quantile forecast (Gneiting & Raftery, JASA 102, 2007), which
rewards the sharper of two forecasts only at equal calibration. Traffic with no cycle at P
never passes it, and the law is then exactly the non-seasonal one.

Memory: per-bucket maxima and sums over the last P plus one hour (a ring of about 1,500
one-minute buckets for a day) and one loss difference per decision of the last period
(5,760 at 15 s); O(1) per sample, O(h / bucket) per forecast. So it is used from the third
period on: the first fills the history, the second is scored.
"""
from __future__ import annotations

import math
from collections import deque


class BucketHistory:
    """Highest and mean rate per `bucket_s` bucket over the last `span_s`, in a fixed ring."""

    def __init__(self, bucket_s: float, span_s: float):
        self.bucket_s = bucket_s
        self.size = int(math.ceil(span_s / bucket_s)) + 1
        self._id = [-1] * self.size  # absolute bucket number each slot holds (-1: empty)
        self._max = [0.0] * self.size
        self._sum = [0.0] * self.size
        self._n = [0] * self.size

    def add(self, time_s: float, rate: float) -> None:
        b = int(time_s // self.bucket_s)
        i = b % self.size
        if self._id[i] != b:  # a slot last used one ring ago: start it afresh
            self._id[i], self._max[i], self._sum[i], self._n[i] = b, rate, 0.0, 0
        self._max[i] = max(self._max[i], rate)
        self._sum[i] += rate
        self._n[i] += 1

    def _buckets(self, t0: float, t1: float):
        for b in range(int(t0 // self.bucket_s), int(t1 // self.bucket_s) + 1):
            i = b % self.size
            if self._id[i] == b:
                yield i

    def peak(self, t0: float, t1: float) -> float | None:
        """Highest rate seen in the buckets overlapping [t0, t1] (None if none was seen)."""
        found = [self._max[i] for i in self._buckets(t0, t1)]
        return max(found) if found else None

    def mean(self, t0: float, t1: float) -> float | None:
        total = n = 0
        for i in self._buckets(t0, t1):
            total += self._sum[i]
            n += self._n[i]
        return total / n if n else None


class RollingQuantile:
    """Quantiles of the last `keep` values, kept sorted (insert and delete by bisection)."""

    def __init__(self, keep: int, min_samples: int):
        self.keep = keep
        self.min_samples = min_samples
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, x: float) -> None:
        from bisect import bisect_left, insort

        self._fifo.append(x)
        insort(self._sorted, x)
        if len(self._fifo) > self.keep:
            del self._sorted[bisect_left(self._sorted, self._fifo.popleft())]

    def quantile(self, q: float) -> float | None:
        n = len(self._sorted)
        if n < self.min_samples:
            return None
        return self._sorted[min(n - 1, int(q * n))]


def pinball(outcome: float, forecast: float, q: float) -> float:
    """Loss of a q-quantile forecast (Koenker & Bassett, Econometrica 46, 1978)."""
    gap = outcome - forecast
    return gap * q if gap >= 0 else -gap * (1.0 - q)


class SeasonalSurge:
    def __init__(self, period_s: float, bucket_s: float, interval_s: float, z: float, min_windows: float,
                 keep: int = 2000, min_samples: int = 40):
        self.period_s = period_s
        self.interval_s = interval_s
        self.z = z
        self.min_windows = min_windows
        self.max_horizon_s = 3600.0  # the ring keeps one period plus this much
        self.history = BucketHistory(bucket_s, period_s + self.max_horizon_s + bucket_s)
        self.residual = RollingQuantile(keep, min_samples)  # outcome / S
        self._diff: deque[float] = deque()  # loss(non-seasonal) - loss(seasonal), relative to the base
        # judged over one whole period of scored decisions, no less: a stretch of a day (a
        # calm afternoon the plain quantile, learnt on a busier morning, over-provisions)
        # can favour either forecast without any cycle behind it
        self._keep = max(2, int(round(period_s / interval_s)))
        self._sum = self._sq = 0.0
        self.horizon_s = 0.0
        self.statistic = 0.0  # the Diebold-Mariano z of the recent losses (> 0: seasonal better)

    def add(self, time_s: float, rate: float) -> None:
        self.history.add(time_s, rate)

    def predict(self, now: float, horizon_s: float, base: float) -> float | None:
        """S(now): None while a period of history is missing, or the day-ago level or the
        current base is 0 (no ratio to learn from)."""
        if horizon_s > self.max_horizon_s or not base > 0:
            return None
        then = now - self.period_s
        peak = self.history.peak(then, then + horizon_s)
        level = self.history.mean(then - horizon_s, then)
        if peak is None or level is None or not level > 0 or not peak > 0:
            return None
        return base * peak / level

    def headroom(self, predicted: float, q: float) -> float | None:
        """The q-quantile forecast S * quantile(outcome / S), once the residual is learnt."""
        r = self.residual.quantile(q)
        return None if r is None else predicted * r

    def resolve(self, outcome: float, base: float, predicted: float, seasonal: float | None,
                plain: float, q: float, horizon_s: float) -> None:
        """The highest rate of a horizon is known: learn the residual and score both forecasts."""
        self.residual.add(outcome / predicted)
        self.horizon_s = horizon_s
        if seasonal is None or not base > 0:
            return
        d = (pinball(outcome, plain, q) - pinball(outcome, seasonal, q)) / base
        self._diff.append(d)
        self._sum += d
        self._sq += d * d
        if len(self._diff) > self._keep:
            old = self._diff.popleft()
            self._sum -= old
            self._sq -= old * old
        if len(self._diff) == 1:
            self._sum, self._sq = d, d * d  # no drift from float sums over a long run

    @property
    def windows(self) -> float:
        """Independent horizons behind the comparison: consecutive samples share most of one."""
        return len(self._diff) * self.interval_s / max(self.horizon_s, self.interval_s)

    @property
    def proven(self) -> bool:
        n = len(self._diff)
        if n < self._keep or self.windows < self.min_windows:
            self.statistic = 0.0
            return False
        mean = self._sum / n
        var = max(self._sq / n - mean * mean, 0.0) * n / (n - 1)
        se = math.sqrt(var / self.windows)
        self.statistic = mean / se if se > 0 else (math.inf if mean > 0 else 0.0)
        return self.statistic > self.z
