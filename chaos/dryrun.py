"""`--dry-run`: walk the drill's schedule and print what would happen, changing nothing.

Real targets built with `dry_run=True` print every API call instead of making it
(reads included, so no credentials are needed); the sim target is not started.
"""
from __future__ import annotations

from typing import Callable

from chaos.model import Experiment
from chaos.targets.base import Target
from regions.topology import Topology


def plan(experiment: Experiment, target: Target | None, topology: Topology | None,
         say: Callable[[str], None], rollback_strategy: str = "always") -> None:
    x = experiment
    say(f"DRY RUN of '{x.title}' on {x.target}: nothing will be changed")
    if target is not None:
        target.prepare(x, topology)

    def probes(label: str, items) -> None:
        for p in items:
            say(f"  probe {label}: {p.name} ({p.kind} {p.params or ''}) tolerance {p.tolerance.render()}")
            if target is not None:
                target.probe(p)

    probes("before", [p for p in x.steady_state if "before" in p.phases])
    events = sorted([(a.start_seconds, 1, "inject", a) for a in x.method] +
                    [(a.end_seconds, 2, "end", a) for a in x.method if a.end_seconds is not None] +
                    [(x.method_end_seconds, 0, "during", None)], key=lambda e: (e[0], e[1]))
    active: list[str] = []  # as the runner tracks them, so the same reverts are printed
    for t, _, kind, a in events:
        if kind == "during":
            say(f"[{t:7.1f}s] steady state during; stop conditions polled every {x.poll_seconds:g} s:")
            probes("stop", x.stop_conditions)
            probes("during", [p for p in x.steady_state if "during" in p.phases])
        elif kind == "inject":
            say(f"[{t:7.1f}s] inject {a.name}: {a.kind} {a.params}")
            active.append(a.name)
            if target is not None:
                target.inject(a)
        else:
            say(f"[{t:7.1f}s] end {a.name}")
            active.remove(a.name)
            if target is not None:
                target.revert(a)
    if rollback_strategy == "never":
        say(f"  rollbacks skipped (--rollback-strategy never); left in place: {', '.join(active) or 'none'}")
    else:
        if rollback_strategy == "on-failure":
            say("  rollbacks (only if the drill deviates, aborts or fails):")
        # the runner's order: the listed rollbacks, then every fault still active, last first
        listed = list(x.rollbacks)
        for name in listed + [n for n in reversed(active) if n not in listed]:
            if name not in active:
                say(f"  rollback {name}: nothing to do (the fault ended on schedule)")
                continue
            say(f"  rollback {name}" + ("" if name in listed else " (still active at the end)"))
            active.remove(name)
            if target is not None:
                target.revert(x.action(name))
    say(f"[{x.duration_seconds:7.1f}s] steady state after:")
    probes("after", [p for p in x.steady_state if "after" in p.phases])
    if target is not None:
        target.close()
