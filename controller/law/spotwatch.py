"""Spot that does not come: give up on it, plan the spot the fleet actually gets, retry later.

SkyServe's fallback (Mao et al., EuroSys 2025, arXiv:2411.01438; SkyPilot
`dynamic_ondemand_fallback`) replaces spot that is not ready with on-demand. Covering a
spot replica for one cold start is insurance; covering it for good, when the region has
no spot capacity (or no spot node can be scheduled), pays for the share twice -- the
on-demand the load needs plus a standing cover for spot that never arrives. So:

- **stall**: the spot target is above the ready spot and no spot replica has become
  ready for `give_up_cold_starts` x the cold start (learnt, else declared). The learnt
  figure is the longest of the recent starts, a high quantile already; a start that
  takes twice as long is not the tail of the cold-start distribution but capacity that
  is not coming.
- **short**: the law then plans on spot only what is ready (`cap`, following reclaims
  down) and the rest of the share on plain on-demand -- no cover, so the total is what
  the load needs.
- **probe**: after a backoff it orders one more spot replica than it has (the existing
  on-demand stays until that one is ready: make before break). If it becomes ready, spot
  is back and the full share is planned again (make before break again); if not within
  the same stall time, the backoff doubles. The backoff follows the Kubernetes
  cluster-autoscaler's for a node group that failed to scale up (FAQ, "What are the
  parameters to CA?": `--initial-node-group-backoff-duration` 5 min,
  `--max-node-group-backoff-duration` 30 min): retrying sooner than the node
  provisioner itself would retry cannot find capacity.
"""
from __future__ import annotations

from typing import NamedTuple

from controller.law.minmax import min2


class SpotPlan(NamedTuple):
    cap: int | None  # most spot replicas to plan (None: the full share)
    note: str  # for the decision's reason; "" when spot is not short


class SpotWatch:
    PROBE = 1  # spot replicas ordered beyond the ready ones to test for capacity

    def __init__(self, give_up_cold_starts: float, backoff_initial_s: float, backoff_max_s: float):
        self.give_up = give_up_cold_starts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.backoff_s = backoff_initial_s
        self.cap: int | None = None
        self._stalled_since: float | None = None
        self._last_ready: int | None = None
        self._retry_at = 0.0
        self._probe_since: float | None = None

    def update(self, now: float, target: int, ready_spot: int, cold_start_s: float) -> SpotPlan:
        """`target`: the spot replicas the share asks for; `ready_spot`: how many are ready."""
        progress = self._last_ready is not None and ready_spot > self._last_ready
        self._last_ready = ready_spot
        wait_s = self.give_up * cold_start_s
        if self.cap is None:
            if ready_spot >= target:
                self._stalled_since = None
            elif progress or self._stalled_since is None:
                self._stalled_since = now
            elif now - self._stalled_since >= wait_s:
                return self._give_up(now, target, ready_spot, wait_s)
            return SpotPlan(None, "")
        if ready_spot > self.cap or target <= ready_spot:
            # a probe (or any spot replica) became ready, or the share fits in what is ready
            self.cap, self._probe_since, self._stalled_since = None, None, None
            self.backoff_s = self.backoff_initial_s
            note = "spot available again: planning the full spot share, on-demand kept until it is ready"
            return SpotPlan(None, note if target > ready_spot else "")
        self.cap = ready_spot  # plan only what is actually there (a reclaim lowers it)
        if self._probe_since is not None and now - self._probe_since >= wait_s:
            self._probe_since = None
            self._retry_at = now + self.backoff_s
            self.backoff_s = min2(self.backoff_max_s, 2 * self.backoff_s)
        if self._probe_since is None and now >= self._retry_at:
            self._probe_since = now
        if self._probe_since is not None:
            return SpotPlan(self.cap + self.PROBE, f"spot short ({ready_spot} of {target} ready): probing with "
                            f"{self.PROBE} spot replica, on-demand kept until it is ready")
        return SpotPlan(self.cap, f"spot short: {ready_spot} of {target} spot ready (none came within "
                        f"{wait_s:.0f} s, {self.give_up:g} cold starts), the rest on on-demand instead of "
                        f"covering it; retrying spot in {self._retry_at - now:.0f} s")

    def _give_up(self, now: float, target: int, ready_spot: int, wait_s: float) -> SpotPlan:
        self.cap = ready_spot
        self._stalled_since = None
        self._retry_at = now + self.backoff_s
        self.backoff_s = min2(self.backoff_max_s, 2 * self.backoff_s)
        return SpotPlan(self.cap, f"spot short: no spot became ready in {wait_s:.0f} s ({self.give_up:g} cold "
                        f"starts), planning {ready_spot} of {target} on spot and the rest on on-demand; "
                        f"retrying spot in {self._retry_at - now:.0f} s")
