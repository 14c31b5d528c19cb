"""Short-horizon arrival-rate forecast covering the cold start.

Capacity asked for now is ready only after a cold start, so the law sizes for the
rate it expects over the next `horizon` seconds (cold start + one decision interval),
from the trailing-window rates it has seen:

- peak hold: the highest rate of the last `horizon` seconds. Whatever load came back
  within one cold start can come back again before new capacity could be ready
  (the same reasoning as the HPA's scale-down stabilisation window, applied to load);
- trend: least-squares slopes over each third of the last `horizon` seconds; only a
  rise seen in every third is a sustained trend (a step that is over shows in one
  part only), and the smallest slope is extrapolated over the horizon plus one
  decision interval of metric lag;
- surge headroom: the recent level (mean rate over the last horizon) times the quantile
  of how far the rate rose above that level within the next horizon in this service's
  own history (`GrowthQuantile`), never above the highest rate a remembered surge
  reached -- or a clump seen at a queue's onset would take (`note_demand`): a ratio
  learnt at a light level says nothing about rates the service has never shown;
- burst: a rate that jumps above the recent level by more than three standard
  deviations of recent variation. A step in the true rate shows in a trailing-window
  rate as a ramp as long as the window, so -- when the caller confirms the jump is
  demand the fleet cannot absorb (requests are queueing) -- the jump between the last
  two samples is extrapolated over what is left of one typical rate window
  (`rate(x[1m])`, four intervals) since the burst began. A spike the fleet absorbs is
  not extrapolated: capacity ordered for it would arrive after it, one cold start late.
The trend extrapolation is capped at `max_ratio` times the latest rate.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from controller.law.minmax import max2, min2
from controller.law.online import SlidingQuantile
from controller.law.settings import rate_window_s


class Forecast(NamedTuple):
    rate_rps: float
    latest_rps: float
    basis: str  # "level", "peak-hold", "trend" or "burst"
    burst: bool


class RateForecaster:
    def __init__(self, interval_s: float, max_ratio: float, growth_quantile: float = 0.99):
        self.interval_s = interval_s
        self.max_ratio = max_ratio
        self.growth = GrowthQuantile(growth_quantile)
        self._keep_s = 0.0  # the longest horizon asked for so far: older rates are never used
        self._hist: deque[tuple[float, float]] = deque()
        self._burst_since: float | None = None

    def update(self, time_s: float, rate_rps: float) -> None:
        if self._hist and time_s <= self._hist[-1][0]:
            self._hist.pop()  # repeated or out-of-order time: keep the newest value only
        self._hist.append((time_s, rate_rps))
        self.growth.update(time_s, rate_rps, self._keep_s or 20.0 * self.interval_s)

    def forecast(self, horizon_s: float, overloaded: bool = False) -> Forecast | None:
        if not self._hist:
            return None
        now, latest = self._hist[-1]
        self._keep_s = max2(self._keep_s, horizon_s)
        while self._hist[0][0] < now - self._keep_s:
            self._hist.popleft()
        recent = [p for p in self._hist if p[0] >= now - horizon_s] if self._keep_s > horizon_s else list(self._hist)
        rates = [r for _, r in recent]
        peak = max(rates)
        cap = latest * self.max_ratio
        reach = horizon_s + self.interval_s
        best, basis, burst = latest, "level", False
        if peak > best:
            best, basis = peak, "peak-hold"
        base = self.growth.base(latest)
        # a ratio learnt at a light level, applied at a heavy one, must not plan for a rate
        # the service has never reached: the surges remembered bound it
        surge = min2(base * self.growth.ratio(), max2(self.growth.highest, base))
        if surge > best:
            best, basis = surge, f"x{surge / max2(base, 1e-12):.2f} surge headroom"
        # a slope is extrapolated no further ahead than the history it was fitted on
        # reaches back (at start-up that history is a rate window still filling up)
        ahead = min2(reach, recent[-1][0] - recent[0][0])
        trend = _sustained_slope(recent, lambda slope: min2(latest + slope * ahead, cap) > best)
        if trend > 0:
            guess = min2(latest + trend * ahead, cap)
            if guess > best:
                best, basis = guess, "trend"
        window = rate_window_s(self.interval_s)
        if len(recent) >= 4:
            before = rates[:-1]
            t_prev = recent[-2][0]
            rising = latest > before[-1]
            # (a burst already under way, or no rise at all, needs no test against the spread)
            if rising and (self._burst_since is not None or _beyond_spread(latest, before)):
                if self._burst_since is None:
                    self._burst_since = t_prev
                left = window - (now - self._burst_since)
                burst = True
                if left > 0 and overloaded:
                    jump = (latest - before[-1]) / max2(now - t_prev, 1e-9)
                    # no `cap` here: the ramp's own geometry bounds it (a window that has
                    # seen a step for `elapsed` seconds shows elapsed/window of it)
                    guess = latest + jump * left
                    if guess > best:
                        best, basis = guess, "burst"
            else:
                self._burst_since = None
        return Forecast(rate_rps=best, latest_rps=latest, basis=basis, burst=burst)


class GrowthQuantile:
    """How far the rate rose above its recent level within one horizon, and its quantile.

    For every observed time t the law later learns the highest rate seen in
    [t, t + horizon] and divides it by the level at t, the mean rate over the horizon
    before t; the ratio is how far load climbed before capacity ordered at t could have
    been ready. Planning for the `q` quantile of that ratio provisions standing headroom
    exactly as bursty as this service's own history has been -- none for smooth traffic,
    a lot for spiky traffic -- instead of a fixed utilisation margin. The level, not the
    latest trailing-window rate, is the base: a momentary dip would otherwise count as a
    huge "surge" back to normal and inflate the high quantiles that a tight objective
    needs. `q` may be changed between calls (budget.py adapts it). Ratios of the last
    `keep` samples.
    """

    def __init__(self, q: float, keep: int = 2000, min_samples: int = 40):
        self.q = q
        self._open: deque[list[float]] = deque()  # [time, level, highest rate, highest demand since]
        self._ratios = SlidingQuantile(keep, min_samples)
        # times and rates of the last horizon, apart: the level sums the rates as they are
        self._past_t: deque[float] = deque()
        self._past_r: deque[float] = deque()
        self._level: float | None = None
        self._tops = SlidingQuantile(keep, min_samples=1)  # the top of each ratio, for the highest

    @property
    def level(self) -> float | None:
        """Mean rate over the last horizon (None before the first sample). Summed afresh
        (a horizon is a few dozen samples): a running sum drifts to a tiny non-zero level
        after a silent horizon, and a surge measured from ~1e-15 req/s is ~1e15."""
        return self._level

    @property
    def highest(self) -> float:
        """The highest rate any remembered surge reached: headroom never plans above it."""
        return self._tops.quantile(1.0) or 0.0

    def base(self, latest: float) -> float:
        """What a surge is measured from: the recent level, or the latest rate if higher."""
        level = self.level
        return latest if level is None else max2(level, latest)

    def update(self, time_s: float, rate: float, horizon_s: float) -> None:
        self._past_t.append(time_s)
        self._past_r.append(rate)
        while self._past_t[0] <= time_s - horizon_s:
            self._past_t.popleft()
            self._past_r.popleft()
        self._level = math.fsum(self._past_r) / len(self._past_r)
        while self._open and self._open[0][0] < time_s - horizon_s:
            t0, base, top, peak = self._open.popleft()
            if base > 0:
                self._add(top / base, max2(top, peak))
        # an item's highest rate is that of every later one or more (it has seen all their
        # rates and its own; rates are finite, safety.py), so only the newest items up to
        # the first as high as `rate` rise
        for item in reversed(self._open):
            if not rate > item[2]:
                break
            item[2] = rate
        self._open.append([time_s, self.base(rate), rate, rate])

    def note_demand(self, demand: float) -> None:
        """A clump the rate window dilutes: `demand` is the rate the requests present at a
        queue's onset would take (present / slot-holding time). It does not enter the
        ratios -- a clump is not a rise of the level -- but it raises the highest rate
        remembered, which bounds the headroom, so the headroom can hold the largest clump
        seen, not only the largest diluted rate."""
        for item in self._open:
            if demand > item[3]:
                item[3] = demand

    def _add(self, ratio: float, top: float) -> None:
        self._ratios.add(ratio)
        self._tops.add(top)

    def ratio(self) -> float:
        r = self._ratios.quantile(self.q)
        return 1.0 if r is None else max2(1.0, r)


def _beyond_spread(x: float, before: list[float]) -> bool:
    """`x` lies more than three standard deviations above the mean of `before`."""
    k = len(before)
    mean = sum(before) / k
    sd = math.sqrt(max2(sum([r * r for r in before]) / k - mean * mean, 0.0) * k / (k - 1))
    return x > mean + 3.0 * sd + 1e-9


def _sustained_slope(recent: list[tuple[float, float]], wins: Callable[[float], bool]) -> float:
    """The smallest least-squares slope of the three thirds of `recent` when every third
    rises and `wins` (the forecast it extrapolates to beats the best one so far), else 0.0.
    The trend is at most any third's slope and a forecast grows with the slope, so a third
    that does not rise, or does not win, settles it: the rest are not fitted."""
    third = len(recent) // 3
    lowest = math.inf
    for part in (recent[: third + 1], recent[third : 2 * third + 1], recent[2 * third :]):
        slope = _slope(part)
        if slope <= 0 or not wins(slope):
            return 0.0
        lowest = min2(lowest, slope)
    return lowest


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 3:
        return 0.0
    st = sr = stt = str_ = 0.0
    t0 = points[0][0]  # times relative to the first: no cancellation on day-long clocks
    for t, r in points:
        t -= t0
        st += t
        sr += r
        stt += t * t
        str_ += t * r
    var = stt - st * st / n
    if var <= 1e-12:
        return 0.0
    return (str_ - st * sr / n) / var
