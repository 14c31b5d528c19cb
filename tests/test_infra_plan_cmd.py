"""`meridian plan` end to end, in-process: summary, JSON, diagram, exit statuses."""
from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

import pulumi_aws
import pytest

from meridian.cli import main

ROOT = Path(__file__).resolve().parent.parent
EU_ONLY = str(ROOT / "Pulumi.eu-only.yaml")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_plan_prints_counts_per_region_and_writes_json_and_svg(tmp_path, capsys):
    out, svg = tmp_path / "plan.json", tmp_path / "estate.svg"
    assert main(["plan", EU_ONLY, "--json", str(out), "--diagram", str(svg)]) == 0
    text = capsys.readouterr().out
    assert "eu-west-1  (eu, primary, warm-standby)" in text and "aws:eks/cluster:Cluster" in text
    assert "policies: no violations" in text
    doc = json.loads(out.read_text())
    assert set(doc) == {"stack", "resources", "violations"} and doc["stack"] == "eu-only"
    assert all(set(r) == {"type", "name", "region", "parent", "inputs"} for r in doc["resources"])
    types = {r["type"] for r in doc["resources"]}
    assert {"aws:eks/cluster:Cluster", "aws:s3/bucket:Bucket", "aws:route53/record:Record",
            "kubernetes:apps/v1:Deployment"} <= types
    assert doc["violations"] == []
    drawing = html.unescape(svg.read_text())  # Graphviz writes "-" as &#45;
    assert "<svg" in drawing and "eu-central-1" in drawing and "eu.api (Route 53)" in drawing
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_a_mandatory_violation_is_listed_and_exits_2(tmp_path, capsys, monkeypatch):
    real = pulumi_aws.s3.BucketPublicAccessBlock

    def leaky(name, **kwargs):  # a program bug: one flag left off
        return real(name, **{**kwargs, "restrict_public_buckets": False})

    monkeypatch.setattr(pulumi_aws.s3, "BucketPublicAccessBlock", leaky)
    out = tmp_path / "plan.json"
    assert main(["plan", EU_ONLY, "--json", str(out)]) == 2
    text = capsys.readouterr().out
    assert "[mandatory] public-access-block-complete: eu-west-1-data-personal:" in text
    assert "[mandatory] bucket-public-access-blocked:" in text
    doc = json.loads(out.read_text())
    assert {v["policy"] for v in doc["violations"]} == {"public-access-block-complete",
                                                        "bucket-public-access-blocked"}
    assert all(set(v) == {"policy", "resource", "message", "level"} and v["level"] == "mandatory"
               for v in doc["violations"])


def test_an_invalid_topology_exits_2_with_the_validators_messages_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(Path(EU_ONLY).read_text().replace("eu-central-1", "eu-centrall-1"))
    out = tmp_path / "plan.json"
    assert main(["plan", str(bad), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "jurisdictions.eu.regions[1].region" in err and "eu-central-1" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("argv, words", [
    (["--diagram", "estate.pdf"], ".svg or .png"),
    (["--json", "no/such/dir/plan.json"], "does not exist"),
    (["--json", "{tmp}"], "is a directory"),
    (["--json", ""], "the file name is empty"),
    (["--diagram", "{tmp}/no/such/estate.svg"], "does not exist"),
    (["--json", "{tmp}/same.svg", "--diagram", "{tmp}/same.svg"], "name the same file"),
])
def test_bad_flags_exit_2_before_any_work(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("infra.offline.plan.plan_stack", lambda *_: pytest.fail("planned anyway"))
    assert main(["plan", EU_ONLY, *[a.format(tmp=tmp_path) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs Linux sysfs as an unwritable directory")
def test_an_unwritable_output_directory_exits_2_before_any_work(capsys, monkeypatch):
    monkeypatch.setattr("infra.offline.plan.plan_stack", lambda *_: pytest.fail("planned anyway"))
    assert main(["plan", EU_ONLY, "--json", "/sys/plan.json"]) == 2  # sysfs refuses new files, even to root
    assert "not writable" in capsys.readouterr().err


def test_missing_graphviz_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["plan", EU_ONLY, "--diagram", "estate.svg"]) == 2
    err = capsys.readouterr().err
    assert "Graphviz" in err and "apt-get install graphviz" in err


def test_bad_meridian_settings_in_the_stack_exit_2_naming_each(tmp_path, capsys):
    stack = tmp_path / "Pulumi.cfg.yaml"
    stack.write_text(Path(EU_ONLY).read_text().replace(
        "  aws:region: eu-west-1", '  aws:region: eu-west-1\n  meridian:apiAllowList: ["0.0.0.0/0", "bogus"]'))
    assert main(["plan", str(stack)]) == 2
    err = capsys.readouterr().err
    assert "meridian:apiAllowList[0]" in err and "meridian:apiAllowList[1]" in err and "Traceback" not in err


def test_a_misspelt_meridian_key_or_an_unquoted_eks_version_exits_2(tmp_path, capsys):
    """Pulumi ignores config keys a program never reads: a typo would silently leave the EKS API private."""
    stack = tmp_path / "Pulumi.cfg.yaml"
    stack.write_text(Path(EU_ONLY).read_text().replace(
        "  aws:region: eu-west-1",
        '  aws:region: eu-west-1\n  meridian:apiAllowlist: ["203.0.113.7/32"]\n  meridian:eksVersion: 1.30'))
    assert main(["plan", str(stack)]) == 2
    err = capsys.readouterr().err
    assert "meridian:apiAllowlist" in err and "did you mean meridian:apiAllowList" in err
    assert "meridian:eksVersion: '1.3' is not an EKS version" in err and "Traceback" not in err


def test_bad_string_settings_exit_2(tmp_path, capsys):
    stack = tmp_path / "Pulumi.prom.yaml"
    line = "  aws:region: eu-west-1"
    stack.write_text(Path(EU_ONLY).read_text().replace(
        line, line + "\n  meridian:prometheusUrl: prometheus:9090\n  meridian:apiAllowList: 203.0.113.7/32"))
    assert main(["plan", str(stack)]) == 2
    err = capsys.readouterr().err
    assert "meridian:prometheusUrl: 'prometheus:9090' is not an http(s) URL" in err
    assert "meridian:apiAllowList: '203.0.113.7/32' is not a list of CIDRs" in err and "Traceback" not in err


def test_the_program_file_runs_as_pulumi_runs_it_with_string_settings():
    """Pulumi executes infra/__main__.py as `__main__` (Pulumi.yaml: main: infra/), with settings
    as `pulumi config set` stores them: plain strings, not JSON."""
    import runpy

    from infra.offline.runner import run_offline
    from regions.validate import parse_yaml
    from tests.test_infra_plan import _plan  # the eu-only plan, made once per session

    url, image = "http://prometheus.monitoring.svc:9090", "ghcr.io/acme/meridian-controller:1.2.3"
    raw = {**parse_yaml(Path(EU_ONLY).read_text(), EU_ONLY)["config"],
           "meridian:prometheusUrl": url, "meridian:controllerImage": image}
    program = str(ROOT / "infra" / "__main__.py")
    run = run_offline(lambda: runpy.run_path(program, run_name="__main__"), "eu-only", raw)
    assert sorted((r.type, r.name) for r in run.resources) == \
        sorted((r.type, r.name) for r in _plan("eu-only").resources)
    assert run.outputs["domainNames"]["api"] == "api.eu.infer.example.com"
    containers = [r.inputs["spec"]["template"]["spec"]["containers"][0]
                  for r in run.resources if r.type == "kubernetes:apps/v1:Deployment"]
    assert len(containers) == 2 and all(url in c["args"] and c["image"] == image for c in containers)


UK_STANDBY = """config:
  aws:region: eu-west-1
  meridian:topology:
    domain: x.example.com
    jurisdictions:
      eu:
        regions:
          - {region: eu-west-1, role: primary}
          - {region: eu-west-2, role: standby}
        dr: {strategy: pilot-light, rto_seconds: 1800, rpo_seconds: 900}
    transfers: [{from: eu, to: uk, basis: "UK adequacy decision"}]
    workloads:
      - name: chat
        instance_type: g5.xlarge
        data_classes: [personal, model, telemetry]
        jurisdictions: [eu]
        slo: {percentile: 95, ttft_ms: 800}
        replicas: {min: 1, max: 4}
"""


def test_a_declared_transfer_reaches_the_policies_and_what_it_does_not_cover_is_reported(tmp_path, capsys):
    stack = tmp_path / "Pulumi.uk.yaml"
    stack.write_text(UK_STANDBY)
    out = tmp_path / "plan.json"
    assert main(["plan", str(stack), "--json", str(out)]) == 0  # eu personal data in London: declared
    text = capsys.readouterr().out
    assert "residency: 1 DR copy(ies) not wired" in text and "telemetry eu-west-1 -> eu-west-2" in text
    doc = json.loads(out.read_text())
    london = [r["inputs"]["tags"]["meridian.dev/data-class"] for r in doc["resources"]
              if r["type"] == "aws:s3/bucket:Bucket" and r["region"] == "eu-west-2"]
    assert sorted(london) == ["model", "personal"]
