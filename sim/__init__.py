"""Digital twin of the inference fleet and the autoscaler benchmark (see sim/README.md).

- `sim.traces`: trace loaders -> `Arrivals`;
- `sim.fleet`: regions, replicas, routing, billing, driven by policies (`simulate`);
- `sim.scenario`: injectable failures (outages, spot reclaim, metrics blackout, ...);
- `sim.policies`: baselines and the oracle, by name;
- `sim.bench`: tuning protocol and scores behind `meridian bench`.
"""
