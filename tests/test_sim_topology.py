"""`--topology`: the trace split over a stack's jurisdictions, one autoscaler per region."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from meridian.cli import main
from regions.catalog import load_catalog
from sim.topology_split import load_split
from sim.traces.arrivals import Arrivals

REPO = Path(__file__).resolve().parents[1]


def day_trace(n=30_000, seed=0) -> Arrivals:
    """All requests in the first hour of a 24-hour trace."""
    t = np.sort(np.random.default_rng(seed).uniform(0, 3600, n))
    return Arrivals("day", t, np.ones(n), np.full(n, 300.0), np.full(n, 50.0), duration_s=86400.0)


def test_route_order_serving_then_standby():
    split = load_split(str(REPO / "Pulumi.dev.yaml"))
    order = split.route_order()
    assert set(order) == {"eu", "us", "jp"}
    assert order["eu"] == ("eu-west-1", "eu-central-1")  # primary first, warm standby after
    assert order["jp"] == ("ap-northeast-1", "ap-northeast-3")
    assert set(order["us"]) == {"us-east-1", "us-west-2"}


def test_split_shares_and_utc_shift():
    split = load_split(str(REPO / "Pulumi.dev.yaml"), shares="eu=0.5,us=0.3,jp=0.2")
    arrivals, regions, transfers = split.apply(day_trace())
    homes = arrivals.home
    got = np.bincount(homes, minlength=3) / len(homes)
    assert got == pytest.approx([0.5, 0.3, 0.2], abs=0.02)
    assert np.all(np.diff(arrivals.time_s) >= 0)
    jp = arrivals.time_s[homes == arrivals.jurisdictions.index("jp")]
    # Local hour 0-1 in Tokyo (UTC+9) is UTC 15-16 of the previous day, wrapped into the trace.
    assert np.all((jp >= 15 * 3600) & (jp < 16 * 3600))
    us = arrivals.time_s[homes == arrivals.jurisdictions.index("us")]
    assert np.all((us >= 5 * 3600) & (us < 6 * 3600))
    assert set(regions) == {"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-northeast-1",
                            "ap-northeast-3"}
    assert transfers == ()


def test_bench_over_a_topology_keeps_residency(tmp_path):
    rng = np.random.default_rng(5)
    t = np.cumsum(rng.exponential(1 / 4.0, 8000))
    rows = [{"timestamp": float(x * 1000), "input_length": int(rng.integers(100, 2000)),
             "output_length": int(rng.integers(10, 300))} for x in t]
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "topo.json"
    assert main(["bench", "--trace", str(trace), "--topology", str(REPO / "Pulumi.dev.yaml"),
                 "--policies", "hpa,static", "--json", str(out), "--jobs", "1"]) == 0
    data = json.loads(out.read_text())
    entry = data["traces"][0]
    assert set(entry["regions"]) == {"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-northeast-1",
                                     "ap-northeast-3"}
    cat = load_catalog()
    assert {cat.regions[r].jurisdiction for r in entry["regions"]} == {"eu", "us", "jp"}
    for row in entry["results"]:
        assert row["residency_violations"] == 0


def test_shares_need_a_topology(capsys):
    assert main(["bench", "--shares", "eu=1"]) == 2
    assert "--topology" in capsys.readouterr().err


@pytest.mark.parametrize("shares, says", [("eu=nan", "finite"), ("eu=inf", "finite"), ("eu=0", "> 0"),
                                          ("xx=1", "CODE in eu"), ("eu=1,eu=2", "twice")])
def test_bad_shares_refused(shares, says):
    from regions.errors import InputError
    from sim.topology_split import parse_shares
    with pytest.raises(InputError) as err:
        parse_shares(shares, ("eu", "us", "jp"))
    assert says in err.value.render()


def test_bench_accepts_a_topology_with_only_apply_and_region_shares(tmp_path):
    """Drills may hand the bench their own split (duck-typed: `apply` and `region_shares`)."""
    from sim.bench import BenchConfig, prepare

    class TwoWay:
        def apply(self, arrivals):
            arrivals.home = (np.arange(len(arrivals.time_s)) % 2).astype(np.int32)
            arrivals.jurisdictions = ("eu", "us")
            return arrivals, ("eu-west-1", "us-east-1"), ()

        def region_shares(self, arrivals):
            return {"eu-west-1": 0.5, "us-east-1": 0.5}

    rng = np.random.default_rng(2)
    t = np.cumsum(rng.exponential(1 / 4.0, 4000))
    trace = tmp_path / "t.jsonl"
    trace.write_text("\n".join(json.dumps({"timestamp": float(x * 1000), "input_length": 800,
                                           "output_length": 100}) for x in t))
    work = prepare(str(trace), BenchConfig(traces=(str(trace),), tune_on=str(trace), topology=TwoWay()))
    assert set(work.fleet.initial_replicas) == {"eu-west-1", "us-east-1"}
    assert work.fleet.route_order is None
