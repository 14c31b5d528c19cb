"""The issue-5 protocol's scoring: which baseline is the hindsight and the cross-tuned reference."""
import pytest

from meridian import protocol
from meridian.cli import main

A, L, M = protocol.TRACES


def result(policy, cost, att):
    return {"policy": policy, "cost_usd": cost, "slo_window_attainment": att}


def run_doc(costs):
    """costs: trace -> {policy: (cost, attainment)}"""
    return {t: {p: result(p, c, a) for p, (c, a) in pol.items()} for t, pol in costs.items()}


def every(cost, att=1.0):
    return {p: (cost, att) for p in protocol.POLICIES}


def test_hindsight_and_cross_tuned_references_are_picked_by_tune_trace_and_attainment():
    own = {**every(10.0), "meridian": (9.0, 0.995), "hpa": (5.0, 0.98), "static": (8.0, 1.0), "oracle": (7.0, 1.0)}
    runs = {
        A: run_doc({A: own, L: every(1.0), M: every(1.0)}),
        L: run_doc({A: {**every(20.0), "kpa": (6.0, 0.999), "skyserve": (4.0, 0.5)}, L: every(1), M: every(1)}),
        M: run_doc({A: every(30.0), L: every(1), M: every(1)}),
    }
    row = protocol._score("on-demand", 5, A, runs, 0.99)
    assert row.hindsight == ("static", 8.0)  # hpa is cheaper but misses the target
    assert row.cross == ("kpa", "m-large", 6.0)  # skyserve is cheaper but misses it
    assert (row.oracle, row.cost, row.attainment) == (7.0, 9.0, 0.995)
    text = protocol.table([row], 0.99)
    # 9.00 is above the cross-tuned kpa (6.00) and above 1.1 x the hindsight static (8.80)
    assert "kpa/m-large 6.00" in text and "2/4 met" in text


def test_bad_rates_are_refused(capsys):
    assert main(["bench-protocol", "--rates", "5,zero"]) == 2
    assert "--rates" in capsys.readouterr().err


def test_an_out_that_cannot_take_the_bench_json_is_refused_before_any_bench(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(protocol, "_bench", lambda *a, **k: pytest.fail("benched anyway"))
    a_file = tmp_path / "file"
    a_file.write_text("")
    for out in (a_file, a_file / "sub"):
        assert main(["bench-protocol", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "--out" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("text, words", [
    ("{not json", "is not JSON"),
    ('{"runs": {}}', "is not a `meridian bench --json` file"),
    ('{"traces": [{"trace": "x", "results": [{"policy": "meridian"}]}]}', "lacks"),
])
def test_rescore_of_a_file_that_is_not_bench_json_exits_2(text, words, tmp_path, capsys):
    for t in protocol.TRACES:
        (tmp_path / f"on-demand_R5_tune-{protocol.short_name(t)}.json").write_text(text)
    assert main(["bench-protocol", "--rescore", "--out", str(tmp_path), "--rates", "5", "--spot-rate", "0"]) == 2
    err = capsys.readouterr().err
    assert words in err and "--rescore" in err and "Traceback" not in err


def test_a_first_bench_refused_leaves_no_empty_out_directory(tmp_path, capsys):
    out = tmp_path / "new" / "proto"
    # day 100 is past the 14-day curves: the bench refuses it at the first run
    assert main(["bench-protocol", "--out", str(out), "--start-day", "100", "--rates", "5", "--spot-rate", "0"]) == 2
    err = capsys.readouterr().err
    assert "--start-day" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # neither proto nor the new/ made for it
