"""Short-horizon arrival-rate forecast covering the cold start.

Capacity asked for now is ready only after a cold start, so the law sizes for the
rate it expects over the next `horizon` seconds (cold start + one decision interval),
from the trailing-window rates it has seen:

- peak hold: the highest rate of the last `horizon` seconds. Whatever load came back
  within one cold start can come back again before new capacity could be ready
  (the same reasoning as the HPA's scale-down stabilisation window, applied to load);
- trend: a least-squares slope over the last `horizon` seconds, extrapolated over the
  horizon plus the metric's own lag (a trailing window lags a ramp by about half its
  length; the law does not know the window, so it uses one decision interval);
- burst: a rate that jumps above the recent level by more than three standard
  deviations of recent variation. A step in the true rate shows in a trailing-window
  rate as a ramp as long as the window, so the jump between the last two samples is
  extrapolated over one typical rate window (`rate(x[1m])`, four intervals) to
  reach the level the step is heading for.
Upward extrapolation is capped at `max_ratio` times the latest rate.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Forecast:
    rate_rps: float
    latest_rps: float
    basis: str  # "level", "peak-hold", "trend" or "burst"
    burst: bool


class RateForecaster:
    def __init__(self, interval_s: float, max_ratio: float, keep_s: float = 1800.0):
        self.interval_s = interval_s
        self.max_ratio = max_ratio
        self.keep_s = keep_s
        self._hist: deque[tuple[float, float]] = deque()

    def update(self, time_s: float, rate_rps: float) -> None:
        if self._hist and time_s <= self._hist[-1][0]:
            self._hist.pop()  # repeated or out-of-order time: keep the newest value only
        self._hist.append((time_s, rate_rps))
        while self._hist and self._hist[0][0] < time_s - self.keep_s:
            self._hist.popleft()

    def forecast(self, horizon_s: float) -> Forecast | None:
        if not self._hist:
            return None
        now, latest = self._hist[-1]
        recent = [(t, r) for t, r in self._hist if t >= now - horizon_s]
        peak = max(r for _, r in recent)
        cap = latest * self.max_ratio
        reach = horizon_s + self.interval_s
        best, basis, burst = latest, "level", False
        if peak > best:
            best, basis = peak, "peak-hold"
        trend = _slope(recent)
        if trend > 0:
            guess = min(latest + trend * reach, cap)
            if guess > best:
                best, basis = guess, "trend"
        if len(recent) >= 4:
            before = [r for _, r in recent[:-1]]
            mean = sum(before) / len(before)
            sd = math.sqrt(sum((r - mean) ** 2 for r in before) / (len(before) - 1))
            if latest > mean + 3.0 * sd + 1e-9 and latest > before[-1]:
                burst = True
                t_prev = recent[-2][0]
                jump = (latest - before[-1]) / max(now - t_prev, 1e-9)
                guess = min(latest + jump * 4.0 * self.interval_s, cap)
                if guess > best:
                    best, basis = guess, "burst"
        return Forecast(rate_rps=best, latest_rps=latest, basis=basis, burst=burst)


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 3:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mr = sum(r for _, r in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var <= 0:
        return 0.0
    return sum((t - mt) * (r - mr) for t, r in points) / var
