"""The objective's miss allowance, spent on purpose: an adaptive surge quantile.

The objective allows `1 - attainment` of the 1-minute windows to miss (issue 5: 0.99).
Standing headroom for bursts is the costliest part of the law, and how much of it a
service needs depends on how bursty its traffic is -- which no fixed quantile knows.
So the quantile of the learnt surge ratio the forecast provisions for is set by the
misses the law itself sees, with adaptive conformal inference (Gibbs & Candes,
"Adaptive Conformal Inference Under Distribution Shift", NeurIPS 2021):

    alpha <- alpha + step * (allowed - missed),     quantile = 1 - alpha

Each decision looks at one trailing window; `missed` is 1 when it missed the objective
while requests queued for a slot (a miss more capacity would have prevented). Over any
long stretch the share of missed looks converges to `allowed` whatever the traffic
(their Proposition 4.1: the gap is at most (1 + step) / (step * looks)), and alpha is kept
within [-step, 1 + step] (their Lemma 4.1), so a bad day cannot wind it up. A service
whose headroom is more than it needs spends less of the allowance and gets cheaper; one
whose bursts outrun the headroom raises it after its first misses.

The quantile never goes above `top`, the objective's own attainment target (meridian.py):
the surges rarer than the share of windows the objective lets miss are what that share is
for. Between the 0.99 quantile and the largest surge ever seen lies a rare clump (x8-x25 on
the ServeGen m-mid curve at 5 req/s) which, planned for, held most of a day's fleet at
3-5 times its need. Alpha stops at `1 - top - step` for the same reason as their lemma's
`-step` (below): past the top, misses cannot raise the headroom any further, and a budget
wound up beyond it would hold the top for hours after the misses stop (600 calm looks at a
0.99 top instead of 200).

How much of the allowance is the law's to spend: misses that more capacity could not
have prevented (a miss with no queue and a light batch: the prompt mix) spend it too.
Given the objective's whole `allowance`, the budget measures that share of its looks
online and targets what is left, `allowance - unfixable share`, less a sampling margin
(`margin`: a one-sided 95 % bound on how far a run's share of missed looks can exceed its
long-run value, wider for misses that come in runs), never less than the `allowed` it
was built with (the law's prior: half the allowance, settings.py). Without the margin the
law would aim at the objective's edge and land on either side of it by chance: measured
on the ServeGen m-mid curve at 5 req/s, 0.9889-0.9892 on two of four seeds/day ranges.
"""
from __future__ import annotations

import math

from controller.law.minmax import max2, min2


class MissBudget:
    def __init__(self, allowed: float, prior_alpha: float, step: float, allowance: float | None = None,
                 top: float = 1.0):
        if not 0.0 <= allowed < 1.0:
            raise ValueError("allowed miss share must be in [0, 1)")
        if not 0.0 < top <= 1.0:
            raise ValueError("the top quantile must be in (0, 1]")
        if allowance is not None and not allowed <= allowance < 1.0:
            raise ValueError("the allowance must be in [allowed, 1)")
        self.floor = self.allowed = allowed
        self.allowance = allowance
        self.alpha = prior_alpha
        self.step = step
        self.top = top
        self.looks = 0
        self.misses = 0
        self.unfixable = 0
        self.runs = 0  # runs of consecutive missed looks (of either kind)
        self._last_spoilt = False

    def update(self, missed: bool, unfixable: bool = False) -> None:
        """`missed`: a miss capacity would have prevented; `unfixable`: one it would not."""
        self.looks += 1
        self.misses += int(missed)
        self.unfixable += int(unfixable)
        spoilt = missed or unfixable
        self.runs += int(spoilt and not self._last_spoilt)
        self._last_spoilt = spoilt
        if self.allowance is not None:
            self.allowed = max2(self.floor, self.allowance - self.unfixable / self.looks - self.margin())
        alpha = self.alpha + self.step * (self.allowed - (1.0 if missed else 0.0))
        # Their Lemma 4.1 keeps alpha in [-step, 1 + step] because at alpha <= 0 the
        # interval is infinite and nothing misses. Here the top quantile is a finite surge,
        # which a new record can still outrun: such a miss says nothing about which quantile
        # to plan for, so alpha keeps the lemma's bounds, shifted to the top, instead of
        # winding up for hours of maximal headroom.
        self.alpha = min2(1.0 + self.step, max2(1.0 - self.top - self.step, alpha))

    def margin(self) -> float:
        """How far the share of missed looks of a run this long may fall above its long-run
        value by chance: a one-sided 95 % bound (z = 1.645) on a share whose misses come in
        runs of the mean length seen (the variance of a share of clustered events grows
        with the cluster size). Targeting the allowance itself would leave a run at the
        objective's edge half the time; the margin shrinks as the looks add up."""
        if self.looks == 0:
            return self.allowance or 0.0
        cluster = (self.misses + self.unfixable) / self.runs if self.runs else 1.0
        return 1.645 * math.sqrt((self.allowance or 0.0) * cluster / self.looks)

    @property
    def quantile(self) -> float:
        """The surge quantile to provision for, at most `top` (1.0 = the highest surge seen)."""
        return min2(self.top, max2(0.0, 1.0 - self.alpha))
