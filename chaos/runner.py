"""Run an experiment against a target: hypothesis, method, stop conditions, rollbacks.

Order: steady state *before* (the method runs only if it holds) -> the method's
actions at their offsets, faults ending after their durations, stop conditions polled
every `poll_seconds` (a breach aborts) -> steady state *during* (just before the last
fault ends) -> rollbacks -> steady state *after* at the drill's end -> expectations.

Rollbacks run on success, deviation, abort, exception and SIGINT/SIGTERM unless the
strategy says otherwise (`always`, `on-failure`, `never`); every fault still active
is reverted too, whether listed or not, and a failed rollback is reported and makes
the drill `failed`. The journal is written atomically in a `finally`, so it exists
whatever happened.
"""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import structlog
from chaos.journal import Journal, PhaseResult, ProbeResult, RollbackResult, utc_now, write_atomic
from chaos.model import Action, Experiment, Probe
from chaos.targets.base import Target
from regions.errors import InputError
from regions.topology import Topology

ROLLBACK_STRATEGIES = ("always", "on-failure", "never")
log = structlog.get_logger(__name__)


class DrillInterrupted(BaseException):
    """SIGINT or SIGTERM arrived; a BaseException so target code cannot swallow it."""


@dataclass(frozen=True)
class Outcome:
    journal: Journal
    exit_code: int  # 0 passed, 1 otherwise
    reason: str
    checks: list[dict]  # expectation checks, also in the journal's measurements
    journal_error: str | None = None  # the journal could not be written (exit 1 then)


@dataclass(frozen=True)
class _Event:
    t: float
    order: int  # at equal times: during (0) < inject (1) < end (2) < poll (3)
    kind: str
    action: Action | None = None


def run(experiment: Experiment, target: Target, topology: Topology | None = None, *,
        rollback_strategy: str = "always", journal_path: str | Path | None = None,
        progress: Callable[[str], None] | None = None) -> Outcome:
    return _Run(experiment, target, topology, rollback_strategy, progress).execute(journal_path)


class _Run:
    def __init__(self, experiment: Experiment, target: Target, topology: Topology | None,
                 strategy: str, progress: Callable[[str], None] | None):
        if strategy not in ROLLBACK_STRATEGIES:
            raise ValueError(strategy)
        self.x, self.target, self.topology, self.strategy = experiment, target, topology, strategy
        self.say = progress or (lambda _msg: None)
        self.journal = Journal(experiment.title, target.name)
        self.active: dict[str, Action] = {}  # faults in effect, by name, in injection order
        self.injected: set[str] = set()
        self.rolled_back = False
        self.reason = ""
        self.t = 0.0
        self.first_fault: float | None = None
        self.unhealthy_at: float | None = None  # real targets: first poll with the hypothesis broken
        self.recovered_at: float | None = None
        self.recovery_polls = 0  # real targets: polls of the hypothesis after the first fault
        self.probe_errors: dict[str, str] = {}  # probe name -> why it last could not answer
        # True once the drill is winding down (aborting, rolling back, writing the journal):
        # a SIGINT/SIGTERM then only says so; it never cuts a rollback or the journal short
        self.stopping = False

    # --- top level -----------------------------------------------------------------------

    def execute(self, journal_path) -> Outcome:
        checks: list[dict] = []
        wall = time.monotonic()
        # every log line while the drill runs (ours, botocore's, kubernetes') names the drill
        with structlog.contextvars.bound_contextvars(drill=self.x.title, target=self.target.name):
            return self._execute(journal_path, checks, wall)

    def _execute(self, journal_path, checks: list[dict], wall: float) -> Outcome:
        # the handlers stay installed until the journal is on disk: a signal while winding
        # down is reported, never allowed to cut a rollback or the journal short
        with self._signals():
            try:
                try:
                    status = self._body()
                    if status in ("passed", "deviated") and self.injected:
                        checks = self._expectations()
                        if status == "passed" and not all(c["met"] for c in checks):
                            status = "deviated"
                            self.reason = "expectations not met: " + ", ".join(
                                c["name"] for c in checks if not c["met"])
                    self.journal.status = status
                except DrillInterrupted as sig:
                    self._abort(f"interrupted by {sig}", "aborted")
                except KeyboardInterrupt:
                    self._abort("interrupted by SIGINT", "aborted")
                except InputError as err:  # refused late (a bad trace, a protected resource)
                    summary = err.summary.removeprefix("refused: ")
                    self._abort(f"refused: {summary}", "failed")
                    if not self.injected:
                        journal_path = None  # nothing happened: nothing to journal
                    raise
                except Exception as err:  # a target or probe error: the drill failed
                    self._abort(f"{type(err).__name__}: {err}", "failed")
                finally:
                    if not self.rolled_back:
                        self._rollbacks(failing=self.journal.status != "passed")
            finally:
                self.stopping = True
                if self.injected and not checks and self.journal.status in ("aborted", "failed"):
                    checks = self._measure_after_stop()
                journal_error = self._finish(journal_path, checks, wall)
        code = 0 if self.journal.status == "passed" and journal_error is None else 1
        log.info("drill finished", status=self.journal.status, reason=self.reason or None)
        return Outcome(self.journal, code, self.reason, checks, journal_error)

    def _measure_after_stop(self) -> list[dict]:
        """An aborted or failed drill still records what was measured up to its stop (the
        status stays as it is); a target that cannot measure then is noted, not raised."""
        try:
            return self._expectations()
        except Exception as err:  # noqa: BLE001 - the drill already failed; keep the first reason
            self.journal.log(self.t, "error", "measurements", f"{type(err).__name__}: {err}")
            return []

    def _finish(self, journal_path, checks: list[dict], wall: float) -> str | None:
        """Verdict into the journal, target closed, journal written; the write's error, if any."""
        if any(r.status == "failed" for r in self.journal.rollbacks):
            self.journal.status = "failed"
            self.reason += ("; " if self.reason else "") + "a rollback failed"
        if self.active and self.strategy != "always":
            self.reason += ("; " if self.reason else "") + \
                f"faults left in place: {', '.join(self.active)}"
        self.journal.measurements["checks"] = checks
        self.journal.measurements["wall_seconds"] = round(time.monotonic() - wall, 2)
        self.journal.log(self.t, "verdict", self.journal.status, self.reason or "hypothesis held")
        self.journal.ended_at = utc_now()
        try:
            self.target.close()
        finally:
            if journal_path is not None:
                try:
                    write_atomic(self.journal, journal_path)
                except OSError as err:  # the drill happened: say so loudly, never a traceback
                    self.say(f"JOURNAL NOT WRITTEN to {journal_path}: {err}")
                    return f"{type(err).__name__}: {err}"
        return None

    def _abort(self, reason: str, status: str) -> None:
        self.stopping = True
        self.reason = reason
        self.journal.status = status
        self.journal.log(self.t, "abort" if status == "aborted" else "error", "drill", reason)
        self.say(f"[{self.t:7.1f}s] {status.upper()}: {reason}")

    def _body(self) -> str:
        x = self.x
        self.say(f"drill '{x.title}' on {self.target.name}: {len(x.method)} action(s) over "
                 f"{x.duration_seconds:g} s")
        self.target.prepare(x, self.topology)
        self.target.advance(0.0)
        before = self._phase("before")
        if not before.met:
            self.reason = "steady state did not hold before the method; the method was not run"
            return "deviated"
        for ev in self._schedule():
            self._advance(ev.t)
            if ev.kind == "inject":
                self._inject(ev.action)
            elif ev.kind == "end":
                self._end(ev.action)
            elif ev.kind == "during":
                self._phase("during")
            elif ev.kind == "poll" and not self._poll():
                return "aborted"
        self._rollbacks(failing=not self._phases_met())
        self._advance(x.duration_seconds)
        self._phase("after")
        if not self._phases_met():
            broken = [k for k, v in self.journal.steady_state.items() if v and not v.met]
            self.reason = f"steady state deviated ({', '.join(broken)})"
            return "deviated"
        return "passed"

    def _schedule(self) -> list[_Event]:
        x = self.x
        events = [_Event(x.method_end_seconds, 0, "during")]
        for a in x.method:
            events.append(_Event(a.start_seconds, 1, "inject", a))
            if a.end_seconds is not None:
                events.append(_Event(a.end_seconds, 2, "end", a))
        first = min(a.start_seconds for a in x.method)
        t = first + x.poll_seconds
        while t < x.method_end_seconds:
            events.append(_Event(t, 3, "poll"))
            t += x.poll_seconds
        return sorted(events, key=lambda e: (e.t, e.order))

    def _advance(self, t: float) -> None:
        self.target.advance(t)
        self.t = t

    # --- actions ---------------------------------------------------------------------------

    def _inject(self, a: Action) -> None:
        self.say(f"[{self.t:7.1f}s] inject {a.name} ({a.kind} {_where(a)})")
        # Counted as active *before* the call: an inject that changed something and then
        # raised (or was cut short by SIGTERM) is still reverted; targets save what to
        # restore before they change it, and revert is a no-op when nothing was saved.
        self.active[a.name] = a
        self.injected.add(a.name)
        self.first_fault = self.t if self.first_fault is None else self.first_fault
        output = self.target.inject(a)
        log.info("fault injected", action=a.name, kind=a.kind, t=self.t)
        self.journal.log(self.t, "action", a.name, output)

    def _end(self, a: Action) -> None:
        if a.name not in self.active:
            return
        self.say(f"[{self.t:7.1f}s] end {a.name} after {a.duration_seconds:g} s")
        output = self.target.revert(a)
        del self.active[a.name]
        self.journal.log(self.t, "action-end", a.name, output)

    def _rollbacks(self, *, failing: bool) -> None:
        if self.rolled_back:
            return
        # while rollbacks run a signal no longer interrupts (see _signals); afterwards, in a
        # drill that goes on to its "after" phase, Ctrl-C works again
        was_stopping, self.stopping = self.stopping, True
        try:
            self._run_rollbacks(failing)
        finally:
            self.stopping = was_stopping

    def _run_rollbacks(self, failing: bool) -> None:
        self.rolled_back = True
        if self.strategy == "never" or (self.strategy == "on-failure" and not failing):
            self.journal.log(self.t, "rollback", "skipped",
                             f"rollback strategy {self.strategy}; still active: {list(self.active)}")
            self.say(f"[{self.t:7.1f}s] rollbacks skipped ({self.strategy}); still active: "
                     f"{', '.join(self.active) or 'none'}")
            return
        listed = list(self.x.rollbacks)
        extra = [n for n in reversed(list(self.active)) if n not in listed]
        for name in listed + extra:
            why = "listed in rollbacks" if name in listed else "still active when the drill stopped"
            self.journal.rollbacks.append(self._revert(name, why))

    def _revert(self, name: str, why: str) -> RollbackResult:
        if name not in self.active:
            state = "fault already ended" if name in self.injected else "never injected"
            return RollbackResult(name, "skipped", reason=f"{why}; {state}")
        self.say(f"[{self.t:7.1f}s] rollback {name}")
        try:
            output = self.target.revert(self.active[name])
        except Exception as err:  # reported, never hidden; the other rollbacks still run
            self.say(f"[{self.t:7.1f}s] ROLLBACK FAILED {name}: {err}")
            self.journal.log(self.t, "rollback", name, {"error": str(err)})
            return RollbackResult(name, "failed", error=f"{type(err).__name__}: {err}", reason=why)
        del self.active[name]
        log.info("fault rolled back", action=name, t=self.t)
        self.journal.log(self.t, "rollback", name, output)
        return RollbackResult(name, "succeeded", output=output, reason=why)

    # --- probes ----------------------------------------------------------------------------

    def _measure(self, probe: Probe, kind: str) -> ProbeResult:
        try:
            value = self.target.probe(probe)
            output: object = value
        except Exception as err:  # a probe that cannot answer is outside tolerance
            value, output = None, {"error": f"{type(err).__name__}: {err}"}
            self.probe_errors[probe.name] = f"{type(err).__name__}: {err}"
        else:
            self.probe_errors.pop(probe.name, None)
        result = ProbeResult(probe.name, probe.kind, value, probe.tolerance.render(),
                             probe.tolerance.holds(value))
        self.journal.log(self.t, kind, probe.name, {"value": output, "within": result.within})
        return result

    def _phase(self, phase: str) -> PhaseResult:
        probes = [p for p in self.x.steady_state if phase in p.phases]
        result = PhaseResult(self.t, [self._measure(p, f"probe-{phase}") for p in probes])
        self.journal.steady_state[phase] = result
        broken = [f"{p.name}={self._shown(p.name, p.value)} (want {p.tolerance})"
                  for p in result.probes if not p.within]
        self.say(f"[{self.t:7.1f}s] steady state {phase}: " + ("held" if result.met else
                                                             "DEVIATED " + "; ".join(broken)))
        return result

    def _shown(self, name: str, value) -> str:
        """A probe's value for people: the error when it could not answer, not just 'no data'."""
        error = self.probe_errors.get(name)
        return f"no data ({error[:200]})" if value is None and error else _fmt(value)

    def _phases_met(self) -> bool:
        return all(v.met for v in self.journal.steady_state.values() if v is not None)

    def _poll(self) -> bool:
        """Stop conditions; False when one is breached. Real targets also track recovery."""
        for probe in self.x.stop_conditions:
            r = self._measure(probe, "stop-condition")
            if not r.within:
                self._abort(f"stop condition {probe.name} breached: {self._shown(probe.name, r.value)} "
                            f"(want {probe.tolerance.render()})", "aborted")
                return False
        if self.target.realtime and self.first_fault is not None:
            self.recovery_polls += 1
            held = all(self._measure(p, "probe-recovery").within
                       for p in self.x.steady_state if "during" in p.phases)
            if not held and self.unhealthy_at is None:
                self.unhealthy_at = self.t
            elif held and self.unhealthy_at is not None and self.recovered_at is None:
                self.recovered_at = self.t
        return True

    # --- measurements and expectations -----------------------------------------------------

    def _expectations(self) -> list[dict]:
        m = self.target.measurements()
        if self.target.realtime and m.rto_seconds is None and self.first_fault is not None:
            if self.recovery_polls == 0:
                pass  # never polled after the fault: not measured (never "0 s" by default)
            elif self.unhealthy_at is None:
                m.rto_seconds = 0.0  # the hypothesis never broke while polled
            elif self.recovered_at is not None:
                m.rto_seconds = self.recovered_at - self.first_fault
        self.journal.measurements.update({k: v for k, v in asdict(m).items() if k != "extra"})
        self.journal.measurements.update(m.extra)
        e = self.x.expect
        checks = []

        def at_most(name: str, measured, limit) -> None:
            if limit is not None:
                met = measured is not None and measured <= limit
                checks.append({"name": name, "expected": f"<= {limit:g}", "measured": measured, "met": met})

        at_most("rto_seconds", m.rto_seconds, e.rto_seconds)
        at_most("rpo_seconds", m.rpo_seconds, e.rpo_seconds)
        at_most("residency_violations", m.residency_violations, e.residency_violations)
        at_most("detection_seconds", m.detection_seconds, e.detection_seconds)
        for j, floor in e.min_slo_attainment_during.items():
            got = (m.slo_attainment_during.get(j) if j != "*"
                   else min(m.slo_attainment_during.values(), default=None))
            checks.append({"name": f"slo_attainment_during.{j}", "expected": f">= {floor:g}",
                           "measured": got, "met": got is not None and got >= floor})
        return checks

    # --- signals ---------------------------------------------------------------------------

    @contextmanager
    def _signals(self):
        """SIGINT/SIGTERM abort the drill (rollbacks still run); during rollbacks they wait."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, _frame):
            name = signal.Signals(signum).name
            if self.stopping:
                self.say(f"{name} received while stopping: finishing rollbacks and the journal first")
                return
            self.stopping = True
            raise DrillInterrupted(name)

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def _where(a: Action) -> str:
    p = a.params
    return p.get("region") or p.get("jurisdiction") or p.get("namespace", "") + "/" + str(
        p.get("selector") or p.get("deployment") or "")


def _fmt(value) -> str:
    return "no data" if value is None else f"{value:.4g}"
