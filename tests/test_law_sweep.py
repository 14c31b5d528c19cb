"""`python -m controller.law.sweep`: the 12-run check of the law and its acceptance rule."""
from __future__ import annotations

import json

import pytest

from controller.law import sweep


def test_one_run_is_printed_saved_and_compared(tmp_path, capsys):
    saved = tmp_path / "base.json"
    # the cheapest of the 12 runs (the one-hour Azure log at 5 req/s) through the real bench
    assert sweep.main(["--only", "on-demand R=5 azure", "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    runs = json.loads(saved.read_text())["runs"]
    assert list(runs) == ["on-demand R=5 azure"]
    cost, att = runs["on-demand R=5 azure"]["cost"], runs["on-demand R=5 azure"]["attainment"]
    assert cost > 0 and 0.0 <= att <= 1.0
    assert f"{cost:,.2f}" in out and "total all" in out
    # against a base that cost twice as much, the same run is a 50 % saving
    doc = json.loads(saved.read_text())
    doc["runs"]["on-demand R=5 azure"]["cost"] = 2 * cost
    dear = tmp_path / "dear.json"
    dear.write_text(json.dumps(doc))
    assert sweep.main(["--only", "on-demand R=5 azure", "--against", str(dear)]) == 0
    out = capsys.readouterr().out
    assert "-50.0%" in out
    assert ("verdict: PASS" in out) == (att >= sweep.TARGET)


def test_verdict_needs_every_run_at_target_and_a_lower_total():
    base = {"a": {"cost": 10.0, "attainment": 0.995}, "b": {"cost": 10.0, "attainment": 0.992}}
    cheaper = {"a": {"cost": 9.0, "attainment": 0.995}, "b": {"cost": 10.5, "attainment": 0.991}}
    assert sweep.verdict(cheaper, base)[0]
    one_below = {"a": {"cost": 5.0, "attainment": 0.995}, "b": {"cost": 5.0, "attainment": 0.9899}}
    ok, text = sweep.verdict(one_below, base)
    assert not ok and "every run >= 0.99: False" in text
    same_cost = {"a": {"cost": 10.0, "attainment": 1.0}, "b": {"cost": 10.0, "attainment": 1.0}}
    assert not sweep.verdict(same_cost, base)[0]
    assert not sweep.verdict({}, base)[0]


def test_a_base_that_is_not_a_saved_sweep_is_a_usage_error(tmp_path, capsys):
    wrong = tmp_path / "wrong.json"
    for content, says in (("{not json", "not a file written by --save"),
                          ('{"seed": 0}', "not a file written by --save"),
                          ('{"runs": {"x": {"cost": "dear"}}}', "not a file written by --save"),
                          ('{"runs": {"x": {"cost": true}}}', "not a file written by --save")):
        wrong.write_text(content)
        with pytest.raises(SystemExit) as exit_:
            sweep.main(["--only", "no such run", "--against", str(wrong)])
        assert exit_.value.code == 2 and says in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        sweep.main(["--only", "no such run", "--against", str(tmp_path / "missing.json")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "cannot read it" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, says", [
    (["--days", "-1"], "--days -1"),
    (["--days", "nan"], "--days nan"),
    (["--start-day", "inf"], "--start-day inf"),
    (["--seed", "-1"], "--seed -1"),
    (["--only", "R=7 "], "matches no run"),  # no run would be made, and exit 0 would hide the typo
    (["--save", "{tmp}"], "is a directory"),
    (["--save", "{tmp}/no/such/dir/base.json"], "does not exist"),
])
def test_bad_arguments_are_refused_before_the_first_run(argv, says, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "run_one", lambda *a, **k: pytest.fail("ran anyway"))
    with pytest.raises(SystemExit) as exit_:
        sweep.main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and says in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_save_that_fails_after_the_runs_exits_2_and_leaves_no_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "run_one", lambda *a, **k: (10.0, 0.995))
    saved = tmp_path / "base.json"

    def full_disk(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sweep, "atomic_write_text", full_disk)
    assert sweep.main(["--only", "on-demand R=5 azure", "--save", str(saved)]) == 2
    assert "No space left" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
