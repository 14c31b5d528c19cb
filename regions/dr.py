"""Disaster-recovery model: the best RTO and RPO each strategy can achieve.

(First cut; the cited derivation follows in the next commit.)
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Floor:
    rto_seconds: float
    rpo_seconds: float
    rto_source: str
    rpo_source: str


FLOORS: dict[str, Floor] = {
    "active-active": Floor(90, 1, "Route 53 health checks 10 s x 3 + 60 s TTL", "async replication"),
    "warm-standby": Floor(300, 1, "detection + scale-out", "async replication"),
    "pilot-light": Floor(600, 1, "tens of minutes", "async replication"),
    "backup-restore": Floor(3600, 3600, "hours", "hourly backups"),
}


def floor(strategy: str) -> Floor:
    return FLOORS[strategy]
