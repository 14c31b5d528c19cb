"""Figures the other commands do not draw, made from their JSON (matplotlib, Agg, no pyplot state).

- drill timeline: the journal's events per kind, numeric probe outputs over time, the fault window,
  measured RTO against expected;
- cost versus SLO attainment per policy, from the bench JSON (used when `bench --plot` drew none);
- TTFT percentiles per policy, from the bench JSON (used when `bench --plot` drew no distribution).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from meridian.report.artifacts import BenchTrace, DrillJournal, TimelineEvent

# Keys of a probe's output that hold the value worth plotting, most specific first.
_VALUE_KEYS = ("value", "attainment", "slo_attainment", "replicas", "error_rate", "violations")
_KIND_COLOURS = {"action": "#d62728", "action-end": "#d62728", "rollback": "#2ca02c", "probe": "#1f77b4",
                 "steady_state": "#9467bd", "stop": "#ff7f0e", "verdict": "#333333", "abort": "#b3261e",
                 "error": "#b3261e"}
_LABELLED_KINDS = ("action", "action-end", "rollback", "verdict", "abort", "error")
_EVENT_KINDS = ("action", "action-end", "rollback", "verdict", "abort", "error")


def _colour(kind: str) -> str:
    """Kinds such as probe-before / probe-during share their family's colour."""
    return _KIND_COLOURS.get(kind) or _KIND_COLOURS.get(kind.replace("_", "-").split("-")[0], "#555555")


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def probe_value(output: Any) -> float | None:
    """The number a probe reported, whether bare or inside a dict (e.g. {"value": 0.97, "ok": true})."""
    if isinstance(output, bool):
        return None
    if isinstance(output, (int, float)):
        return float(output)
    if isinstance(output, dict):
        for key in _VALUE_KEYS:
            value = output.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


def fault_start(timeline: tuple[TimelineEvent, ...]) -> float | None:
    """When the first fault was injected: the first action of the method."""
    return next((ev.t for ev in timeline if ev.kind == "action"), None)


def fault_windows(timeline: tuple[TimelineEvent, ...]) -> list[tuple[str, float, float]]:
    """(action, injected at, ended at) for each action that has an `action-end` or `rollback` after it."""
    windows = []
    for i, ev in enumerate(timeline):
        if ev.kind != "action":
            continue
        end = next((later.t for later in timeline[i + 1:]
                    if later.kind in ("action-end", "rollback") and later.name == ev.name), None)
        if end is not None:
            windows.append((ev.name, ev.t, end))
    return windows


# Event lanes, top to bottom in the order a drill goes through them; unknown kinds follow.
_LANE_ORDER = ("probe-before", "probe-during", "probe-recovery", "probe-after", "stop-condition", "action",
               "action-end", "rollback", "abort", "error", "verdict")


def drill_timeline(journal: DrillJournal, path: Path) -> Path:
    """Probe readings over time (fractions on the left axis, counts on the right) above an event lane
    per kind. Red bar: fault active; shaded: fault to recovery (measured RTO); dashed: expected RTO."""
    fig = Figure(figsize=(9, 4.4))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    series: dict[str, list[tuple[float, float]]] = {}
    for ev in journal.timeline:
        value = probe_value(ev.output)
        if value is not None and ev.kind not in _EVENT_KINDS:
            series.setdefault(ev.name or ev.kind, []).append((ev.t, value))
    fractions = {n: pts for n, pts in series.items() if all(0.0 <= v <= 1.0 for _, v in pts)
                 and not n.startswith("residency")}
    counts = {n: pts for n, pts in series.items() if n not in fractions}
    lines = []
    for name, points in sorted(fractions.items()):
        xs, ys = zip(*points)
        lines += top.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=name)
    if counts:
        right = top.twinx()
        for i, (name, points) in enumerate(sorted(counts.items())):
            xs, ys = zip(*points)
            lines += right.plot(xs, ys, marker="s", markersize=3, linewidth=1, linestyle="--",
                                color=f"C{len(fractions) + i}", label=f"{name} (right axis)")
        right.set_ylabel("count", fontsize=8)
        right.set_ylim(bottom=min(0.0, right.get_ylim()[0]), top=max(1.0, right.get_ylim()[1]))
    if lines:
        top.legend(handles=lines, fontsize=7, loc="lower right")
    else:
        top.text(0.5, 0.5, "the journal has no numeric probe readings", ha="center", va="center",
                 transform=top.transAxes, color="#666")
    top.set_ylabel("attainment / fraction")
    top.set_title(f"{journal.title} — {journal.status}", fontsize=10)

    present = {ev.kind for ev in journal.timeline}
    kinds = [k for k in _LANE_ORDER if k in present] + sorted(present - set(_LANE_ORDER))
    kinds.reverse()  # first lane at the top
    for lane, kind in enumerate(kinds):
        events = [ev for ev in journal.timeline if ev.kind == kind]
        bottom.scatter([ev.t for ev in events], [lane] * len(events), color=_colour(kind), s=18, zorder=3)
        if kind in _LABELLED_KINDS:
            for ev in events:
                bottom.annotate(ev.name, (ev.t, lane), xytext=(3, 4), textcoords="offset points", fontsize=7)
    for _, begin, end in fault_windows(journal.timeline):
        top.axvspan(begin, end, ymin=0.97, ymax=1.0, color="#d62728", alpha=0.6)
    bottom.set_yticks(range(len(kinds)), kinds, fontsize=8)
    bottom.set_ylim(-0.7, max(len(kinds), 1) - 0.3)
    bottom.set_xlabel("seconds since the drill started")

    start = fault_start(journal.timeline)
    rto = journal.measurements.get("rto_seconds")
    for ax in (top, bottom):
        if start is not None:
            ax.axvline(start, color="#d62728", linewidth=1, linestyle=":")
            if isinstance(rto, (int, float)) and not isinstance(rto, bool):
                ax.axvspan(start, start + rto, color="#d62728", alpha=0.08)
            if journal.expect.rto_seconds is not None:
                ax.axvline(start + journal.expect.rto_seconds, color="#444", linewidth=1, linestyle="--")
        ax.grid(alpha=0.3)
    return _save(fig, path)


def cost_vs_attainment(traces: tuple[BenchTrace, ...], path: Path) -> Path:
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    markers = "osD^vP*X"
    for i, trace in enumerate(traces):
        for row in trace.results:
            cost, att = row.get("cost_usd"), row.get("slo_window_attainment")
            if not isinstance(cost, (int, float)) or not isinstance(att, (int, float)):
                continue
            ax.scatter(cost, att, marker=markers[i % len(markers)], s=40)
            ax.annotate(str(row["policy"]), (cost, att), xytext=(4, 3), textcoords="offset points", fontsize=8)
    ax.set_xlabel("cost (USD)")
    ax.set_ylabel("SLO window attainment")
    ax.set_title("cost versus SLO attainment" + (" (markers: " + ", ".join(
        f"{markers[i % len(markers)]} {t.trace}" for i, t in enumerate(traces)) + ")" if len(traces) > 1 else ""),
        fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def ttft_percentiles(traces: tuple[BenchTrace, ...], slo_ttft_s: float | None, path: Path) -> Path:
    """p50/p95/p99 per policy: the summary of the TTFT distribution that the bench JSON carries."""
    fig = Figure(figsize=(8, 1.0 + 2.6 * len(traces)))
    axes = fig.subplots(len(traces), 1, squeeze=False)[:, 0]
    for ax, trace in zip(axes, traces):
        rows = [r for r in trace.results if all(isinstance(r.get(k), (int, float))
                                                 for k in ("ttft_p50_s", "ttft_p95_s", "ttft_p99_s"))]
        names = [str(r["policy"]) for r in rows]
        for offset, key, label in ((-0.25, "ttft_p50_s", "p50"), (0, "ttft_p95_s", "p95"),
                                   (0.25, "ttft_p99_s", "p99")):
            ax.barh([i + offset for i in range(len(rows))], [r[key] for r in rows], height=0.25, label=label)
        ax.set_yticks(range(len(rows)), names, fontsize=8)
        if slo_ttft_s:
            ax.axvline(slo_ttft_s, color="#444", linestyle="--", linewidth=1, label="TTFT target")
        ax.set_xscale("log")
        ax.set_title(trace.trace, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3, axis="x")
    axes[-1].set_xlabel("time to first token (s, log scale)")
    return _save(fig, path)
