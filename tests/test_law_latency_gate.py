"""The measured TTFT percentile gates scale-down: a fleet whose latency has used over half the
planning margin is not oversized, whatever the capacity model says."""
from __future__ import annotations

from controller.law.meridian import MeridianPolicy
from controller.law.types import Limits, Objective
from tests.test_law_properties import healthy


def run(ttft: float) -> list:
    """10 replicas carry a load queue-free for 5 minutes (24 in flight each, inside the 32
    slots); then the load falls to a quarter for 20 minutes, at a given measured TTFT."""
    policy = MeridianPolicy(Objective(percentile=95, ttft_s=1.0), Limits(min_replicas=1, max_replicas=60))
    for i in range(20):
        policy.decide(healthy(15.0 * i, ready=10, rate=30.0, service=8.0, ttft=0.5))
    return [policy.decide(healthy(300.0 + 15.0 * i, ready=10, rate=7.5, service=8.0, ttft=ttft)) for i in range(80)]


def test_oversized_fleet_with_latency_slack_scales_down():
    decisions = run(ttft=0.5)
    assert decisions[-1].replicas < 10
    assert any("scale down" in d.reason for d in decisions)


def test_fleet_at_the_latency_edge_does_not_scale_down():
    decisions = run(ttft=0.95)  # above 1 - (1 - 0.8) / 2 = 0.9 of the 1 s objective
    assert all(d.replicas >= 10 for d in decisions)
    assert any("planning margin: no scale-down" in d.reason for d in decisions)


def test_long_prompt_floor_near_the_objective_does_not_ratchet():
    """A service whose prompt mix alone reads 0.93 s at any load (objective 1 s) has room the
    load does not use: the gate sits half-way between that floor and the objective, so the
    fleet still shrinks when the load falls (a fixed 0.9 s gate would hold it for ever)."""
    policy = MeridianPolicy(Objective(percentile=95, ttft_s=1.0), Limits(min_replicas=1, max_replicas=60))
    for i in range(20):
        policy.decide(healthy(15.0 * i, ready=10, rate=30.0, service=8.0, ttft=0.93))
    decisions = [policy.decide(healthy(300.0 + 15.0 * i, ready=10, rate=7.5, service=8.0, ttft=0.93))
                 for i in range(80)]
    assert decisions[-1].replicas < 10


def test_prefill_bound_objective_scales_out_on_the_first_token_line():
    """Prefill shares the GPU with the batch: the queue-free TTFT here grows with the rate per
    replica (0.5 s + 0.1 s per req/s). A load that misses the objective with no queue must
    size the fleet by that line -- rate x slope / (objective - no-load TTFT) -- once such a
    miss is seen, not by the slots alone (which would call 10 replicas ample)."""
    def ttft(rate, ready):
        return 0.5 + 0.1 * rate / ready

    policy = MeridianPolicy(Objective(percentile=95, ttft_s=1.0), Limits(min_replicas=1, max_replicas=60))
    t = 0.0
    for rate in [20.0, 25.0, 30.0, 35.0, 40.0] * 6:  # learn the line at 10 replicas, queue-free
        policy.decide(healthy(t, ready=10, rate=rate, service=4.0, ttft=ttft(rate, 10)))
        t += 15.0
    decisions = [policy.decide(healthy(t + 15.0 * i, ready=10, rate=70.0, service=4.0, ttft=ttft(70.0, 10)))
                 for i in range(8)]
    # 70 req/s x 4 s = 280 in flight: 28 of 32 slots on 10 replicas, no queue, TTFT 1.2 s
    assert decisions[-1].replicas >= 14  # 70 x 0.1 / (1.0 - 0.5) = 14
    assert "first token of a bad window" in decisions[-1].reason



def _prefill_limited(base: float, slope: float, rate: float) -> list[int]:
    """A prefill-limited service: no queue, the first token `base` s plus `slope` s per req/s
    per replica (prefill sharing the GPU with a busy batch). The line is learnt at 13
    replicas while the load cycles 30-46 req/s; then the load falls to `rate` for 20 minutes,
    and the fleet follows the decisions at once. The sizes it runs at."""
    def ttft(r: float, ready: int) -> float:
        return base + slope * r / ready

    policy = MeridianPolicy(Objective(percentile=95, ttft_s=1.0), Limits(min_replicas=1, max_replicas=60))
    t = 0.0
    for r in [30.0, 34.0, 38.0, 42.0, 46.0] * 8:
        policy.decide(healthy(t, ready=13, rate=r, service=6.0, ttft=ttft(r, 13)))
        t += 15.0
    sizes, n = [], 13
    for _ in range(80):
        n = policy.decide(healthy(t, ready=n, rate=rate, service=6.0, ttft=ttft(rate, n))).replicas
        sizes.append(n)
        t += 15.0
    return sizes


def test_the_first_token_slope_lets_a_prefill_limited_fleet_shrink_past_the_edge():
    # 13-14 replicas read 0.90-0.91 s at 30 req/s, past the 0.9 edge at a busy batch: the
    # fixed edge held them for good; the slope (0.02 s per req/s per replica) says fewer
    # stay inside the objective, and every size run keeps the first token under it
    sizes = _prefill_limited(0.86, 0.02, 30.0)
    assert sizes[-1] <= 11
    assert all(0.86 + 0.02 * 30.0 / n <= 1.0 for n in sizes)


def test_the_slope_opens_the_gate_only_for_sizes_whose_first_token_stays_inside():
    """Asked directly at 13 replicas and 30 req/s (0.91 s, a busy batch): a size whose first
    token by the line stays under the objective with room for a bad window's spread may be
    scaled down to; one whose first token by the line passes the objective may not; and a
    flat line (no significant slope) never opens the fixed edge."""
    def law(slope: float) -> MeridianPolicy:
        policy = MeridianPolicy(Objective(percentile=95, ttft_s=1.0), Limits(min_replicas=1, max_replicas=60))
        for i, r in enumerate([30.0, 34.0, 38.0, 42.0, 46.0] * 8):
            policy.decide(healthy(15.0 * i, ready=13, rate=r, service=6.0, ttft=0.86 + slope * r / 13))
        return policy

    now = healthy(600.0, ready=13, rate=30.0, service=6.0, ttft=0.86 + 0.02 * 30.0 / 13)
    shallow = law(0.02)
    assert not shallow._latency_tight(now, 11)  # 0.915 s by the line
    assert shallow._latency_tight(now, 4)  # 1.01 s by the line
    assert law(0.0)._latency_tight(healthy(600.0, ready=13, rate=30.0, service=6.0, ttft=0.95), 12)
