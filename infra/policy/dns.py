"""Following Route 53 names through a stack's records to the AWS regions they finally reach.

Shared by the failover and geolocation policies, the diagram and the tests. Resources are
seen as a stack policy sees them (`resource_type`, `props`).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from infra.policy.preview import UNKNOWN, items, value
from regions.catalog import load_catalog

RECORD = "aws:route53/record:Record"


def normal(name: Any) -> str:
    """A DNS name compared as Route 53 does: case-insensitive, trailing dot optional."""
    return str(name or "").lower().rstrip(".")


def record_targets(props: Mapping[str, Any]) -> list[str]:
    """A record's answers; one unknown during preview becomes "", a dead end when followed."""
    records = [t for t in items(value(props, "records"))]
    aliases = [value(a, "name") if isinstance(a, Mapping) else a for a in items(value(props, "aliases"))]
    return [("" if t is UNKNOWN else normal(t)) for t in records + aliases if t is not None]


def region_in_host(host: str) -> str | None:
    """An AWS region code among the labels of a host name (`eu-west-1.api.x.com`, ELB names)."""
    regions = load_catalog().regions
    return next((label for label in host.split(".") if label in regions), None)


def resolve_regions(name: str, resources: Iterable) -> set[str | None]:
    """Regions a name finally reaches through this stack's records; None marks a dead end."""
    by_name: dict[str, list[list[str]]] = {}
    for r in resources:
        own = value(r.props, "name") if r.resource_type == RECORD else UNKNOWN
        if own is not UNKNOWN:  # e.g. ACM's validation record during preview: no name to match yet
            by_name.setdefault(normal(own), []).append(record_targets(r.props))
    found: set[str | None] = set()
    pending, seen = [normal(name)], set()
    while pending:
        h = pending.pop()
        if h in seen:
            continue
        seen.add(h)
        region = region_in_host(h)
        if region:
            found.add(region)
        elif h in by_name:
            pending += [t for targets in by_name[h] for t in targets]
        else:
            found.add(None)
    return found


def record_reach(props: Mapping[str, Any], resources: Iterable) -> set[str | None]:
    """Regions a record's answers finally reach; {None} for a record that answers nothing."""
    resources = list(resources)
    return set().union(*[resolve_regions(t, resources) for t in record_targets(props)]) or {None}
