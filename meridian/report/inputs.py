"""What the report is made from: paths of artifacts, the commands that made them, and what happened.

Every path may be None or point at a file that was never written; the report then shows the
section as "not available" with the reason given here (or the loader's own reason).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

StepStatus = Literal["ok", "failed", "missing", "skipped"]


@dataclass(frozen=True)
class StepRecord:
    """One step of the demo as it ran: shown in the report's summary table."""

    name: str
    status: StepStatus
    seconds: float = 0.0
    detail: str = ""  # e.g. "exit 2: topology invalid" or "`meridian plan` is not in this build"
    command: str = ""
    log: str = ""  # path of the step's captured output, relative to the report directory


@dataclass(frozen=True)
class BenchInput:
    """One `meridian bench` run: its JSON, its `--plot DIR`, and how it was made."""

    name: str  # e.g. "Azure hour"
    json: Path | None
    plots: Path | None = None
    command: str = ""
    unavailable: str = ""  # why it failed or did not run, when known


@dataclass(frozen=True)
class DrillInput:
    name: str  # e.g. "eu-primary-outage"
    journal: Path | None
    experiment: Path | None = None  # the drill YAML, for the expected RTO/RPO if the journal lacks them
    command: str = ""
    unavailable: str = ""  # why there is no journal, when known


@dataclass(frozen=True)
class ReportInputs:
    title: str = "meridian demo"
    stack: str = ""  # e.g. "Pulumi.dev.yaml"
    validate_output: str | None = None  # what `meridian validate` printed
    validate_command: str = ""
    validate_unavailable: str = ""
    plan_json: Path | None = None
    diagram: Path | None = None  # SVG or PNG from `meridian plan --diagram`
    plan_command: str = ""
    plan_unavailable: str = ""
    benches: tuple[BenchInput, ...] = ()
    drills: tuple[DrillInput, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    generated_by: str = ""  # the command that produced the whole report
    notes: tuple[str, ...] = field(default_factory=tuple)
