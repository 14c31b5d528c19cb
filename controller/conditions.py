"""Status conditions, the Kubernetes way: lastTransitionTime moves only when status flips."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool | None  # None = Unknown
    reason: str
    message: str = ""

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else ("True" if self.status else "False")


def merge(previous: list[dict] | None, updates: list[Condition], *, generation: int, now: str) -> list[dict]:
    """New conditions list: `updates` applied over `previous`, types kept in a stable order."""
    by_type = {c.get("type"): dict(c) for c in (previous or []) if isinstance(c, dict) and c.get("type")}
    for cond in updates:
        old = by_type.get(cond.type)
        changed = old is None or old.get("status") != cond.status_text
        by_type[cond.type] = {
            "type": cond.type,
            "status": cond.status_text,
            "reason": cond.reason,
            "message": cond.message[:1024],
            "lastTransitionTime": now if changed else old.get("lastTransitionTime", now),
            "observedGeneration": generation,
        }
    order = ["Ready", "MetricsAvailable", "ScalingActive", "ScalingLimited", "BudgetLimited"]
    return sorted(by_type.values(), key=lambda c: order.index(c["type"]) if c["type"] in order else 99)


def find(conditions: list[dict] | None, type_: str) -> dict | None:
    return next((c for c in conditions or [] if isinstance(c, dict) and c.get("type") == type_), None)


def transitioned(previous: list[dict] | None, cond: Condition) -> bool:
    """True when `cond` differs from what the object says now in status or reason (worth an Event)."""
    old = find(previous, cond.type)
    return old is None or old.get("status") != cond.status_text or old.get("reason") != cond.reason
