"""meridian's control law: the fewest, cheapest replicas that keep the TTFT percentile.

One decision, every `interval_s`:
1. health   -- stale/missing/NaN metrics hold the size (safety.py);
2. learn    -- cold start from replica counts (coldstart.py), per-replica capacity at
               the objective from rate, in-flight, queue and TTFT (capacity.py);
3. forecast -- the rate over the next cold start + interval (forecast.py), its surge
               headroom at the quantile the miss budget adapts to the objective's
               allowance from the law's own misses (budget.py);
4. size     -- fewest replicas whose M/M/c waiting-time tail keeps the TTFT percentile
               (queueing.py), plus replicas for a queue already built up;
5. settle   -- fast up, slow bounded down, adaptive hysteresis (stabilise.py);
6. bound    -- min/max, step limits, then spot/on-demand mix with fallback and the
               budget ceiling (safety.py, cost.py).
State is only what past observations taught it, so the same observation history
always gives the same decisions. Imports only the standard library and this package.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from controller.law.budget import MissBudget
from controller.law.capacity import CapacityEstimator, CapacityView, Sample
from controller.law.coldstart import ColdStartLearner
from controller.law.cost import MixPlanner
from controller.law.forecast import Forecast, RateForecaster
from controller.law.minmax import max2, min2
from controller.law.queueing import replicas_for_wait
from controller.law.safety import assess, clamp, size_bounds, step_bound
from controller.law.settings import LawSettings, rate_window_s
from controller.law.stabilise import Stabiliser
from controller.law.types import Decision, Limits, Objective, Observation


class Sizing(NamedTuple):
    replicas: int
    predicted_ttft_s: float | None
    why: str


def _usable(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) and x >= 0 else None


class MeridianPolicy:
    name = "meridian"

    def __init__(self, objective: Objective, limits: Limits, settings: LawSettings | None = None):
        if objective.ttft_s is None or not objective.ttft_s > 0:
            raise ValueError("meridian needs a TTFT objective (Objective.ttft_s > 0)")
        if not 0.0 < objective.window_attainment <= 1.0:
            raise ValueError("meridian needs a window attainment target in (0, 1] (Objective.window_attainment)")
        self.objective = objective
        self.limits = limits
        self.settings = settings or LawSettings()
        self.interval_s = self.settings.interval_s
        s = self.settings
        self._tail = (1.0 - objective.percentile / 100.0) * s.tail_share
        self._capacity = CapacityEstimator(objective.ttft_s, s)
        self._revision: str | None = None  # what the replicas ran at the last look that said
        prior = limits.cold_start_s if limits.cold_start_s else s.cold_start_prior_s
        # one learner per capacity type: spot that never becomes ready must not be paired
        # with an on-demand replica that does (the learner takes the oldest starter as the
        # one that became ready), which would read the wait for missing spot as a cold start;
        # their samples pool into one set of recent starts
        self._cold_od = ColdStartLearner(prior)
        self._cold_spot = ColdStartLearner(prior, self._cold_od._samples)
        self._forecaster = RateForecaster(s.interval_s, s.max_trend_ratio, s.surge_quantile)
        self._stabiliser = Stabiliser(limits.scale_down_delay_s, s.max_down_share, s.hysteresis_step, s.hysteresis_max)
        self._mix = MixPlanner(s)
        allowance = 1.0 - objective.window_attainment
        # the surge headroom plans for surges up to the objective's own quantile, never the
        # rarer ones: the windows the objective lets miss are what those surges may cost
        self._budget = MissBudget(allowance * s.budget_share, 1.0 - s.surge_quantile, s.budget_step, allowance,
                                  top=objective.window_attainment)
        # the bounds of every size, read once: the limits never change
        self._floor, self._most = size_bounds(limits)
        self._base: int | None = None  # replicas needed for load, before spot fallback
        self._prefill_miss_s = -math.inf  # last look that missed with no queue at a busy batch

    # -- the decision -------------------------------------------------------------------
    def decide(self, obs: Observation) -> Decision:
        limits, s = self.limits, self.settings
        floor, most = self._floor, self._most
        cold_s = self._cold_start(obs)
        current = self._base if self._base is not None else clamp(obs.replicas, floor, most)
        health = assess(obs, s.stale_after_s)
        if health.rate_ok:
            self._learn(obs)
            if health.full:
                self._count_miss(obs)
        predicted = None
        if not health.rate_ok:
            needed, why = current, f"{health.problem}: holding {current}"
        else:
            sized = self._size(obs, cold_s + s.interval_s, floor)
            predicted = sized.predicted_ttft_s
            rec = sized.replicas
            why = sized.why
            if not health.full and rec < current:
                rec, why = current, f"{health.problem}: no scale-down; {why}"
            elif rec < current and self._latency_tight(obs, rec):
                rec, why = current, (f"p{self.objective.percentile:g} TTFT {obs.ttft_quantile_s:.2f} s has used over "
                                     f"half the planning margin: no scale-down; {why}")
            settled = self._stabiliser.apply(obs.time_s, current, clamp(rec, floor, most))
            needed = settled.replicas
            if settled.note:
                why = f"{why}; {settled.note}"
        needed = clamp(step_bound(clamp(needed, floor, most), current, limits), floor, most)
        mix = self._mix.plan(obs, needed, limits, cold_s, floor)
        total, spot = mix.replicas, mix.spot
        if total > most:
            total = max2(limits.max_replicas, needed)  # the fallback never breaks max_replicas
        self._base = needed
        reason = f"{self._action(obs.replicas, total)}: {why}" + (f"; {mix.note}" if mix.note else "")
        return Decision(
            replicas=total,
            spot=min2(spot, total),
            reason=reason,
            budget_limited=mix.budget_limited,
            metrics_available=health.rate_ok,
            predicted_ttft_s=predicted,
        )

    # -- steps ----------------------------------------------------------------------------
    def _cold_start(self, obs: Observation) -> float:
        """The planning cold start: the longest of the recent starts of either capacity type,
        the declared (or default) figure until one has been seen."""
        spot_ready, spot_starting = max2(obs.ready_spot, 0), max2(obs.starting_spot, 0)
        self._cold_od.update(obs.time_s, obs.ready_replicas - spot_ready, obs.starting_replicas - spot_starting)
        self._cold_spot.update(obs.time_s, spot_ready, spot_starting)
        return self._cold_od.estimate_s()

    def _follow_revision(self, revision: str | None) -> None:
        """A new pod template is another model, image or instance type: its batch is learnt
        again (`CapacityEstimator.new_model`). Without this the law learns a smaller batch from
        the queues it causes, but never a bigger one: a fleet sized for the smaller batch never
        queues (tests/test_law_twin.py)."""
        if revision is None:
            return  # unknown: keep what was learnt (a source that cannot tell is not a rollout)
        if self._revision is not None and revision != self._revision:
            self._capacity.new_model()
        self._revision = revision

    def _learn(self, obs: Observation) -> None:
        self._follow_revision(obs.revision)
        rate = obs.arrival_rate_rps
        in_flight, queued = _usable(obs.in_flight), _usable(obs.queued)
        self._forecaster.update(obs.time_s, rate)
        self._capacity.update(
            Sample(
                time_s=obs.time_s,
                ready=obs.ready_replicas,
                rate_rps=rate,
                in_flight=in_flight,
                queued=queued,
                ttft_q_s=_usable(obs.ttft_quantile_s),
            )
        )
        service = self._capacity.view().service_s
        if self._capacity.onset and service and in_flight is not None:
            self._forecaster.growth.note_demand((in_flight + (queued or 0.0)) / service)

    def _latency_tight(self, obs: Observation, smaller: int | None = None) -> bool:
        """The measured TTFT percentile has used more than half of the margin the law plans
        with (`ttft_headroom`) at a busy batch -- or, at any batch, more than half the room
        between the prompt mix's own first token and the objective: whatever the model says,
        the evidence is that the fleet is not oversized, so it does not shrink (a model that
        under-states the load otherwise walks the fleet down to the objective's edge, one
        replica per window). At a light batch with the prompt mix near the objective, the
        fixed edge alone would hold a fleet that load does not limit for ever; and a light
        batch in a window too sparse to have queued (`_could_queue`) says nothing about the
        fleet's size at all -- its percentile is its longest prompt or two."""
        ttft = _usable(obs.ttft_quantile_s)
        if ttft is None:
            return False
        target = self.objective.ttft_s
        edge = target * (1.0 - (1.0 - self.settings.ttft_headroom) / 2.0)
        if ttft > edge and self._batch_busy(obs):
            # a busy batch: this TTFT is load, and it has used half the margin -- unless the
            # first-token line's slope says what the smaller fleet adds to it stays inside
            return not self._prefill_room_for(obs, ttft, smaller)
        if not self._could_queue(obs):
            return False  # a light batch in a window too sparse to queue: its longest prompts
        line = self._capacity.first_token
        if line.weight >= CapacityEstimator.CALM_SAMPLES:
            # half the room left above the no-load first token (the prompt mix's own prefill,
            # the queue-free TTFT line at zero load): a service whose long prompts alone come
            # near the objective must still be able to shrink while its load is light
            floor = min2(max2(line.predict(0.0), 0.0), target)
            edge = max2(edge, floor + (target - floor) / 2.0)
        return ttft > edge

    def _prefill_room_for(self, obs: Observation, ttft: float, smaller: int | None) -> bool:
        """Whether `smaller` replicas keep a bad window's first token under the objective, by
        the first-token line's slope alone: the measured percentile, plus what the slope adds
        for the higher rate per replica, plus a bad window's spread above the line. Only the
        slope is used, not the line's level, which a prompt-mix shift tilts for the rest of a
        run (on the Azure hour, a dip at 960 s took the line's zero-load value from ~0.84 s to
        ~0; BENCH.md, round 13). False without a significant slope: then nothing says how the
        first token moves with load, and the fixed edge holds. Not at a light batch: there the
        floor-relative edge decides (`_latency_tight`)."""
        line = self._capacity.first_token
        b = line.slope()
        if b <= 0 or line.weight < CapacityEstimator.CALM_SAMPLES or not smaller or obs.ready_replicas <= 0:
            return False
        rise = b * obs.arrival_rate_rps * (1.0 / smaller - 1.0 / obs.ready_replicas)
        return ttft + max2(rise, 0.0) + self._capacity.ttft_spread() <= self.objective.ttft_s

    def _batch_busy(self, obs: Observation) -> bool:
        """The replicas' batches are at least half full (capacity.py `busy`)."""
        in_flight = _usable(obs.in_flight)
        return (in_flight is not None and obs.ready_replicas > 0
                and self._capacity.busy(in_flight / obs.ready_replicas))

    def _count_miss(self, obs: Observation) -> None:
        """One look at the trailing window for the miss budget: a miss counts when requests
        queued for a slot within the window or the batch is at least half full -- a miss
        with a light batch and no queue is the prompt mix (long prompts), which headroom
        cannot fix: it is counted apart, as allowance already spent; the adapted quantile
        then sets the forecast's surge headroom."""
        ttft = _usable(obs.ttft_quantile_s)
        if ttft is None or not obs.arrival_rate_rps:
            return
        busy, queue = self._batch_busy(obs), self._capacity.queue_recent
        missed = ttft > self.objective.ttft_s
        # a TTFT beyond what a bad window's prefill explains at the cap is waiting, whether or
        # not a look caught the queue (a clump's queue can build and drain between two looks)
        # -- if the window could have queued at all: a near-silent window's percentile is its
        # longest prompt or two, and no queue forms while its requests fit the free slots
        queue = queue or (ttft > self._prefill_bound() and self._could_queue(obs))
        if missed and busy and not queue:
            self._prefill_miss_s = obs.time_s  # a miss with no queue at a busy batch: prefill
        load = queue or busy
        self._budget.update(missed and load, unfixable=missed and not load)
        self._forecaster.growth.q = self._budget.quantile

    def _could_queue(self, obs: Observation) -> bool:
        """Whether a request can have waited for a slot within the trailing window: the
        requests in flight now plus every arrival of the window (rate x one rate window,
        settings.rate_window_s) outnumber the ready replicas' slots. True while the slot
        count is unknown."""
        slots = self._capacity.slots
        in_flight = _usable(obs.in_flight)
        if slots is None or in_flight is None:
            return True
        window_s = rate_window_s(self.settings.interval_s)
        return in_flight + obs.arrival_rate_rps * window_s >= obs.ready_replicas * slots

    def _prefill_bound(self) -> float:
        """The longest first token the prefill explains: a bad window's queue-free TTFT
        at the concurrency cap (capacity.py); inf until the line is learnt."""
        first = self._capacity.view().first_token_s
        return first if first is not None and self._capacity.first_token.weight >= CapacityEstimator.CALM_SAMPLES else math.inf

    def _size(self, obs: Observation, horizon_s: float, floor: int) -> Sizing:
        limits = self.limits
        queued = _usable(obs.queued) or 0.0
        fc = self._forecaster.forecast(horizon_s, overloaded=queued >= 1.0)
        view = self._capacity.view()
        if fc is None or fc.rate_rps <= 0:
            return Sizing(floor, None, "no arrivals")
        service, cap = view.service_s, view.concurrency_cap
        in_flight = _usable(obs.in_flight)
        if service is None and in_flight and obs.arrival_rate_rps > 0:
            # never seen a calm sample: in_flight / rate under-states the slot-holding time
            # while a queue builds, but the queue itself is sized for below, and counting
            # waiting time here as well would feed the queue back into the size
            service = in_flight / obs.arrival_rate_rps
            if service > CapacityEstimator.MAX_SERVICE_S:  # a rate of ~0: not a measurement
                service = None
        if cap is None and in_flight and obs.ready_replicas > 0:
            cap = in_flight / obs.ready_replicas  # at least what the replicas hold now
        if service is None or cap is None or not (math.isfinite(service) and math.isfinite(cap) and cap > 0):
            return self._size_by_rate(obs, fc, view)
        target = self.objective.ttft_s
        first = view.first_token_s or 0.0
        budget = target * self.settings.ttft_headroom - first
        backlog = self._projected_backlog(obs, fc.rate_rps, queued, service, view, horizon_s - self.settings.interval_s)
        # the backlog new capacity will find must be served on top of new arrivals: drain
        # it within one more horizon
        rate = fc.rate_rps + backlog / horizon_s
        concurrency = rate * service / cap
        if not math.isfinite(concurrency):
            return self._size_by_rate(obs, fc, view)
        at_least = max2(floor, math.ceil(concurrency))
        # Until a queue has shown the slot count, plan as if a replica had the probe bound's
        # worth of slots (a bounded guess above the busiest queue-free snapshot), under the
        # same queueing model, so the guess is never run at full occupancy.
        slots = view.slots if view.slots is not None else cap
        # the slot-holding time at each size the scan tries (decode is faster in the
        # emptier batches of a bigger fleet), when it comes from the fitted line
        learnt = view.service_s is not None and service == view.service_s
        service_at = self._capacity.service_curve(rate) if learnt else None
        n, wait_q = replicas_for_wait(
            rate, service, slots, budget, self._tail, at_least, self._most, view.peakedness,
            service_at,
        )
        if view.slots is None and view.safe_mean_concurrency:
            # ...but never more than keeps the offered load per replica at a level already
            # seen queue-free: a small guess must not add queueing headroom to a fleet
            # that has shown it needs none
            seen = max2(at_least, math.ceil(rate * service / view.safe_mean_concurrency))
            # -- except down to one replica: a level seen queue-free on one replica is that
            # batch alone holding its own clumps, with nothing pooled, and the next clump the
            # size of the busiest seen fills it (the default topology's regions at 2 req/s:
            # 22 of 32 slots, then a queue for a whole cold start; BENCH.md, round 13)
            seen = max2(seen, min2(n, 2))
            if seen < n:
                n, wait_q = seen, 0.0
        prefill_n = (self._prefill_replicas(fc.rate_rps, self._most)
                     if obs.time_s - self._prefill_miss_s <= limits.scale_down_delay_s else 0)
        by_prefill = prefill_n > n
        n = max2(n, prefill_n)
        guard = self._saturation_guard(obs)
        if guard > n:
            n = guard
        why = (
            f"forecast {fc.rate_rps:.3g} req/s ({fc.basis}, {horizon_s:.0f} s horizon)"
            + (f" + {backlog:.0f} queued by the time new capacity is ready" if backlog >= 1 else "")
            + f"; per replica <= {cap:.3g} in flight ({view.limited_by}), service {service:.3g} s"
            + (f", peakedness {view.peakedness:.2g}" if view.peakedness > 1.05 else "")
        )
        if by_prefill:
            why += f"; {n} replicas keep the first token of a bad window under the objective"
        predicted = first + wait_q if math.isfinite(wait_q) else None
        if predicted is not None:
            why += f"; predicted p{self.objective.percentile:g} TTFT {predicted:.2f} s"
        return Sizing(n, predicted, why)

    def _prefill_replicas(self, rate: float, at_most: int) -> int:
        """Replicas whose rate each keeps the queue-free TTFT percentile of a bad window (the
        first-token line plus `window_z` of its spread) under the objective: prefill shares
        the GPU with the batch, so a fleet can miss the objective with no queue at all. Used
        only within a scale-down window of such a miss (the line's spread is wide, and a
        service that does not miss needs none of it). 0 when the line has no significant
        slope (load does not move the first token) or the prompt mix alone misses at zero
        load (more replicas cannot help)."""
        line = self._capacity.first_token
        b = line.slope()
        if b <= 0 or line.weight < CapacityEstimator.CALM_SAMPLES or rate <= 0:
            return 0
        room = self.objective.ttft_s - self._capacity.ttft_spread() - line.predict(0.0)
        if room <= 0:
            return 0
        return min2(at_most, math.ceil(rate * b / room))

    def _size_by_rate(self, obs: Observation, fc: Forecast, view: CapacityView) -> Sizing:
        """No in-flight data to model with: size on the best rate per replica seen healthy."""
        if view.safe_rate_per_replica and math.isfinite(fc.rate_rps / view.safe_rate_per_replica):
            n = math.ceil(fc.rate_rps / view.safe_rate_per_replica)
            return Sizing(n, None, f"forecast {fc.rate_rps:.3g} req/s at <= {view.safe_rate_per_replica:.3g} req/s per replica seen healthy")
        base = self._base if self._base is not None else obs.replicas
        return Sizing(base, None, "capacity not yet learnt")

    @staticmethod
    def _projected_backlog(
        obs: Observation, rate: float, queued: float, service: float, view: CapacityView, cold_s: float
    ) -> float:
        """Requests queued now, plus what keeps piling up until capacity ordered now is
        ready: while the expected arrival rate exceeds what the ready slots serve (slots /
        service per replica), the queue grows by the difference for one cold start."""
        if queued < 1.0 or view.slots is None:
            return queued
        serving = obs.ready_replicas * view.slots / service
        return queued + max2(0.0, rate - serving) * cold_s

    def _saturation_guard(self, obs: Observation) -> int:
        """Closed-loop backstop: the objective is missed while requests queue, yet the model
        thinks the fleet is big enough -- so the model under-states the load. Add one
        replica per decision while nothing is starting, whatever the model says (the
        queued requests themselves are drained by the sizing above)."""
        ttft, queued = _usable(obs.ttft_quantile_s), _usable(obs.queued)
        if ttft is None or queued is None or queued < 1 or ttft <= self.objective.ttft_s:
            return 0
        return 0 if obs.starting_replicas else obs.replicas + 1

    @staticmethod
    def _action(current: int, total: int) -> str:
        if total > current:
            return f"scale up {current}->{total}"
        if total < current:
            return f"scale down {current}->{total}"
        return f"hold {total}"


def make(objective: Objective, limits: Limits, knob: float | None = None) -> MeridianPolicy:
    """Factory for the bench registry. The knob is ignored: meridian has none to tune,
    it learns capacity, cold start and burstiness from the observations."""
    return MeridianPolicy(objective, limits)
