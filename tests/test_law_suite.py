"""`python -m controller.law.suite`: the law's ten-sweep check and the rule it applies.

The end-to-end test replaces `sweep.run_one` (one `meridian bench` run, seconds to minutes
each) with a stand-in that returns a figure per run, so the ten sweeps' bookkeeping, files and
verdict are checked in well under a second; `tests/test_law_sweep.py` runs the real bench."""
from __future__ import annotations

import json

import pytest

from controller.law import suite, sweep


def _runs(costs: dict[str, float], attain: dict[str, float] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    attain = attain or {}
    return {name: {"r": {"cost": c, "attainment": attain.get(name, 0.995)}} for name, c in costs.items()}


def test_the_rule_wants_no_new_miss_no_sweep_up_by_more_than_a_tenth_of_a_percent_and_a_lower_sum():
    base = _runs({"a": 100.0, "b": 100.0}, {"b": 0.989})
    assert suite.judge(_runs({"a": 99.0, "b": 100.05}, {"b": 0.989}), base)[0]  # b was already under
    ok, why = suite.judge(_runs({"a": 90.0, "b": 100.0}, {"a": 0.9899}), base)
    assert not ok and "a: r 0.9899" in why[0]
    ok, why = suite.judge(_runs({"a": 90.0, "b": 100.2}), base)
    assert not ok and why == ["b: total +0.20% (more than +0.1%)"]
    ok, why = suite.judge(_runs({"a": 100.0, "b": 100.0}), base)
    assert not ok and "not lower" in why[0]


def test_ten_sweeps_are_saved_printed_and_judged(tmp_path, capsys, monkeypatch):
    def stand_in(capacity, rate, trace, seed, days, start_day=0.0):
        # a figure that differs per run, seed and day range; m-mid at R=5 misses on seed 3
        cost = rate * (1.0 + seed) + start_day + (2.0 if "m-mid" in trace else 1.0)
        att = 0.985 if (seed == 3 and rate == 5.0 and "m-mid" in trace and capacity == "on-demand") else 0.995
        return cost, att

    monkeypatch.setattr(sweep, "run_one", stand_in)
    out = tmp_path / "base"
    assert suite.main(["--out", str(out), "--jobs", "1"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(f"{n}.json" for n, _, _ in suite.SWEEPS)
    doc = json.loads((out / "days-7.json").read_text())
    assert doc["start_day"] == 7.0 and doc["seed"] == 0 and len(doc["runs"]) == 12
    printed = capsys.readouterr().out
    assert "seed-3" in printed and "on-demand R=5 m-mid" in printed  # its run under the target

    # a law 1 % cheaper everywhere passes against it; one whose sweep seed-1 costs more fails
    monkeypatch.setattr(sweep, "run_one", lambda *a, **k: (stand_in(*a, **k)[0] * 0.99, stand_in(*a, **k)[1]))
    assert suite.main(["--out", str(tmp_path / "cheaper"), "--against", str(out), "--jobs", "1"]) == 0
    assert "verdict: PASS" in capsys.readouterr().out

    def dearer_seed_1(*a, **k):
        cost, att = stand_in(*a, **k)
        return (cost * 1.01 if a[3] == 1 else cost * 0.98), att

    monkeypatch.setattr(sweep, "run_one", dearer_seed_1)
    assert suite.main(["--out", str(tmp_path / "dearer"), "--against", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "verdict: FAIL: seed-1: total +1.00%" in printed
    assert "largest rises: seed-1 " in printed and "+1.0%" in printed and "largest falls: " in printed


def test_the_largest_moves_name_the_runs():
    base = {"s": {"a": {"cost": 100.0, "attainment": 1.0}, "b": {"cost": 100.0, "attainment": 1.0},
                  "c": {"cost": 100.0, "attainment": 1.0}}}
    runs = {"s": {"a": {"cost": 105.0, "attainment": 1.0}, "b": {"cost": 90.0, "attainment": 1.0},
                  "c": {"cost": 101.0, "attainment": 1.0}}}
    assert suite.biggest_moves(runs, base, rises=True) == [("s", "a", pytest.approx(5.0)), ("s", "c", pytest.approx(1.0))]
    assert suite.biggest_moves(runs, base, rises=False) == [("s", "b", pytest.approx(-10.0))]


@pytest.mark.parametrize("argv, says", [
    (["--out", "OUT", "--jobs", "0"], "--jobs 0"),
    (["--out", "FILE"], "exists and is not a directory"),
    (["--out", "OUT", "--against", "MISSING"], "not a directory"),
    (["--out", "OUT", "--against", "EMPTY"], "holds none of"),
])
def test_bad_arguments_are_refused_before_any_run(argv, says, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "run_one", lambda *a, **k: pytest.fail("a run started"))
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "EMPTY").mkdir()
    argv = [str(tmp_path / a) if a in ("OUT", "FILE", "MISSING", "EMPTY") else a for a in argv]
    with pytest.raises(SystemExit) as exit_:
        suite.main(argv)
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "OUT").exists()
