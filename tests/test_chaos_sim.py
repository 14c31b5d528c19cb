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


@pytest.fixture(scope="module")
def outage():
    """eu-west-1 down from 300 s to 1500 s, on the twin with the HPA baseline."""
    v = load_experiment(ROOT / "chaos" / "drills" / "eu-primary-outage.yaml")
    target = SimTarget(trace=str(TRACE), policy="hpa", say=lambda _m: None)
    target.prepare(v.experiment, v.topology)
    return v.experiment, target


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
