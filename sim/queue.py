"""FIFO queue in front of batch slots, advanced in fixed time steps.

Each step's arrivals to a region form one cohort: a count (fractional counts allowed, so
one cohort can stand for thousands of requests) with its mean prompt and output length.
At every step, slots freed by finished requests are refilled from the head of the queue.
A request admitted at occupancy `u` holds its slot for prefill + output x time-per-token
at `u` (the GPU profile), and its slot is released that long after admission, split over
the two neighbouring steps so the mean release time is exact.

With one request per cohort and steps much shorter than a service time this is an exact
FIFO multi-server queue (tests compare it with Erlang C); with longer steps it is a fluid
approximation that keeps the per-step burstiness of the trace. Latency per request is
recovered afterwards from the cumulative admitted count (FIFO order), see `admission_times`.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from sim.profiles import GpuProfile

EPS = 1e-9


class SlotQueue:
    __slots__ = ("dt", "slots_per_replica", "pre_tps", "pre_slow", "dec1", "dec_slow", "ring", "ring_n",
                 "queue", "queued", "busy", "admitted", "occupancy", "wait_sum", "dropped", "_drop",
                 "held", "held_ring")

    def __init__(self, profile: GpuProfile, step_s: float, max_service_s: float):
        self.dt = step_s
        self.set_profile(profile)
        self.ring_n = int(max_service_s / step_s) + 4
        self.ring = [0.0] * self.ring_n
        self.queue: deque = deque()  # [arrival_step, count, mean_prompt, mean_output]
        self.queued = 0.0
        self.busy = 0.0
        # slots of draining replicas (`drain`) still holding requests, and when those finish
        self.held = 0.0
        self.held_ring = [0.0] * self.ring_n
        # per-step records, read after the run and by the metrics scraper
        self.admitted: list[float] = []
        self.occupancy: list[float] = []
        self.wait_sum: list[float] = []  # sum over admitted of (steps waited), for the live TTFT gauge
        self.dropped: list[float] = []
        self._drop = 0.0

    def set_profile(self, profile: GpuProfile) -> None:
        """Serve with `profile` from the next step (a model swap): requests already in a slot
        keep their release times; `max_service_s` must cover the slowest profile used."""
        self.slots_per_replica = profile.batch_slots
        self.pre_tps = profile.prefill_tokens_per_s
        self.pre_slow = profile.prefill_slowdown_full_batch
        self.dec1 = profile.decode_tokens_per_s_batch1
        self.dec_slow = profile.decode_slowdown_per_sequence * (profile.batch_slots - 1)

    def drain(self, share: float) -> None:
        """`share` of the serving replicas stop taking requests (a spot interruption notice):
        the requests they hold, `share` of those in flight (the fluid queue does not place
        requests on replicas), keep their slots until they finish, and no other request gets
        those slots. The caller stops counting the replicas in `step`'s `replicas`. A request
        still running when its instance is reclaimed keeps its slot to the end (a real node
        would lose it): with two minutes' notice and services of seconds, that is rare."""
        if share <= 0:
            return
        share = min(share, 1.0)
        ring, held = self.ring, self.held_ring
        for k in range(self.ring_n):
            held[k] += ring[k] * share
        self.held += self.busy * share

    def push(self, step: int, count: float, prompt_sum: float, output_sum: float) -> None:
        if count > EPS:
            self.queue.append([step, count, prompt_sum / count, output_sum / count])
            self.queued += count

    def step(self, s: int, replicas: int) -> None:
        """Release finished slots, then admit from the queue head into free slots of `replicas`."""
        ring, i = self.ring, s % self.ring_n
        self.busy -= ring[i]
        ring[i] = 0.0
        if self.busy < EPS:
            self.busy = 0.0
        if self.held:
            self.held -= self.held_ring[i]
            if self.held < EPS:
                self.held = 0.0
        self.held_ring[i] = 0.0
        cap = replicas * self.slots_per_replica + self.held
        free = cap - self.busy
        admitted = waited = 0.0
        occ = self.busy / cap if cap > 0 else 1.0
        if free > EPS and self.queue:
            pre_rate = self.pre_tps * (1.0 - self.pre_slow * occ)
            tpot = (1.0 + self.dec_slow * occ) / self.dec1
            dt, n, q = self.dt, self.ring_n, self.queue
            while q and free > EPS:
                c = q[0]
                a = c[1] if c[1] <= free else free
                x = (c[2] / pre_rate + c[3] * tpot) / dt
                k = int(x)
                f = x - k
                if k < 1:
                    k, f = 1, 0.0
                ring[(s + k) % n] += a * (1.0 - f)
                ring[(s + k + 1) % n] += a * f
                free -= a
                admitted += a
                waited += a * (s - c[0])
                if a >= c[1] - EPS:
                    q.popleft()
                else:
                    c[1] -= a
            self.busy += admitted
            self.queued -= admitted
            if self.queued < EPS:
                self.queued = 0.0
        self.admitted.append(admitted)
        self.occupancy.append(occ)
        self.wait_sum.append(waited)
        self.dropped.append(self._drop)
        self._drop = 0.0

    def drop_all(self) -> float:
        """Region lost: queued and running requests fail (the caller counts them)."""
        lost = self.queued
        self.queue.clear()
        self.queued = 0.0
        self.busy = self.held = 0.0
        self.ring = [0.0] * self.ring_n
        self.held_ring = [0.0] * self.ring_n
        self._drop += lost  # recorded with the next step, which admits nothing (region down)
        return lost


def admission_times(arrival_step: np.ndarray, weight: np.ndarray, admitted: np.ndarray,
                    dropped: np.ndarray, step_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Admission time and step of each request of one queue, in arrival (FIFO) order.

    The k-th unit of demand leaves the queue in the step where the cumulative departures
    (admitted + dropped) pass it; inside that step, departures are spread evenly. Requests
    that never leave, or leave by being dropped, get time +inf and step -1.
    """
    departed = admitted + dropped
    cum = np.cumsum(departed)
    mid = np.cumsum(weight) - weight / 2.0
    step = np.searchsorted(cum, mid - 1e-9, side="left")
    ok = step < len(cum)
    step_c = np.minimum(step, len(cum) - 1)
    before = cum[step_c] - departed[step_c]
    frac = np.clip((mid - before) / np.maximum(departed[step_c], 1e-12), 0.0, 1.0)
    t = (step_c + frac) * step_s
    ok &= dropped[step_c] <= 1e-12  # steps with drops admit nothing (region down)
    same = step_c == arrival_step  # admitted in its own step: a slot was free on arrival
    t = np.where(ok, t, np.inf)
    return t, np.where(ok, step_c, -1), same & ok
