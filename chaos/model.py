"""The experiment, typed: what `chaos.validate.load_experiment` returns.

Shaped after Chaos Toolkit's experiment (steady-state hypothesis of probes with
tolerances, then a method of actions, then rollbacks), with the parts its users
asked for later built in: a blast radius, stop conditions, expectations on
recovery, and allow-lists for real targets. Times are seconds from the drill's start.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Phase = Literal["before", "during", "after"]
PHASES: tuple[str, ...] = ("before", "during", "after")


@dataclass(frozen=True)
class Tolerance:
    """A probe's value is within tolerance when min <= value <= max (either may be absent)."""

    min: float | None = None
    max: float | None = None

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False  # no data is never "within tolerance": fail closed
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)

    def render(self) -> str:
        if self.min is not None and self.max is not None:
            return f"in [{self.min:g}, {self.max:g}]"
        return f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}"


@dataclass(frozen=True)
class Probe:
    name: str  # label in the journal, unique in the experiment
    kind: str  # a key of chaos.catalog.PROBES
    params: dict[str, Any]
    tolerance: Tolerance
    phases: tuple[str, ...] = PHASES  # steady-state phases that evaluate it


@dataclass(frozen=True)
class Action:
    name: str  # unique in the experiment; rollbacks refer to it
    kind: str  # a key of chaos.catalog.ACTIONS
    params: dict[str, Any]
    start_seconds: float
    duration_seconds: float | None = None  # None: lasts until rolled back

    @property
    def end_seconds(self) -> float | None:
        return None if self.duration_seconds is None else self.start_seconds + self.duration_seconds

    @property
    def region(self) -> str | None:
        return self.params.get("region")


@dataclass(frozen=True)
class BlastRadius:
    regions: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()  # shorthand: every region of these jurisdictions
    namespaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class Expect:
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    residency_violations: int | None = None  # normally 0
    detection_seconds: float | None = None
    min_slo_attainment_during: dict[str, float] = field(default_factory=dict)  # jurisdiction -> floor


@dataclass(frozen=True)
class AllowList:
    """AWS accounts and regions, and Kubernetes contexts, a real target may touch; from the
    experiment file or the environment."""

    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ()  # kubeconfig contexts the kube target may use


@dataclass(frozen=True)
class Experiment:
    title: str
    description: str
    target: str
    topology_path: str | None  # resolved path of the stack file
    duration_seconds: float
    blast_radius: BlastRadius
    steady_state: tuple[Probe, ...]
    method: tuple[Action, ...]
    rollbacks: tuple[str, ...]  # names of method actions to revert, in order
    stop_conditions: tuple[Probe, ...]
    expect: Expect
    allow: AllowList = AllowList()
    poll_seconds: float = 15.0  # how often stop conditions are polled during the method
    source: str = ""  # path of the experiment file

    def action(self, name: str) -> Action:
        return next(a for a in self.method if a.name == name)

    @property
    def method_end_seconds(self) -> float:
        """When the last fault ends (open-ended faults: the drill's end)."""
        ends = [a.end_seconds if a.end_seconds is not None else self.duration_seconds
                for a in self.method]
        return max(ends, default=0.0)
