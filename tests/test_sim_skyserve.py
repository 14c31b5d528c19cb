"""SkyServe baselines against SkyPilot `sky/serve/autoscalers.py`: request-rate hysteresis
(upscale after 300 s, downscale after 1200 s of consistent signal, in 20 s decisions) and the
fallback autoscaler's spot / on-demand split."""
from __future__ import annotations

from controller.law.types import Limits, Observation
from sim.policies.skyserve import SkyServePolicy
from sim.policies.skyserve_fallback import SkyServeFallbackPolicy


def obs(t: float, qps: float, ready: int, ready_spot: int = 0, spot_price: float | None = None) -> Observation:
    return Observation(time_s=t, ready_replicas=ready, starting_replicas=0, arrival_rate_rps=qps,
                       ttft_quantile_s=None, e2e_quantile_s=None, in_flight=0.0, queued=0.0,
                       price_on_demand_per_hour=1.0, price_spot_per_hour=spot_price, ready_spot=ready_spot)


def test_upscale_after_300_s_of_consistent_signal():
    sky = SkyServePolicy(target_qps=1.0, limits=Limits(max_replicas=50))
    seen = [sky.decide(obs(20.0 * i, qps=10.0, ready=2)).replicas for i in range(1, 16)]
    assert seen[:14] == [2] * 14 and seen[14] == 10  # the 15th consecutive 20 s decision


def test_a_contrary_signal_resets_the_count():
    sky = SkyServePolicy(target_qps=1.0, limits=Limits(max_replicas=50))
    for i in range(1, 15):
        assert sky.decide(obs(20.0 * i, qps=10.0, ready=2)).replicas == 2
    sky.decide(obs(300.0, qps=1.0, ready=2))  # below target once: the upscale count restarts
    assert [sky.decide(obs(320.0 + 20 * i, qps=10.0, ready=2)).replicas for i in range(14)] == [2] * 14
    assert sky.decide(obs(600.0, qps=10.0, ready=2)).replicas == 10


def test_downscale_after_1200_s():
    sky = SkyServePolicy(target_qps=1.0, limits=Limits(max_replicas=50))
    sky.decide(obs(20.0, qps=8.0, ready=8))  # starts at the warm count, 8
    seen = [sky.decide(obs(40.0 + 20 * i, qps=2.0, ready=8)).replicas for i in range(60)]
    assert seen[:59] == [8] * 59 and seen[59] == 2


def test_fallback_splits_target_into_base_on_demand_spot_and_dynamic_fallback():
    sky = SkyServeFallbackPolicy(target_qps=1.0, limits=Limits(max_replicas=50), base_ondemand=1)
    d = sky.decide(obs(20.0, qps=5.0, ready=5, ready_spot=0, spot_price=0.4))
    # target 5 = 1 base on-demand + 4 spot; none of the spot is ready: 4 on-demand stand in.
    assert (d.replicas, d.spot, d.on_demand) == (9, 4, 5)
    d = sky.decide(obs(40.0, qps=5.0, ready=9, ready_spot=3, spot_price=0.4))
    assert (d.spot, d.on_demand) == (4, 2)
    d = sky.decide(obs(60.0, qps=5.0, ready=9, ready_spot=4, spot_price=0.4))
    assert (d.spot, d.on_demand) == (4, 1)  # all spot ready: only the base stays on-demand
    for i in range(20):  # the target is the total: the base is never added on top of it
        d = sky.decide(obs(80.0 + 20 * i, qps=5.0, ready=5, ready_spot=4, spot_price=0.4))
    assert (d.replicas, d.spot) == (5, 4)


def test_fallback_without_spot_offered_is_plain_request_rate_scaling():
    a = SkyServeFallbackPolicy(target_qps=1.0, limits=Limits(max_replicas=50))
    b = SkyServePolicy(target_qps=1.0, limits=Limits(max_replicas=50))
    for i in range(1, 40):
        o = obs(20.0 * i, qps=3.0 + (i % 7), ready=4)
        assert a.decide(o).replicas == b.decide(o).replicas
