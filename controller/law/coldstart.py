"""How long a new replica takes to become ready, learnt from the replica counts.

Replicas that appear in `starting_replicas` are queued with the time they were
first seen; when `ready_replicas` grows, the oldest starters are taken as the ones
that became ready (pods start in order far more often than not), and each gives a
sample. Replica counts come from the orchestrator, not from Prometheus, so this
keeps working through a metrics blackout. Capacity types that start apart (spot and
on-demand) each pair their own starters but may share one pool of recent samples.
"""
from __future__ import annotations

from collections import deque

from controller.law.minmax import max2, min2


class ColdStartLearner:
    KEEP = 16  # recent samples; the planning figure is their maximum (a high quantile)

    def __init__(self, prior_s: float, samples: deque[float] | None = None):
        self.prior_s = prior_s
        self._starters: deque[float] = deque()
        self._samples: deque[float] = samples if samples is not None else deque(maxlen=self.KEEP)
        self._last: tuple[int, int] | None = None
        self._last_time = 0.0

    def update(self, time_s: float, ready: int, starting: int) -> None:
        if self._last is None:
            # starters already present at the first look: age unknown, assume just started
            self._starters.extend([time_s] * max2(starting, 0))
            self._last = (ready, starting)
            self._last_time = time_s
            return
        ready0, _ = self._last
        # a replica first seen starting now was ordered after the previous look: count
        # from then, so a sample never under-states the cold start
        started_at = self._last_time
        if ready > ready0:
            became_ready = min2(ready - ready0, len(self._starters))
            for _ in range(became_ready):
                self._samples.append(time_s - self._starters.popleft())
        # whatever is left of the change in `starting` is new starts or cancellations
        missing = max2(starting, 0) - len(self._starters)
        if missing > 0:
            self._starters.extend([started_at] * missing)
        for _ in range(-missing if missing < 0 else 0):
            self._starters.pop()  # the newest start is the one cancelled first
        self._last = (ready, starting)
        self._last_time = time_s

    @property
    def samples(self) -> int:
        return len(self._samples)

    def estimate_s(self) -> float:
        if self._samples:
            return max(self._samples)
        return self.prior_s
