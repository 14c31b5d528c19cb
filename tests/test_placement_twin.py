"""The twin with placement: client RTT in the scores, meridian's load on the cheaper region,
failover inside the jurisdiction only, and nothing changed when placement is off."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from controller.law.types import Decision, Limits, Observation
from meridian.cli import main
from regions.catalog import load_catalog
from sim.bench import BenchConfig, prepare, run_policy
from sim.fleet import FleetConfig, simulate
from sim.geo import rtt_table
from sim.scenario import RegionOutage, Scenario
from sim.topology_split import load_split
from sim.traces.arrivals import Arrivals
from tests.test_sim_fleet import poisson_trace

REPO = Path(__file__).resolve().parents[1]
STACK = str(REPO / "Pulumi.placement.yaml")
EU = ("eu-west-1", "eu-north-1")


def poisson(rate_by_home: dict[int, float], duration: float, jurisdictions, seed=0) -> Arrivals:
    """Poisson arrivals with prompts of 100-2000 tokens (prefill then varies with the prompt)."""
    return poisson_trace(rate_by_home, duration, jurisdictions, seed,
                         prompts=lambda rng, n: rng.integers(100, 2000, n).astype(float))


class Fixed:
    """Test double for an autoscaler: always the same count (routing is what is under test)."""

    name, interval_s = "fixed", 15.0

    def __init__(self, n: int):
        self.n = n

    def decide(self, obs: Observation) -> Decision:
        return Decision(self.n)


def jsonl_trace(tmp_path, rate=6.0, n=12000, seed=5) -> str:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / rate, n))
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps({"timestamp": float(x * 1000), "input_length": int(rng.integers(100, 2000)),
                                          "output_length": int(rng.integers(10, 300))}) for x in t))
    return str(path)


def test_client_rtt_is_added_exactly_and_off_changes_nothing():
    trace = poisson({0: 3.0, 1: 3.0}, 1200, ("eu", "us"))
    regions = ("eu-west-1", "us-east-2")
    base = FleetConfig(regions=regions, initial_replicas=3, limits=Limits(max_replicas=10))
    off = simulate(trace, base, lambda code: Fixed(3))
    closest = simulate(trace, FleetConfig(**{**base.__dict__, "placement": "closest"}), lambda code: Fixed(3))
    assert np.array_equal(off.served_region, closest.served_region)  # same routing
    rtt = rtt_table(("eu", "us"), regions)
    served = off.served_region >= 0
    want = rtt[trace.home[served], off.served_region[served]]
    assert np.allclose(closest.ttft_s[served] - off.ttft_s[served], want)
    assert np.allclose(closest.e2e_s[served] - off.e2e_s[served], want)
    assert want.min() > 0.02  # an RTT, not a rounding error
    assert off.cost_usd == closest.cost_usd


def test_meridian_puts_eu_load_on_the_cheaper_region_and_costs_less(tmp_path):
    cfg = BenchConfig(traces=(), tune_on="", topology=load_split(STACK), placement=True)
    work = prepare(jsonl_trace(tmp_path), cfg)
    placed, s_placed = run_policy(work, "meridian", 1.0, cfg)
    closest, s_closest = run_policy(work, "meridian@closest", 1.0, cfg)
    eu = work.arrivals.homes() == work.arrivals.jurisdictions.index("eu")
    north, west = (placed.regions.index(r) for r in ("eu-north-1", "eu-west-1"))
    assert np.all(placed.served_region[eu] == north)  # cheaper, RTT fits
    assert np.all(closest.served_region[eu] == west)  # closest to the EU centroid
    assert s_placed["slo_window_attainment"] >= 0.99
    assert s_closest["slo_window_attainment"] >= 0.99
    assert s_placed["cost_usd"] < s_closest["cost_usd"]
    eu_cost = lambda s: s["regions"]["eu-west-1"]["cost_usd"] + s["regions"]["eu-north-1"]["cost_usd"]  # noqa: E731
    assert eu_cost(s_placed) < eu_cost(s_closest)
    assert s_placed["residency_violations"] == 0 and s_closest["residency_violations"] == 0
    assert s_placed["placements"][0]["reason"].startswith("eu-north-1: 1.28 $/h")


def test_outage_fails_over_inside_the_jurisdiction_only():
    trace = poisson({0: 3.0, 1: 3.0}, 1800, ("eu", "us"))
    regions = ("eu-west-1", "eu-north-1", "us-west-1", "us-east-2")
    cfg = FleetConfig(regions=regions, initial_replicas=3, limits=Limits(max_replicas=10), placement="cost",
                      serving={"eu": EU, "us": ("us-west-1", "us-east-2")},
                      scenario=Scenario((RegionOutage("eu-north-1", 600, 1200),)))
    result = simulate(trace, cfg, lambda code: Fixed(3))
    cat = load_catalog()
    eu = trace.home == 0
    served_eu = {regions[i] for i in np.unique(result.served_region[eu]) if i >= 0}
    assert served_eu == set(EU)
    assert all(cat.regions[r].jurisdiction == "eu" for r in served_eu)
    before = eu & (trace.time_s < 590)
    assert np.all(result.served_region[before] == regions.index("eu-north-1"))
    during = eu & (trace.time_s >= 615) & (trace.time_s < 1200)
    assert np.all(result.served_region[during] == regions.index("eu-west-1"))
    assert result.residency_violations == 0
    # the move is logged with its reason; back on eu-north-1 needs a >= 10 % saving (5.4 % here)
    moves = [(t, why) for t, j, why in result.placements if j == "eu"]
    assert moves[0][1].startswith("eu-north-1") and moves[1][1].startswith("eu-west-1")
    after = eu & (trace.time_s >= 1230)
    assert np.all(result.served_region[after] == regions.index("eu-west-1"))


def test_with_every_eu_region_down_eu_requests_fail_rather_than_cross():
    trace = poisson({0: 3.0, 1: 3.0}, 1200, ("eu", "us"))
    regions = ("eu-west-1", "eu-north-1", "us-east-2")
    outage = tuple(RegionOutage(r, 400, 800) for r in EU)
    cfg = FleetConfig(regions=regions, initial_replicas=3, limits=Limits(max_replicas=10), placement="cost",
                      serving={"eu": EU, "us": ("us-east-2",)}, scenario=Scenario(outage))
    result = simulate(trace, cfg, lambda code: Fixed(3))
    during = (trace.home == 0) & (trace.time_s >= 401) & (trace.time_s < 799)
    assert np.all(result.served_region[during] == -1)
    assert result.residency_violations == 0


def test_unknown_placement_mode_refused():
    trace = poisson({0: 1.0}, 60, ("us",))
    with pytest.raises(ValueError, match="placement"):
        simulate(trace, FleetConfig(placement="cheapest"), lambda code: Fixed(1))


def test_bench_over_a_topology_prints_regions_and_saving(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "--trace", jsonl_trace(tmp_path, n=6000), "--topology", STACK, "--policies",
                 "meridian,static", "--json", str(out), "--jobs", "1"]) == 0
    text = capsys.readouterr().out
    assert "per region: share of requests / cost $" in text
    assert "placement saving: meridian" in text
    data = json.loads(out.read_text())
    rows = {r["policy"]: r for r in data["traces"][0]["results"]}
    assert set(rows) == {"meridian", "static", "meridian@closest"}
    assert rows["meridian"]["regions"]["eu-north-1"]["requests"] > 0
    assert rows["meridian"]["regions"]["eu-west-1"]["requests"] == 0
    assert rows["static"]["regions"]["eu-north-1"]["requests"] == 0  # baselines: closest first


def test_bench_placement_off_and_without_topology(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "--trace", jsonl_trace(tmp_path, n=3000), "--topology", STACK, "--policies", "meridian",
                 "--placement", "off", "--json", str(out), "--jobs", "1"]) == 0
    rows = json.loads(out.read_text())["traces"][0]["results"]
    assert [r["policy"] for r in rows] == ["meridian"]
    assert rows[0]["regions"]["eu-north-1"]["requests"] == 0
    capsys.readouterr()
    assert main(["bench", "--placement", "on"]) == 2
    assert "--topology" in capsys.readouterr().err


def test_each_region_autoscaler_holds_the_objective_less_its_users_round_trip():
    from controller.law.types import Objective
    from regions.network import rtt_s
    from regions.residency import Transfer
    from sim.geo import server_objectives

    obj = Objective(percentile=95, ttft_s=1.0, e2e_s=20.0)
    regions = ("eu-west-1", "eu-north-1", "us-east-2", "ap-northeast-1")
    got = server_objectives(obj, ("eu", "us"), regions)
    assert got["eu-north-1"].ttft_s == pytest.approx(1.0 - rtt_s("eu", "eu-north-1"))
    assert got["us-east-2"].e2e_s == pytest.approx(20.0 - rtt_s("us", "us-east-2"))
    assert "ap-northeast-1" not in got  # nobody's personal data may be served there
    # a declared transfer lets a region serve a second jurisdiction: the longer round trip binds
    both = server_objectives(obj, ("eu", "us"), regions, (Transfer("us", "eu", "SCCs"),))
    assert both["eu-west-1"].ttft_s == pytest.approx(1.0 - rtt_s("us", "eu-west-1"))


def test_price_spike_moves_the_load_inside_the_jurisdiction():
    from sim.scenario import PriceSpike

    trace = poisson({0: 3.0}, 1500, ("eu",))
    regions = EU + ("us-east-2",)
    spike = PriceSpike("eu-north-1", 1.3, 600, 1200, spot_only=False)  # 1.67 $/h: eu-west-1 saves 18.7 %
    cfg = FleetConfig(regions=regions, initial_replicas=3, limits=Limits(max_replicas=10), placement="cost",
                      serving={"eu": EU}, scenario=Scenario((spike,)))
    result = simulate(trace, cfg, lambda code: Fixed(3))
    t = trace.time_s
    assert np.all(result.served_region[t < 590] == regions.index("eu-north-1"))
    assert np.all(result.served_region[(t >= 615) & (t < 1200)] == regions.index("eu-west-1"))
    assert not np.any(result.served_region == regions.index("us-east-2"))
    assert [j for _, j, _ in result.placements] == ["eu", "eu"]
    assert "cheaper than the closest" not in result.placements[1][2]
