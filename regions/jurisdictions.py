"""Jurisdictions: the legal areas personal data belongs to, with or without an AWS region."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from regions.catalog import _read


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    name: str
    law: str
    countries: tuple[str, ...]  # ISO 3166-1 alpha-2, used by Route 53 geolocation records
    latitude: float  # where its users roughly are, for routing in the twin
    longitude: float
    utc_offset_hours: float


@lru_cache(maxsize=1)
def load_jurisdictions() -> dict[str, Jurisdiction]:
    raw = _read("jurisdictions.json")
    return {
        j["code"]: Jurisdiction(**{**j, "countries": tuple(j["countries"])})
        for j in raw["jurisdictions"]
    }
