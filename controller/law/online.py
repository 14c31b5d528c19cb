"""Small online estimators: an EWMA that relearns after a level shift, a forgetting
least-squares line (both O(1) per sample) and a sliding-window quantile. All
deterministic."""
from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque

from controller.law.minmax import max2, min2


class ShiftDetector:
    """Two-sided run test: `patience` relative surprises larger than `shift` in a row, on
    the same side, mean the signal has moved (in the spirit of Page's CUSUM, Biometrika 41,
    1954). Shared by the estimators below so both relearn by the same rule."""

    def __init__(self, shift: float, patience: int):
        self.shift = shift
        self.patience = patience
        self._run = 0  # signed length of the current run of surprises

    def moved(self, observed: float, expected: float) -> bool:
        rel = (observed - expected) / max2(abs(expected), 1e-12)
        if abs(rel) > self.shift:
            side = 1 if rel > 0 else -1
            self._run = self._run + side if self._run * side > 0 else side
        else:
            self._run = 0
        if abs(self._run) >= self.patience:
            self._run = 0
            return True
        return False


class RelearningEwma:
    """Exponentially weighted mean that restarts when the signal has clearly moved.

    A sample counts as a "surprise" when it differs from the estimate by more than
    `shift` (relative). After `patience` surprises in a row on the same side the
    estimate restarts from the latest sample: a sustained change (new model, new
    instance type, new token mix) is relearnt in a few samples instead of the
    ~1/alpha an EWMA alone needs, while a single outlier does not move it much.
    (A two-sided run test in the spirit of Page's CUSUM, Biometrika 41, 1954.)
    """

    def __init__(self, alpha: float, shift: float = 0.3, patience: int = 3):
        self.alpha = alpha
        self._detector = ShiftDetector(shift, patience)
        self.value: float | None = None
        self.samples = 0
        self.relearned = 0

    def update(self, x: float) -> float:
        if not math.isfinite(x):
            return self.value if self.value is not None else x
        self.samples += 1
        if self.value is None:
            self.value = x
            return x
        if self._detector.moved(x, self.value):
            self.value = x
            self.relearned += 1
        else:
            self.value += self.alpha * (x - self.value)
        return self.value


class ForgettingLine:
    """Weighted least-squares fit y = a + b*x with exponential forgetting.

    Old samples fade with factor `forget` per sample, so the fit follows a
    changing system. `predict` falls back to the weighted mean when x has not
    varied enough, or the slope is not significant; the slope is never negative
    (latency and service time never fall with load).
    """

    def __init__(self, forget: float, min_spread: float = 0.1, shift: float = 0.3, patience: int = 3):
        self.forget = forget
        self.min_spread = min_spread  # relative spread of x needed before a slope is trusted
        self.patience = patience
        self._detector = ShiftDetector(shift, patience)  # relative residual surprises, as RelearningEwma
        self._w = self._wx = self._wy = self._wxx = self._wxy = self._wyy = 0.0
        self.relearned = 0
        # (mean x, mean y, slope) and the residual sd, cached until the next sample: a
        # decision reads the line several times between two samples
        self._fit: tuple[float, float, float] | None = None
        self._resid_sd: float | None = None

    def reset(self) -> None:
        self._w = self._wx = self._wy = self._wxx = self._wxy = self._wyy = 0.0
        self._fit = self._resid_sd = None

    @property
    def weight(self) -> float:
        return self._w

    def add(self, x: float, y: float) -> bool:
        """Add a sample; returns True when a sustained shift made the fit start over."""
        relearn = False
        if self.patience and self._w >= self.patience:
            if self._detector.moved(y, self.predict(x)):
                self.reset()
                self.relearned += 1
                relearn = True
        self._add(x, y)
        return relearn

    def _add(self, x: float, y: float) -> None:
        self._fit = self._resid_sd = None
        f = self.forget
        self._w = self._w * f + 1.0
        self._wx = self._wx * f + x
        self._wy = self._wy * f + y
        self._wxx = self._wxx * f + x * x
        self._wxy = self._wxy * f + x * y
        self._wyy = self._wyy * f + y * y

    def mean_x(self) -> float:
        return self._wx / self._w if self._w > 0 else 0.0

    def mean_y(self) -> float:
        return self._wy / self._w if self._w > 0 else 0.0

    def slope(self) -> float:
        """Non-negative slope; 0 unless x has spread and the slope is significant.

        Significant means above zero at the 95 % level (Student t, at least 3 degrees
        of freedom): a slope fitted to noise (a varying prompt mix, a start-up
        transient) must not be extrapolated to other loads.
        """
        return self._fitted()[2]

    def _fitted(self) -> tuple[float, float, float]:
        """(mean x, mean y, slope) of the samples so far."""
        if self._fit is None:
            mx, my = self.mean_x(), self.mean_y()
            self._fit = (mx, my, self._fit_slope(mx, my))
        return self._fit

    def _fit_slope(self, mx: float, my: float) -> float:
        dof = self._w - 2.0
        if dof < 3.0:
            return 0.0
        var = self._wxx / self._w - mx * mx
        if var <= (self.min_spread * max2(abs(mx), 1e-9)) ** 2:
            return 0.0
        cov = self._wxy / self._w - mx * my
        b = cov / var
        resid = max2(self._wyy / self._w - my * my - b * cov, 0.0)
        se = math.sqrt(resid / (var * dof))
        # two-sided 95 % Student t critical value, approximated as 1.96 + 3/dof
        # (within 0.25 of the tabled value from 3 degrees of freedom up)
        return b if b > (1.96 + 3.0 / dof) * se else 0.0

    def residual_sd(self) -> float:
        """Weighted standard deviation of y around the fitted line."""
        if self._resid_sd is None:
            self._resid_sd = self._fit_residual_sd()
        return self._resid_sd

    def _fit_residual_sd(self) -> float:
        if self._w <= 2.0:
            return 0.0
        mx, my, b = self._fitted()
        var_y = max2(self._wyy / self._w - my * my, 0.0)
        var_x = self._wxx / self._w - mx * mx
        cov = self._wxy / self._w - mx * my
        return math.sqrt(max2(var_y - (b * cov if var_x > 0 else 0.0), 0.0))

    def predict(self, x: float) -> float:
        mx, my, b = self._fitted()
        return my + b * (x - mx)


class SlidingQuantile:
    """Quantiles of the last `keep` samples (a sorted copy kept alongside: O(log n) to
    find, O(n) to move, n a few thousand); None until `min_samples` have been seen."""

    def __init__(self, keep: int = 2000, min_samples: int = 40):
        self.keep = keep
        self.min_samples = min_samples
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, x: float) -> None:
        self._order.append(x)
        insort(self._sorted, x)
        if len(self._order) > self.keep:
            del self._sorted[bisect_left(self._sorted, self._order.popleft())]

    def quantile(self, q: float) -> float | None:
        n = len(self._sorted)
        if n < self.min_samples:
            return None
        return self._sorted[min2(n - 1, max2(0, int(q * n)))]
