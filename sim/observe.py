"""What a policy may see: an `Observation` built from the last successful scrape.

Like Prometheus: gauges (in-flight, queued) as sampled at the scrape, the request rate as
`rate(...[window])` over the trailing window ending at the scrape, and TTFT at the
objective's percentile over that window (`histogram_quantile`). The twin's TTFT gauge is
per-step: mean queueing wait of the requests admitted in a step plus the prefill time of
each prompt length in that step's arrivals' sketch (16 quantiles), pooled over the window
and weighted by admissions; a live approximation, while the scores use every request's own
TTFT (tests/test_sim_gauge.py compares the two).

Policies that never read latency set `uses_latency = False` and get None there (a speed-up
for long traces, never a change of what they decide).
"""
from __future__ import annotations

from dataclasses import dataclass

from controller.law.types import Observation


@dataclass
class ScrapeSample:
    step: int
    in_flight: float
    queued: float


def build_observation(region, s: int, scrape: ScrapeSample | None, blackout: bool, window_steps: int,
                      percentile: float, profile, capacity_spot: bool, latency: bool = True) -> Observation:
    """`latency=False` skips the TTFT/E2E quantiles, for policies that declare they never read
    them (`uses_latency = False`); those fields are then None."""
    dt = region.queue.dt
    price_od = region.price_od * region.mult_od
    price_spot = region.price_spot * region.mult_spot if capacity_spot else None
    # a spot replica under interruption notice is draining: not ready (fleet.py `doomed`)
    common = dict(time_s=s * dt, ready_replicas=region.serving,
                  starting_replicas=region.start_od + region.start_spot,
                  price_on_demand_per_hour=price_od, price_spot_per_hour=price_spot,
                  ready_spot=region.serving_spot, starting_spot=region.start_spot, revision=region.revision)
    if scrape is None or blackout:
        age = (s - scrape.step) * dt if scrape is not None else s * dt
        return Observation(arrival_rate_rps=None, ttft_quantile_s=None, e2e_quantile_s=None,
                           in_flight=None, queued=None, metrics_age_s=age, **common)
    ls = scrape.step
    lo = max(0, ls + 1 - window_steps)
    n = region.arr[lo:ls + 1]
    arrivals = sum(n)
    rate = arrivals / ((ls + 1 - lo) * dt)
    q = region.queue
    ttft = e2e = None
    mean_prompt = sum(region.psum[lo:ls + 1]) / arrivals if arrivals > 0 else None
    mean_output = sum(region.osum[lo:ls + 1]) / arrivals if arrivals > 0 else None
    adm = q.admitted[lo:ls + 1]
    if latency and sum(adm) > 1e-9:
        # Pure Python: windows hold a handful to 60 steps, where numpy's call overhead dominates.
        pre = profile.prefill_tokens_per_s
        slow = profile.prefill_slowdown_full_batch
        occ, waits, pq, lat = q.occupancy, q.wait_sum, region.pq, region.lat
        pts = []
        for i in range(lo, ls + 1):
            a = q.admitted[i]
            if a > 1e-12:
                # the admitted requests' prompts, as the step's arrivals' sketch describes them
                base, speed, share = waits[i] / a * dt + lat[i], pre * (1.0 - slow * occ[i]), a / len(pq[i])
                pts.extend((base + p / speed, share) for p in pq[i])
        pts.sort()
        need, acc = percentile / 100.0 * sum(a for _, a in pts), 0.0
        for v, a in pts:
            acc += a
            if acc >= need:
                ttft = v
                break
        if mean_output is not None and ttft is not None:
            e2e = ttft + mean_output * profile.tpot_s(occ[ls])
    return Observation(arrival_rate_rps=rate, ttft_quantile_s=ttft, e2e_quantile_s=e2e,
                       in_flight=scrape.in_flight, queued=scrape.queued,
                       metrics_age_s=(s - ls) * dt, mean_prompt_tokens=mean_prompt,
                       mean_output_tokens=mean_output, **common)
