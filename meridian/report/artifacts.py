"""Read the artifacts the other commands write, following their documented schemas.

The report never trusts an artifact blindly: each loader returns either a typed object or a
`Missing` that says, in one sentence, why the section cannot be drawn. Schemas:
- plan JSON (issue 3): {"stack", "resources": [{"type", "name", "region", "parent", "inputs"}],
  "violations": [{"policy", "resource", "message", "level"}]}
- bench JSON (issue 4): {"slo": {...}, "tuned": {...}, "traces": [{"trace", "results": [{"policy", ...}]}]}
- drill journal (issue 7): {"title", "target", "started_at", "ended_at", "status", "steady_state",
  "timeline": [{"t", "kind", "name", "output"}], "measurements": {"rto_seconds", "rpo_seconds",
  "residency_violations", "slo_attainment_during"}, "rollbacks": [...]}
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Missing:
    """Why a section of the report cannot be drawn."""

    reason: str


# ---------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlanViolation:
    policy: str
    resource: str
    message: str
    level: str


@dataclass(frozen=True)
class PlanArtifact:
    stack: str
    resource_count: int
    by_region: dict[str, Counter]  # region -> Counter(type token -> count)
    violations: tuple[PlanViolation, ...]
    node_groups: dict[str, list[str]] = field(default_factory=dict)  # region -> "g5.2xlarge 1-40 on-demand"


def load_plan(path: Path | None) -> PlanArtifact | Missing:
    doc = _read_json(path, "plan JSON")
    if isinstance(doc, Missing):
        return doc
    resources = doc.get("resources")
    if not isinstance(resources, list):
        return Missing(f"{path.name} has no 'resources' list (expected the `meridian plan --json` schema)")
    by_region: dict[str, Counter] = {}
    node_groups: dict[str, list[str]] = {}
    for res in resources:
        if not isinstance(res, dict) or "type" not in res:
            return Missing(f"{path.name}: a resource without a 'type' (expected the `meridian plan --json` schema)")
        region = str(res.get("region") or "global")
        by_region.setdefault(region, Counter())[str(res["type"])] += 1
        if res["type"] == "aws:eks/nodeGroup:NodeGroup" and isinstance(res.get("inputs"), dict):
            node_groups.setdefault(region, []).append(_node_group(res["inputs"]))
    violations = tuple(
        PlanViolation(str(v.get("policy", "?")), str(v.get("resource", "?")), str(v.get("message", "")),
                      str(v.get("level", "")))
        for v in doc.get("violations") or [] if isinstance(v, dict))
    return PlanArtifact(str(doc.get("stack", "")), len(resources), by_region, violations, node_groups)


def _node_group(inputs: dict) -> str:
    """`g5.2xlarge 1-40 spot` from an EKS node group's inputs (instanceTypes, scalingConfig, capacityType)."""
    types = inputs.get("instanceTypes") or ["?"]
    scaling = inputs.get("scalingConfig") if isinstance(inputs.get("scalingConfig"), dict) else {}
    low, high = scaling.get("minSize"), scaling.get("maxSize")
    size = f" {low:g}-{high:g}" if isinstance(low, (int, float)) and isinstance(high, (int, float)) else ""
    capacity = str(inputs.get("capacityType") or "").lower().replace("_", "-")
    return f"{'/'.join(map(str, types))}{size} {capacity}".strip()


# ---------------------------------------------------------------- bench

# Columns of the bench table, in order: (key in the JSON, header, format).
BENCH_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("cost_usd", "cost $", "{:,.2f}"),
    ("gpu_hours", "GPU h", "{:,.1f}"),
    ("requests", "requests", "{:,.0f}"),
    ("ttft_p50_s", "TTFT p50 s", "{:.2f}"),
    ("ttft_p95_s", "TTFT p95 s", "{:.2f}"),
    ("ttft_p99_s", "TTFT p99 s", "{:.2f}"),
    ("e2e_p95_s", "E2E p95 s", "{:.1f}"),
    ("slo_window_attainment", "SLO windows met", "{:.3f}"),
    ("feasible_windows", "feasible windows", "{:,.0f}"),
    ("request_attainment", "requests met", "{:.3f}"),
    ("scale_events", "scale events", "{:,.0f}"),
    ("max_replicas", "max replicas", "{:,.0f}"),
    ("residency_violations", "residency violations", "{:,.0f}"),
)


@dataclass(frozen=True)
class BenchTrace:
    trace: str
    results: tuple[dict[str, Any], ...]  # one row per policy, keys as in BENCH_COLUMNS plus "policy"
    extra: dict[str, Any] = field(default_factory=dict)  # any other key of the trace entry (e.g. hindsight)


@dataclass(frozen=True)
class BenchArtifact:
    slo: dict[str, Any]
    tuned: dict[str, Any]
    traces: tuple[BenchTrace, ...]


def load_bench(path: Path | None) -> BenchArtifact | Missing:
    doc = _read_json(path, "bench JSON")
    if isinstance(doc, Missing):
        return doc
    traces = doc.get("traces")
    if not isinstance(traces, list) or not traces:
        return Missing(f"{path.name} has no 'traces' list (expected the `meridian bench --json` schema)")
    parsed = []
    for i, entry in enumerate(traces):
        results = entry.get("results") if isinstance(entry, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) and "policy" in r for r in results):
            return Missing(f"{path.name}: traces[{i}].results is not a list of {{'policy': ...}} rows")
        extra = {k: v for k, v in entry.items() if k not in ("trace", "results")}
        parsed.append(BenchTrace(str(entry.get("trace", f"trace {i + 1}")), tuple(results), extra))
    slo = doc.get("slo") if isinstance(doc.get("slo"), dict) else {}
    tuned = doc.get("tuned") if isinstance(doc.get("tuned"), dict) else {}
    return BenchArtifact(slo, tuned, tuple(parsed))


# ---------------------------------------------------------------- drills


@dataclass(frozen=True)
class TimelineEvent:
    t: float  # seconds since the first event
    kind: str
    name: str
    output: Any


@dataclass(frozen=True)
class Expectations:
    """The drill's `expect` block (issue 7): what the measurements are judged against."""

    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    residency_violations: float | None = None
    min_slo_attainment: float | dict[str, float] | None = None  # one floor, or per jurisdiction ("*": all)


@dataclass(frozen=True)
class DrillJournal:
    title: str
    target: str
    status: str
    started_at: str
    ended_at: str
    timeline: tuple[TimelineEvent, ...]
    measurements: dict[str, Any]
    rollbacks: tuple[Any, ...]
    expect: Expectations


def load_journal(path: Path | None, experiment: Path | None = None) -> DrillJournal | Missing:
    """Read a drill journal; expectations come from the journal if it carries them, else the drill file."""
    doc = _read_json(path, "drill journal")
    if isinstance(doc, Missing):
        return doc
    raw_timeline = doc.get("timeline")
    if not isinstance(raw_timeline, list):
        return Missing(f"{path.name} has no 'timeline' list (expected the `meridian drill run --journal` schema)")
    timeline = _timeline(raw_timeline)
    if isinstance(timeline, Missing):
        return Missing(f"{path.name}: {timeline.reason}")
    measurements = doc.get("measurements") if isinstance(doc.get("measurements"), dict) else {}
    return DrillJournal(
        title=str(doc.get("title", path.stem)), target=str(doc.get("target", "")),
        status=str(doc.get("status", "unknown")), started_at=str(doc.get("started_at", "")),
        ended_at=str(doc.get("ended_at", "")), timeline=timeline, measurements=measurements,
        rollbacks=tuple(doc.get("rollbacks") or ()), expect=_expectations(doc, experiment))


def _timeline(raw: list) -> tuple[TimelineEvent, ...] | Missing:
    """Events with `t` as seconds (a number) or a timestamp (ISO 8601), made relative to the first."""
    times = []
    for i, ev in enumerate(raw):
        if not isinstance(ev, dict) or "t" not in ev:
            return Missing(f"timeline[{i}] has no 't'")
        t = _seconds(ev["t"])
        if t is None:
            return Missing(f"timeline[{i}].t = {ev['t']!r} is neither seconds nor an ISO timestamp")
        times.append(t)
    origin = min(times) if times and any(isinstance(ev["t"], str) for ev in raw) else 0.0
    return tuple(TimelineEvent(t - origin, str(ev.get("kind", "")), str(ev.get("name", "")), ev.get("output"))
                 for t, ev in zip(times, raw))


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _expectations(journal: dict, experiment: Path | None) -> Expectations:
    expect = journal.get("expect")
    if not isinstance(expect, dict) and isinstance(journal.get("experiment"), dict):
        expect = journal["experiment"].get("expect")
    if not isinstance(expect, dict) and experiment is not None and experiment.is_file():
        try:
            expect = (yaml.safe_load(experiment.read_text()) or {}).get("expect")
        except (yaml.YAMLError, AttributeError):
            expect = None
    if not isinstance(expect, dict):
        return Expectations()
    min_att: float | dict[str, float] | None = None
    for key in ("min_slo_attainment_during", "min_slo_attainment", "slo_attainment_during"):
        value = expect.get(key)
        if _number(value) is not None:
            min_att = _number(value)
        elif isinstance(value, dict):
            floors = {str(j): _number(v) for j, v in value.items() if _number(v) is not None}
            min_att = floors or None
        if min_att is not None:
            break
    return Expectations(_number(expect.get("rto_seconds")), _number(expect.get("rpo_seconds")),
                        _number(expect.get("residency_violations")), min_att)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


# ---------------------------------------------------------------- shared


def _read_json(path: Path | None, what: str) -> dict | Missing:
    if path is None:
        return Missing(f"no {what} was produced")
    if not path.is_file():
        return Missing(f"{what} {path.name} was not written")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return Missing(f"{what} {path.name} is unreadable: {err}")
    if not isinstance(doc, dict):
        return Missing(f"{what} {path.name} is not a JSON object")
    return doc
