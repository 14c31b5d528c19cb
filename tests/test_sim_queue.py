"""The slot queue against closed-form M/M/c (Erlang C): Poisson arrivals, exponential service.

The queue runs in its per-request mode: steps much shorter than a service time, so each
step's cohort is (almost always) one request. Service time = output tokens at 1 token/s,
with prefill made instantaneous and no batching slowdown, so a request holds a slot for
exactly its exponential service time.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from sim.profiles import GpuProfile
from sim.queue import SlotQueue, admission_times


def erlang_c_wait(c: int, lam: float, mu: float) -> float:
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait / (c * mu - lam)


def plain_queue(slots: int, max_service_s: float, dt: float = 1.0) -> SlotQueue:
    """A queue over `slots` slots where a request holds its slot for exactly its output
    length in seconds: instant prefill, one token per second, no slowdown with the batch."""
    return SlotQueue(GpuProfile("test", "none", slots, 1e15, 0.0, 1.0, 0.0, 1.0, 0.0), dt, max_service_s=max_service_s)


def simulate_mmc(c: int, lam: float, mu: float, n: int, dt: float, seed: int) -> float:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / lam, n))
    service = rng.exponential(1 / mu, n)
    steps = (t / dt).astype(np.int64)
    total_steps = int(steps[-1]) + int(50 / dt)
    q = plain_queue(c, float(service.max()) + 1, dt)
    count = np.bincount(steps, minlength=total_steps)
    out_sum = np.bincount(steps, weights=service, minlength=total_steps)
    count_l, out_l = count.tolist(), out_sum.tolist()
    for s in range(total_steps):
        if count_l[s]:
            q.push(s, count_l[s], 0.0, out_l[s])
        q.step(s, 1)
    admit_t, _, same = admission_times(steps, np.ones(n), np.asarray(q.admitted), np.asarray(q.dropped), dt)
    wait = np.where(same, 0.0, np.maximum(0.0, admit_t - t))
    return float(wait[n // 10:].mean())  # skip the empty-start transient


@pytest.mark.parametrize("c,rho,n,seeds", [(4, 0.7, 150_000, 3), (2, 0.5, 100_000, 2)])
def test_mean_wait_matches_erlang_c(c, rho, n, seeds):
    # Long runs: the sample mean of waits converges slowly near saturation; steps are 2 % of
    # a mean service time, which biases waits up by about 1-2 %.
    mu = 1.0
    lam = rho * c * mu
    expected = erlang_c_wait(c, lam, mu)
    waits = [simulate_mmc(c, lam, mu, n=n, dt=0.02, seed=seed) for seed in range(seeds)]
    measured = float(np.mean(waits))
    assert measured == pytest.approx(expected, rel=0.05), (measured, expected)


def test_no_waiting_when_slots_are_plenty():
    # An over-provisioned queue must not invent waiting: every request finds a free slot.
    measured = simulate_mmc(c=64, lam=2.0, mu=1.0, n=2000, dt=0.05, seed=1)
    assert measured == 0.0


def test_fluid_cohorts_wait_for_capacity():
    # 100 requests of 10 s each arrive at once on 10 slots: FIFO waves of 10 every 10 s.
    q = plain_queue(10, 20)
    q.push(0, 100.0, 0.0, 1000.0)
    for s in range(120):
        q.step(s, 1)
    admitted = np.asarray(q.admitted)
    assert admitted[0] == pytest.approx(10)
    assert np.flatnonzero(admitted > 1e-9).tolist() == list(range(0, 100, 10))
    t, _, _ = admission_times(np.zeros(100, dtype=np.int64), np.ones(100), admitted, np.asarray(q.dropped), 1.0)
    assert t[-1] == pytest.approx(90.95, abs=0.1)


def test_a_draining_replica_finishes_its_requests_and_takes_no_new_ones():
    # Two replicas of 10 slots fill with 20 requests of 10 s at step 0; at step 5 one replica
    # gets a spot notice and drains. 30 more requests arrive at step 6. At step 10 all 20
    # finish: the drained replica's 10 slots are gone with it, so the queue gets one replica's
    # 10 slots at steps 10, 20 and 30, never 20.
    q = plain_queue(10, 40)
    q.push(0, 20.0, 0.0, 200.0)
    for s in range(5):
        q.step(s, 2)
    q.drain(0.5)
    assert q.held == pytest.approx(10)
    q.push(6, 30.0, 0.0, 300.0)
    for s in range(5, 40):
        q.step(s, 1)
    admitted = np.asarray(q.admitted)
    assert admitted[0] == pytest.approx(20)
    assert admitted[1:10].sum() == pytest.approx(0)  # every slot of both replicas is busy
    assert admitted[10] == pytest.approx(10)  # only the serving replica's slots are reused
    assert admitted[20] == pytest.approx(10) and admitted[30] == pytest.approx(10)
    assert q.held == pytest.approx(0)  # the drained replica's requests finished at step 10


def test_drain_with_nothing_in_flight_holds_no_slots():
    q = plain_queue(10, 20)
    q.drain(0.5)
    q.push(0, 10.0, 0.0, 100.0)
    q.step(0, 1)
    assert q.admitted[0] == pytest.approx(10)
