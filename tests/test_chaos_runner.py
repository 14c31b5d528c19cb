"""The runner's control flow: phases, stop conditions, rollbacks on every outcome, journal.

`ScriptedTarget` is a test double standing in for a drill target: its probes answer
from a function of (time, active faults), so each outcome (pass, deviation, abort,
exception, signal, failed rollback) can be produced on purpose. The sim, aws and kube
targets are tested against the twin, moto_server and a Kubernetes API stand-in.
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from chaos import journal as journal_mod
from chaos.runner import run
from chaos.targets.base import Measurements
from chaos.validate import parse_experiment

STACK = str(Path(__file__).resolve().parents[1] / "Pulumi.dev.yaml")
JOURNAL_KEYS = {"title", "target", "started_at", "ended_at", "status", "steady_state", "timeline",
                "measurements", "rollbacks"}


class ScriptedTarget:
    name = "scripted"
    realtime = False

    def __init__(self, value=None, fail_inject: str | None = None, fail_revert: str | None = None,
                 signal_at: float | None = None, measurements: Measurements | None = None):
        # default: attainment 0.5 while "outage" is active, else 1.0
        self.value = value or (lambda t, active: 0.5 if "outage" in active else 1.0)
        self.fail_inject, self.fail_revert, self.signal_at = fail_inject, fail_revert, signal_at
        self._measurements = measurements or Measurements(rto_seconds=100.0, rpo_seconds=1.0,
                                                          residency_violations=0,
                                                          slo_attainment_during={"eu": 0.6})
        self.t = 0.0
        self.active: set[str] = set()
        self.calls: list[tuple[float, str, str]] = []
        self.closed = False

    def prepare(self, experiment, topology):
        self.calls.append((0.0, "prepare", ""))

    def advance(self, until_s):
        if self.signal_at is not None and self.t < self.signal_at <= until_s:
            os.kill(os.getpid(), signal.SIGTERM)
        self.t = until_s

    def inject(self, action):
        self.calls.append((self.t, "inject", action.name))
        if action.name == self.fail_inject:
            raise RuntimeError(f"cannot inject {action.name}")
        self.active.add(action.name)
        return {"injected": action.name}

    def revert(self, action):
        self.calls.append((self.t, "revert", action.name))
        if action.name == self.fail_revert:
            raise RuntimeError(f"cannot revert {action.name}")
        self.active.discard(action.name)
        return {"reverted": action.name}

    def probe(self, probe):
        return self.value(self.t, frozenset(self.active))

    def measurements(self):
        return self._measurements

    def close(self):
        self.closed = True


def experiment(**changes):
    doc = {
        "title": "scripted", "target": "sim", "topology": STACK, "duration_seconds": 1000,
        "poll_seconds": 50, "blast_radius": {"regions": ["eu-west-1", "eu-central-1"]},
        "steady_state": [{"probe": "slo_attainment", "name": "eu", "jurisdiction": "eu",
                          "tolerance": {"min": 0.4}}],
        "method": [{"action": "region_outage", "name": "outage", "region": "eu-west-1",
                    "start_seconds": 100, "duration_seconds": 400}],
        "expect": {"rto_seconds": 600, "residency_violations": 0, "min_slo_attainment_during": {"eu": 0.5}},
    }
    doc.update(changes)
    return parse_experiment(doc, source="test").experiment


def kinds(journal):
    return [(e["kind"], e["name"]) for e in journal["timeline"]]


def test_passing_drill_writes_the_issue_journal_and_exits_0(tmp_path):
    target, out = ScriptedTarget(), tmp_path / "j.json"
    outcome = run(experiment(), target, journal_path=out)
    j = json.loads(out.read_text())
    assert outcome.exit_code == 0 and j["status"] == "passed"
    assert set(j) == JOURNAL_KEYS
    assert set(j["steady_state"]) == {"before", "during", "after"}
    assert {"rto_seconds", "rpo_seconds", "residency_violations", "slo_attainment_during"} <= set(j["measurements"])
    assert all(set(e) == {"t", "kind", "name", "output"} for e in j["timeline"])
    assert j["steady_state"]["during"]["probes"][0]["value"] == 0.5  # measured while the fault was on
    assert ("action", "outage") in kinds(j) and ("action-end", "outage") in kinds(j)
    assert target.calls[1:] == [(100, "inject", "outage"), (500, "revert", "outage")]
    assert j["rollbacks"][0]["status"] == "skipped"  # the fault had already ended on time
    assert target.closed
    assert [p.name for p in tmp_path.iterdir()] == ["j.json"]  # no temporary file left behind


def test_deviation_during_the_fault_exits_1_and_still_rolls_back(tmp_path):
    x = experiment(method=[{"action": "region_outage", "name": "outage", "region": "eu-west-1",
                            "start_seconds": 100}])  # open-ended: only a rollback ends it
    target = ScriptedTarget(value=lambda t, active: 0.1 if active else 1.0)
    outcome = run(x, target, journal_path=tmp_path / "j.json")
    assert outcome.exit_code == 1 and outcome.journal.status == "deviated"
    assert [(r.name, r.status) for r in outcome.journal.rollbacks] == [("outage", "succeeded")]
    assert not target.active


def test_unmet_expectation_is_a_deviation(tmp_path):
    target = ScriptedTarget(measurements=Measurements(rto_seconds=900.0, residency_violations=0,
                                                      slo_attainment_during={"eu": 0.6}))
    outcome = run(experiment(), target, journal_path=tmp_path / "j.json")
    assert outcome.exit_code == 1 and outcome.journal.status == "deviated"
    rto = next(c for c in outcome.checks if c["name"] == "rto_seconds")
    assert rto == {"name": "rto_seconds", "expected": "<= 600", "measured": 900.0, "met": False}
    assert "rto_seconds" in outcome.reason


def test_stop_condition_aborts_and_reverts_unlisted_active_faults(tmp_path):
    x = experiment(
        method=[{"action": "region_outage", "name": "outage", "region": "eu-west-1", "start_seconds": 100},
                {"action": "latency_injection", "name": "slow", "region": "eu-central-1", "added_ms": 200,
                 "start_seconds": 120}],
        rollbacks=[{"revert": "slow"}],
        stop_conditions=[{"probe": "error_rate", "name": "errors", "tolerance": {"max": 0.2}}])
    target = ScriptedTarget(value=lambda t, active: 0.9 if t >= 300 else 0.0 if "outage" in active else 1.0)
    outcome = run(x, target, journal_path=tmp_path / "j.json")
    j = json.loads((tmp_path / "j.json").read_text())
    assert outcome.exit_code == 1 and j["status"] == "aborted"
    assert ("stop-condition", "errors") in kinds(j) and ("abort", "drill") in kinds(j)
    assert [(r["name"], r["status"]) for r in j["rollbacks"]] == [("slow", "succeeded"), ("outage", "succeeded")]
    assert "still active" in j["rollbacks"][1]["reason"]
    assert not target.active
    assert j["steady_state"]["after"] is None  # an aborted drill stops


def test_exception_in_an_action_fails_the_drill_and_rolls_back_what_was_injected(tmp_path):
    x = experiment(method=[
        {"action": "region_outage", "name": "outage", "region": "eu-west-1", "start_seconds": 100},
        {"action": "latency_injection", "name": "slow", "region": "eu-central-1", "added_ms": 200,
         "start_seconds": 200}])
    target = ScriptedTarget(fail_inject="slow")
    outcome = run(x, target, journal_path=tmp_path / "j.json")
    j = json.loads((tmp_path / "j.json").read_text())
    assert outcome.exit_code == 1 and j["status"] == "failed"
    assert "cannot inject slow" in outcome.reason
    # the failed inject is reverted too: it may have changed something before raising
    assert [(r["name"], r["status"]) for r in j["rollbacks"]] == [("slow", "succeeded"), ("outage", "succeeded")]
    assert not target.active


class HalfInjecting(ScriptedTarget):
    """Changes the system, then fails (a timeout after the API applied the change)."""

    def inject(self, action):
        self.calls.append((self.t, "inject", action.name))
        self.active.add(action.name)
        if action.name == "slow":
            raise TimeoutError("read timed out after the change was applied")
        return {"injected": action.name}


def test_an_inject_that_changed_something_then_raised_is_rolled_back(tmp_path):
    x = experiment(method=[
        {"action": "region_outage", "name": "outage", "region": "eu-west-1", "start_seconds": 100},
        {"action": "latency_injection", "name": "slow", "region": "eu-central-1", "added_ms": 200,
         "start_seconds": 200}], rollbacks=[])
    target = HalfInjecting()
    outcome = run(x, target, journal_path=tmp_path / "j.json")
    assert outcome.journal.status == "failed" and "read timed out" in outcome.reason
    assert not target.active  # both reverted although neither is listed in rollbacks


class SignalInside(ScriptedTarget):
    """Delivers a real SIGTERM from inside a target call (`when`: inject or revert)."""

    def __init__(self, when: str, **kw):
        super().__init__(**kw)
        self.when = when

    def inject(self, action):
        out = super().inject(action)
        if self.when == "inject":
            os.kill(os.getpid(), signal.SIGTERM)  # the change is made; the call has not returned
        return out

    def revert(self, action):
        if self.when == "revert":
            os.kill(os.getpid(), signal.SIGTERM)  # a second signal while rolling back
        return super().revert(action)


@pytest.mark.parametrize("when", ["inject", "revert"])
def test_sigterm_inside_an_inject_or_a_rollback_never_leaves_a_fault_behind(tmp_path, when):
    x = experiment(method=[
        {"action": "region_outage", "name": "outage", "region": "eu-west-1", "start_seconds": 100},
        {"action": "latency_injection", "name": "slow", "region": "eu-central-1", "added_ms": 200,
         "start_seconds": 100}])
    target = SignalInside(when, signal_at=150 if when == "revert" else None)
    outcome = run(x, target, journal_path=tmp_path / "j.json")
    j = json.loads((tmp_path / "j.json").read_text())
    assert j["status"] == "aborted" and "SIGTERM" in outcome.reason
    assert not target.active  # every rollback ran to the end
    statuses = {r["name"]: r["status"] for r in j["rollbacks"]}
    # a signal inside the first inject stops the drill before the second fault
    assert statuses == {"outage": "succeeded", "slow": "skipped" if when == "inject" else "succeeded"}
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_sigterm_aborts_rolls_back_and_writes_the_journal(tmp_path):
    x = experiment(method=[{"action": "region_outage", "name": "outage", "region": "eu-west-1",
                            "start_seconds": 100}])
    target = ScriptedTarget(signal_at=250)
    outcome = run(x, target, journal_path=tmp_path / "j.json")
    j = json.loads((tmp_path / "j.json").read_text())
    assert outcome.exit_code == 1 and j["status"] == "aborted"
    assert "SIGTERM" in outcome.reason
    assert j["rollbacks"][0]["status"] == "succeeded" and not target.active
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored


def test_failed_rollback_is_reported_and_fails_the_drill(tmp_path):
    x = experiment(method=[{"action": "region_outage", "name": "outage", "region": "eu-west-1",
                            "start_seconds": 100}])
    outcome = run(x, ScriptedTarget(fail_revert="outage"), journal_path=tmp_path / "j.json")
    j = json.loads((tmp_path / "j.json").read_text())
    assert outcome.exit_code == 1 and j["status"] == "failed"
    assert j["rollbacks"][0]["status"] == "failed"
    assert "cannot revert outage" in j["rollbacks"][0]["error"]
    assert "a rollback failed" in outcome.reason


@pytest.mark.parametrize("strategy, value, reverted", [
    ("never", lambda t, a: 0.1 if a else 1.0, False),  # deviated, but never roll back
    ("on-failure", lambda t, a: 1.0, False),  # passed: nothing to roll back
    ("on-failure", lambda t, a: 0.1 if a else 1.0, True),  # deviated: roll back
    ("always", lambda t, a: 1.0, True),
])
def test_rollback_strategies(tmp_path, strategy, value, reverted):
    x = experiment(method=[{"action": "region_outage", "name": "outage", "region": "eu-west-1",
                            "start_seconds": 100}])
    target = ScriptedTarget(value=value)
    outcome = run(x, target, rollback_strategy=strategy, journal_path=tmp_path / "j.json")
    assert (("revert", "outage") in [(c[1], c[2]) for c in target.calls]) is reverted
    assert bool(target.active) is not reverted
    if not reverted:
        assert "faults left in place: outage" in outcome.reason


def test_broken_steady_state_before_skips_the_method(tmp_path):
    target = ScriptedTarget(value=lambda t, a: 0.1)
    outcome = run(experiment(), target, journal_path=tmp_path / "j.json")
    assert outcome.exit_code == 1 and outcome.journal.status == "deviated"
    assert [c for c in target.calls if c[1] == "inject"] == []
    assert "before" in outcome.reason


def test_journal_write_is_atomic_when_replace_fails(tmp_path, monkeypatch):
    out = tmp_path / "j.json"
    out.write_text('{"previous": "journal"}')

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(journal_mod.os, "replace", broken_replace)
    target = ScriptedTarget()
    outcome = run(experiment(), target, journal_path=out)
    assert json.loads(out.read_text()) == {"previous": "journal"}  # never half-written
    assert [p.name for p in tmp_path.iterdir()] == ["j.json"]  # temporary file removed
    # the drill happened and was rolled back; the lost journal is reported, not a traceback
    assert outcome.exit_code == 1 and "disk full" in outcome.journal_error
    assert target.closed and not target.active


def test_real_targets_measure_rto_from_polled_probes(tmp_path):
    """For real targets the runner polls the 'during' hypothesis: RTO = first fault until it holds again."""
    x = experiment(method=[{"action": "region_outage", "name": "outage", "region": "eu-west-1",
                            "start_seconds": 100}], expect={"rto_seconds": 300})
    target = ScriptedTarget(value=lambda t, a: 0.1 if a and t < 320 else 1.0,
                            measurements=Measurements())
    target.realtime = True
    outcome = run(x, target, journal_path=tmp_path / "j.json")
    # polls every 50 s from 150 s: broken at 150..300, holding again at 350
    assert outcome.journal.measurements["rto_seconds"] == 250
    assert outcome.exit_code == 0
    assert any(e["kind"] == "probe-recovery" for e in outcome.journal.timeline)


def test_refusal_after_a_fault_rolls_back_and_journals_then_reraises(tmp_path):
    from regions.errors import InputError

    class Refusing(ScriptedTarget):
        def inject(self, action):
            if action.name == "slow":
                raise InputError("refused: protected")
            return super().inject(action)

    x = experiment(method=[
        {"action": "region_outage", "name": "outage", "region": "eu-west-1", "start_seconds": 100},
        {"action": "latency_injection", "name": "slow", "region": "eu-central-1", "added_ms": 200,
         "start_seconds": 200}])
    target = Refusing()
    with pytest.raises(InputError):
        run(x, target, journal_path=tmp_path / "j.json")
    j = json.loads((tmp_path / "j.json").read_text())
    assert j["status"] == "failed" and not target.active
    assert ("outage", "succeeded") in [(r["name"], r["status"]) for r in j["rollbacks"]]


def test_sigterm_after_the_rollbacks_still_stops_a_drill_waiting_for_its_after_phase(tmp_path):
    """Rollbacks are not interruptible, but the wait for the 'after' phase that follows is."""
    target = ScriptedTarget(signal_at=700)  # the fault ended at 500, the drill ends at 1000
    outcome = run(experiment(), target, journal_path=tmp_path / "j.json")
    assert outcome.journal.status == "aborted" and "SIGTERM" in outcome.reason
    assert outcome.journal.steady_state["after"] is None
    assert [c[1] for c in target.calls].count("revert") == 1 and not target.active


def test_real_target_rto_is_not_measured_when_nothing_was_polled_after_the_fault(tmp_path):
    """Polls every 500 s, but the fault lasts 100 s: no observation, so no RTO (never 0 s)."""
    x = experiment(poll_seconds=500, expect={"rto_seconds": 300}, method=[
        {"action": "region_outage", "name": "outage", "region": "eu-west-1", "start_seconds": 100,
         "duration_seconds": 100}])
    target = ScriptedTarget(value=lambda t, a: 1.0, measurements=Measurements())
    target.realtime = True
    outcome = run(x, target, journal_path=tmp_path / "j.json")
    rto = next(c for c in outcome.checks if c["name"] == "rto_seconds")
    assert rto["measured"] is None and rto["met"] is False and outcome.exit_code == 1


def test_a_probe_that_cannot_answer_says_why(tmp_path):
    class Unreachable(ScriptedTarget):
        def probe(self, probe):
            raise ConnectionError("connection refused by 127.0.0.1:1")

    said: list[str] = []
    outcome = run(experiment(), Unreachable(), journal_path=tmp_path / "j.json", progress=said.append)
    assert outcome.journal.status == "deviated"  # no data is never within tolerance
    assert any("eu=no data (ConnectionError: connection refused by 127.0.0.1:1)" in m for m in said)
