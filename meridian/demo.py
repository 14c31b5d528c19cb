"""`meridian demo`: run the other commands in-process on the embedded defaults, then write the report.

Each step calls `meridian.cli.main([...])` with the command's documented flags, so the demo uses the
very code a user runs. A step's stdout/stderr go to `logs/<step>.log` in the report; the terminal
shows one progress line per step and a summary. A step that is missing from this build, fails or
raises is recorded and the report says what is missing; the demo then exits 1, never with a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, TextIO

from meridian import logs
from meridian.report import BenchInput, DrillInput, ReportInputs, StepRecord, render
from meridian.report.build import MARKER, publish
from regions.errors import InputError, Problem

REPO = Path(__file__).resolve().parent.parent
DRILLS = ("eu-primary-outage", "spot-reclaim-wave")
ALL_POLICIES = "hpa,kpa,skyserve,skyserve-fallback,static,oracle"
AZURE_TRACE = "azure_llm_2023/AzureLLMInferenceTrace_conv.csv"
SERVEGEN_TRACE = "alibaba_servegen/servegen_aggregate_rate_10min.csv#language/m-large"


@dataclass(frozen=True)
class BenchSpec:
    """One bench run of the demo: all policies on one shared trace, knobs tuned on that trace."""

    key: str  # names the step (bench:<key>) and its files
    title: str
    trace: str  # relative to the traces directory, `PATH[#SERIES]`
    flags: tuple[str, ...] = ()
    expected_s: float = 10.0  # fills the progress bar (measured here, load ~1); never a limit


# Sized for a 2-core machine. The Azure hour (1 s steps, 19,366 requests) is the bench's reference
# trace. The ServeGen m-large curve is a rate curve whose --days/--mean-rate the bench applies to every
# trace of a run (and refuses beyond a trace's length), so it gets its own run: its first day, scaled
# to the Azure hour's mean rate (19,366 requests in 3,502 s = 5.5 req/s, SOURCES.md), shows a diurnal
# cycle at the same fleet scale. Both tune on the trace they are judged on: hindsight, as the bench marks.
AZURE_HOUR = BenchSpec("azure-hour", "Azure LLM conversations, one hour", AZURE_TRACE, expected_s=6.0)
SERVEGEN_DAY = BenchSpec("servegen-day", "ServeGen language/m-large, first day at 5.5 req/s", SERVEGEN_TRACE,
                         ("--days", "1", "--mean-rate", "5.5"), expected_s=25.0)


@dataclass(frozen=True)
class Setting:
    """How big a run is: the bench runs, and extra drill flags."""

    benches: tuple[BenchSpec, ...]
    drill_flags: tuple[str, ...] = ()
    expected_drill_s: float = 3.0


FULL = Setting(benches=(AZURE_HOUR, SERVEGEN_DAY))
QUICK = Setting(benches=(AZURE_HOUR,))


@dataclass(frozen=True)
class Step:
    key: str  # "validate", "plan", "bench:<key>" or "drill:<name>"
    argv: tuple[str, ...]  # arguments of `meridian`
    expected_s: float = 5.0  # fills the progress bar; a guess, never a limit
    unavailable: str = ""  # set when the step cannot run at all (e.g. traces not found)
    outputs: tuple[Path, ...] = ()  # files/dirs the command writes; their parent directories are made first


@dataclass(frozen=True)
class DemoPlan:
    stack: Path
    work: Path  # the staging report directory
    plan_json: Path
    diagram: Path
    benches: tuple[tuple[BenchSpec, Path, Path], ...]  # (spec, JSON, plot directory)
    drills: tuple[tuple[str, Path, Path], ...]  # (name, experiment YAML, journal)
    steps: tuple[Step, ...]


@dataclass
class StepRun:
    record: StepRecord
    output: str = ""  # everything the command printed


Runner = Callable[[list[str]], int]


def bench_policies() -> str:
    """Every policy the bench knows (baselines, oracle and meridian's own law once registered)."""
    try:
        from sim.policies import REGISTRY
    except Exception:  # noqa: BLE001 - twin absent or broken: the bench step itself reports why
        return ALL_POLICIES
    return ",".join(REGISTRY)


def traces_dir() -> Path:
    """Shared traces live next to the checkout (DESIGN: `<repo root>/../shared/traces`)."""
    return REPO / ".." / "shared" / "traces"


def default_plan(work: Path, quick: bool) -> DemoPlan:
    setting = QUICK if quick else FULL
    art = work / "artifacts"
    stack = REPO / "Pulumi.dev.yaml"
    plan_json, diagram = art / "plan.json", art / "topology.svg"
    steps = [
        Step("validate", ("validate", str(stack)), 2.0),
        Step("plan", ("plan", str(stack), "--json", str(plan_json), "--diagram", str(diagram)), 6.0,
             outputs=(plan_json, diagram)),
    ]
    traces, policies = traces_dir(), bench_policies()
    benches = []
    for spec in setting.benches:
        bench_json, plots = art / f"bench-{spec.key}.json", art / "bench-plots" / spec.key
        benches.append((spec, bench_json, plots))
        trace = str(traces / spec.trace)
        missing = not (traces / spec.trace.split("#")[0]).is_file()
        steps.append(Step(f"bench:{spec.key}", ("bench", "--trace", trace, "--tune-on", trace, "--policies", policies,
                                                *spec.flags, "--json", str(bench_json), "--plot", str(plots)),
                          spec.expected_s, f"the shared trace {spec.trace} is not in {traces} "
                          "(see ../shared/traces/SOURCES.md)" if missing else "", outputs=(bench_json, plots)))
    drills = []
    for name in DRILLS:
        experiment = REPO / "chaos" / "drills" / f"{name}.yaml"
        journal = art / "drills" / f"{name}.json"
        drills.append((name, experiment, journal))
        steps.append(Step(f"drill:{name}", ("drill", "run", str(experiment), *setting.drill_flags,
                                            "--journal", str(journal)), setting.expected_drill_s,
                          "" if experiment.is_file() else f"the drill file chaos/drills/{name}.yaml is not in this build",
                          outputs=(journal,)))
    return DemoPlan(stack, work, plan_json, diagram, tuple(benches), tuple(drills), tuple(steps))


# ---------------------------------------------------------------- running one step


def available_commands() -> set[str]:
    from meridian import cli

    parser = cli.build_parser()
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _cli_main(argv: list[str]) -> int:
    from meridian import cli

    return cli.main(argv)


class _Capture(io.TextIOBase):
    """Writes a step's output to its log and remembers the last line, for the progress display."""

    def __init__(self, log: TextIO):
        self._log = log
        self._text = io.StringIO()
        self.last_line = ""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self._log.write(s)
        self._text.write(s)
        tail = [seg.strip() for seg in s.replace("\r", "\n").split("\n") if seg.strip()]
        if tail:
            self.last_line = tail[-1]
        return len(s)

    def flush(self) -> None:
        if not self._log.closed:
            self._log.flush()

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        return self._text.getvalue()


@contextlib.contextmanager
def _logging_to(stream: TextIO):
    """Point the root logger's stream handlers (structlog's included) at `stream` for a while."""
    root = logging.getLogger()
    handlers = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.stream for h in handlers]
    for handler in handlers:
        handler.setStream(stream)
    try:
        yield
    finally:
        for handler, old in zip(handlers, previous):
            handler.setStream(old)
        for handler in root.handlers:  # configured during the step: must not keep the closed capture
            if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
                handler.setStream(sys.__stderr__)


def run_step(step: Step, log_path: Path, runner: Runner, progress: "Progress") -> StepRun:
    command = step.argv[0] if step.argv else ""
    if step.unavailable:
        progress.done("missing", 0.0)
        return StepRun(StepRecord(step.key, "missing", 0.0, step.unavailable))
    if runner is _cli_main and command not in available_commands():
        detail = f"`meridian {command}` is not in this build yet"
        progress.done("missing", 0.0)
        return StepRun(StepRecord(step.key, "missing", 0.0, detail))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for output in step.outputs:
        output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        capture = _Capture(log)
        progress.follow(capture)
        status, detail = "ok", ""
        try:
            with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(capture), _logging_to(capture):
                rc = runner(list(step.argv))
        except SystemExit as exc:  # argparse and sys.exit() inside a command
            rc = exc.code if isinstance(exc.code, int) else 2
        except KeyboardInterrupt:
            progress.done("interrupted", time.monotonic() - started)
            raise
        except Exception as exc:  # a bug in another command must not crash the demo
            log.write("\n" + traceback.format_exc())
            rc, status = None, "failed"
            detail = f"raised {type(exc).__name__}: {exc}"
        if rc not in (0, None):
            status = "failed"
            last = _last_meaningful_line(capture.text())
            detail = f"exit {rc}" + (f": {last}" if last else "")
    seconds = time.monotonic() - started
    progress.done(status, seconds)
    return StepRun(StepRecord(step.key, status, seconds, detail), capture.text())


def _last_meaningful_line(text: str) -> str:
    lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith(("error", "fail", "refused"))]
    line = (errors or lines or [""])[-1]
    return line if len(line) <= 160 else line[:157] + "..."


# ---------------------------------------------------------------- progress


class Progress:
    """One line per step on stderr: a bar filled by elapsed/expected time plus the step's latest output.

    On a terminal the line is redrawn twice a second; otherwise a line after the first second, a
    heartbeat every 15 s and an end line, so logs stay readable.
    """

    def __init__(self, stream: TextIO, total: int):
        self.stream, self.total = stream, total
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._index, self._label, self._expected = 0, "", 1.0
        self._capture: _Capture | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def start(self, label: str, expected_s: float) -> None:
        self._index += 1
        self._label, self._expected, self._capture = label, max(expected_s, 0.5), None
        self._started = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def follow(self, capture: _Capture) -> None:
        self._capture = capture

    def done(self, status: str, seconds: float) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        line = f"[{self._index}/{self.total}] {self._label:<26} {status:<8} {seconds:6.1f} s"
        if self.tty:
            self.stream.write("\r\033[K" + line + "\n")
            self.stream.flush()
        else:
            self._print(line)

    def _tick(self) -> None:
        next_beat = 1.0  # steps shorter than a second show only their end line
        while not self._stop.wait(0.5):
            elapsed = time.monotonic() - self._started
            if self.tty:
                self._redraw(elapsed)
            elif elapsed >= next_beat:
                next_beat = elapsed + 15
                tail = self._capture.last_line if self._capture else ""
                self._print(f"[{self._index}/{self.total}] {self._label} ... {elapsed:.0f} s  {tail}"[:160])

    def _redraw(self, elapsed: float) -> None:
        width = 24
        filled = min(int(width * elapsed / self._expected), width - 1)
        bar = "█" * filled + "░" * (width - filled)
        tail = self._capture.last_line if self._capture else ""
        cols = shutil.get_terminal_size((100, 20)).columns
        line = f"[{self._index}/{self.total}] {self._label:<26} {bar} {elapsed:5.0f} s  {tail}"
        self.stream.write("\r\033[K" + line[: cols - 1])
        self.stream.flush()

    def _print(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


# ---------------------------------------------------------------- the whole demo


@dataclass
class DemoResult:
    index: Path
    steps: list[StepRecord] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.steps)


def check_out_dir(out: Path) -> None:
    """Refuse to replace a directory this demo did not write."""
    if out.exists() and not (out.is_dir() and ((out / MARKER).exists() or not any(out.iterdir()))):
        raise InputError(f"--out {out}: exists and is not a meridian report", [Problem(
            "--out", f"{out} already holds other files; the demo replaces its output directory as a whole",
            "choose a new directory (it is created) or remove this one")])


def run_demo(out: Path, quick: bool = False, *, stderr: TextIO | None = None,
             plan_factory: Callable[[Path, bool], DemoPlan] = default_plan,
             runner: Runner = _cli_main, display_out: str | None = None) -> DemoResult:
    stderr = stderr or sys.stderr
    logs.configure("WARNING")  # before any step, so no step's captured stream becomes the log handler's
    out = Path(out)
    check_out_dir(out)
    started = time.monotonic()
    try:
        if out.exists() and not (out / MARKER).exists():
            out.rmdir()  # empty: publish() renames onto it
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as err:
        raise InputError(f"--out {out}: cannot write the report there", [Problem(
            "--out", f"{err.strerror or err}: {err.filename or out}",
            "choose a directory you can write to, e.g. --out ./meridian-report")]) from None
    try:
        plan = plan_factory(work, quick)
        shown = _Display(work, display_out or str(out))
        progress = Progress(stderr, len(plan.steps) + 1)
        runs: dict[str, StepRun] = {}
        for step in plan.steps:
            progress.start(step.key, step.expected_s)
            log = work / "logs" / f"{step.key.replace(':', '-')}.log"
            run = run_step(step, log, runner, progress)
            record = replace(run.record, command=shown.command(step.argv),
                             log=log.relative_to(work).as_posix() if log.exists() else "")
            runs[step.key] = StepRun(record, run.output)
        progress.start("report", 3.0)
        t0 = time.monotonic()
        inputs = _report_inputs(plan, runs, shown, quick)
        render(inputs, work)
        progress.done("ok", time.monotonic() - t0)
        index = publish(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return DemoResult(index, [r.record for r in runs.values()], time.monotonic() - started)


class _Display:
    """Commands as a user would type them: repo-relative inputs, outputs under the --out directory."""

    def __init__(self, work: Path, out: str):
        self.work, self.out = str(work), out.rstrip("/") or "."

    def arg(self, value: str) -> str:
        if value.startswith(self.work):
            return self.out + value[len(self.work):]
        if os.path.isabs(value.split("#")[0]):
            return os.path.relpath(value, REPO)
        return value

    def command(self, argv: tuple[str, ...]) -> str:
        return "scripts/meridian " + " ".join(self.arg(a) for a in argv)


def _report_inputs(plan: DemoPlan, runs: dict[str, StepRun], shown: _Display, quick: bool) -> ReportInputs:
    def why(key: str) -> str:
        run = runs.get(key)
        if run is None or run.record.status == "ok":
            return ""
        rec = run.record
        log = f" (log: {rec.log})" if rec.log else ""
        return f"{rec.name} {rec.status}: {rec.detail}{log}"

    def command(key: str) -> str:
        return runs[key].record.command if key in runs else ""

    validate = runs.get("validate")
    ran_validate = validate is not None and validate.record.status in ("ok", "failed")
    drills = tuple(DrillInput(name, journal, experiment, command(f"drill:{name}"), why(f"drill:{name}"))
                   for name, experiment, journal in plan.drills)
    return ReportInputs(
        title="meridian demo report" + (" (quick)" if quick else ""),
        stack=os.path.relpath(plan.stack, REPO),
        validate_output=validate.output.replace(f"{REPO}{os.sep}", "") if ran_validate else None,
        validate_command=command("validate"), validate_unavailable=why("validate"),
        plan_json=plan.plan_json, diagram=plan.diagram, plan_command=command("plan"),
        plan_unavailable=why("plan"),
        benches=tuple(BenchInput(spec.title, bench_json, plots, command(f"bench:{spec.key}"), why(f"bench:{spec.key}"))
                      for spec, bench_json, plots in plan.benches),
        drills=drills, steps=tuple(r.record for r in runs.values()),
        generated_by=f"scripts/meridian demo --out {shown.out}" + (" --quick" if quick else ""),
    )


def print_summary(result: DemoResult, stream: TextIO) -> None:
    failed = [s for s in result.steps if s.status != "ok"]
    stream.write(f"\nmeridian demo finished in {result.seconds:.0f} s: "
                 f"{len(result.steps) - len(failed)}/{len(result.steps)} steps ok, report written\n")
    for step in failed:
        stream.write(f"  {step.name}: {step.status} — {step.detail}\n")
    stream.write(f"report: {result.index.resolve()}\n")
    stream.flush()
