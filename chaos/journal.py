"""The drill's journal: what happened, when, what was measured, and the verdict.

Top-level keys are exactly the issue's: title, target, started_at, ended_at, status,
steady_state {before, during, after}, timeline [{t, kind, name, output}],
measurements {rto_seconds, rpo_seconds, residency_violations, slo_attainment_during, ...},
rollbacks [...]. It is written atomically (temporary file in the same directory, then
`os.replace`), so a reader never sees half a journal, also when the drill fails.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from regions.files import atomic_write_json

def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ProbeResult:
    name: str
    kind: str
    value: float | None
    tolerance: str
    within: bool

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "value": _finite(self.value),
                "tolerance": self.tolerance, "within": self.within}


@dataclass
class PhaseResult:
    """The steady-state hypothesis evaluated once (before, during or after)."""

    t: float
    probes: list[ProbeResult]

    @property
    def met(self) -> bool:
        return all(p.within for p in self.probes)

    def as_dict(self) -> dict:
        return {"t": self.t, "met": self.met, "probes": [p.as_dict() for p in self.probes]}


@dataclass
class RollbackResult:
    name: str  # method action reverted
    status: str  # "succeeded" | "failed" | "skipped"
    output: Any = None
    error: str | None = None
    reason: str = ""  # why it ran (listed, or still active at abort)

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "output": self.output,
                "error": self.error, "reason": self.reason}


@dataclass
class Journal:
    title: str
    target: str
    started_at: str = field(default_factory=utc_now)
    ended_at: str | None = None
    status: str = "failed"  # pessimistic until the runner decides
    steady_state: dict[str, PhaseResult | None] = field(
        default_factory=lambda: {"before": None, "during": None, "after": None})
    timeline: list[dict] = field(default_factory=list)
    measurements: dict[str, Any] = field(default_factory=lambda: {
        "rto_seconds": None, "rpo_seconds": None, "residency_violations": None,
        "slo_attainment_during": {}})
    rollbacks: list[RollbackResult] = field(default_factory=list)

    def log(self, t: float, kind: str, name: str, output: Any = None) -> dict:
        entry = {"t": round(t, 3), "kind": kind, "name": name, "output": output}
        self.timeline.append(entry)
        return entry

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "target": self.target,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": self.status,
            "steady_state": {k: (v.as_dict() if v else None) for k, v in self.steady_state.items()},
            "timeline": self.timeline,
            "measurements": _clean(self.measurements),
            "rollbacks": [r.as_dict() for r in self.rollbacks],
        }


def write_atomic(journal: Journal, path: str | Path) -> Path:
    """Write the journal as JSON to `path`, whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, journal.as_dict(), default=str)
    return path


def _finite(value: Any) -> Any:
    """JSON has no infinity or NaN: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return _finite(obj)
