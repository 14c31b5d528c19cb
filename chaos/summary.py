"""The one-screen summary printed when a drill ends."""
from __future__ import annotations

from chaos.model import Experiment
from chaos.runner import Outcome


def render(experiment: Experiment, outcome: Outcome, journal_path: str | None = None) -> str:
    j = outcome.journal
    m = j.measurements
    lines = [
        f"drill    {experiment.title}  [{j.target}]",
        f"verdict  {j.status.upper()}" + (f" - {outcome.reason}" if outcome.reason else ""),
        "steady state  " + "  ".join(
            f"{phase}: {'-' if r is None else ('held' if r.met else 'DEVIATED')}"
            for phase, r in j.steady_state.items()),
    ]
    if outcome.checks:
        lines.append("expectations")
        for c in outcome.checks:
            lines.append(f"  {'ok ' if c['met'] else 'NO '} {c['name']:<28} measured "
                         f"{_fmt(c['measured']):>10}   expected {c['expected']}")
    lines.append("measured")
    lines.append(f"  RTO {_fmt(m.get('rto_seconds'))} s   RPO {_fmt(m.get('rpo_seconds'))} s   "
                 f"detection {_fmt(m.get('detection_seconds'))} s   residency violations "
                 f"{_fmt(m.get('residency_violations'))}")
    during = m.get("slo_attainment_during") or {}
    if during:
        lines.append("  SLO attainment during the fault: " +
                     ", ".join(f"{k} {v:.3f}" for k, v in sorted(during.items())))
    if m.get("cost_delta_usd") is not None:
        lines.append(f"  cost delta vs. the same run without faults: {m['cost_delta_usd']:+.2f} USD")
    if j.rollbacks:
        lines.append("rollbacks  " + ", ".join(f"{r.name}: {r.status}" for r in j.rollbacks))
        for r in j.rollbacks:
            if r.status == "failed":
                lines.append(f"  ROLLBACK FAILED {r.name}: {r.error}")
    tail = f"ran in {m['wall_seconds']:.1f} s wall" if m.get("wall_seconds") is not None else ""
    if outcome.journal_error:
        tail = f"journal  NOT WRITTEN to {journal_path}: {outcome.journal_error}" + (
            f"   ({tail})" if tail else "")
    elif journal_path:
        tail = f"journal  {journal_path}" + (f"   ({tail})" if tail else "")
    if tail:
        lines.append(tail)
    return "\n".join(lines)


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 10 else f"{value:.3g}"
    return str(value)
