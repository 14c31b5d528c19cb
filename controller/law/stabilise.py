"""Fast up, slow and bounded down, with a hysteresis band that adapts to flapping.

- Up: the recommendation is taken at once (a late replica costs a cold start).
- Down: the highest recommendation of the last `window_s` seconds is used (the
  Kubernetes HPA's scale-down stabilisation window, default 300 s), only if it is
  below the current size by more than the deadband, and by at most `max_down_share`
  of the current size per decision.
- Adaptive hysteresis: a reversal (a scale-down followed by a scale-up inside the
  window) widens the deadband by `step` of the size, up to `max_band`; every calm
  window narrows it again by one step. A fleet that flaps learns to hold still, and
  one that does not keeps tracking closely.
"""
from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from controller.law.minmax import max2, min2


class Stabilised(NamedTuple):
    replicas: int
    note: str  # "" when the recommendation passed unchanged


class Stabiliser:
    def __init__(self, window_s: float, max_down_share: float, step: float, max_band: float):
        self.window_s = window_s
        self.max_down_share = max_down_share
        self.step = step
        self.max_band = max_band
        self.band = 0.0  # share of the size
        self._recs: deque[tuple[float, int]] = deque()
        self._last_down_s: float | None = None
        self._calm_since_s: float | None = None

    def apply(self, time_s: float, current: int, recommended: int) -> Stabilised:
        # monotonic deque: the front is always the window's highest recommendation
        while self._recs and self._recs[-1][1] <= recommended:
            self._recs.pop()
        self._recs.append((time_s, recommended))
        while self._recs[0][0] < time_s - self.window_s:
            self._recs.popleft()
        if self._calm_since_s is None:
            self._calm_since_s = time_s
        if recommended > current:
            if self._last_down_s is not None and time_s - self._last_down_s < self.window_s:
                self.band = min2(self.max_band, self.band + self.step)
                self._calm_since_s = time_s
            return Stabilised(recommended, "")
        if time_s - self._calm_since_s >= self.window_s and self.band > 0:
            self.band = max2(0.0, self.band - self.step)
            self._calm_since_s = time_s
        held = self._recs[0][1]
        if held >= current:
            if recommended < current:
                return Stabilised(current, f"holding {current} for the {self.window_s:.0f} s scale-down window")
            return Stabilised(current, "")
        deadband = max2(1, math.ceil(self.band * current))
        if current - held < deadband:
            return Stabilised(current, f"within hysteresis band of {deadband}")
        floor = current - max2(1, math.floor(self.max_down_share * current))
        target = max2(held, floor)
        self._last_down_s = time_s
        note = "" if target == held else f"scale-down limited to {current - target} per decision"
        return Stabilised(target, note)
