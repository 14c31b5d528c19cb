"""`meridian placement STACK_FILE`: order, price, RTT and reason per jurisdiction; bad input exits 2."""
from __future__ import annotations

import json
from pathlib import Path

from meridian.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_prints_cheapest_fitting_region_first_and_refuses_foreign_ones(capsys):
    assert main(["placement", str(REPO / "Pulumi.placement.yaml")]) == 0
    out = capsys.readouterr().out
    eu = out[out.index("  eu\n"):out.index("  us\n")]
    rows = [line.split() for line in eu.splitlines() if line.strip()[:1].isdigit()]
    assert [r[1] for r in rows] == ["eu-north-1", "eu-west-1"]
    assert "cheaper than the closest, eu-west-1 1.36 $/h" in eu
    assert "us-east-2       refused" in eu and "personal data of eu may not be served" in eu


def test_json_lists_standbys_after_serving_regions(capsys):
    assert main(["placement", str(REPO / "Pulumi.dev.yaml"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    eu = next(j for j in doc["workloads"][0]["jurisdictions"] if j["code"] == "eu")
    assert [(r["region"], r["role"]) for r in eu["order"]] == [("eu-west-1", "serving"), ("eu-central-1", "standby")]
    assert all(r["fits"] for r in eu["order"]) and not eu["at_risk"]
    assert {r["region"] for r in eu["refused"]} == {"us-east-1", "us-west-2", "ap-northeast-1", "ap-northeast-3"}
    assert 0.02 < eu["order"][0]["rtt_s"] < 0.1


def test_bad_stack_file_exits_2_without_traceback(tmp_path, capsys):
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  meridian:topology:\n    domain: x\n")
    assert main(["placement", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "meridian:topology.jurisdictions" in err and "Traceback" not in err
    assert main(["placement", str(tmp_path / "missing.yaml")]) == 2


def test_stack_without_workloads_exits_2(tmp_path, capsys):
    text = (REPO / "Pulumi.placement.yaml").read_text()
    stack = tmp_path / "Pulumi.noload.yaml"
    stack.write_text(text[:text.index("    workloads:")])
    assert main(["placement", str(stack)]) == 2
    assert "declares no workload" in capsys.readouterr().err
