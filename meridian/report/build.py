"""Render the demo report (`index.html` plus its figures) from the artifacts the commands wrote.

`render` writes into a directory it is given; `write_report` builds in a temporary sibling
directory and renames it into place, so a reader never sees a half-written report.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from meridian.report import figures, html
from meridian.report.artifacts import (BENCH_COLUMNS, BenchArtifact, BenchTrace, DrillJournal, Missing, PlanArtifact,
                                       load_bench, load_journal, load_plan)
from meridian.report.html import FigureRef
from meridian.report.inputs import BenchInput, ReportInputs

MARKER = ".meridian-report"  # marks a directory this module wrote, so it may be replaced
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")

# Bench figure kinds, recognised by words in the file names `meridian bench --plot` writes.
_BENCH_FIGURE_KINDS = (
    ("ttft", ("ttft", "latency", "cdf", "distribution", "hist")),
    ("cost", ("cost", "pareto", "attainment")),
    ("replicas", ("replica", "load", "fleet", "timeseries", "over_time", "capacity")),
)


def write_report(inputs: ReportInputs, out: Path) -> Path:
    """Render into a fresh temporary directory next to `out`, then swap it into place."""
    out = Path(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        render(inputs, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return publish(staging, out)


def publish(staging: Path, out: Path) -> Path:
    """Rename a finished report directory onto `out`, replacing an earlier report there."""
    (staging / MARKER).write_text("written by meridian; this directory is replaced on the next run\n")
    os.chmod(staging, 0o755)  # mkdtemp makes it 0700
    if out.exists():
        if not (out / MARKER).exists():
            raise FileExistsError(f"{out} exists and is not a meridian report")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.rename(out, old)
        os.rename(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, out)
    return out / "index.html"


def render(inputs: ReportInputs, out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = _Context(out_dir)
    body = [
        _summary(inputs),
        html.section("topology", "Topology: validate and plan", _guarded(_topology, inputs, ctx)),
        html.section("bench", "Autoscaling on real traces (digital twin)", _guarded(_bench, inputs, ctx)),
        html.section("drills", "Chaos drills on the twin", _guarded(_drills, inputs, ctx)),
        html.section("reproduce", "Reproduce", _reproduce(inputs)),
    ]
    nav = [("summary", "Summary"), ("topology", "Topology"), ("bench", "Bench"), ("drills", "Drills"),
           ("reproduce", "Reproduce")]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"Generated {html.text(when)}" + (f" by {html.code(inputs.generated_by)}" if inputs.generated_by else "")
    index = out_dir / "index.html"
    index.write_text(html.page(inputs.title, subtitle, nav, "".join(body)), encoding="utf-8")
    return index


def _guarded(section, inputs: ReportInputs, ctx: "_Context") -> str:
    """An artifact that passes the loaders but still trips a section must not lose the whole report."""
    try:
        return section(inputs, ctx)
    except Exception as exc:  # noqa: BLE001 - reported in the page instead
        return html.not_available(f"this section could not be drawn from the artifacts: "
                                  f"{type(exc).__name__}: {exc}")


class _Context:
    """Where figures go, and how an image path becomes a link relative to index.html."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir.resolve()
        self.figures = self.out_dir / "figures"

    def image(self, path: Path | None) -> str | None:
        """Relative link to an image, copied under figures/ if it lives outside the report."""
        if path is None or not path.is_file() or path.stat().st_size == 0:
            return None
        path = path.resolve()
        if not path.is_relative_to(self.out_dir):
            self.figures.mkdir(exist_ok=True)
            target = self.figures / path.name
            n = 1
            while target.exists():
                target = self.figures / f"{path.stem}-{n}{path.suffix}"
                n += 1
            shutil.copyfile(path, target)
            path = target
        return path.relative_to(self.out_dir).as_posix()

    def drawn(self, name: str) -> Path:
        self.figures.mkdir(exist_ok=True)
        return self.figures / name


# ---------------------------------------------------------------- summary


def _summary(inputs: ReportInputs) -> str:
    """What meridian is, the findings at a glance, and how each step of the run went."""
    parts = ["<p>meridian plans a multi-region inference estate under data-residency rules, scales it on "
             "latency and cost, and drills its failures. Everything below ran offline: the Pulumi program "
             "under Pulumi's mock runtime, the autoscalers and drills on a digital twin driven by real "
             "public request traces.</p>"]
    glance = _glance(inputs)
    if glance:
        parts.append("<ul class=\"glance\">" + "".join(f"<li>{html.text(g)}</li>" for g in glance) + "</ul>")
    if inputs.steps:
        rows = [[html.text(s.name), html.status(s.status), f"{s.seconds:.1f} s",
                 html.text(s.detail),
                 html.link(s.log, s.log) if s.log else ""] for s in inputs.steps]
        parts.append(html.table(["step", "status", "time", "detail", "log"], rows, "steps"))
    parts += [f"<p>{html.text(n)}</p>" for n in inputs.notes]
    return html.section("summary", "Summary", "".join(parts))


def _glance(inputs: ReportInputs) -> list[str]:
    """One line per finding: the plan's size, the cheapest policy meeting the objective, drill verdicts."""
    lines = []
    plan = load_plan(inputs.plan_json)
    if not isinstance(plan, Missing):
        regions = [r for r in plan.by_region if r != "global"]
        lines.append(f"Plan: {plan.resource_count} resources in {len(regions)} regions, "
                     f"{len(plan.violations)} policy violations.")
    for run in inputs.benches:
        bench = load_bench(run.json)
        if isinstance(bench, Missing):
            continue
        target = bench.slo.get("target_attainment", 0.99)
        target = target if isinstance(target, (int, float)) else 0.99
        for trace in bench.traces:
            meeting = [r for r in trace.results if _num(r.get("slo_window_attainment")) is not None
                       and r["slo_window_attainment"] >= target and _num(r.get("cost_usd")) is not None
                       and r["policy"] != "oracle"]
            best = min(meeting, key=lambda r: r["cost_usd"], default=None)
            line = f"Bench on {_trace_title(trace)}: "
            line += (f"cheapest policy meeting the objective (≥ {target:g} of windows): {best['policy']} at "
                     f"${best['cost_usd']:,.2f}" if best else f"no policy but the oracle met the objective (≥ {target:g})")
            own = next((r for r in trace.results if r["policy"] == "meridian"), None)
            if own is not None and own is not best and _num(own.get("cost_usd")) is not None \
                    and _num(own.get("slo_window_attainment")) is not None:
                line += f"; meridian ${own['cost_usd']:,.2f} at {own['slo_window_attainment']:.3f}"
            oracle = next((r for r in trace.results if r["policy"] == "oracle"), None)
            if oracle and _num(oracle.get("cost_usd")) is not None:
                att = _num(oracle.get("slo_window_attainment"))
                line += (f"; oracle lower bound ${oracle['cost_usd']:,.2f}" if att is not None and att >= target
                         else f"; oracle ${oracle['cost_usd']:,.2f} but below the objective"
                         + (f" ({att:.3f})" if att is not None else ""))
            lines.append(line + ".")
    for drill in inputs.drills:
        journal = load_journal(drill.journal, drill.experiment)
        if isinstance(journal, Missing):
            continue
        m = journal.measurements
        facts = [fmt.format(_shown(m.get(key))) for key, fmt in (
            ("rto_seconds", "RTO {} s"), ("rpo_seconds", "RPO {} s"), ("residency_violations", "{} residency violations"))
            if m.get(key) is not None]
        lines.append(f"Drill {drill.name}: {journal.status}" + (f" ({', '.join(facts)})" if facts else "") + ".")
    return lines


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ---------------------------------------------------------------- topology


def _topology(inputs: ReportInputs, ctx: _Context) -> str:
    parts = [f"<h3>Validate {html.text(inputs.stack)}</h3>"]
    if inputs.validate_output is not None:
        parts.append(f"<pre>{html.text(inputs.validate_output.strip() or '(no output)')}</pre>")
        if inputs.validate_command:
            parts.append(f"<p>Reproduce: {html.code(inputs.validate_command)}</p>")
    else:
        parts.append(html.not_available(inputs.validate_unavailable or "`meridian validate` did not run"))

    parts.append("<h3>Topology diagram</h3>")
    src = ctx.image(inputs.diagram)
    if src:
        parts.append(html.figure(FigureRef(src, "Jurisdictions, regions, DR relations and the edge, as planned.",
                                           inputs.plan_command)))
    else:
        parts.append(html.not_available(inputs.plan_unavailable or "`meridian plan --diagram` drew no diagram"))

    parts.append("<h3>Offline plan</h3>")
    plan = load_plan(inputs.plan_json)
    if isinstance(plan, Missing):
        parts.append(html.not_available(inputs.plan_unavailable or plan.reason))
    else:
        if inputs.plan_unavailable:
            parts.append(html.warning(inputs.plan_unavailable))
        parts.append(_plan_tables(plan, inputs.plan_command))
    return "".join(parts)


# Columns of the per-region plan table: what a platform engineer looks for first.
_PLAN_COLUMNS = (("EKS", ("aws:eks/cluster:",)), ("S3 buckets", ("aws:s3/bucket:", "aws:s3/bucketV2:")),
                 ("replication", ("aws:s3/bucketReplicationConfig",)), ("KMS keys", ("aws:kms/key:",)),
                 ("Kubernetes objects", ("kubernetes:",)), ("Route 53 records", ("aws:route53/record:",)))


def _plan_tables(plan: PlanArtifact, command: str) -> str:
    rows, details = [], []
    for region in sorted(plan.by_region):
        counts = plan.by_region[region]
        cells = [html.text(region), str(sum(counts.values())),
                 html.text("; ".join(plan.node_groups.get(region, [])) or "—")]
        for _, prefixes in _PLAN_COLUMNS:
            cells.append(str(sum(n for t, n in counts.items() if t.startswith(prefixes))))
        rows.append(cells)
        kinds = ", ".join(f"{_short_type(t)} ×{n}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        details.append(f"<li><strong>{html.text(region)}</strong>: {html.text(kinds)}</li>")
    parts = [f"<p>{plan.resource_count} resources in stack {html.text(plan.stack)}, "
             f"{len(plan.violations)} policy violations.</p>",
             html.table(["region", "resources", "node groups (instance, min-max, capacity)"]
                        + [c for c, _ in _PLAN_COLUMNS], rows, "plan"),
             "<details><summary>every resource type per region</summary><ul>" + "".join(details) + "</ul></details>"]
    if plan.violations:
        vrows = [[html.text(v.policy), html.text(v.resource), html.text(v.message),
                  html.text(v.level)] for v in plan.violations]
        parts.append(html.table(["policy", "resource", "message", "level"], vrows, "violations"))
    if command:
        parts.append(f"<p>Reproduce: {html.code(command)}</p>")
    return "".join(parts)


def _short_type(token: str) -> str:
    """`aws:eks/cluster:Cluster` -> `eks Cluster`, readable in a narrow column."""
    pieces = token.split(":")
    if len(pieces) == 3:
        return f"{pieces[1].split('/')[0]} {pieces[2]}"
    return token


# ---------------------------------------------------------------- bench


def _bench(inputs: ReportInputs, ctx: _Context) -> str:
    if not inputs.benches:
        return html.not_available("no bench was run")
    return "".join(f"<h3>Bench: {html.text(run.name)}</h3>" + _bench_run(run, ctx, f"bench{i}")
                   for i, run in enumerate(inputs.benches, 1))


def _bench_run(run: BenchInput, ctx: _Context, prefix: str) -> str:
    bench = load_bench(run.json)
    plots = _bench_plots(run.plots)
    if isinstance(bench, Missing):
        reason = run.unavailable or bench.reason
        return (html.not_available(reason) + "<h4>Replicas and load over time</h4>" + html.not_available(reason)
                + "<h4>TTFT distributions</h4>" + html.not_available(reason)
                + "<h4>Cost versus attainment</h4>" + html.not_available(reason))
    cmd = run.command
    parts = [html.warning(run.unavailable)] if run.unavailable else []
    parts.append(_bench_setting(bench))
    for trace in bench.traces:
        parts.append(f"<h4>Results: {html.text(_trace_title(trace))}</h4>")
        extra = {k: v for k, v in trace.extra.items() if k != "name" and v not in (None, "", [], {})}
        if extra:
            parts.append("<p>" + html.text("; ".join(f"{k.replace('_', ' ')}: {_compact(v)}"
                                                     for k, v in extra.items())) + "</p>")
        parts.append(_bench_table(trace.results))
    if cmd:
        parts.append(f"<p>Reproduce the table: {html.code(cmd)}</p>")

    parts.append("<h4>Replicas and load over time</h4>")
    if plots["replicas"]:
        parts += [html.figure(FigureRef(ctx.image(p), f"Replicas and offered load per policy ({p.name}).", cmd))
                  for p in plots["replicas"]]
    else:
        parts.append(html.not_available("`meridian bench --plot` wrote no replicas-over-time figure"
                                        if run.plots else "the bench ran without --plot"))

    parts.append("<h4>TTFT distributions</h4>")
    if plots["ttft"]:
        parts += [html.figure(FigureRef(ctx.image(p), f"Time to first token per policy ({p.name}).", cmd))
                  for p in plots["ttft"]]
    else:
        slo_s = _slo_ttft_seconds(bench.slo)
        path = figures.ttft_percentiles(bench.traces, slo_s, ctx.drawn(f"{prefix}-ttft-percentiles.png"))
        parts.append(html.figure(FigureRef(ctx.image(path), "TTFT p50/p95/p99 per policy, from the bench JSON "
                                           "(the bench drew no distribution figure).", cmd)))

    parts.append("<h4>Cost versus attainment</h4>")
    if plots["cost"]:
        parts += [html.figure(FigureRef(ctx.image(p), f"Cost against SLO attainment ({p.name}).", cmd))
                  for p in plots["cost"]]
    else:
        path = figures.cost_vs_attainment(bench.traces, ctx.drawn(f"{prefix}-cost-vs-attainment.png"))
        parts.append(html.figure(FigureRef(ctx.image(path), "Cost against SLO window attainment per policy, "
                                           "drawn from the bench JSON.", cmd)))
    if plots["other"]:
        parts.append("<h4>Other bench figures</h4>")
        parts += [html.figure(FigureRef(ctx.image(p), p.name, cmd)) for p in plots["other"]]
    return "".join(parts)


def _bench_plots(directory: Path | None) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {"replicas": [], "ttft": [], "cost": [], "other": []}
    if directory is None or not directory.is_dir():
        return found
    for path in sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        name = path.stem.lower()
        kind = next((k for k, words in _BENCH_FIGURE_KINDS if any(w in name for w in words)), "other")
        found[kind].append(path)
    return found


def _bench_setting(bench: BenchArtifact) -> str:
    parts = []
    if bench.slo:
        objective = ", ".join(f"{k} {_compact(v)}" for k, v in bench.slo.items() if v is not None)
        parts.append(f"<p>Objective and setting: {html.text(objective)}.</p>")
    tuned = {p: v for p, v in bench.tuned.items() if isinstance(v, dict)}
    if tuned:
        keys = list(dict.fromkeys(k for v in tuned.values() for k in v))
        rows = [[html.text(p)] + [html.text(_compact(v.get(k, ""))) for k in keys] for p, v in tuned.items()]
        parts.append("<p>Every baseline's single knob was tuned to the cheapest value meeting the objective, "
                     "then evaluated unchanged on every trace:</p>"
                     + html.table(["policy"] + [k.replace("_", " ") for k in keys], rows, "bench-tuning"))
    return "".join(parts)


def _trace_title(trace: BenchTrace) -> str:
    name = trace.extra.get("name")
    if isinstance(name, str) and name:
        return name
    path, _, series = trace.trace.partition("#")
    return Path(path).name + (f"#{series}" if series else "")


def _compact(value: object) -> str:
    """Short text for a JSON value: 4 significant digits, file paths by their name."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_compact(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_compact(v) for v in value)
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e4:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str) and "/" in value and not value.startswith(("http:", "https:")):
        path, _, series = value.partition("#")
        return Path(path).name + (f"#{series}" if series else "")
    return str(value)


def _bench_table(results: tuple[dict, ...]) -> str:
    columns = [c for c in BENCH_COLUMNS if any(c[0] in r for r in results)]
    rows = []
    for r in results:
        cells = [html.text(r["policy"])]
        for key, _, fmt in columns:
            value = r.get(key)
            cells.append(html.text(fmt.format(value)) if isinstance(value, (int, float))
                         and not isinstance(value, bool) else html.text("" if value is None else value))
        rows.append(cells)
    return html.table(["policy"] + [c[1] for c in columns], rows, "bench")


def _slo_ttft_seconds(slo: dict) -> float | None:
    ms = slo.get("ttft_ms")
    if isinstance(ms, (int, float)) and not isinstance(ms, bool):
        return ms / 1000.0
    s = slo.get("ttft_s")
    return float(s) if isinstance(s, (int, float)) and not isinstance(s, bool) else None


# ---------------------------------------------------------------- drills


def _drills(inputs: ReportInputs, ctx: _Context) -> str:
    if not inputs.drills:
        return html.not_available("no drill was run")
    parts = []
    for drill in inputs.drills:
        parts.append(f"<h3>Drill: {html.text(drill.name)}</h3>")
        journal = load_journal(drill.journal, drill.experiment)
        if isinstance(journal, Missing):
            parts.append(html.not_available(drill.unavailable or journal.reason))
            continue
        if drill.unavailable and journal.status == "passed":  # the command failed after writing it
            parts.append(html.warning(drill.unavailable))
        parts.append(_drill_table(journal))
        path = figures.drill_timeline(journal, ctx.drawn(f"drill-{drill.name}.png"))
        parts.append(html.figure(FigureRef(
            ctx.image(path), f"Timeline of {drill.name}, drawn from its journal: probe readings (top) and events (bottom). "
            "Red bar: fault active; shaded: from the fault to recovery (measured RTO); dashed line: expected RTO.",
            drill.command)))
        if journal.rollbacks:
            parts.append("<p>Rollbacks: " + html.text(", ".join(_rollback_label(r) for r in journal.rollbacks))
                         + "</p>")
    return "".join(parts)


_MEASUREMENT_LABELS = {"rto_seconds": "RTO (s)", "rpo_seconds": "RPO (s)",
                       "residency_violations": "residency violations", "detection_seconds": "detection (s)",
                       "slo_attainment_during": "SLO attainment during the fault"}


def _drill_table(journal: DrillJournal) -> str:
    """Measured against expected: the drill's own `checks` when the journal has them, else judged here."""
    m = journal.measurements
    checks = m.get("checks")
    if isinstance(checks, list) and checks and all(isinstance(c, dict) and "name" in c for c in checks):
        rows = _rows_from_checks(m, checks)
    else:
        e = journal.expect
        rows = [_judged("rto_seconds", m.get("rto_seconds"), e.rto_seconds, "<="),
                _judged("rpo_seconds", m.get("rpo_seconds"), e.rpo_seconds, "<="),
                _judged("residency_violations", m.get("residency_violations"),
                        e.residency_violations if e.residency_violations is not None else 0.0, "<="),
                _judged("slo_attainment_during", m.get("slo_attainment_during"), e.min_slo_attainment, ">=")]
    head = (f"<p>Verdict: {html.status(journal.status)} · target {html.text(journal.target or '?')} · "
            f"{html.text(journal.started_at)} → {html.text(journal.ended_at)}</p>")
    return head + html.table(["measurement", "measured", "expected", "met"], rows, "drill")


def _label(name: str) -> str:
    base, _, juris = name.partition(".")
    label = _MEASUREMENT_LABELS.get(base, base.replace("_", " "))
    return f"{label}: {juris}" if juris else label


def _shown(measured: object) -> str:
    if measured is None:
        return "—"
    if isinstance(measured, (int, float)) and not isinstance(measured, bool):
        return f"{measured:.4g}"
    return _compact(measured)


def _rows_from_checks(m: dict, checks: list[dict]) -> list[list[str]]:
    """The drill's checks, with RTO, RPO and residency always shown even when nothing was expected of them."""
    by_base: dict[str, list[dict]] = {}
    for check in checks:
        by_base.setdefault(str(check["name"]).partition(".")[0], []).append(check)
    rows = []
    for key in ("rto_seconds", "rpo_seconds", "residency_violations", *[k for k in by_base if k not in (
            "rto_seconds", "rpo_seconds", "residency_violations")]):
        for check in by_base.get(key, []):
            met = check.get("met")
            rows.append([html.text(_label(str(check["name"]))), html.text(_shown(check.get("measured"))),
                         html.text(check.get("expected", "—")),
                         html.status("ok" if met is True else "failed" if met is False else "unknown")])
        if key not in by_base:
            rows.append([html.text(_label(key)), html.text(_shown(m.get(key))), "—", "—"])
    if "slo_attainment_during" not in by_base and m.get("slo_attainment_during") not in (None, {}):
        rows.append([html.text(_label("slo_attainment_during")), html.text(_shown(m["slo_attainment_during"])),
                     "—", "—"])
    return rows


def _judged(name: str, measured: object, expected: float | dict[str, float] | None, op: str) -> list[str]:
    label, shown = html.text(_label(name)), html.text(_shown(measured))
    if expected is None:
        return [label, shown, "—", "—"]
    if isinstance(expected, dict):  # per jurisdiction; "*" means every jurisdiction
        wanted = ", ".join(f"{j} {op} {v:g}" for j, v in expected.items())
        values = measured if isinstance(measured, dict) else {}
        verdicts = [_meets(_scalar(values if j == "*" else values.get(j), op), v, op) for j, v in expected.items()]
    else:
        wanted = f"{op} {expected:g}"
        verdicts = [_meets(_scalar(measured, op), expected, op)]
    met = "unknown" if None in verdicts else ("ok" if all(verdicts) else "failed")
    return [label, shown, html.text(wanted), html.status(met)]


def _meets(value: float | None, limit: float, op: str) -> bool | None:
    if value is None:
        return None
    return value <= limit if op == "<=" else value >= limit


def _scalar(value: object, op: str) -> float | None:
    """A measurement as one number; a per-jurisdiction dict is judged by its worst entry."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        numbers = [float(v) for v in value.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            return max(numbers) if op == "<=" else min(numbers)
    return None


def _rollback_label(rollback: object) -> str:
    if isinstance(rollback, dict):
        name = rollback.get("name") or rollback.get("action") or "rollback"
        state = rollback.get("status") or rollback.get("ok")
        return f"{name} ({state})" if state is not None else str(name)
    return str(rollback)


# ---------------------------------------------------------------- reproduce


def _reproduce(inputs: ReportInputs) -> str:
    commands = [("validate the stack", inputs.validate_command), ("plan + topology diagram", inputs.plan_command)]
    commands += [(f"bench {b.name}: tables and figures", b.command) for b in inputs.benches]
    commands += [(f"drill {d.name} (journal; the report draws its timeline)", d.command) for d in inputs.drills]
    commands.append(("this whole report", inputs.generated_by))
    rows = [[html.text(what), html.code(cmd)] for what, cmd in commands if cmd]
    if not rows:
        return html.not_available("no commands were recorded")
    return ("<p>Run from the repository root (<code>scripts/meridian</code> bootstraps its own virtual "
            "environment).</p>" + html.table(["figure", "command"], rows, "reproduce"))
