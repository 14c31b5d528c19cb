"""The six shipped drills, run end to end on the twin against Pulumi.dev.yaml.

Each drill runs through the CLI with the shared Azure LLM trace and the `meridian`
control law when the twin's registry has it, else the Kubernetes HPA baseline (the law
is built in parallel; the policy used is recorded in every journal). The twin is a
model: these tests check that each drill runs, passes, measures what it claims and
keeps personal data in its jurisdiction, not that AWS would behave the same.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from meridian.cli import main

ROOT = Path(__file__).resolve().parents[1]
DRILLS = ROOT / "chaos" / "drills"
TRACE = ROOT.parent / "shared" / "traces" / "azure_llm_2023" / "AzureLLMInferenceTrace_conv.csv"

pytestmark = pytest.mark.skipif(not TRACE.is_file(), reason=f"shared trace missing: {TRACE}")
pytest.importorskip("sim.fleet", reason="the twin (sim.fleet) is not in this checkout yet")


def _policy() -> str:
    from sim.policies import REGISTRY

    return "meridian" if "meridian" in REGISTRY else "hpa"


def drill(name: str, tmp_path: Path, *flags: str, path: Path | None = None) -> tuple[int, dict]:
    journal = tmp_path / f"{name}.journal.json"
    code = main(["drill", "run", str(path or DRILLS / f"{name}.yaml"), "--trace", str(TRACE),
                 "--policy", _policy(), "--journal", str(journal), *flags])
    return code, json.loads(journal.read_text())


def _check_common(code: int, j: dict) -> dict:
    assert code == 0, (j["status"], j["measurements"].get("checks"), j["timeline"][-1])
    assert j["status"] == "passed" and j["target"] == "sim"
    m = j["measurements"]
    assert m["policy"] == _policy()
    assert m["residency_violations"] == 0
    assert all(c["met"] for c in m["checks"])
    assert all(j["steady_state"][phase]["met"] for phase in ("before", "during", "after"))
    return m


def test_eu_primary_outage(tmp_path):
    code, j = drill("eu-primary-outage", tmp_path)
    m = _check_common(code, j)
    assert m["affected_jurisdictions"] == ["eu"]
    assert m["rpo_seconds"] == 15.0  # warm-standby: S3 RTC typical lag (regions.dr)
    # measured, not echoed: the 90 s health-check + DNS delay fails every EU request eu-west-1
    # would have served, so at least one whole 1-minute window misses and recovery can start
    # no earlier than a minute after the fault
    assert m["rto_seconds"] is not None and 60 <= m["rto_seconds"] <= 600
    assert set(m["slo_attainment_during"]) == {"eu", "us", "jp"}
    # the EU standby must scale beyond what the fault-free run wanted, while the outage lasts
    assert m["detection_seconds"] is not None and 0 < m["detection_seconds"] <= 1200
    action = next(e for e in j["timeline"] if e["kind"] == "action")
    assert action["output"]["twin_event"] == "RegionOutage"


def test_az_outage(tmp_path):
    m = _check_common(*drill("az-outage", tmp_path))
    assert m["rpo_seconds"] == 0.0  # no region lost, no data lost
    # a scale-up after the 900 s fault, or one the fault-free run makes too, is no detection
    assert m["detection_seconds"] is None or m["detection_seconds"] <= 900
    assert m["slo_attainment_during"]["eu"] >= 0.7


def test_spot_reclaim_wave(tmp_path):
    code, j = drill("spot-reclaim-wave", tmp_path)
    m = _check_common(code, j)
    assert m["affected_jurisdictions"] == ["us"]
    # both waves were reverted as "nothing to revert": the twin replaces capacity itself
    assert [r["name"] for r in j["rollbacks"]] == ["wave-west", "wave-east"]
    assert all(r["status"] == "skipped" or r["output"]["reverted"] is False for r in j["rollbacks"])


def test_metrics_blackout(tmp_path):
    code, j = drill("metrics-blackout", tmp_path)
    m = _check_common(code, j)
    assert set(m["affected_jurisdictions"]) == {"eu", "us", "jp"}
    polls = [e for e in j["timeline"] if e["kind"] == "stop-condition"]
    assert polls and all(e["output"]["value"] >= 1 for e in polls)  # never scaled to zero


def test_traffic_surge(tmp_path):
    code, j = drill("traffic-surge", tmp_path)
    m = _check_common(code, j)
    assert m["cost_delta_usd"] >= 0  # three times the EU traffic never costs less


def test_model_rollout(tmp_path):
    code, j = drill("model-rollout", tmp_path)
    m = _check_common(code, j)
    assert m["affected_jurisdictions"] == ["eu"] and m["rpo_seconds"] == 0.0
    out = next(e for e in j["timeline"] if e["kind"] == "action")["output"]
    assert out["twin_event"] == "ModelSwap" and out["share_of_requests_served_there_without_the_fault"] > 0
    assert (out["profile_before"]["batch_slots"], out["profile_after"]["batch_slots"]) == (32, 16)
    assert out["profile_after"]["decode_tokens_per_s_batch1"] == pytest.approx(
        out["profile_before"]["decode_tokens_per_s_batch1"] / 1.5, rel=1e-3)
    # measured, not echoed: the halved batch makes at least one EU minute miss, and the law's
    # scale-out (one cold start) brings the SLO back within the drill's promise
    promised = yaml.safe_load((DRILLS / "model-rollout.yaml").read_text())["expect"]["rto_seconds"]
    assert m["rto_seconds"] is not None and 60 <= m["rto_seconds"] <= promised
    assert m["detection_seconds"] is not None and m["cost_delta_usd"] > 0  # it scaled out, and paid for it
    # the rollback leaves the new model in place and says so
    assert [(r["name"], r["status"], r["output"]["reverted"]) for r in j["rollbacks"]] == \
        [("bigger-model", "succeeded", False)]


def test_a_drill_that_breaks_the_slo_deviates_and_exits_1(tmp_path):
    """Every EU replica killed at once, with a promise of zero recovery time: must deviate."""
    doc = yaml.safe_load((DRILLS / "eu-primary-outage.yaml").read_text())
    doc["topology"] = str(ROOT / "Pulumi.dev.yaml")
    doc["blast_radius"] = {"jurisdictions": ["eu"]}
    doc["method"] = [{"action": "pod_kill", "name": f"kill-{r}", "region": r, "fraction": 1.0,
                      "start_seconds": 300} for r in ("eu-west-1", "eu-central-1")]
    doc["rollbacks"] = []
    doc["expect"] = {"rto_seconds": 0, "residency_violations": 0}
    path = tmp_path / "wipe.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, j = drill("wipe", tmp_path, path=path)
    assert code == 1 and j["status"] == "deviated"
    rto = next(c for c in j["measurements"]["checks"] if c["name"] == "rto_seconds")
    assert rto["met"] is False and (rto["measured"] is None or rto["measured"] > 0)


def test_sim_dry_run_prints_the_schedule_without_simulating(tmp_path, capsys):
    code = main(["drill", "run", str(DRILLS / "eu-primary-outage.yaml"), "--dry-run",
                 "--journal", str(tmp_path / "j.json")])
    err = capsys.readouterr().err
    assert code == 0 and not (tmp_path / "j.json").exists()
    assert "inject ireland-down: region_outage {'region': 'eu-west-1'}" in err
    assert "sim: simulating" not in err


def test_unknown_policy_is_refused(tmp_path, capsys):
    code = main(["drill", "run", str(DRILLS / "az-outage.yaml"), "--policy", "hpaa",
                 "--journal", str(tmp_path / "j.json")])
    assert code == 2 and "the twin has no policy 'hpaa'" in capsys.readouterr().err
    assert not (tmp_path / "j.json").exists()
