"""Queueing view of time to first token: how many replicas keep the TTFT percentile.

A replica serves up to `slots` requests at once (continuous batching); a request
waits for a free slot, then its prefill produces the first token. With a fleet of
`n` replicas behind one load balancer this is, to first order, an M/M/c queue with
c = n * slots servers and mean slot-holding time `service_s` (prompt + generation).
The waiting-time tail of M/M/c is closed-form (Erlang C):

    P(W > t) = C(c, a) * exp(-(c - a) * t / service_s),   a = rate * service_s

(Kleinrock, "Queueing Systems Vol. 1", 1975, sec. 3.5; Gross & Harris,
"Fundamentals of Queueing Theory", eq. 2.39). Sizing from this tail instead of a
utilisation target gives the square-root staffing rule (Halfin & Whitt, Operations
Research 29(3), 1981): utilisation rises with scale, so large fleets run hotter and
small fleets keep the headroom their noise needs.

Arrivals burstier than Poisson are handled with Hayward's approximation (Fredericks,
"Congestion in blocking systems - a simple approximation technique", Bell System
Technical Journal 59(6), 1980): traffic of peakedness z (variance / mean of the busy
servers in an infinite-server group; 1 for Poisson) on c servers behaves like Poisson
traffic a/z on c/z servers, so the waiting probability is C(c/z, a/z) and the tail
decays z times more slowly.

Erlang C is computed from Erlang B: by the stable recursion for small c (Jagerman,
Bell System Technical Journal 53(3), 1974) and, for large c, from the exact Poisson
term (via lgamma) over a normal approximation of the Poisson CDF, which is what the
ratio B = pmf(c) / cdf(c) needs; both run in well under 100 microseconds.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from controller.law.minmax import max2, min2

EXACT_UP_TO = 64  # servers; above this the normal approximation of the CDF is accurate


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/M/c/c with `servers` servers and offered `load` erlangs."""
    if load <= 0.0:
        return 0.0
    if servers <= 0:
        return 1.0
    if servers <= EXACT_UP_TO:
        b = 1.0
        for k in range(1, servers + 1):
            b = load * b / (k + load * b)
        return b
    log_pmf = servers * math.log(load) - load - math.lgamma(servers + 1.0)
    cdf = _normal_cdf((servers + 0.5 - load) / math.sqrt(load))
    if cdf <= 0.0:
        return 1.0
    return min2(1.0, math.exp(log_pmf) / cdf)


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits in M/M/c (1.0 when the queue is unstable)."""
    if load <= 0.0:
        return 0.0
    if servers <= load:
        return 1.0
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1.0 - b))


def wait_tail(servers: int, load: float, service_s: float, wait_s: float, peakedness: float = 1.0) -> float:
    """P(wait > wait_s) in M/M/c (Hayward-scaled for peakedness > 1); 1.0 when unstable."""
    if load <= 0.0:
        return 0.0
    if servers <= load:
        return 1.0
    z = max2(peakedness, 1.0)
    return _tail_of(_waiting(servers, load, z), servers, load, service_s, wait_s, z)


def wait_quantile(servers: int, load: float, service_s: float, tail: float, peakedness: float = 1.0) -> float:
    """The waiting time exceeded with probability `tail` (inf when unstable)."""
    if load <= 0.0:
        return 0.0
    if servers <= load:
        return math.inf
    z = max2(peakedness, 1.0)
    return _quantile_of(_waiting(servers, load, z), servers, load, service_s, tail, z)


# The three steps of the two above, for a stable queue (0 < load < servers) and z >= 1,
# apart so that a scan can reuse the waiting probability of one size for both.
def _waiting(servers: int, load: float, z: float) -> float:
    """P(wait > 0), Hayward-scaled: Erlang C of servers / z at load / z."""
    return erlang_c(int(servers / z), load / z)


def _tail_of(waiting: float, servers: int, load: float, service_s: float, wait_s: float, z: float) -> float:
    decay = (servers - load) * max2(wait_s, 0.0) / (max2(service_s, 1e-9) * z)
    return waiting * math.exp(-decay)


def _quantile_of(waiting: float, servers: int, load: float, service_s: float, tail: float, z: float) -> float:
    if waiting <= tail:
        return 0.0
    return service_s * z * math.log(waiting / tail) / (servers - load)


def replicas_for_wait(
    rate_rps: float,
    service_s: float,
    slots: float,
    wait_budget_s: float,
    tail: float,
    at_least: int,
    at_most: int,
    peakedness: float = 1.0,
    service_at: Callable[[int], float] | None = None,
) -> tuple[int, float]:
    """Fewest replicas in [at_least, at_most] whose P(wait > budget) <= tail.

    Returns (replicas, predicted waiting-time quantile at that size). If even
    `at_most` does not meet the tail, returns `at_most` and its (too long) quantile.
    `slots` may be fractional (an estimate); servers are rounded down, which errs
    on the side of more replicas. `service_at(n)`, when given, is the slot-holding
    time at `n` replicas (decode slows as the batch fills, so a bigger fleet holds a
    slot for less time); `service_s` is then its value at the smallest size, where it
    is longest, and sets where the scan starts.
    """
    load = rate_rps * service_s
    if load <= 0.0:
        return at_least, 0.0
    per = max2(slots, 1e-6)

    def at(k: int) -> tuple[float, float]:
        s = min2(service_at(k), service_s) if service_at is not None else service_s
        return s, rate_rps * s

    # below this many replicas the queue is unstable; start the scan there
    n = max2(at_least, int(load / per) + 1) if service_at is None else at_least
    z = max2(peakedness, 1.0)
    while n < at_most:
        servers = int(n * per)
        s, a = at(n)
        if servers > a:
            waiting = _waiting(servers, a, z)  # the size found: its quantile needs the same
            if _tail_of(waiting, servers, a, s, wait_budget_s, z) <= tail:
                return n, _quantile_of(waiting, servers, a, s, tail, z)
        n += 1
    n = min2(n, at_most)
    s, a = at(n)
    return n, wait_quantile(int(n * per), a, s, tail, peakedness)
