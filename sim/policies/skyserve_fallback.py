"""`skyserve-fallback`: SkyServe's fallback autoscaler with dynamic on-demand fallback.

Source: SkyPilot `sky/serve/autoscalers.py` (`FallbackRequestRateAutoscaler`) and the
SkyServe paper (EuroSys 2025). The request-rate target (same hysteresis as `skyserve`) is
the total: `base_ondemand_fallback_replicas` (default 0) of it always run on-demand, the
rest on spot, and with `dynamic_ondemand_fallback` one on-demand replica is added for every
spot replica of the target that is not ready (starting or interrupted), and dropped again
once spot is ready (`evaluate_scaling`: spot to provision = target - base; on-demand = base
+ spot to provision - ready spot). On on-demand capacity (`--capacity on-demand`) the fleet provisions
everything on-demand, so it behaves as `skyserve`. Knob: target QPS per replica.
"""
from __future__ import annotations

from controller.law.types import Decision, Limits, Objective, Observation
from sim.policies.skyserve import SkyServePolicy


class SkyServeFallbackPolicy(SkyServePolicy):
    name = "skyserve-fallback"

    def __init__(self, target_qps: float, limits: Limits, base_ondemand: int = 0, dynamic: bool = True):
        super().__init__(target_qps, limits)
        self.base_ondemand = base_ondemand
        self.dynamic = dynamic

    def decide(self, obs: Observation) -> Decision:
        target, why = self.update_target(obs)  # the total, base on-demand replicas included
        if obs.price_spot_per_hour is None:  # no spot capacity offered: plain request-rate scaling
            return Decision(target, reason=why, metrics_available=obs.arrival_rate_rps is not None)
        spot = max(0, target - self.base_ondemand)
        ondemand = self.base_ondemand
        if self.dynamic:
            # SkyPilot adds (spot to provision - ready spot) unclipped; clipped here so a spot
            # scale-down in the same decision never dips the base on-demand replicas.
            ondemand += max(0, spot - obs.ready_spot)
        return Decision(spot + ondemand, spot=spot, reason=f"{why}; spot {spot} + on-demand {ondemand}",
                        metrics_available=obs.arrival_rate_rps is not None)


def make(objective: Objective, limits: Limits, knob: float) -> SkyServeFallbackPolicy:
    return SkyServeFallbackPolicy(target_qps=knob, limits=limits)
