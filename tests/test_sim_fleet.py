"""Fleet model: residency-respecting routing under outages, metrics blackout, spot reclaim,
model swaps."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from controller.law.types import Decision, Limits, Observation
from regions.catalog import load_catalog
from sim.fleet import FleetConfig, simulate
from sim.scenario import MetricsBlackout, RegionOutage, Scenario, SpotReclaim
from sim.traces.arrivals import Arrivals


def poisson_trace(rate_by_home: dict[int, float], duration: float, jurisdictions, seed=0,
                  prompts=None) -> Arrivals:
    """Poisson arrivals per home jurisdiction; `prompts(rng, n)` draws prompt lengths (default:
    500 tokens each) from the same generator, after the arrival times."""
    rng = np.random.default_rng(seed)
    times, homes = [], []
    for home, rate in rate_by_home.items():
        t = np.cumsum(rng.exponential(1 / rate, int(rate * duration * 1.2)))
        t = t[t < duration]
        times.append(t)
        homes.append(np.full(len(t), home, dtype=np.int32))
    t, h = np.concatenate(times), np.concatenate(homes)
    order = np.argsort(t, kind="stable")
    n = len(t)
    prompt_tokens = np.full(n, 500.0) if prompts is None else prompts(rng, n)[order]
    return Arrivals(name="synthetic", time_s=t[order], weight=np.ones(n), prompt_tokens=prompt_tokens,
                    output_tokens=np.full(n, 100.0), duration_s=duration, home=h[order],
                    jurisdictions=tuple(jurisdictions))


class Fixed:
    """A test double for an autoscaler: always asks for the same count; records what it saw."""

    name, interval_s = "fixed", 15.0

    def __init__(self, n: int, spot: int = 0):
        self.n, self.spot, self.seen = n, spot, []

    def decide(self, obs: Observation) -> Decision:
        self.seen.append(obs)
        return Decision(self.n, spot=self.spot)


def test_personal_data_never_leaves_its_jurisdiction_during_outage():
    trace = poisson_trace({0: 3.0, 1: 3.0}, 1800, ("eu", "us"))
    regions = ("eu-central-1", "eu-west-1", "us-east-1")
    cfg = FleetConfig(regions=regions, initial_replicas=2, limits=Limits(max_replicas=10),
                      scenario=Scenario((RegionOutage("eu-central-1", 600, 1200),)))
    result = simulate(trace, cfg, lambda code: Fixed(2))
    cat = load_catalog()
    eu_rows = trace.home == 0
    served_eu = {regions[i] for i in np.unique(result.served_region[eu_rows]) if i >= 0}
    assert served_eu == {"eu-central-1", "eu-west-1"}  # failover stays in the EU
    assert all(cat.regions[r].jurisdiction == "eu" for r in served_eu)
    during = eu_rows & (trace.time_s >= 620) & (trace.time_s < 1200)
    assert np.all(result.served_region[during] == regions.index("eu-west-1"))
    before = eu_rows & (trace.time_s < 590)
    assert np.all(result.served_region[before] == regions.index("eu-central-1"))  # closest to EU users
    assert result.residency_violations == 0


def test_jurisdiction_without_a_healthy_region_fails_rather_than_leaves():
    trace = poisson_trace({0: 3.0, 1: 3.0}, 1800, ("eu", "us"))
    regions = ("eu-central-1", "us-east-1")
    cfg = FleetConfig(regions=regions, initial_replicas=2, limits=Limits(max_replicas=10),
                      scenario=Scenario((RegionOutage("eu-central-1", 600, 1200),)))
    result = simulate(trace, cfg, lambda code: Fixed(2))
    during = (trace.time_s >= 601) & (trace.time_s < 1199)
    eu_during = during & (trace.home == 0)
    assert np.all(result.served_region[eu_during] == -1)
    assert np.all(np.isinf(result.ttft_s[eu_during]))
    assert np.all(result.served_region[during & (trace.home == 1)] == regions.index("us-east-1"))
    assert result.residency_violations == 0 and result.failed_requests >= eu_during.sum()
    # After the outage the region comes back empty, cold-starts, and serves again.
    late = (trace.time_s > 1700) & (trace.home == 0)
    assert np.all(result.served_region[late] == 0)


def test_metrics_blackout_hides_metrics_but_not_replica_counts():
    trace = poisson_trace({0: 2.0}, 1200, ("us",))
    policy = Fixed(3)
    cfg = FleetConfig(initial_replicas=3, scenario=Scenario((MetricsBlackout(300, 600),)))
    simulate(trace, cfg, lambda code: policy)
    dark = [o for o in policy.seen if 300 <= o.time_s < 600]
    lit = [o for o in policy.seen if o.time_s >= 630]
    assert dark and all(o.in_flight is None and o.arrival_rate_rps is None for o in dark)
    assert all(o.ready_replicas == 3 for o in dark)
    assert max(o.metrics_age_s for o in dark) >= 280
    assert lit and all(o.in_flight is not None and o.metrics_age_s < 15 for o in lit)


def test_observation_lags_like_a_scrape():
    trace = poisson_trace({0: 2.0}, 600, ("us",))
    policy = Fixed(2)
    simulate(trace, FleetConfig(initial_replicas=2), lambda code: policy)
    rates = [o.arrival_rate_rps for o in policy.seen if o.time_s > 120]
    assert np.mean(rates) == pytest.approx(2.0, rel=0.25)
    assert all(o.metrics_age_s < 15 for o in policy.seen)


def test_spot_reclaim_gives_notice_then_replaces():
    trace = poisson_trace({0: 2.0}, 1800, ("us",))
    policy = Fixed(4, spot=4)
    cfg = FleetConfig(initial_replicas=0, capacity="spot-mix", limits=Limits(spot_share=1.0),
                      scenario=Scenario((SpotReclaim("us-east-1", 0.5, 900),)), spot_interruptions_per_hour=0.0)
    result = simulate(trace, cfg, lambda code: policy)
    tl = result.timelines["us-east-1"]
    at = {t: (r, s) for t, r, s in zip(tl.time_s, tl.ready, tl.starting)}
    assert at[885.0] == (4, 0)
    # notice: the two doomed replicas drain at once, as a node termination handler drains
    # the node (not ready, no new requests), and two replacements start
    assert at[915.0] == (2, 2)
    assert at[1035.0][0] == 2  # the replacements are not ready yet: still two serving
    seen = {o.time_s: o for o in policy.seen}
    assert seen[915.0].ready_spot == 2 and seen[915.0].ready_replicas == 2
    spot_price = load_catalog().price("us-east-1", "g5.2xlarge", "spot")
    assert result.cost_usd < 7 * spot_price * 1800 / 3600  # billed at spot prices


def test_az_outage_kills_a_zone_share_and_replaces_it():
    trace = poisson_trace({0: 2.0}, 1800, ("us",))
    from sim.scenario import AzOutage
    cfg = FleetConfig(initial_replicas=6, limits=Limits(max_replicas=10),
                      scenario=Scenario((AzOutage("us-east-1", 600, 900, fraction=0.5),)))
    tl = simulate(trace, cfg, lambda code: Fixed(6)).timelines["us-east-1"]
    at = {t: (r, s) for t, r, s in zip(tl.time_s, tl.ready, tl.starting)}
    assert at[585.0] == (6, 0) and at[600.0] == (3, 3)
    assert at[1500.0] == (6, 0)


def test_latency_injection_price_spike_and_surge():
    from sim.scenario import LatencyInjection, PriceSpike, TrafficSurge
    trace = poisson_trace({0: 2.0}, 1800, ("us",))
    base = simulate(trace, FleetConfig(initial_replicas=3), lambda code: Fixed(3))
    events = (LatencyInjection("us-east-1", 2.0, 600, 900), PriceSpike("us-east-1", 3.0, 0, 900, spot_only=False),
              TrafficSurge(3.0, 1200, 1500))
    hit = simulate(trace, FleetConfig(initial_replicas=3, scenario=Scenario(events)), lambda code: Fixed(3))
    window = (trace.time_s >= 610) & (trace.time_s < 890)
    assert np.all(hit.ttft_s[window] >= base.ttft_s[window] + 2.0 - 1e-9)
    assert hit.cost_usd == pytest.approx(base.cost_usd * (3 * 900 + 900) / 1800, rel=0.01)
    surge = hit.timelines["us-east-1"]
    rates = [r for t, r in zip(surge.time_s, surge.arrival_rps) if 1230 <= t < 1500]
    assert np.mean(rates) == pytest.approx(6.0, rel=0.2)


def test_live_ttft_gauge_tracks_queueing():
    trace = poisson_trace({0: 6.0}, 900, ("us",))  # 500-token prompts, 100 output tokens
    calm, busy = Fixed(8), Fixed(1)
    simulate(trace, FleetConfig(initial_replicas=8), lambda code: calm)
    simulate(trace, FleetConfig(initial_replicas=1), lambda code: busy)
    prefill = 500 / 4740
    calm_q = [o.ttft_quantile_s for o in calm.seen if o.time_s > 120]
    busy_q = [o.ttft_quantile_s for o in busy.seen if o.time_s > 600]
    assert all(prefill <= q < prefill * 1.3 for q in calm_q)
    assert min(busy_q) > 10 * prefill  # one replica (32 slots) cannot hold ~6 req/s x ~5 s: a queue


def test_a_shorter_notice_after_a_longer_one_still_ends_on_time():
    # Two reclaims overlap: 2 of 4 spot replicas get 120 s notice at 900 s, the other 2 get
    # 30 s at 930 s. Both pairs drain at their notice; the second pair's instances must be
    # reclaimed (stop billing) at 960 s, not wait for the first pair at 1020 s. A 90 s second
    # notice ends at 1020 s: the difference is 2 replicas x 60 s of spot.
    trace = poisson_trace({0: 2.0}, 1800, ("us",))

    def run(second_notice_s):
        policy = Fixed(4, spot=4)
        cfg = FleetConfig(initial_replicas=0, capacity="spot-mix", limits=Limits(spot_share=1.0),
                          scenario=Scenario((SpotReclaim("us-east-1", 0.5, 900),
                                             SpotReclaim("us-east-1", 1.0, 930, notice_s=second_notice_s))),
                          spot_interruptions_per_hour=0.0)
        return simulate(trace, cfg, lambda code: policy)

    short, long_ = run(30), run(90)
    ready = dict(zip(short.timelines["us-east-1"].time_s, short.timelines["us-east-1"].ready))
    assert ready[885.0] == 4 and ready[915.0] == 2 and ready[945.0] == 0  # drained at each notice
    spot_price = load_catalog().price("us-east-1", "g5.2xlarge", "spot")
    assert long_.cost_usd - short.cost_usd == pytest.approx(2 * 60 * spot_price / 3600, rel=1e-6)


class Steps:
    """Asks for `before` replicas, then `after` from `at_s` on."""

    name, interval_s = "steps", 15.0

    def __init__(self, before: int, after: int, at_s: float):
        self.before, self.after, self.at_s, self.seen = before, after, at_s, []

    def decide(self, obs: Observation) -> Decision:
        self.seen.append(obs)
        return Decision(self.after if obs.time_s >= self.at_s else self.before)


def test_a_model_swap_changes_the_slots_and_the_cold_start():
    # 2 replicas, 10 req/s of 500 + 100 tokens (~45 in flight). At 900 s the region swaps to a
    # model with 16 slots, 1.5x slower decode and a fixed 30 s cold start; at 1200 s a third
    # replica is asked for.
    from sim.profiles import get_profile
    from sim.scenario import ModelSwap
    g5 = get_profile()
    smaller = dataclasses.replace(g5, batch_slots=16, decode_tokens_per_s_batch1=g5.decode_tokens_per_s_batch1 / 1.5,
                                  cold_start_median_s=30.0, cold_start_sigma=0.0)
    trace = poisson_trace({0: 10.0}, 1800, ("us",))
    policy = Steps(2, 3, 1200.0)
    cfg = FleetConfig(initial_replicas=2, scenario=Scenario((ModelSwap("us-east-1", 900, smaller),)))
    simulate(trace, cfg, lambda code: policy)
    seen = {o.time_s: o for o in policy.seen}
    # slots: 64 before, no queue; 32 after, a queue and never more than 32 in flight once the
    # requests admitted before the swap (at the old speed) have left their slots
    assert max(o.in_flight for t, o in seen.items() if 300 <= t < 900) > 32
    assert all(o.queued == 0 for t, o in seen.items() if 300 <= t < 900)
    assert all(o.in_flight <= 32 + 1e-6 and o.queued > 0 for t, o in seen.items() if 930 <= t < 1200)
    # cold start: the third replica, asked for at 1200 s, is ready exactly 30 s later
    assert (seen[1215.0].ready_replicas, seen[1245.0].ready_replicas) == (2, 3)


def test_a_model_swap_to_another_instance_type_changes_speed_and_price():
    # g6.xlarge (L4): the same 32 slots, half the decode speed of g5.2xlarge (A10G); 5 req/s
    # keep 2 replicas free of a queue on either
    from sim.scenario import ModelSwap
    trace = poisson_trace({0: 5.0}, 1800, ("us",))
    base = simulate(trace, FleetConfig(initial_replicas=2), lambda code: Fixed(2))
    swap = Scenario((ModelSwap("us-east-1", 900, "g6.xlarge"),))
    swapped = simulate(trace, FleetConfig(initial_replicas=2, scenario=swap), lambda code: Fixed(2))
    early, late = trace.time_s < 880, trace.time_s >= 1200
    assert np.array_equal(base.e2e_s[early], swapped.e2e_s[early])  # nothing changes before the swap
    decode = (swapped.e2e_s - swapped.ttft_s) / (base.e2e_s - base.ttft_s)
    assert np.median(decode[late]) >= 31.9 / 15.9  # half speed, and the slots stay busier longer
    assert swapped.failed_requests == 0
    # billed at the g6.xlarge catalog price from the swap on
    cat = load_catalog()
    hours = 2 * 900 / 3600
    assert swapped.cost_usd == pytest.approx(hours * (cat.price("us-east-1", "g5.2xlarge", "on-demand")
                                                      + cat.price("us-east-1", "g6.xlarge", "on-demand")), rel=0.01)


@pytest.mark.parametrize("event, path", [
    (dict(region="eu-west-1", at_s=600, profile="g6.xlarge"), "region"),  # not a fleet region
    (dict(region="us-east-1", at_s=-1, profile="g6.xlarge"), "at_s"),
    (dict(region="us-east-1", at_s=float("nan"), profile="g6.xlarge"), "at_s"),
    (dict(region="us-east-1", at_s=600, profile="g6.xlarg"), "profile"),
    (dict(region="us-east-1", at_s=600, profile="zero-slots"), "profile"),
    (dict(region="us-east-1", at_s=600, profile="not-offered"), "ModelSwap.profile"),
])
def test_a_bad_model_swap_is_refused_before_the_run(event, path):
    from regions.errors import InputError
    from sim.profiles import get_profile
    from sim.scenario import ModelSwap
    made = {"zero-slots": dataclasses.replace(get_profile(), batch_slots=0),
            "not-offered": dataclasses.replace(get_profile(), instance_type="x9.nothing")}
    event = dict(event, profile=made.get(event["profile"], event["profile"]))
    policy = Fixed(1)
    with pytest.raises(InputError) as err:
        simulate(poisson_trace({0: 1.0}, 900, ("us",)), FleetConfig(scenario=Scenario((ModelSwap(**event),))),
                 lambda code: policy)
    assert [p.path for p in err.value.problems] == [path]
    assert not policy.seen


def test_random_spot_interruptions_drain_at_their_notice():
    # Interruptions at a high hazard: every one drains its replica at the notice, so neither
    # the timeline nor the policy ever counts a replica under notice as ready.
    trace = poisson_trace({0: 2.0}, 1800, ("us",))
    policy = Fixed(8, spot=8)
    cfg = FleetConfig(initial_replicas=0, capacity="spot-mix", limits=Limits(spot_share=1.0, max_replicas=20),
                      spot_interruptions_per_hour=2.0)
    result = simulate(trace, cfg, lambda code: policy)
    tl = result.timelines["us-east-1"]
    # 8 asked for throughout: once the first start is over, ready + starting stays at 8 (each
    # notice starts a replacement), and ready alone drops below 8 while replacements start
    settled = [(r, s) for t, r, s in zip(tl.time_s, tl.ready, tl.starting) if t >= 600]
    assert all(r + s == 8 for r, s in settled)
    assert any(r < 8 for r, _ in settled)
    seen = [o for o in policy.seen if o.time_s >= 600]
    assert all(o.ready_spot + o.starting_spot == 8 for o in seen)
