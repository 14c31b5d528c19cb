"""Online estimate of what one replica can do at the objective, from what Prometheus shows.

Nothing about the model, GPU or token mix is handed in; everything is learnt from
the observation stream and relearnt when it changes:

- service time (mean time a request holds a batch slot) by Little's law,
  in_flight = rate * service, fitted against the arrival rate per replica because
  decode slows as the batch fills (not against in-flight per replica: that shares
  its noise with in_flight / rate and would fit a slope to noise);
- batch slots per replica: seen only when requests queue for a slot, at which point
  in_flight / ready is a lower bound on the slots (exact when every replica is full);
- first-token time without queueing (the prefill percentile) against per-replica
  concurrency: prefill shares the GPU with the batch, so it grows with load (the law
  keeps the measured percentile, not a cap learnt from single misses, as its guard:
  meridian.py `_latency_tight`);
- the highest per-replica concurrency observed to meet the objective: until the
  slots or the prefill slope are known, the law plans at most a bounded factor above
  it, so it finds the edge by small probes instead of one big one.

A new revision (the Deployment's pod template: another model, image or instance type)
makes the batch unknown again (`new_model`); the probe then starts at the old batch and
steps up in time, since a fleet sized for a smaller batch never queues.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from controller.law.minmax import max2, min2
from controller.law.online import ForgettingLine
from controller.law.settings import LawSettings


class Sample(NamedTuple):
    """One healthy observation reduced to what the estimator needs."""

    time_s: float
    ready: int
    rate_rps: float
    in_flight: float | None
    queued: float | None
    ttft_q_s: float | None


class CapacityView(NamedTuple):
    service_s: float | None  # mean slot-holding time at the planning concurrency
    slots: float | None  # batch slots per replica, None until a queue has been seen
    safe_concurrency: float | None  # highest per-replica in-flight seen with no queue
    safe_mean_concurrency: float | None  # highest per-replica offered load seen with no queue
    concurrency_cap: float | None  # per-replica in-flight the law plans up to
    first_token_s: float | None  # no-queue TTFT percentile at the cap, in a bad (1 %) window
    safe_rate_per_replica: float | None  # fallback when in-flight is not reported
    limited_by: str  # which evidence sets the cap: "slots", "probe" or "none"
    peakedness: float = 1.0  # variance / mean of the busy slots (1 = Poisson arrivals)


class CapacityEstimator:
    CALM_SAMPLES = 4  # one typical rate window (1 min) at a 15 s interval
    MAX_SERVICE_S = 3600.0  # a slot held longer than this is a measurement artefact (rate ~ 0)
    def __init__(self, target_ttft_s: float, settings: LawSettings):
        self.target = target_ttft_s
        self.s = settings
        # service_s against arrival rate per replica; relearns after a sustained 50 % shift (new model or
        # token mix), not on the +-30 % a varying prompt mix gives from minute to minute
        self.service = self._service_line()
        # no-queue TTFT_q against concurrency: the prompt mix moves it a lot between windows,
        # so it only forgets, it never restarts
        self.first_token = ForgettingLine(settings.forget, min_spread=0.01, patience=0)
        self.slots: float | None = None
        self._slots_low_run = 0
        self.safe_concurrency: float | None = None  # busiest queue-free snapshot, per replica
        self.safe_mean_concurrency: float | None = None  # busiest queue-free offered load, per replica
        self.safe_rate: float | None = None
        self._last_ready: int | None = None
        self._since_queue = self.CALM_SAMPLES  # observations since a queue was last seen
        self._last_queue: tuple[float, float] | None = None  # (time, queued) of the last look
        self._z_num = self._z_den = 0.0  # peakedness of the offered load (weighted mean)
        self.onset = False  # the latest look is the first to see a queue
        self._view: CapacityView | None = None  # what `view` read since the last update
        self._probe_looks, self._probe_peak = 0, 0.0  # calm looks at the probe level, their busiest
        self._probe_steps = False  # step the probe up in time (after a new model: `new_model`)
        self._old_service: float | None = None  # the old model's slot time, for a new fit's first window

    # -- learning -----------------------------------------------------------------------
    def update(self, x: Sample) -> None:
        self._view = None
        ready_changed = self._last_ready is not None and x.ready != self._last_ready
        self._last_ready = x.ready
        queued = x.queued if x.queued is not None else 0.0
        # a request waiting for a slot means at least one replica's batch is full
        queue_now = x.queued is not None and queued >= 1.0
        # the first look at a queue after a look without one: a burst arriving, not a backlog
        onset = queue_now and self._since_queue > 0
        self.onset = onset
        self._since_queue = 0 if queue_now else self._since_queue + 1
        if queue_now:
            self._probe_looks, self._probe_peak = 0, 0.0
        previous, self._last_queue = self._last_queue, (x.time_s, queued) if x.queued is not None else None
        if x.ready <= 0:
            return
        per_replica = x.in_flight / x.ready if x.in_flight is not None else None
        if queue_now and per_replica is not None and not ready_changed:
            # (replicas that just became ready have not filled yet: not a slot count)
            self._learn_slots(per_replica)
            if previous is not None and previous[1] >= 1.0 and x.time_s > previous[0] and x.in_flight > 0:
                self._learn_saturated_service(x, (queued - previous[1]) / (x.time_s - previous[0]))
        # Trailing-window figures still carry a queue that has just drained, so the
        # queue-free fits take only samples a full window (CALM_SAMPLES) after the last queue.
        calm = self._since_queue >= self.CALM_SAMPLES
        if calm and per_replica is not None and x.rate_rps > 0 and x.in_flight > 0:
            # Little's law: in_flight = rate * slot-holding time
            service = x.in_flight / x.rate_rps
            if service < self.MAX_SERVICE_S:
                self._add_service(x.rate_rps / x.ready, service)
        # (a queue-free TTFT above twice the objective is a drained queue still in the
        # window, not prefill: the law could not meet the objective there anyway)
        if calm and x.ttft_q_s is not None and x.rate_rps > 0 and x.ttft_q_s <= 2.0 * self.target:
            # against the arrival rate per replica too: a window's TTFT quantile reflects the
            # occupancy over the window, which the window's rate tracks better than a snapshot
            self.first_token.add(x.rate_rps / x.ready, x.ttft_q_s)
        if (calm or onset) and per_replica is not None and x.rate_rps > 0 and self.service.weight >= self.CALM_SAMPLES:
            self._learn_peakedness(x, queued)
        if calm:
            # no request waited for a slot: the replicas held this many at once, so they have
            # at least this many slots (whatever the TTFT, which prefill may dominate)
            if per_replica is not None:
                self._probe_step(per_replica, x.ttft_q_s)
                self.safe_concurrency = max2(self.safe_concurrency or 0.0, per_replica)
                if self.slots is not None:
                    self.safe_concurrency = min2(self.safe_concurrency, self.slots)
                if self.service.weight > 0 and x.rate_rps > 0:
                    # the mean (offered) concurrency of this queue-free minute
                    mean_load = x.rate_rps * self.service.mean_y() / x.ready
                    self.safe_mean_concurrency = max2(self.safe_mean_concurrency or 0.0, min2(mean_load, per_replica * 2))
            if x.rate_rps > 0 and x.ttft_q_s is not None and x.ttft_q_s <= self.target * self.s.ttft_headroom:
                self.safe_rate = max2(self.safe_rate or 0.0, x.rate_rps / x.ready)

    def _probe_step(self, per_replica: float, ttft_q_s: float | None) -> None:
        """After a new model (`new_model`), until a queue shows its batch: a whole rate
        window without a queue, with the first token inside its planning margin, while the
        replicas ran within one probe step of the busiest level seen, makes that level plus
        the step safe too. Without the step the probe stalls: the law sizes so the peaks stay
        under the bound, so the busiest level seen barely grows, and a fleet sized for the old
        batch never queues to show a bigger one. Only after a new model: at start-up the first
        queues show the batch, and stepping at all times measured no cheaper on the sweeps
        (BENCH.md, round 11)."""
        if not self._probe_steps or self.slots is not None or self.safe_concurrency is None:
            return
        if ttft_q_s is None or ttft_q_s > self.target * self.s.ttft_headroom:
            # the first token, not the batch, is what this level costs (prefill shares the GPU)
            self._probe_looks, self._probe_peak = 0, 0.0
            return
        self._probe_looks += 1
        self._probe_peak = max2(self._probe_peak, per_replica)
        if self._probe_looks >= self.CALM_SAMPLES:
            if self._probe_peak * self.s.probe_growth >= self.safe_concurrency:
                self.safe_concurrency *= self.s.probe_growth
            self._probe_looks, self._probe_peak = 0, 0.0

    def _service_line(self) -> ForgettingLine:
        return ForgettingLine(self.s.forget, min_spread=0.01, shift=0.5, patience=5)

    def _add_service(self, rate_per_replica: float, service_s: float) -> None:
        self.service.add(rate_per_replica, service_s)
        if self._old_service is not None and self.service.weight >= self.CALM_SAMPLES:
            self._old_service = None  # the new model's own fit has a rate window of samples

    def new_model(self) -> None:
        """Another model, image or instance type serves the same traffic: its batch is
        unknown again, and the probe for it starts at the old batch (a smaller one queues at
        once and is learnt from the queue; a bigger one is found by the probe's steps). The
        service fit starts again too: an old fit's error would be read as burstiness (a swap
        back to a faster model put the peakedness at 8-11 for half an hour, and the fleet with
        it) -- but with the old slot time as its floor for the new fit's first rate window. The
        first-token line relearns by forgetting, as with a new prompt mix, and the peakedness
        is the arrivals', not the model's: both are kept."""
        self.safe_concurrency = self.slots or self.safe_concurrency
        self.slots, self._slots_low_run = None, 0
        self.safe_mean_concurrency = self.safe_rate = None  # offered load per replica: the model's
        # until the new fit has a rate window of samples, plan with the old model's slot time
        # where it is the longer: the first samples of a smaller batch come from an overload,
        # where in-flight over the arrival rate under-states it (the rehearsal read 6.6 s for 10 s)
        self._old_service = self.service.mean_y() if self.service.weight > 0 else None
        self.service = self._service_line()
        self._probe_looks, self._probe_peak, self._probe_steps = 0, 0.0, True
        self._view = None

    def _learn_peakedness(self, x: Sample, queued: float) -> None:
        """In an infinite-server group (every request served at once) Poisson arrivals keep
        the number in service Poisson (variance = mean = offered load); burstier arrivals
        spread it wider. The squared deviation of the requests present -- in a slot or
        waiting for one, as the infinite-server group would hold them all -- from the
        offered load, over the load, is the peakedness (Hayward); it also absorbs estimation
        error, on the safe side. Waiting requests count at a queue's onset: the bursts that
        outrun the slots are the ones the estimate must not miss, while a standing backlog
        (a queue seen look after look) is overload, which the sizing drains, not burstiness."""
        load = x.rate_rps * max2(self.service.predict(x.rate_rps / x.ready), 1e-3)
        if load >= 1.0:
            sample = (x.in_flight + queued - load) ** 2 / load
            f = self.s.forget
            self._z_num = self._z_num * f + sample
            self._z_den = self._z_den * f + 1.0

    @property
    def peakedness(self) -> float:
        return max2(1.0, self._z_num / self._z_den) if self._z_den > 0 else 1.0

    def _learn_saturated_service(self, x: Sample, queue_growth_rps: float) -> None:
        """With every slot busy, the served rate is the arrival rate less the queue's growth,
        and Little's law on the slots gives the service time at a full batch -- the very
        point a queue-free fleet never shows and the fit most needs."""
        served = x.rate_rps - queue_growth_rps
        # (a queue that vanished faster than three times the arrival rate was dropped or
        # reset, not served)
        if 0.3 * x.rate_rps < served < 3.0 * x.rate_rps and x.in_flight / served < self.MAX_SERVICE_S:
            self._add_service(served / x.ready, x.in_flight / served)

    def _learn_slots(self, per_replica: float) -> None:
        if self.slots is None or per_replica >= self.slots:
            self.slots = per_replica
            self._slots_low_run = 0
            return
        # lower than known: partial saturation (one replica full) or fewer slots than
        # before (new model). Follow slowly, restart after a sustained run of low samples.
        if per_replica < 0.7 * self.slots:
            self._slots_low_run += 1
            if self._slots_low_run >= 3:
                self.slots = per_replica
                self._slots_low_run = 0
                return
        else:
            self._slots_low_run = 0
        self.slots += (1.0 - self.s.forget) * (per_replica - self.slots)

    def busy(self, per_replica: float | None) -> bool:
        """The batch is at least half full: a miss then is load, not the prompt mix alone."""
        slots = self.slots or self.safe_concurrency
        return per_replica is not None and slots is not None and per_replica >= 0.5 * slots

    @property
    def queue_recent(self) -> bool:
        """A request waited for a slot within the last rate window."""
        return self._since_queue < self.CALM_SAMPLES

    # -- reading ------------------------------------------------------------------------
    def view(self) -> CapacityView:
        """The planning figures. `concurrency_cap` is the per-replica mean in-flight the law
        plans up to while the slots are unknown: the probe bound. Known slots are a server
        count for the queueing model instead. Read once per update (a decision reads it
        several times)."""
        if self._view is None:
            self._view = self._read_view()
        return self._view

    def _read_view(self) -> CapacityView:
        floor = self._old_service
        service_mean = max2(self.service.mean_y(), 1e-3) if self.service.weight > 0 else None
        if floor is not None:
            service_mean = max2(service_mean or 0.0, floor)
        if self.slots is not None:
            cap, by = self.slots, "slots"
        elif self.safe_concurrency is not None and self.safe_concurrency > 0:
            cap, by = self.safe_concurrency * self.s.probe_growth, "probe"
        else:
            cap, by = None, "none"
        service = None
        if service_mean is not None:
            # at the cap: the rate per replica that keeps `cap` slots busy, then the service time there
            service = max2(self.service.predict(cap / service_mean), 1e-3) if cap is not None else service_mean
            if floor is not None:
                service = max2(service, floor)
        first = None
        if self.first_token.weight > 0:
            at = cap / service if cap is not None and service else self.first_token.mean_x()
            first = max2(self.first_token.predict(at) + self.ttft_spread(), 0.0)
        return CapacityView(
            service_s=service,
            slots=self.slots,
            safe_concurrency=self.safe_concurrency,
            safe_mean_concurrency=self.safe_mean_concurrency,
            concurrency_cap=cap,
            first_token_s=first,
            safe_rate_per_replica=self.safe_rate,
            limited_by=by,
            peakedness=self.peakedness,
        )

    def service_curve(self, rate: float) -> Callable[[int], float] | None:
        """Slot-holding time at `n` replicas sharing `rate` (the fitted line at rate / n),
        None until a calm sample has been seen. The line is read once: the queueing scan
        calls this for every size it tries."""
        if self.service.weight <= 0 or self._old_service is not None:
            return None
        b = self.service.slope()
        a = self.service.mean_y() - b * self.service.mean_x()
        return lambda n: max2(a + b * rate / max2(n, 1), 1e-3)

    def ttft_spread(self) -> float:
        """How far a bad window's (1 %) queue-free TTFT percentile lies above the fitted line."""
        return self.s.window_z * self.first_token.residual_sd()
