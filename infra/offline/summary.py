"""The plan as text: per region, how many resources of each type; then any violations."""
from __future__ import annotations

import collections

from infra.layout import plan_estate
from infra.offline.plan import Plan

NO_REGION = "(components without a region)"


def summary(plan: Plan) -> str:
    layout = {rr.region: (code, rr.role, j.dr.strategy)
              for code, j in plan.topology.jurisdictions.items() for rr in j.regions}
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in plan.resources:
        counts[r.region or NO_REGION][r.type] += 1
    order = [r for r in layout if r in counts] + sorted(k for k in counts if k not in layout)
    lines = [f"stack {plan.stack}: {len(plan.resources)} resources, {len(layout)} regions, "
             f"domain {plan.topology.domain}"]
    for region in order:
        head = region
        if region in layout:
            code, role, strategy = layout[region]
            head = f"{region}  ({code}, {role}, {strategy})"
        lines.append(f"\n{head}: {sum(counts[region].values())} resources")
        lines += [f"  {n:>4}  {typ}" for typ, n in sorted(counts[region].items())]
    skipped = plan_estate(plan.topology).skipped
    if skipped:
        lines.append(f"\nresidency: {len(skipped)} DR copy(ies) not wired")
        lines += [f"  {s.data_class} {s.source} -> {s.destination}: {s.reason}" for s in skipped]
    return "\n".join(lines)


def violations_text(plan: Plan) -> str:
    if not plan.violations:
        return "policies: no violations"
    lines = [f"policies: {len(plan.mandatory)} mandatory, "
             f"{len(plan.violations) - len(plan.mandatory)} advisory violation(s)"]
    lines += [f"  [{v.level}] {v.policy}: {v.resource or '(stack)'}: {v.message}" for v in plan.violations]
    return "\n".join(lines)
