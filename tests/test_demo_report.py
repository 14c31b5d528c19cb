"""The report generator on its own: small artifacts following the documented schemas, rendered to HTML."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from meridian.report import BenchInput, DrillInput, ReportInputs, StepRecord, render, write_report
from meridian.report.artifacts import Missing, load_journal
from meridian.report.build import MARKER

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png(path: Path, label: str) -> Path:
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.plot([0, 1, 2], [1, 3, 2])
    ax.set_title(label)
    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _journal(status: str, rto: float, violations: int, with_expect: bool = True) -> dict:
    doc = {
        "title": "EU primary region outage", "target": "sim",
        "started_at": "2026-11-23T10:00:00Z", "ended_at": "2026-11-23T10:20:00Z", "status": status,
        "steady_state": {"before": {"ok": True}, "during": {"ok": True}, "after": {"ok": True}},
        "timeline": [
            {"t": 0, "kind": "probe", "name": "slo_attainment", "output": {"value": 0.99, "jurisdiction": "eu"}},
            {"t": 120, "kind": "action", "name": "region_outage", "output": {"region": "eu-west-1"}},
            {"t": 180, "kind": "probe", "name": "slo_attainment", "output": {"value": 0.62}},
            {"t": 300, "kind": "probe", "name": "slo_attainment", "output": 0.97},
            {"t": 600, "kind": "rollback", "name": "restore_region", "output": None},
        ],
        "measurements": {"rto_seconds": rto, "rpo_seconds": 30, "residency_violations": violations,
                         "slo_attainment_during": {"eu": 0.91, "us": 0.99}},
        "rollbacks": [{"name": "restore_region", "status": "succeeded"}],
    }
    if with_expect:
        doc["expect"] = {"rto_seconds": 600, "rpo_seconds": 60, "residency_violations": 0,
                         "min_slo_attainment": 0.9}
    return doc


def _chaos_journal() -> dict:
    """Shaped like `meridian drill run --journal` writes it: kinds probe-before/during/after,
    action/action-end, stop-condition, verdict; the drill's own expectation checks in measurements."""
    def probe(t, kind, name, value):
        return {"t": t, "kind": kind, "name": name, "output": {"value": value, "within": True}}
    return {
        "title": "EU primary region outage", "target": "sim", "started_at": "2026-11-23T10:00:00+00:00",
        "ended_at": "2026-11-23T10:00:41+00:00", "status": "passed",
        "steady_state": {"before": {"t": 0, "met": True, "probes": []}, "during": None, "after": None},
        "timeline": [probe(0, "probe-before", "slo_attainment", 0.99),
                     probe(0, "probe-before", "residency_violations", 0),
                     {"t": 600, "kind": "action", "name": "ireland-down", "output": {"region": "eu-west-1"}},
                     probe(660, "stop-condition", "us-unharmed", 0.98),
                     probe(1200, "probe-during", "slo_attainment", 0.71),
                     {"t": 2400, "kind": "action-end", "name": "ireland-down", "output": None},
                     probe(3600, "probe-after", "slo_attainment", 0.97),
                     {"t": 3600, "kind": "verdict", "name": "passed", "output": "hypothesis held"}],
        "measurements": {"rto_seconds": 420, "rpo_seconds": 30, "residency_violations": 0,
                         "slo_attainment_during": {"eu": 0.71, "us": 0.99},
                         "checks": [{"name": "rto_seconds", "expected": "<= 600", "measured": 420, "met": True},
                                    {"name": "residency_violations", "expected": "<= 0", "measured": 0, "met": True},
                                    {"name": "slo_attainment_during.eu", "expected": ">= 0.5", "measured": 0.71,
                                     "met": True}]},
        "rollbacks": [{"name": "ireland-down", "status": "skipped", "output": None, "error": None,
                       "reason": "listed in rollbacks; fault already ended"}],
    }


def build_artifacts(root: Path) -> ReportInputs:
    """One artifact of each kind, as `meridian plan/bench/drill run` document them."""
    art = root / "artifacts"
    art.mkdir(parents=True)
    plan = {"stack": "dev", "resources": [
        {"type": "aws:eks/cluster:Cluster", "name": "eu-west-1-eks", "region": "eu-west-1", "parent": "c", "inputs": {}},
        {"type": "aws:s3/bucket:Bucket", "name": "eu-west-1-data", "region": "eu-west-1", "parent": "c", "inputs": {}},
        {"type": "aws:eks/cluster:Cluster", "name": "us-east-1-eks", "region": "us-east-1", "parent": "c", "inputs": {}},
        {"type": "aws:eks/nodeGroup:NodeGroup", "name": "us-east-1-gpu-spot", "region": "us-east-1", "parent": "c",
         "inputs": {"capacityType": "SPOT", "instanceTypes": ["g5.2xlarge"],
                    "scalingConfig": {"minSize": 0, "maxSize": 20, "desiredSize": 0}}},
        {"type": "aws:route53/record:Record", "name": "geo-eu", "region": None, "parent": "edge", "inputs": {}},
    ], "violations": [{"policy": "s3-encryption", "resource": "eu-west-1-data", "message": "no KMS key",
                       "level": "mandatory"}]}
    (art / "plan.json").write_text(json.dumps(plan))
    (art / "topology.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="120" viewBox="0 0 240 120">'
        '<rect x="10" y="10" width="100" height="50" fill="#8cf"/><text x="20" y="40">eu-west-1</text></svg>')
    rows = [
        {"policy": p, "cost_usd": c, "gpu_hours": c / 1.2, "requests": 19366, "ttft_p50_s": 0.2, "ttft_p95_s": t95,
         "ttft_p99_s": t95 * 2, "e2e_p95_s": 9.0, "slo_window_attainment": att, "feasible_windows": 58,
         "request_attainment": 0.98, "scale_events": 12, "max_replicas": 9, "residency_violations": 0}
        for p, c, t95, att in (("hpa", 31.5, 0.8, 0.995), ("kpa", 28.25, 0.9, 0.99), ("oracle", 20.0, 0.7, 1.0),
                               ("meridian", 22.75, 0.75, 0.997))]
    bench = {"slo": {"percentile": 95, "ttft_ms": 1000}, "tuned": {"hpa": {"knob": 4.0, "meaning": "target in-flight requests per pod",
                               "tune_on": "/data/traces/azure_llm_2023/AzureLLMInferenceTrace_conv.csv",
                               "attainment_on_tune": 0.995, "met": True}},
             "traces": [{"trace": "AzureLLMInferenceTrace_conv.csv", "results": rows, "hindsight": True},
                        {"trace": "servegen#language/m-large", "results": rows[:2]}]}
    (art / "bench.json").write_text(json.dumps(bench))
    _png(art / "bench-plots" / "replicas_azure.png", "replicas")
    _png(art / "bench-plots" / "ttft_cdf.png", "ttft")
    (art / "eu.json").write_text(json.dumps(_chaos_journal()))
    (art / "eu.yaml").write_text("title: EU primary region outage\nexpect:\n  rto_seconds: 600\n"
                                 "  rpo_seconds: 60\n  residency_violations: 0\n"
                                 "  min_slo_attainment_during: {eu: 0.5, us: 0.9}\n")
    (art / "spot.json").write_text(json.dumps(_journal("deviated", 900, 2)))
    return ReportInputs(
        stack="Pulumi.dev.yaml", validate_output="topology valid: 3 jurisdictions, 6 regions",
        validate_command="scripts/meridian validate Pulumi.dev.yaml",
        plan_json=art / "plan.json", diagram=art / "topology.svg",
        plan_command="scripts/meridian plan Pulumi.dev.yaml --json plan.json --diagram topology.svg",
        benches=(BenchInput("Azure hour", art / "bench.json", art / "bench-plots", "scripts/meridian bench ..."),),
        drills=(DrillInput("eu-primary-outage", art / "eu.json", art / "eu.yaml", "scripts/meridian drill run eu.yaml"),
                DrillInput("spot-reclaim-wave", art / "spot.json", None, "scripts/meridian drill run spot.yaml")),
        steps=(StepRecord("plan", "ok", 3.2, "", "scripts/meridian plan ..."),),
        generated_by="scripts/meridian demo")


class _Page(HTMLParser):
    """Images, table classes and 'not available' notes of a rendered page."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.tables: list[str] = []
        self.unavailable = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "table":
            self.tables.append(attrs.get("class", ""))
        if "not-available" in (attrs.get("class") or ""):
            self.unavailable += 1


def _parse(index: Path) -> tuple[_Page, str]:
    text = index.read_text()
    page = _Page()
    page.feed(text)
    return page, text


def _rows(fragment: str, table_class: str) -> list[list[str]]:
    """Cell texts (tags stripped, entities decoded) of every row of the tables with this class."""
    rows = []
    for table in re.findall(rf'<table class="{table_class}">(.*?)</table>', fragment, re.S):
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            if cells:
                rows.append([unescape(re.sub(r"<[^>]+>", "", c)) for c in cells])
    return rows


def _section(text: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', text, re.S)
    assert match, anchor
    return match.group(1)


def test_full_report_has_every_figure_and_table(tmp_path):
    inputs = build_artifacts(tmp_path / "in")
    index = write_report(inputs, tmp_path / "report")
    page, text = _parse(index)
    assert page.unavailable == 0
    assert {"steps", "plan", "violations", "bench", "bench-tuning", "drill", "reproduce"} <= set(page.tables)
    assert page.tables.count("bench") == 2 and page.tables.count("drill") == 2
    # diagram, replicas, ttft (from --plot), cost (drawn from JSON), two drill timelines
    assert len(page.images) == 6
    for src in page.images:
        image = index.parent / src
        assert image.is_file() and image.stat().st_size > 0, src
        assert not Path(src).is_absolute()
    assert "figures/bench1-cost-vs-attainment.png" in page.images
    assert "figures/drill-eu-primary-outage.png" in page.images
    assert (index.parent / "figures/bench1-cost-vs-attainment.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "scripts/meridian plan Pulumi.dev.yaml --json plan.json --diagram topology.svg" in text
    assert "no KMS key" in text  # plan violations listed
    summary = _section(text, "summary")
    assert "Plan: 5 resources in 2 regions, 1 policy violations." in summary
    assert _rows(text, "plan") == [["eu-west-1", "2", "—", "1", "1", "0", "0", "0", "0"],
                                   ["global", "1", "—", "0", "0", "0", "0", "0", "1"],
                                   ["us-east-1", "2", "g5.2xlarge 0-20 spot", "1", "0", "0", "0", "0", "0"]]
    # meridian (22.75) is the cheapest non-oracle policy meeting 0.99 on the Azure trace; kpa (0.990) meets too
    assert ("Bench on AzureLLMInferenceTrace_conv.csv: cheapest policy meeting the objective (≥ 0.99 of "
            "windows): meridian at $22.75; oracle lower bound $20.00.") in unescape(summary)
    # servegen rows are hpa (0.995) and kpa (0.990): kpa is cheaper; no oracle row there
    assert ("Bench on servegen#language/m-large: cheapest policy meeting the objective (≥ 0.99 of windows): "
            "kpa at $28.25.") in unescape(summary)
    assert "Drill eu-primary-outage: passed (RTO 420 s, RPO 30 s, 0 residency violations)." in summary
    bench = _rows(text, "bench")
    assert len(bench) == 6 and bench[0][:3] == ["hpa", "31.50", "26.2"] and bench[3][0] == "meridian"
    assert _rows(text, "bench-tuning") == [["hpa", "4", "target in-flight requests per pod",
                                            "AzureLLMInferenceTrace_conv.csv", "0.995", "True"]]


def test_drill_measurements_are_judged_against_expectations(tmp_path):
    index = write_report(build_artifacts(tmp_path / "in"), tmp_path / "report")
    text = index.read_text()
    drills = _section(text, "drills")
    eu, spot = (_rows(part, "drill") for part in drills.split("Drill: spot-reclaim-wave"))
    # eu: the drill's own checks, plus RPO shown although no check covered it
    assert ["RTO (s)", "420", "<= 600", "ok"] in eu
    assert ["RPO (s)", "30", "—", "—"] in eu
    assert ["SLO attainment during the fault: eu", "0.71", ">= 0.5", "ok"] in eu
    assert "ireland-down (skipped)" in drills
    # spot: judged here against `expect`: RTO 900 > 600 and 2 residency violations, not met
    assert ["RTO (s)", "900", "<= 600", "failed"] in spot
    assert ["residency violations", "2", "<= 0", "failed"] in spot
    # a single floor judges a per-jurisdiction measurement by its worst jurisdiction (0.91 >= 0.9)
    assert ["SLO attainment during the fault", "eu=0.91, us=0.99", ">= 0.9", "ok"] in spot
    assert "restore_region (succeeded)" in drills


def test_glance_does_not_call_an_oracle_below_the_objective_a_lower_bound(tmp_path):
    inputs = build_artifacts(tmp_path / "in")
    doc = json.loads(inputs.benches[0].json.read_text())
    oracle = next(r for r in doc["traces"][0]["results"] if r["policy"] == "oracle")
    oracle["slo_window_attainment"] = 0.9
    own = next(r for r in doc["traces"][0]["results"] if r["policy"] == "meridian")
    own["slo_window_attainment"] = 0.95  # no longer meets: kpa is the cheapest that does; meridian shown
    inputs.benches[0].json.write_text(json.dumps(doc))
    summary = unescape(_section(render(inputs, tmp_path / "out").read_text(), "summary"))
    assert ("cheapest policy meeting the objective (≥ 0.99 of windows): kpa at $28.25; meridian $22.75 at 0.950; "
            "oracle $20.00 but below the objective (0.900)") in summary and "lower bound" not in summary


def test_missing_bench_json_yields_not_available_sections(tmp_path):
    inputs = build_artifacts(tmp_path / "in")
    inputs.benches[0].json.unlink()
    page, text = _parse(write_report(inputs, tmp_path / "report"))
    bench = _section(text, "bench")
    assert bench.count("not available:") == 4  # table, replicas, TTFT, cost
    assert "bench.json was not written" in bench
    assert "bench" not in page.tables
    assert "plan" in page.tables and page.tables.count("drill") == 2  # other sections unaffected


def test_each_bench_run_has_its_own_section_and_a_failed_one_says_why(tmp_path):
    inputs = build_artifacts(tmp_path / "in")
    second = BenchInput("ServeGen day", tmp_path / "in" / "nowhere.json", None, "scripts/meridian bench --days 1",
                        "bench:servegen-day failed: exit 2: --days is beyond the trace")
    text = write_report(replace(inputs, benches=inputs.benches + (second,)), tmp_path / "report").read_text()
    first, rest = _section(text, "bench").split("Bench: ServeGen day")
    assert "Bench: Azure hour" in first and "not available" not in first and len(_rows(first, "bench")) == 6
    assert rest.count("not available:</strong> bench:servegen-day failed: exit 2: --days is beyond the trace") == 4
    assert "scripts/meridian bench --days 1" in _section(text, "reproduce")


def test_reason_given_by_the_demo_replaces_the_loader_reason(tmp_path):
    inputs = build_artifacts(tmp_path / "in")
    inputs = replace(inputs, plan_json=None, diagram=None, plan_unavailable="plan missing: `meridian plan` is not in this build yet")
    text = write_report(inputs, tmp_path / "report").read_text()
    topo = _section(text, "topology")
    assert topo.count("not available:") == 2
    assert "`meridian plan` is not in this build yet" in topo


def test_malformed_journal_is_not_available_with_the_reason(tmp_path):
    inputs = build_artifacts(tmp_path / "in")
    inputs.drills[1].journal.write_text(json.dumps({"title": "x", "status": "failed"}))
    text = write_report(inputs, tmp_path / "report").read_text()
    drills = _section(text, "drills")
    assert drills.count("not available:") == 1
    assert "spot.json has no &#x27;timeline&#x27; list" in drills


def test_bench_plots_absent_draws_ttft_and_cost_from_json(tmp_path):
    inputs = build_artifacts(tmp_path / "in")
    inputs = replace(inputs, benches=(replace(inputs.benches[0], plots=None),))
    page, text = _parse(write_report(inputs, tmp_path / "report"))
    assert "figures/bench1-ttft-percentiles.png" in page.images
    assert "figures/bench1-cost-vs-attainment.png" in page.images
    bench = _section(text, "bench")
    assert bench.count("not available:") == 1 and "the bench ran without --plot" in bench


def test_expectations_come_from_the_drill_file_when_the_journal_lacks_them(tmp_path):
    journal = tmp_path / "j.json"
    journal.write_text(json.dumps(_journal("passed", 100, 0, with_expect=False)))
    drill = tmp_path / "d.yaml"
    drill.write_text("title: t\nexpect: {rto_seconds: 120, rpo_seconds: 5, residency_violations: 0}\n")
    loaded = load_journal(journal, drill)
    assert not isinstance(loaded, Missing)
    assert (loaded.expect.rto_seconds, loaded.expect.rpo_seconds) == (120.0, 5.0)
    assert load_journal(journal, None).expect.rto_seconds is None


def test_per_jurisdiction_floors_from_the_drill_file_are_each_judged(tmp_path):
    journal = tmp_path / "j.json"
    doc = _journal("passed", 100, 0, with_expect=False)
    doc["measurements"]["slo_attainment_during"] = {"eu": 0.71, "us": 0.85}
    journal.write_text(json.dumps(doc))
    drill = tmp_path / "d.yaml"
    drill.write_text("expect: {rto_seconds: 600, min_slo_attainment_during: {eu: 0.5, us: 0.9}}\n")
    inputs = ReportInputs(drills=(DrillInput("d", journal, drill),))
    rows = _rows(render(inputs, tmp_path / "out").read_text(), "drill")
    assert ["SLO attainment during the fault", "eu=0.71, us=0.85", "eu >= 0.5, us >= 0.9", "failed"] in rows
    drill.write_text("expect: {min_slo_attainment_during: {eu: 0.5, us: 0.8}}\n")
    rows = _rows(render(inputs, tmp_path / "out").read_text(), "drill")
    assert ["SLO attainment during the fault", "eu=0.71, us=0.85", "eu >= 0.5, us >= 0.8", "ok"] in rows


def test_iso_timestamps_in_the_timeline_become_seconds(tmp_path):
    doc = _journal("passed", 100, 0)
    doc["timeline"] = [{"t": "2026-11-23T10:00:00Z", "kind": "probe", "name": "p", "output": 1},
                       {"t": "2026-11-23T10:02:30+00:00", "kind": "action", "name": "a", "output": {}}]
    path = tmp_path / "j.json"
    path.write_text(json.dumps(doc))
    loaded = load_journal(path)
    assert [ev.t for ev in loaded.timeline] == [0.0, 150.0]
    doc["timeline"][1]["t"] = "yesterday"
    path.write_text(json.dumps(doc))
    assert "neither seconds nor an ISO timestamp" in load_journal(path).reason


def test_write_report_replaces_an_old_report_but_refuses_other_directories(tmp_path):
    inputs = build_artifacts(tmp_path / "in")
    out = tmp_path / "report"
    write_report(inputs, out)
    (out / "stale.txt").write_text("from an earlier run")
    write_report(inputs, out)
    assert (out / MARKER).exists() and not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_report(inputs, precious)
    assert (precious / "thesis.tex").read_text() == "keep me" and not (precious / "index.html").exists()


def test_render_escapes_artifact_text(tmp_path):
    inputs = build_artifacts(tmp_path / "in")
    inputs = replace(inputs, validate_output="<script>alert(1)</script>")
    text = render(inputs, tmp_path / "out").read_text()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_timeline_helpers_read_the_journal_shapes():
    from meridian.report.artifacts import TimelineEvent
    from meridian.report.figures import fault_start, fault_windows, probe_value
    assert probe_value({"value": 0.7, "within": True}) == 0.7 and probe_value(3) == 3.0
    assert probe_value({"value": None, "within": False}) is None and probe_value("held") is None
    assert probe_value(True) is None
    events = tuple(TimelineEvent(t, k, n, None) for t, k, n in (
        (0, "probe-before", "p"), (600, "action", "down"), (700, "action", "spot"), (900, "rollback", "spot"),
        (2400, "action-end", "down")))
    assert fault_start(events) == 600
    assert fault_windows(events) == [("down", 600, 2400), ("spot", 700, 900)]
