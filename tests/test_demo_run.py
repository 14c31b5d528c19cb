"""`meridian demo` orchestration: steps run through the real CLI, failures become report sections.

The steps here are real `meridian` commands (or deliberately absent/broken ones) so that what is
tested is the demo's own handling: capture, status, 'not available' reasons, exit status, atomic output.
"""
from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from meridian import cli, demo
from meridian.report.build import MARKER


def _factory(*steps: demo.Step):
    def factory(work: Path, quick: bool) -> demo.DemoPlan:
        return replace(demo.default_plan(work, quick), steps=tuple(steps))
    return factory


def test_missing_and_failing_steps_are_reported_not_raised(tmp_path):
    out, err = tmp_path / "report", io.StringIO()
    result = demo.run_demo(out, plan_factory=_factory(
        demo.Step("validate", ("regions",)),  # a real command that succeeds; its output is shown
        demo.Step("plan", ("no-such-command", "x")),
        demo.Step("bench:azure-hour", ("regions", "--no-such-flag")),
        demo.Step("drill:eu-primary-outage", ("drill", "run", "x.yaml"), unavailable="the drill file is absent"),
    ), stderr=err)
    status = {s.name: (s.status, s.detail) for s in result.steps}
    assert status["validate"][0] == "ok"
    assert status["plan"] == ("missing", "`meridian no-such-command` is not in this build yet")
    assert status["bench:azure-hour"][0] == "failed" and status["bench:azure-hour"][1].startswith("exit 2")
    assert status["drill:eu-primary-outage"] == ("missing", "the drill file is absent")
    assert not result.ok

    text = result.index.read_text()
    assert "eu-west-1" in text  # the validate step's captured output (the regions table)
    assert "not available:</strong> plan missing: `meridian no-such-command` is not in this build yet" in text
    assert "not available:</strong> bench:azure-hour failed: exit 2" in text
    assert "drill:eu-primary-outage missing: the drill file is absent" in text
    log = out / "logs" / "bench-azure-hour.log"
    assert log.read_text().count("unrecognized arguments: --no-such-flag") == 1
    assert '<a href="logs/bench-azure-hour.log">logs/bench-azure-hour.log</a>' in text
    assert "Traceback" not in err.getvalue()
    assert [line.split()[0] for line in err.getvalue().splitlines()] == ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"]


def test_an_exception_inside_a_command_is_logged_and_the_demo_continues(tmp_path):
    def runner(argv: list[str]) -> int:
        if argv[0] == "bench":
            raise RuntimeError("twin exploded")
        return cli.main(argv)

    err = io.StringIO()
    result = demo.run_demo(tmp_path / "r", plan_factory=_factory(
        demo.Step("bench:azure-hour", ("bench",)), demo.Step("validate", ("regions", "--json"))), runner=runner,
        stderr=err)
    assert [(s.name, s.status) for s in result.steps] == [("bench:azure-hour", "failed"), ("validate", "ok")]
    assert result.steps[0].detail == "raised RuntimeError: twin exploded"
    assert "Traceback" not in err.getvalue()
    assert "RuntimeError: twin exploded" in (tmp_path / "r" / "logs" / "bench-azure-hour.log").read_text()
    assert "bench:azure-hour failed: raised RuntimeError: twin exploded" in result.index.read_text()


def test_demo_refuses_an_out_dir_it_did_not_write(tmp_path, capsys):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "todo.txt").write_text("keep")
    assert cli.main(["demo", "--out", str(precious), "--quick"]) == 2
    assert "--out" in capsys.readouterr().err
    assert [p.name for p in precious.iterdir()] == ["todo.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["notes"]  # no staging directory left behind


def test_demo_replaces_its_own_previous_report(tmp_path):
    out = tmp_path / "report"
    steps = _factory(demo.Step("validate", ("regions",)))
    demo.run_demo(out, plan_factory=steps, stderr=io.StringIO())
    (out / "old.txt").write_text("stale")
    result = demo.run_demo(out, plan_factory=steps, stderr=io.StringIO())
    assert result.ok and (out / MARKER).exists() and not (out / "old.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_default_plan_runs_documented_commands_and_shows_them_reproducibly(tmp_path):
    plan = demo.default_plan(tmp_path / "work", quick=False)
    keys = [s.key for s in plan.steps]
    assert keys == ["validate", "plan", "bench:azure-hour", "bench:servegen-day", "drill:eu-primary-outage",
                    "drill:spot-reclaim-wave"]
    assert [s.key for s in demo.default_plan(tmp_path / "w2", quick=True).steps if s.key.startswith("bench")] == [
        "bench:azure-hour"]
    bench = next(s for s in plan.steps if s.key == "bench:azure-hour").argv
    policies = bench[bench.index("--policies") + 1].split(",")
    assert {"hpa", "kpa", "skyserve", "skyserve-fallback", "static", "oracle"} <= set(policies)
    assert Path(bench[bench.index("--json") + 1]) == plan.benches[0][1]
    assert bench[bench.index("--trace") + 1] == bench[bench.index("--tune-on") + 1]
    shown = demo._Display(tmp_path / "work", "meridian-report")
    command = shown.command(bench)
    assert command.startswith("scripts/meridian bench --trace ../shared/traces/azure_llm_2023/")
    assert "--json meridian-report/artifacts/bench-azure-hour.json" in command and str(tmp_path) not in command
    servegen = next(s for s in plan.steps if s.key == "bench:servegen-day").argv
    assert "#language/m-large" in servegen[servegen.index("--trace") + 1] and "--days" in servegen
    plan_cmd = shown.command(next(s for s in plan.steps if s.key == "plan").argv)
    assert plan_cmd == ("scripts/meridian plan Pulumi.dev.yaml --json meridian-report/artifacts/plan.json "
                        "--diagram meridian-report/artifacts/topology.svg")


def _only(*keys: str):
    def factory(work: Path, quick: bool) -> demo.DemoPlan:
        plan = demo.default_plan(work, quick)
        return replace(plan, steps=tuple(s for s in plan.steps if s.key in keys))
    return factory


def test_real_validate_step_on_the_dev_stack(tmp_path):
    result = demo.run_demo(tmp_path / "r", plan_factory=_only("validate"), stderr=io.StringIO())
    assert [(s.name, s.status) for s in result.steps] == [("validate", "ok")]
    text = result.index.read_text()
    assert "Pulumi.dev.yaml: valid" in text and str(demo.REPO) not in text.split("<pre>")[1].split("</pre>")[0]
    assert "scripts/meridian validate Pulumi.dev.yaml" in text


def test_an_unwritable_out_dir_is_refused_with_exit_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    assert cli.main(["demo", "--quick", "--out", str(blocker / "report")]) == 2
    err = capsys.readouterr().err
    assert "cannot write the report there" in err and "Traceback" not in err


@pytest.mark.parametrize("out", ["", "  "])
def test_an_empty_out_is_refused_by_name(out, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # were it taken as ".", the demo would look at the working directory
    assert cli.main(["demo", "--quick", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "--out is empty" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_ctrl_c_leaves_no_half_written_report(tmp_path):
    def runner(argv: list[str]) -> int:
        raise KeyboardInterrupt

    out = tmp_path / "report"
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(out, plan_factory=_factory(demo.Step("validate", ("regions",))), runner=runner,
                      stderr=io.StringIO())
    assert list(tmp_path.iterdir()) == []
