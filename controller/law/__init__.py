"""The control law: pure decision code shared by the twin and the in-cluster runtime.

Imports only `regions`, the standard library and numpy. `MeridianPolicy`
(`meridian.py`) composes one module per job:

- `safety`     stale / missing / NaN metrics, bounds, step limits, budget arithmetic
- `capacity`   online per-replica capacity: service time, batch slots, first-token time,
               queue-free certificates, peakedness (`online` holds the estimators)
- `coldstart`  cold start learnt from replica counts
- `forecast`   rate over the next cold start: peak hold, trend, surge headroom, bursts
- `budget`     the surge quantile adapted to spend the objective's miss allowance
- `queueing`   Erlang C / Hayward sizing for the TTFT percentile
- `stabilise`  fast up, slow bounded down, adaptive hysteresis
- `cost`       spot / on-demand mix with SkyServe-style on-demand fallback, budget ceiling
- `placement`  inside a jurisdiction: the cheapest region whose RTT + planned TTFT fits,
               failover order, hysteresis; residency verdicts passed in by the caller
- `bench`      `python -m controller.law.bench`: decision speed (BENCH.md: the issue-5 bench table)

The records built every decision (`Sample`, `CapacityView`, `Forecast`, `Sizing`, `Health`,
`Mix`, `SpotPlan`, `Stabilised`) are NamedTuples: immutable like frozen dataclasses, at a
fraction of their cost to build; two-number min/max go through `minmax`.
"""
