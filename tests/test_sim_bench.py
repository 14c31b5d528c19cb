"""`meridian bench` end to end on a small synthetic trace: JSON schema, hindsight marking,
feasibility refusal, and the oracle as a lower bound on cost."""
from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from meridian.cli import main

KEYS = {"policy", "cost_usd", "gpu_hours", "requests", "ttft_p50_s", "ttft_p95_s", "ttft_p99_s", "e2e_p95_s",
        "slo_window_attainment", "feasible_windows", "request_attainment", "scale_events", "max_replicas",
        "residency_violations"}


@pytest.fixture(scope="module")
def ramp_trace(tmp_path_factory):
    """40 minutes: 2 req/s, a 15-minute surge at 8 req/s, back to 2 req/s (Poisson)."""
    rng = np.random.default_rng(42)
    rows, t = [], 0.0
    while t < 2400:
        rate = 8.0 if 900 <= t < 1800 else 2.0
        t += rng.exponential(1 / rate)
        rows.append({"timestamp": round(t * 1000, 3), "input_length": int(rng.integers(100, 2500)),
                     "output_length": int(rng.integers(20, 400))})
    path = tmp_path_factory.mktemp("traces") / "ramp.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def bench_json(ramp_trace, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "bench.json"
    code = main(["bench", "--trace", ramp_trace, "--policies", "hpa,kpa,skyserve,static,oracle",
                 "--json", str(out), "--jobs", "1"])
    assert code == 0
    return json.loads(out.read_text())


def test_json_schema_and_hindsight(bench_json, ramp_trace):
    assert set(bench_json) >= {"slo", "tuned", "traces"}
    assert bench_json["slo"]["percentile"] == 95 and bench_json["slo"]["ttft_s"] == 1.0
    (entry,) = bench_json["traces"]
    assert entry["trace"] == ramp_trace and entry["hindsight"] is True
    assert [r["policy"] for r in entry["results"]] == ["hpa", "kpa", "skyserve", "static", "oracle"]
    for row in entry["results"]:
        assert KEYS <= set(row)
        assert row["residency_violations"] == 0
        assert row["knob"] == bench_json["tuned"][row["policy"]]["knob"]


def test_oracle_cost_is_a_lower_bound(bench_json):
    rows = {r["policy"]: r for r in bench_json["traces"][0]["results"]}
    oracle = rows.pop("oracle")
    assert oracle["slo_window_attainment"] >= 0.99
    meeting = [r for r in rows.values() if r["slo_window_attainment"] >= 0.99]
    assert meeting, "at least one baseline should meet the objective after tuning"
    for r in meeting:
        assert oracle["cost_usd"] <= r["cost_usd"] + 1e-9, (r["policy"], r["cost_usd"], oracle["cost_usd"])


def test_static_never_scales(bench_json):
    rows = {r["policy"]: r for r in bench_json["traces"][0]["results"]}
    assert rows["static"]["scale_events"] == 0
    assert rows["static"]["max_replicas"] == rows["static"]["knob"]
    hours = bench_json["traces"][0]["duration_s"] / 3600
    assert rows["static"]["gpu_hours"] == pytest.approx(rows["static"]["knob"] * hours, rel=0.01)


def test_tuning_on_another_trace_is_not_hindsight(ramp_trace, tmp_path, capsys):
    other = tmp_path / "other.jsonl"
    lines = open(ramp_trace).read().splitlines()[:3000]
    other.write_text("\n".join(lines))
    out = tmp_path / "b.json"
    assert main(["bench", "--trace", str(other), "--tune-on", ramp_trace, "--policies", "static",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["traces"][0]["hindsight"] is False
    assert data["tuned"]["static"]["tune_on"] == ramp_trace
    assert "HINDSIGHT" not in capsys.readouterr().out


def test_an_existing_json_file_is_replaced(ramp_trace, tmp_path):
    out = tmp_path / "b.json"
    out.write_text("{}")  # e.g. the previous run's output
    assert main(["bench", "--trace", ramp_trace, "--policies", "static", "--json", str(out), "--jobs", "1"]) == 0
    assert set(json.loads(out.read_text())) >= {"slo", "tuned", "traces"}  # the new run's, not "{}"


def test_infeasible_objective_refused(ramp_trace, tmp_path, capsys):
    out = tmp_path / "never.json"
    assert main(["bench", "--trace", ramp_trace, "--ttft-ms", "50", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "feasible" in err and "--ttft-ms" in err
    assert not out.exists()


@pytest.mark.parametrize("flags, named", [
    (["--policies", "hpa,nonsense"], "nonsense"),
    (["--percentile", "120"], "--percentile"),
    (["--percentile", "nan"], "--percentile"),
    (["--rate-scale", "0"], "--rate-scale"),
    (["--rate-scale", "nan"], "--rate-scale"),
    (["--mean-rate", "inf"], "--mean-rate"),
    (["--ttft-ms", "-1"], "--ttft-ms"),
    (["--ttft-ms", "nan"], "--ttft-ms"),
    (["--e2e-ms", "0"], "--e2e-ms"),
    (["--days", "0"], "--days"),
    (["--days", "1"], "--days"),  # the ramp trace lasts 40 minutes
    (["--step-s", "600"], "--step-s"),
    (["--seed", "-1"], "--seed"),
    (["--region", "mars-1"], "--region"),
    (["--tune-on", "/nonexistent/trace.csv"], "--tune-on: /nonexistent"),
    (["--time-column", "t", "--prompt-column", "p", "--output-column", "o"], "would be ignored"),
])
def test_bad_flags_refused_before_any_output(flags, named, ramp_trace, tmp_path, capsys):
    out, plots = tmp_path / "deep" / "out.json", tmp_path / "plots"
    code = main(["bench", "--trace", ramp_trace, "--policies", "static", "--json", str(out),
                 "--plot", str(plots), *flags])
    err = capsys.readouterr().err
    assert code == 2 and named in err and "Traceback" not in err
    assert not out.exists() and not out.parent.exists() and not plots.exists()


def test_output_paths_checked_before_the_run(ramp_trace, tmp_path, capsys):
    a_file = tmp_path / "f"
    a_file.write_text("")
    assert main(["bench", "--trace", ramp_trace, "--json", str(tmp_path), "--plot", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert "--json" in err and "--plot" in err and "[bench]" not in err  # nothing was loaded or run


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux sysfs as an unwritable directory")
def test_outputs_under_an_unwritable_directory_refused_before_the_run(ramp_trace, capsys, monkeypatch):
    # sysfs refuses new files even to root, whose permission bits (os.access) all say yes
    monkeypatch.setattr("meridian.commands.bench_cmd.run_bench", lambda *a, **k: pytest.fail("benched anyway"))
    assert main(["bench", "--trace", ramp_trace, "--json", "/sys/no/such/out.json", "--plot", "/sys/plots"]) == 2
    err = capsys.readouterr().err
    assert "--json: cannot write under /sys" in err and "--plot: cannot write under /sys" in err


def test_replay_is_deterministic(ramp_trace):
    # The bench reuses a hindsight run's tuning scores instead of replaying it: same knob and
    # seed must give the same result.
    from sim.bench import BenchConfig, prepare, run_policy
    cfg = BenchConfig(traces=(ramp_trace,), tune_on=ramp_trace)
    work = prepare(ramp_trace, cfg)
    first = run_policy(work, "kpa", 12.0, cfg)[1]
    again = run_policy(work, "kpa", 12.0, cfg)[1]
    assert first == again


def test_plots_are_written(ramp_trace, tmp_path):
    plots = tmp_path / "plots"
    assert main(["bench", "--trace", ramp_trace, "--policies", "static,oracle", "--plot", str(plots)]) == 0
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["ramp.jsonl-cost.png", "ramp.jsonl-replicas.png", "ramp.jsonl-ttft.png"]
    for p in plots.iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_spot_mix_only_for_spot_capable_policies(ramp_trace, tmp_path):
    out = tmp_path / "spot.json"
    assert main(["bench", "--trace", ramp_trace, "--policies", "skyserve,skyserve-fallback",
                 "--capacity", "spot-mix", "--json", str(out)]) == 0
    rows = {r["policy"]: r for r in json.loads(out.read_text())["traces"][0]["results"]}
    plain, fallback = rows["skyserve"], rows["skyserve-fallback"]
    # skyserve stays on-demand; the fallback autoscaler runs its target on spot (~38 % of the
    # on-demand price for g5) and pays on-demand only while spot replicas are not ready.
    assert fallback["cost_usd"] < 0.75 * plain["cost_usd"]
    assert fallback["gpu_hours"] >= 0.9 * plain["gpu_hours"]


def test_hindsight_detected_whatever_the_spelling(ramp_trace, tmp_path, monkeypatch):
    from pathlib import Path
    monkeypatch.chdir(Path(ramp_trace).parent)
    out = tmp_path / "h.json"
    assert main(["bench", "--trace", "ramp.jsonl", "--tune-on", ramp_trace, "--policies", "static",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["traces"][0]["hindsight"] is True


def test_trace_shorter_than_warm_up_refused(tmp_path, capsys):
    short = tmp_path / "short.jsonl"
    short.write_text("\n".join(json.dumps({"timestamp": i * 1000, "input_length": 10, "output_length": 5})
                               for i in range(100)))
    assert main(["bench", "--trace", str(short)]) == 2
    assert "warm-up" in capsys.readouterr().err


def test_on_demand_twins_really_decide_alike(ramp_trace):
    # The bench runs skyserve-fallback as skyserve on on-demand capacity; check that claim.
    from sim.bench import BenchConfig, prepare, run_policy
    from sim.policies import ON_DEMAND_TWIN
    cfg = BenchConfig(traces=(ramp_trace,), tune_on=ramp_trace)
    work = prepare(ramp_trace, cfg)
    for name, twin in ON_DEMAND_TWIN.items():
        assert run_policy(work, name, 1.3, cfg)[1] == run_policy(work, twin, 1.3, cfg)[1]


def test_early_stop_never_changes_the_tuned_knob(ramp_trace):
    from sim.bench import BenchConfig, prepare, tune
    cfg = BenchConfig(traces=(ramp_trace,), tune_on=ramp_trace)
    work = prepare(ramp_trace, cfg)
    for name in ("hpa", "static"):
        fast = tune(work, name, cfg)
        slow = tune(work, name, replace(cfg, early_stop=False))
        assert (fast.knob, fast.met) == (slow.knob, slow.met)
        full = {k: a for k, a, _ in slow.history}
        for knob, bound, cost in fast.history:
            if cost == float("inf"):  # stopped early: its bound must be true and below target
                assert full[knob] <= bound < cfg.target_attainment


def test_single_region_serves_its_own_jurisdictions_users(ramp_trace, tmp_path):
    # A fleet in eu-west-1 serves EU users; with US users every request would fail residency.
    out = tmp_path / "eu.json"
    assert main(["bench", "--trace", ramp_trace, "--region", "eu-west-1", "--policies", "static",
                 "--json", str(out)]) == 0
    (entry,) = json.loads(out.read_text())["traces"]
    assert entry["jurisdictions"] == ["eu"] and entry["regions"] == ["eu-west-1"]
    (row,) = entry["results"]
    assert row["failed_requests"] == 0 and row["slo_window_attainment"] >= 0.99


def test_a_failed_plot_leaves_neither_plots_nor_json(ramp_trace, tmp_path, monkeypatch, capsys):
    import sim.plots

    def half_then_fail(directory, *args):
        from pathlib import Path
        (Path(directory) / "first.png").write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sim.plots, "write_plots", half_then_fail)
    out, plots = tmp_path / "out.json", tmp_path / "plots"
    assert main(["bench", "--trace", ramp_trace, "--policies", "static", "--json", str(out),
                 "--plot", str(plots)]) == 2
    assert "No space left" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no JSON, no plots, no staging left


@pytest.mark.parametrize("spec", ["azure_llm_2023/AzureLLMInferenceTrace_conv.csv",
                                  "alibaba_servegen/servegen_aggregate_rate_10min.csv#language/m-large",
                                  "alibaba_servegen/servegen_aggregate_rate_10min.csv#language/m-mid"])
def test_defaults_leave_95_percent_of_the_shared_traces_windows_feasible(spec):
    # Issue 4: the default GPU profile and --ttft-ms must leave >= 95 % of windows feasible.
    from controller.law.types import Objective
    from sim.profiles import get_profile
    from sim.score import windows
    from sim.traces import TraceOptions, load_trace, shared_traces_dir
    if not (shared_traces_dir() / spec.partition("#")[0]).exists():
        pytest.skip("shared traces not present")
    arrivals = load_trace(spec, TraceOptions(cohort_step_s=10.0))
    win = windows(arrivals, Objective(), get_profile(), warmup_s=300.0)
    assert win.feasible[win.scored].mean() >= 0.95


def test_a_trace_too_long_for_memory_is_refused(tmp_path, capsys):
    # Millisecond timestamps read as seconds: 2 requests 11,574 days apart, 1e9 one-second steps.
    gap = tmp_path / "gap.csv"
    gap.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n0,10,10\n1000000000,10,10\n")
    assert main(["bench", "--trace", str(gap)]) == 2
    err = capsys.readouterr().err
    assert "too long" in err and "--time-unit" in err


def test_workers_are_forked_only_from_a_single_threaded_process():
    """A fork beside another thread can inherit a held lock and hang (seen with the demo)."""
    import threading

    from sim import bench

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert not bench._can_fork()
    finally:
        stop.set()
        other.join()


def test_a_fleet_too_large_for_the_twin_is_refused_with_the_rate_that_fits(capsys):
    # A rate curve scales without copying requests, so only the fleet it implies bounds it:
    # at 1e9 req/s it would allow billions of replicas and run for hours.
    spec = "alibaba_servegen/servegen_aggregate_rate_10min.csv#language/m-large"
    assert main(["bench", "--trace", spec, "--days", "1", "--mean-rate", "1e9", "--policies", "static"]) == 2
    err = capsys.readouterr().err
    assert "fleet too large for the twin" in err and "at most" in err and "Traceback" not in err
    most = float(err.split("at most ")[1].split(" req/s")[0].replace(",", ""))
    assert main(["bench", "--trace", spec, "--days", "1", "--mean-rate", f"{most * 1.02:.0f}",
                 "--policies", "static"]) == 2  # just above what it said fits: still refused
    capsys.readouterr()
