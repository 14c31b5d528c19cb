"""The port every drill target implements, and the measurements it reports."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from chaos.model import Action, Experiment, Probe
from regions.topology import Topology


@dataclass
class Measurements:
    """What a target measured over the whole drill; None means 'not measured'."""

    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    residency_violations: int | None = None
    slo_attainment_during: dict[str, float] = field(default_factory=dict)
    detection_seconds: float | None = None
    cost_delta_usd: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # target-specific figures


class Target(Protocol):
    """A system a drill can break, observe and restore.

    Times are seconds from the drill's start: simulated for `sim`, wall clock for real
    targets. `inject` and `revert` return a JSON-able output for the journal and raise
    on failure; `revert` must be safe to call twice (it restores the state saved by
    `inject`).
    """

    name: str
    realtime: bool  # True: `advance` waits on the wall clock (real targets)

    def prepare(self, experiment: Experiment, topology: Topology | None) -> None: ...
    def advance(self, until_s: float) -> None: ...
    def inject(self, action: Action) -> Any: ...
    def revert(self, action: Action) -> Any: ...
    def probe(self, probe: Probe) -> float | None: ...
    def measurements(self) -> Measurements: ...
    def close(self) -> None: ...
