"""The sim target's own contract, on the twin: causality, re-simulation, probes, reroute delay."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("sim.fleet", reason="the twin (sim.fleet) is not in this checkout yet")

from chaos.targets.sim import SimTarget  # noqa: E402
from chaos.validate import load_experiment  # noqa: E402
from regions import dr  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT.parent / "shared" / "traces" / "azure_llm_2023" / "AzureLLMInferenceTrace_conv.csv"
pytestmark = pytest.mark.skipif(not TRACE.is_file(), reason=f"shared trace missing: {TRACE}")


def _prepared(drill: str, policy: str):
    """A shipped drill and the sim target prepared for it (nothing injected yet)."""
    v = load_experiment(ROOT / "chaos" / "drills" / f"{drill}.yaml")
    target = SimTarget(trace=str(TRACE), policy=policy, say=lambda _m: None)
    target.prepare(v.experiment, v.topology)
    return v.experiment, target


@pytest.fixture(scope="module")
def outage():
    """eu-west-1 down from 300 s to 1500 s, on the twin with the HPA baseline."""
    return _prepared("eu-primary-outage", "hpa")


def _probe(experiment, kind, **params):
    from chaos.model import Probe, Tolerance

    return Probe(kind, kind, params, Tolerance(min=0.0))


def test_probes_before_the_fault_read_what_the_run_without_faults_reads(outage):
    x, target = outage
    target.advance(290.0)  # ten seconds before the outage
    probe = _probe(x, "error_rate", jurisdiction="eu", window_seconds=300)
    with_fault = target.probe(probe)
    saved = target.faults
    target.faults = {}  # the same run without any fault
    target._dirty = True
    try:
        assert target.probe(probe) == with_fault
    finally:
        target.faults, target._dirty = saved, True


def test_dead_region_loses_requests_until_dns_reroutes_then_recovers(outage):
    x, target = outage
    target.advance(300.0)
    target.inject(x.action("ireland-down"))
    target.advance(300.0 + dr.REROUTE_S)
    failing = target.probe(_probe(x, "error_rate", jurisdiction="eu", window_seconds=60))
    target.advance(300.0 + dr.REROUTE_S + 600)
    later = target.probe(_probe(x, "error_rate", jurisdiction="eu", window_seconds=300))
    assert failing > 0.2  # eu-west-1 served EU users; they hit the dead region until the flip
    assert later == 0.0
    assert target.probe(_probe(x, "health_check_status", region="eu-west-1")) == 0.0
    assert target.probe(_probe(x, "replicas", region="eu-west-1")) == 0.0
    assert target.probe(_probe(x, "rpo")) == dr.expected_data_loss_s("warm-standby")
    assert target.probe(_probe(x, "residency_violations")) == 0


def test_ending_a_fault_early_resimulates_with_the_real_end(outage):
    x, target = outage
    planned = target.faults["ireland-down"].end
    target.advance(300.0)
    target.inject(x.action("ireland-down"))
    target.advance(600.0)
    target.revert(x.action("ireland-down"))  # as a rollback after an abort would
    try:
        target.advance(1200.0)  # planned: still down; really: back since 600 s
        assert target.probe(_probe(x, "health_check_status", region="eu-west-1")) == 1.0
        assert target.probe(_probe(x, "replicas", region="eu-west-1")) >= 1
    finally:
        target.faults["ireland-down"] = replace(target.faults["ireland-down"], end=planned)
        target._dirty = True


def _misrouting_edge(monkeypatch):
    """A deliberately wrong edge: the twin routes EU users to us-east-1 when eu-west-1 fails
    (the edge lists us-east-1 as an EU serving region, ahead of the eu-central-1 standby, and
    carries an EU -> US transfer), while the stack the drill is judged by declares none."""
    from regions.residency import Transfer
    from regions.topology import RegionRole
    from chaos.targets import sim as sim_target

    real_split = sim_target._split

    def wrong(topology, workload):
        eu = replace(topology.jurisdictions["eu"], regions=(
            RegionRole("eu-west-1", "primary"), RegionRole("us-east-1", "active"),
            RegionRole("eu-central-1", "standby")))
        edge = replace(topology, jurisdictions={**topology.jurisdictions, "eu": eu},
                       transfers=(Transfer("eu", "us", "misconfigured edge, not in the stack"),))
        return real_split(edge, workload)

    monkeypatch.setattr(sim_target, "_split", wrong)


@pytest.mark.parametrize("stop_on_violation", [False, True])
def test_residency_violations_are_counted_when_the_routing_breaks_them(monkeypatch, tmp_path,
                                                                       stop_on_violation):
    from chaos.runner import run

    _misrouting_edge(monkeypatch)
    v = load_experiment(ROOT / "chaos" / "drills" / "eu-primary-outage.yaml")
    x = v.experiment
    stops = tuple(p for p in x.stop_conditions if p.kind == "residency_violations" or not stop_on_violation)
    x = replace(x, stop_conditions=stops if stop_on_violation else ())
    target = SimTarget(trace=str(TRACE), policy="hpa", say=lambda _m: None)
    outcome = run(x, target, v.topology, journal_path=tmp_path / "j.json")
    j = outcome.journal.as_dict()
    before = {p["name"]: p["value"] for p in j["steady_state"]["before"]["probes"]}
    assert before["residency_violations"] == 0  # nothing crossed the border before the outage
    violations = j["measurements"]["residency_violations"]
    assert violations > 0  # EU users served in us-east-1 while eu-west-1 was down
    # only EU users crossed: the US users served in us-east-1 are at home
    target.advance(x.duration_seconds)
    eu_only = target.probe(replace(x.steady_state[-1], params={"jurisdiction": "eu"}))
    us_only = target.probe(replace(x.steady_state[-1], params={"jurisdiction": "us"}))
    assert eu_only > 0 and us_only == 0
    assert outcome.exit_code == 1
    if stop_on_violation:  # the first poll after the fault sees it, aborts and rolls back
        assert j["status"] == "aborted" and "residency_violations breached" in outcome.reason
        assert [(r["name"], r["status"]) for r in j["rollbacks"]] == [("ireland-down", "succeeded")]
    else:
        assert j["status"] == "deviated"
        check = next(c for c in j["measurements"]["checks"] if c["name"] == "residency_violations")
        assert check["met"] is False and check["measured"] == violations


def test_rpo_comes_from_the_replication_model_at_the_fault_time_not_from_the_stack(outage):
    """The stack promises 60 s for the EU (warm standby); the model says what is really lost."""
    x, target = outage
    topo, fault = target.topo, target.faults["ireland-down"]
    eu = topo.jurisdictions["eu"]
    try:
        assert target._rpo() == dr.S3_TYPICAL_LAG_S != eu.dr.rpo_seconds
        # hourly backups: what is lost is the time since the last backup, so it moves with the fault
        target.topo = replace(topo, jurisdictions={**topo.jurisdictions,
                                                   "eu": replace(eu, dr=replace(eu.dr, strategy="backup-restore"))})
        at = [(fault.start + target.lead_in) % dr.BACKUP_INTERVAL_S]
        first = target._rpo()
        target.faults["ireland-down"] = replace(fault, start=fault.start + 600)
        assert first == at[0] and target._rpo() == (at[0] + 600) % dr.BACKUP_INTERVAL_S
        # the standby holds copies only: losing it loses nothing
        target.faults["ireland-down"] = replace(fault, action=replace(
            fault.action, params={"region": "eu-central-1"}))
        assert target._rpo() == 0.0
    finally:
        target.topo, target.faults["ireland-down"], target._dirty = topo, fault, True


def test_places_the_workload_does_not_serve_are_refused_before_anything_runs(tmp_path, capsys):
    """jp is in the stack but the workload serves only eu and us: a jp fault would measure nothing."""
    import yaml

    from meridian.cli import main

    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    stack["config"]["meridian:topology"]["workloads"][0]["jurisdictions"] = ["eu", "us"]
    (tmp_path / "Pulumi.two.yaml").write_text(yaml.safe_dump(stack))
    drill = {"title": "jp", "topology": "Pulumi.two.yaml", "duration_seconds": 600,
             "blast_radius": {"jurisdictions": ["jp"]},
             "method": [{"action": "region_outage", "region": "ap-northeast-1", "start_seconds": 60}],
             "expect": {"min_slo_attainment_during": {"jp": 0.5}}}
    (tmp_path / "jp.yaml").write_text(yaml.safe_dump(drill))
    journal = tmp_path / "j.json"
    code = main(["drill", "run", str(tmp_path / "jp.yaml"), "--trace", str(TRACE), "--policy", "hpa",
                 "--journal", str(journal)])
    assert code == 2 and not journal.exists()
    err = capsys.readouterr().err
    assert "method[0].region: ap-northeast-1 serves no user of workload 'chat'" in err
    assert "expect.min_slo_attainment_during.jp: workload 'chat' has no users in jp" in err


@pytest.fixture(scope="module")
def rollout():
    """eu-west-1 rolls out a model with half the slots and 1.5x slower decode at 300 s (law)."""
    return _prepared("model-rollout", "meridian")


def test_a_model_rollout_is_a_model_swap_that_the_fleet_scales_out_to_cover(rollout):
    import numpy as np

    from sim.profiles import get_profile
    from sim.score import WINDOW_S

    x, target = rollout
    a = x.action("bigger-model")
    target.advance(a.start_seconds)
    target.inject(a)
    old = get_profile()
    event = target._event(target.faults[a.name])
    assert event.region == "eu-west-1" and event.at_s == a.start_seconds + target.lead_in
    assert event.profile == replace(old, batch_slots=16, decode_tokens_per_s_batch1=old.decode_tokens_per_s_batch1 * 0.6667)

    # once a cold start (the new profile's p95) and two looks have passed, eu-west-1 runs more
    # replicas than the same run without the rollout, to the drill's end: a fleet that kept its
    # old size (a stale batch) would fail this
    settled = a.start_seconds + event.profile.cold_start_p95_s + 2 * WINDOW_S + target.lead_in
    drill_end = x.duration_seconds + target.lead_in
    tl, base = target.result.timelines["eu-west-1"], target.baseline.timelines["eu-west-1"]
    times = np.arange(settled, drill_end, 15.0)
    ready = np.asarray(tl.ready)[np.searchsorted(tl.time_s, times, side="right") - 1]
    without = np.asarray(base.ready)[np.searchsorted(base.time_s, times, side="right") - 1]
    assert (ready > without).all(), list(zip(times - target.lead_in, ready, without))
    # and the larger fleet covers the smaller batch: from the RTO on, every EU minute the run
    # without the rollout met is met with it too
    rto = target._rto()
    assert rto is not None and 0 < rto <= x.expect.rto_seconds
    (met, _), (met_without, _) = target._window_met("eu"), target._window_met("eu", baseline=True)
    after = target._windows_between(target._first_fault() + rto, drill_end)
    assert after.size > 20 and (met[after] | ~met_without[after]).all()

    # the rollout stays: a revert changes nothing and re-simulates nothing
    before = target.result
    assert target.revert(a)["reverted"] is False
    assert target.result is before and target.faults[a.name].end == x.duration_seconds


def test_a_second_rollout_changes_the_profile_the_first_one_left(rollout):
    """Changes apply to the region's current profile: after a rollout to g6.xlarge, a rollout of
    16 slots keeps g6.xlarge's speeds (a rollout that names no instance type keeps the current one)."""
    from chaos.model import Action
    from chaos.targets.sim import _Fault
    from sim.profiles import get_profile

    _, target = rollout
    saved = dict(target.faults)
    first = _Fault(Action("to-l4", "model_rollout", {"region": "eu-west-1", "instance_type": "g6.xlarge"}, 600), 600, 2400)
    second = _Fault(Action("smaller-batch", "model_rollout", {"region": "eu-west-1", "batch_slots": 16,
                                                              "prefill_speed_factor": 0.5}, 900), 900, 2400)
    try:
        target.faults = {"smaller-batch": second, "to-l4": first}  # listed out of order on purpose
        l4 = get_profile("g6.xlarge")
        assert target._rollout_profiles(first) == (get_profile(), l4)
        assert target._rollout_profiles(second) == (l4, replace(l4, batch_slots=16,
                                                                prefill_tokens_per_s=l4.prefill_tokens_per_s * 0.5))
    finally:
        target.faults, target._dirty = saved, True
