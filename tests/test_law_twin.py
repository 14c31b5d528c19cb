"""The meridian law in the digital twin (`sim.fleet`): step load, spot reclaim, metrics blackout,
a token-mix change, a model swap.

Arrivals are synthetic Poisson traces with fixed token counts (one test changes the answer
length mid-run) on the default GPU profile
(g5.2xlarge: 32 batch slots, lognormal cold start with a 200 s median; the model-swap tests
switch to a model with half the slots and two thirds of the decode speed), so each
figure below follows from the profile and not from a recorded trace.
"""
from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from controller.law.meridian import MeridianPolicy
from controller.law.settings import LawSettings
from controller.law.types import Decision, Limits, Objective, Observation
from sim.fleet import FleetConfig, simulate
from sim.profiles import get_profile
from sim.scenario import MetricsBlackout, ModelSwap, Scenario, SpotReclaim
from sim.traces.arrivals import Arrivals

OBJ = Objective(95.0, 1.0)
PROMPT, OUTPUT = 500.0, 150.0
REGION = "us-east-1"


def arrivals(rate_at, duration: float, seed: int = 0, output_at=lambda t: OUTPUT) -> Arrivals:
    """Poisson arrivals whose rate follows `rate_at(t)`, second by second, each generating
    `output_at(t)` tokens."""
    rng = np.random.default_rng(seed)
    times, outputs = [], []
    for second in range(int(duration)):
        k = rng.poisson(rate_at(second))
        times.append(second + np.sort(rng.random(k)))
        outputs.append(np.full(k, float(output_at(second))))
    t = np.concatenate(times)
    n = len(t)
    return Arrivals(name="synthetic", time_s=t, weight=np.ones(n), prompt_tokens=np.full(n, PROMPT),
                    output_tokens=np.concatenate(outputs), duration_s=duration)


class Recorder:
    """Wraps the law and keeps every (observation, decision) pair it produced. `blind` hides
    the revision: a change the pod template does not show (a node autoscaler choosing another
    instance type under the same template, a model loaded from a moving tag)."""

    def __init__(self, policy: MeridianPolicy, blind: bool = False):
        self.policy, self.name, self.interval_s = policy, policy.name, policy.interval_s
        self.blind = blind
        self.log: list[tuple[Observation, Decision]] = []

    def decide(self, obs: Observation) -> Decision:
        if self.blind:
            obs = dataclasses.replace(obs, revision=None)
        d = self.policy.decide(obs)
        self.log.append((obs, d))
        return d


def replicas_needed(rate: float, output: float = OUTPUT, profile=None) -> float:
    """Replicas whose slots hold `rate` at a full batch (the slowest service time)."""
    profile = profile or get_profile()
    return rate * profile.service_s(PROMPT, output, 1.0) / profile.batch_slots


def run(rate_at, duration, limits, initial, scenario=Scenario(), capacity="on-demand", seed=0,
        output_at=lambda t: OUTPUT, blind=False):
    law = Recorder(MeridianPolicy(OBJ, limits), blind)
    cfg = FleetConfig(objective=OBJ, limits=limits, initial_replicas=initial, capacity=capacity,
                      scenario=scenario, spot_interruptions_per_hour=0.0, seed=seed)
    result = simulate(arrivals(rate_at, duration, seed, output_at), cfg, lambda code: law)
    return law, result.timelines[REGION]


def test_step_from_10_to_100_percent_is_absorbed_within_cold_start_plus_one_interval():
    low, high, step_at = 8.0, 80.0, 1500.0
    law, tl = run(lambda t: low if t < step_at else high, 2700.0, Limits(max_replicas=200), initial=4)
    need = replicas_needed(high)
    # capacity for the full load is ordered within one decision interval of the step showing
    ordered_by = step_at + 2 * law.interval_s  # one scrape to see it, one interval to act
    ordered = max(d.replicas for o, d in law.log if o.time_s <= ordered_by)
    assert ordered >= need, f"ordered {ordered} by {ordered_by:.0f} s, {need:.1f} needed"
    # ...and is ready one cold start (at most the profile's 95th percentile) plus an interval later
    ready_by = ordered_by + get_profile().cold_start_p95_s + law.interval_s
    ready = {t: r for t, r in zip(tl.time_s, tl.ready)}
    assert ready[max(t for t in ready if t <= ready_by)] >= need


def test_spot_reclaim_of_half_the_replicas_is_covered_by_on_demand_within_one_interval():
    reclaim_at, notice = 2400.0, 120.0  # after the fleet has settled
    law, tl = run(lambda t: 30.0, 3000.0, Limits(max_replicas=200, spot_share=1.0), initial=0,
                  scenario=Scenario((SpotReclaim(REGION, 0.5, reclaim_at, notice),)), capacity="spot-mix")
    gone_at = reclaim_at + notice  # the doomed replicas stop serving when the notice runs out
    before = [(o, d) for o, d in law.log if o.time_s < reclaim_at][-1]
    after = [(o, d) for o, d in law.log if o.time_s >= gone_at]
    first_obs, first = after[0]
    lost = before[0].ready_spot - first_obs.ready_spot
    assert before[1].spot >= 4 and lost >= 2  # (some replacements may be ready by then)
    assert first_obs.time_s - gone_at <= law.interval_s
    assert first.on_demand >= before[1].on_demand + lost
    assert "on-demand covering spot" in first.reason


def test_five_minute_metrics_blackout_causes_no_scale_down():
    start, end = 1200.0, 1500.0
    # load collapses during the blackout: a law that read the gaps as zero would scale down
    law, _ = run(lambda t: 60.0 if t < start else 6.0, 1800.0, Limits(max_replicas=200), initial=12,
                 scenario=Scenario((MetricsBlackout(start, end),)))
    before = [d for o, d in law.log if o.time_s < start][-1]
    during = [(o, d) for o, d in law.log if start <= o.time_s < end]
    assert len(during) >= 19
    assert all(d.replicas >= before.replicas for _, d in during)
    blind = [d for o, d in during if o.arrival_rate_rps is None]
    assert blind and all(not d.metrics_available and "holding" in d.reason for d in blind)


def test_steady_load_in_the_twin_settles_near_the_queueing_size():
    rate = 40.0
    law, tl = run(lambda t: rate, 3600.0, Limits(max_replicas=200), initial=20, seed=3)
    late = [d.replicas for o, d in law.log if o.time_s > 2400]
    need = replicas_needed(rate)
    assert min(late) >= math.floor(need)
    # settles: the typical size within 1.6x of the full-batch need (the law does not know
    # the 32 slots until a queue shows them); a one-replica blip while the service-time
    # estimate moves stays within 1.7x
    assert sum(late) / len(late) <= 1.6 * need
    assert max(late) <= 1.7 * need


def test_a_token_mix_change_is_relearnt_both_ways():
    # The answers triple in length for 40 minutes, then return to normal: each request holds
    # its batch slot about three times as long, so the same 30 req/s needs about three times
    # the replicas, and afterwards a third again. Nothing tells the law: it has to see it in
    # in-flight / rate (Little's law) and in the queue the longer answers build.
    rate, short, long_, longer_from, shorter_from, end = 30.0, OUTPUT, 3 * OUTPUT, 2400.0, 4800.0, 7200.0
    law, _ = run(lambda t: rate, end, Limits(max_replicas=200), initial=8,
                 output_at=lambda t: long_ if longer_from <= t < shorter_from else short)
    need_short, need_long = replicas_needed(rate, short), replicas_needed(rate, long_)
    assert need_long > 2.5 * need_short  # the change is one a stale estimate cannot absorb

    def sizes(start, stop):
        return [d.replicas for o, d in law.log if start <= o.time_s < stop]

    def service_in_reasons(start, stop):
        found = [re.search(r"service ([0-9.]+) s", d.reason) for o, d in law.log if start <= o.time_s < stop]
        return [float(m.group(1)) for m in found if m]

    # up: enough capacity ordered and ready within a cold start (the profile's p95) plus the
    # few looks the estimate needs to move; then it settles near the new need
    ready_by = longer_from + get_profile().cold_start_p95_s + 10 * law.interval_s
    ready = [o.ready_replicas for o, d in law.log if ready_by <= o.time_s < ready_by + law.interval_s]
    assert ready and ready[0] >= need_long, f"{ready} ready at {ready_by:.0f} s, {need_long:.1f} needed"
    settled_long = sizes(longer_from + 1500, shorter_from)
    assert min(settled_long) >= math.floor(need_long)
    assert sum(settled_long) / len(settled_long) <= 1.6 * need_long
    # the slot-holding time the law plans with is the long mix's (within 25 %), not a blend
    long_service = get_profile().service_s(PROMPT, long_, 1.0)
    assert all(abs(s / long_service - 1) <= 0.25 for s in service_in_reasons(longer_from + 1500, shorter_from))

    # down: the long mix's fleet is not kept once the answers are short again
    settled_short = sizes(shorter_from + 1500, end)
    assert min(settled_short) >= math.floor(need_short)
    assert max(settled_short) <= 1.6 * need_short, f"held {max(settled_short)} for {need_short:.1f} needed"
    short_service = get_profile().service_s(PROMPT, short, 1.0)
    assert all(abs(s / short_service - 1) <= 0.25 for s in service_in_reasons(shorter_from + 1500, end))
    # and the objective holds once each change has been absorbed
    absorbed = [o.ttft_quantile_s for o, d in law.log
                if ready_by + 300 <= o.time_s < shorter_from or o.time_s >= shorter_from + 300]
    assert max(t for t in absorbed if t is not None) <= OBJ.ttft_s


# Another model on the same instance: half the batch slots (a bigger model leaves less memory
# for the KV cache) and 1.5x slower decode, so about 0.44 of a replica's capacity.
SMALLER = dataclasses.replace(get_profile(), batch_slots=16,
                              decode_tokens_per_s_batch1=get_profile().decode_tokens_per_s_batch1 / 1.5)
SWAP_RATE, SWAP_AT, SWAP_BACK_AT = 30.0, 2400.0, 4800.0


def slots_in_reasons(log, start, stop):
    """The per-replica slot count each decision planned with ("<= N in flight (slots)")."""
    found = [re.search(r"<= ([0-9.]+) in flight \((\w+)\)", d.reason) for o, d in log if start <= o.time_s < stop]
    return [(float(m.group(1)), m.group(2)) for m in found if m]


@pytest.mark.parametrize("blind", [False, True], ids=["revision-seen", "blind"])
def test_a_model_swap_to_half_the_capacity_is_relearnt(blind):
    # A rolling deployment replaces the model at SWAP_AT: the same 30 req/s now needs more than
    # twice the replicas. Seen, the new revision makes the law start again from the old batch;
    # blind, it must see the smaller batch in the queue (in-flight per replica when requests
    # wait) and the slower slots in Little's law. Either way the queue shows the new batch.
    law, tl = run(lambda t: SWAP_RATE, SWAP_BACK_AT, Limits(max_replicas=200), initial=8,
                  scenario=Scenario((ModelSwap(REGION, SWAP_AT, SMALLER),)), blind=blind)
    need_before, need = replicas_needed(SWAP_RATE), replicas_needed(SWAP_RATE, profile=SMALLER)
    assert need > 2 * need_before  # the change is one a stale estimate cannot absorb
    before = slots_in_reasons(law.log, SWAP_AT - 600, SWAP_AT)
    assert before and all(s == (32.0, "slots") for s in before), before  # the old batch was known

    # enough capacity is ready within a cold start (the new profile's p95) plus a few looks
    ready_by = SWAP_AT + SMALLER.cold_start_p95_s + 5 * law.interval_s
    ready = [o.ready_replicas for o, d in law.log if ready_by <= o.time_s < ready_by + law.interval_s]
    assert ready and ready[0] >= need, f"{ready} ready at {ready_by:.0f} s, {need:.1f} needed"
    # then it settles near the new need: not the old size, not wildly over
    settled = [d.replicas for o, d in law.log if SWAP_AT + 1500 <= o.time_s]
    assert min(settled) >= math.floor(need)
    assert sum(settled) / len(settled) <= 1.6 * need, f"settled at {settled} for {need:.1f} needed"
    # the batch the law plans with is the new one (within 25 %), from a few minutes after the swap
    after = slots_in_reasons(law.log, SWAP_AT + 300, SWAP_BACK_AT)
    assert after and all(by == "slots" and abs(n / SMALLER.batch_slots - 1) <= 0.25 for n, by in after), after
    assert abs(law.policy._capacity.slots / SMALLER.batch_slots - 1) <= 0.25


def swap_back(blind: bool):
    base = get_profile()
    law, tl = run(lambda t: SWAP_RATE, SWAP_BACK_AT + 2400.0, Limits(max_replicas=200), initial=8,
                  scenario=Scenario((ModelSwap(REGION, SWAP_AT, SMALLER), ModelSwap(REGION, SWAP_BACK_AT, base))),
                  blind=blind)
    need = replicas_needed(SWAP_RATE)
    # the fleet comes back down to the larger model's need...
    settled = [d.replicas for o, d in law.log if SWAP_BACK_AT + 1500 <= o.time_s]
    assert min(settled) >= math.floor(need)
    assert sum(settled) / len(settled) <= 1.6 * need, f"settled at {settled} for {need:.1f} needed"
    # ...because the law plans with more per replica than the smaller batch (and one probe
    # step above it) would allow (seeds 0-4: 19.9-38.4 for 17.6; the larger batch is 32)
    after = slots_in_reasons(law.log, SWAP_BACK_AT + 1500, math.inf)
    small = SMALLER.batch_slots * LawSettings().probe_growth
    assert after and all(n > small for n, _ in after), after[-3:]
    return law, tl


def test_a_model_swap_back_to_the_larger_batch_is_relearnt_from_the_revision():
    # The fleet sized for 16 slots never queues after the swap back, so no queue shows the 32:
    # the new revision restarts the estimate with the probe at the old 16, and the probe steps
    # up a window at a time while no queue forms and the first token keeps its margin.
    law, tl = swap_back(blind=False)
    assert law.policy._capacity.slots is None  # found by the probe, not from a queue
    # and the objective holds while it steps down
    after = [o.ttft_quantile_s for o, d in law.log if o.time_s >= SWAP_BACK_AT and o.ttft_quantile_s is not None]
    assert max(after) <= OBJ.ttft_s


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "blind to the revision, the law learns batch slots only from in-flight per replica while "
    "requests queue, and with slots known it plans at most that many per replica (no probe above "
    "them): after a swap back to 32 slots the fleet, sized for 16, never queues, so it keeps "
    "planning with 16 slots and holds 17-19 replicas 25-40 minutes after, for 8.2 needed. Probing "
    "above known slots at all times measured -8 to -13 % but put 19 sweep runs under 0.99 "
    "(controller/law/BENCH.md, round 10)"))
def test_a_model_swap_back_the_revision_does_not_show_is_relearnt():
    swap_back(blind=True)
