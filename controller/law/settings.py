"""The law's own defaults, each derived from the objective or a published default.

Nothing here is fitted to a trace: every figure is a safety margin stated in terms
of the objective, a platform default it mirrors, or a rate of learning.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LawSettings:
    # Decision period: the HPA's default sync period (kube-controller-manager
    # --horizontal-pod-autoscaler-sync-period = 15 s), also Prometheus's usual scrape interval.
    interval_s: float = 15.0
    # Metrics older than four scrape intervals are stale: Prometheus itself marks a series
    # stale after 5 minutes, far too late for a controller; one minute is what a 15 s scrape
    # with a couple of missed scrapes still explains.
    stale_after_s: float = 60.0
    # Cold start until the operator's estimate or an observed start says otherwise:
    # "a few minutes" (node provisioning plus model load; DESIGN.md, issue 4).
    cold_start_prior_s: float = 180.0
    # Plan the TTFT percentile to this share of the objective: the trailing-window
    # quantile the law sees is itself noisy and a minute-window must hold 99 % of the time.
    ttft_headroom: float = 0.8
    # Plan the waiting-time tail for this share of the objective's tail (1 - percentile):
    # the prefill and waiting percentiles add, and half the tail is left for each.
    tail_share: float = 0.5
    # The first-token time without queueing varies from window to window with the prompt
    # mix; plan for its value in all but 1 % of windows (normal quantile 2.326): the SLO is
    # judged per 1-minute window and must hold in 99 % of them.
    window_z: float = 2.326
    # Surge headroom: the forecast provisions for a quantile of how far the rate rose above
    # its recent level within one cold start in the service's own history (learnt online).
    # This is only the starting point (the prior) of that quantile: the miss budget below
    # moves it to whatever the service's own misses call for. Not the 0.99 window target
    # itself: a rise only costs windows if it also outruns the queueing headroom, which
    # covers the short-term fluctuation, so the top decile is left to the queueing
    # headroom and the reactive path until misses say otherwise.
    surge_quantile: float = 0.9
    # The surge quantile above is only the prior: the law adapts it online to spend its
    # share of the objective's miss allowance (1 - window attainment) on its own misses
    # (budget.py). That share is the allowance less what misses capacity cannot fix (the
    # prompt mix) spend, measured online -- but never less than this floor, the prior
    # round's fixed half (as with `tail_share`), for a service whose prompt mix alone
    # would spend most of it.
    budget_share: float = 0.5
    # Step of that adaptation per decision: Gibbs & Candes' (NeurIPS 2021) value, 0.005;
    # one missed cold start (~13 looks) moves the quantile by ~0.07.
    budget_step: float = 0.005
    # When the per-replica concurrency that breaks the objective has never been seen, plan
    # at most this factor above the highest concurrency observed to be fine (a bounded probe).
    probe_growth: float = 1.1
    # Largest scale-down per decision, as a share of the current size (on top of the
    # stabilisation window): a wrong estimate can cost at most this much capacity at once.
    max_down_share: float = 0.1
    # Adaptive hysteresis: scale-down deadband as a share of the size, raised on each
    # reversal (down then up within the stabilisation window), decayed when calm.
    hysteresis_step: float = 0.05
    hysteresis_max: float = 0.25
    # Forgetting of the online estimators per sample: ~1/(1-f) samples of memory,
    # i.e. about 12 minutes at a 15 s interval.
    forget: float = 0.98
    # A forecast never extrapolates more than this factor above the latest rate.
    max_trend_ratio: float = 2.0
    # Spot that stays un-ready this many cold starts (learnt, else declared) is taken as
    # unavailable: the learnt cold start is already the longest recent start, so twice it
    # is capacity that is not coming, not a slow start (spotwatch.py).
    spot_give_up_cold_starts: float = 2.0
    # Retry spot after this backoff, doubling to the maximum: the Kubernetes
    # cluster-autoscaler's defaults for a node group that failed to scale up
    # (--initial-node-group-backoff-duration 5m, --max-node-group-backoff-duration 30m).
    spot_retry_initial_s: float = 300.0
    spot_retry_max_s: float = 1800.0


def rate_window_s(interval_s: float) -> float:
    """The trailing window of the arrival rate the law reads: one typical `rate(x[1m])`,
    four decision intervals at the 15 s default."""
    return 4.0 * interval_s
