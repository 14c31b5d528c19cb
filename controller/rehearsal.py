"""Closed-loop rehearsal: the digital twin plays the cluster, `meridian controller run` drives it.

Every boundary is the real one the controller meets in a cluster, over HTTP:
- the twin's replicas serve a vLLM-style `/metrics` (`vllm_metrics.VllmMetrics`): each twin
  step, the requests it admitted are recorded with that step's TTFT and end-to-end latency,
  and the running/waiting gauges are set from its queue;
- a real Prometheus (`prom_process`) scrapes it;
- the target Deployment lives in the Kubernetes API stand-in (`standin.ApiStandIn`): the twin
  writes its ready/starting replicas into the Deployment status and obeys `spec.replicas`,
  which only the controller changes, through the scale subresource;
- the controller is a separate process: `python -m meridian controller run --api-server …
  --prometheus-url … --time-scale SPEED`.

Time is compressed SPEED times: the twin is paced to the wall clock, the controller's sync
interval and the PromQL window are divided by SPEED, and the controller's policy clock runs
SPEED times faster. So that `rate()` per wall second equals the twin's requests per twin
second, one request in SPEED is exported (quantiles and gauges are unaffected).

What the twin is: `sim.fleet` (cold starts, batch slots, prefill/decode speed, per-second
billing). Its per-step TTFT is the twin's own live approximation (see `sim.observe`).

Spot (`spot_share` > 0): a second Deployment, TARGET-spot, is the scaler's
`targetRef.spotName`, and the twin runs spot capacity ("spot-mix"): its on-demand replicas
follow the target's spec.replicas and its spot replicas the spot Deployment's, and each
Deployment's status carries its own capacity type's ready and starting replicas. Both start as
on an adopting cluster: every replica on demand, the spot Deployment at 0. Random spot
interruptions are off; `reclaim_at_min` sends `reclaim_share` of the ready spot replicas the
two-minute interruption notice (`sim.scenario.SpotReclaim`): they drain at once (not ready, as
on a node a termination handler drains) and are reclaimed when it ends, their replacements start
at once, and the law covers the spot not ready with on-demand.

Model rollout (`rollout_at_min`): at that twin minute the twin swaps its model
(`sim.scenario.ModelSwap`, region-wide in one step) for one with `rollout_batch_slots` and
`rollout_decode_factor` (the chaos action `model_rollout`'s `batch_slots` and
`decode_speed_factor`), and in the same step the bridge changes the Deployments' pod template
(the vLLM container's `--model` and `--max-num-seqs` args), as `kubectl set image` would: the
controller sees a new revision at its next sync, and nothing else tells it the model changed.
"""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from controller.law.types import Decision, Limits, Objective, Observation
from controller.prom_process import PrometheusProcess
from controller.standin import ApiStandIn
from controller.vllm_metrics import VllmMetrics
from regions.errors import InputError, Problem

NS, TARGET, SCALER = "rehearsal", "twin-vllm", "twin"
SPOT_TARGET = f"{TARGET}-spot"


@dataclass(frozen=True)
class RehearsalConfig:
    trace: str | None = None  # sim.traces spec; None: the default shared trace
    start_s: float = 0.0  # where in the trace to begin
    minutes: float = 10.0  # twin minutes to play
    speed: float = 10.0  # twin seconds per wall second
    rate_scale: float = 4.0  # multiply the trace's request rate (more replicas to move)
    objective: Objective = Objective(percentile=95.0, ttft_s=2.0)
    min_replicas: int = 1
    max_replicas: int = 40
    initial_replicas: int | None = None  # None: enough for the first minute at 70 % of slots
    policy: str = "meridian"
    knob: float | None = None
    instance_type: str | None = None
    sync_interval_s: float = 15.0  # twin seconds
    scrape_interval_s: float = 5.0  # twin seconds
    window_s: float = 60.0  # twin seconds of rate()/quantile window
    seed: int = 0
    spot_share: float = 0.0  # > 0: split over TARGET and SPOT_TARGET (targetRef.spotName)
    reclaim_at_min: float | None = None  # twin minute of a spot reclaim (needs spot_share > 0)
    reclaim_share: float = 0.5  # of the ready spot replicas, how many the reclaim interrupts
    rollout_at_min: float | None = None  # twin minute of a model rollout
    rollout_batch_slots: int | None = None  # the new model's batch slots (None: the old model's)
    rollout_decode_factor: float | None = None  # its decode speed relative to the old model's


# The rollout flags in the chaos action model_rollout's vocabulary (chaos/catalog.py)
ROLLOUT_FLAGS = {"--rollout-batch-slots": "batch_slots", "--rollout-decode-factor": "decode_speed_factor"}


def spot_problems(spot_share: float, reclaim_at_min: float | None, reclaim_share: float,
                  minutes: float, notice_s: float) -> list[Problem]:
    """What is wrong with the spot settings (flag names as `meridian controller rehearse` has them)."""
    out = []
    if not 0 <= spot_share <= 1:
        out.append(Problem("--spot-share", f"{spot_share:g} is outside (0, 1]",
                           "the share of replicas on the spot Deployment, e.g. 0.5"))
    if reclaim_at_min is None:
        return out
    if spot_share <= 0:
        out.append(Problem("--reclaim-at", "a reclaim needs spot replicas", "add --spot-share, e.g. 0.5"))
    last = minutes - notice_s / 60.0  # the reclaimed instances must go within the run
    if reclaim_at_min < 0:
        out.append(Problem("--reclaim-at", f"minute {reclaim_at_min:g} is before the run", "a twin minute >= 0"))
    elif reclaim_at_min >= last:
        out.append(Problem("--reclaim-at", f"minute {reclaim_at_min:g} is not before minute {last:g}: the reclaimed "
                           f"instances go {notice_s:g} s after the notice, which must fall within the "
                           f"{minutes:g} minutes played",
                           f"reclaim earlier, or play longer (--minutes {reclaim_at_min + notice_s / 60.0 + 1:g})"))
    if not 0 < reclaim_share <= 1:
        out.append(Problem("--reclaim-share", f"{reclaim_share:g} is outside (0, 1]",
                           "the share of ready spot replicas interrupted, e.g. 0.5"))
    return out


def rollout_changes(cfg: RehearsalConfig) -> dict[str, float]:
    """The new model as a model_rollout's parameters: only what the flags change."""
    given = {"batch_slots": cfg.rollout_batch_slots, "decode_speed_factor": cfg.rollout_decode_factor}
    return {key: value for key, value in given.items() if value is not None}


def rollout_problems(at_min: float | None, changes: dict[str, float], minutes: float, current) -> list[Problem]:
    """What is wrong with the rollout settings: when it happens, and that the new model is a
    valid model_rollout (the chaos catalog's bounds) other than `current` (a GpuProfile)."""
    from chaos.catalog import ACTIONS
    from chaos.targets.sim import rollout_profile

    flag_of = {key: flag for flag, key in ROLLOUT_FLAGS.items()}
    if at_min is None:
        return [Problem(flag_of[key], "means nothing without --rollout-at", "add --rollout-at MINUTE")
                for key in changes]
    out = []
    if not 0 < at_min < minutes:
        out.append(Problem("--rollout-at", f"minute {at_min:g} is not within the {minutes:g} minutes played",
                           f"a twin minute after the start and before the end, e.g. {minutes / 2:g}"))
    if not changes:
        out.append(Problem("--rollout-at", "names no new model", "add --rollout-batch-slots N and/or "
                           "--rollout-decode-factor F (e.g. --rollout-batch-slots 16)"))
    params = ACTIONS["model_rollout"].params
    for key, value in changes.items():
        bad = params[key].range_problem(value)
        if bad:
            out.append(Problem(flag_of[key], bad, f"{flag_of[key]} is the {params[key].doc}"))
    if changes and not out and rollout_profile(current, changes) == current:
        out.append(Problem("/".join(flag_of[key] for key in changes), "the new model is the current one "
                           f"({current.batch_slots} batch slots, decode x1)", "change the slots or the speed"))
    return out


@dataclass(frozen=True)
class Sample:
    """One twin step as the bridge saw it: the twin's replicas by capacity type, and the
    Deployments' spec.replicas the controller had set (spot: 0 without a spot Deployment)."""

    time_s: float
    ready_od: int
    start_od: int
    ready_spot: int  # serving: a replica under interruption notice drains, and is not ready
    start_spot: int
    noticed_spot: int  # spot replicas under interruption notice, draining until reclaimed
    spec_od: int
    spec_spot: int

    @property
    def spec_total(self) -> int:
        return self.spec_od + self.spec_spot


@dataclass(frozen=True)
class Reclaim:
    """What a spot reclaim did, from the bridge's samples."""

    notice_s: float  # twin time of the notice
    reclaimed: int  # spot replicas that got it
    stopped_s: float | None  # when they stopped serving: drained at the notice (None: not within the run)
    od_before: int  # the target's spec.replicas when they stopped
    od_peak: int  # its highest spec.replicas within COVER_WINDOW_S after
    od_rose_s: float | None  # when it first rose above od_before (None: not within COVER_WINDOW_S)

    def text(self) -> str:
        if self.reclaimed == 0:
            return f"spot reclaim at {_clock(self.notice_s)}: no ready spot replica to interrupt"
        head = f"spot reclaim at {_clock(self.notice_s)}: {self.reclaimed} spot replicas got the notice"
        if self.stopped_s is None:
            return head + "; the run ended before they drained"
        rose = (f"rose from {self.od_before} to {self.od_peak} at {_clock(self.od_rose_s)}"
                if self.od_rose_s is not None else f"stayed at {self.od_before}")
        return (f"{head} and drained (stopped serving) at {_clock(self.stopped_s)}; on-demand spec.replicas "
                f"{rose} (within {COVER_WINDOW_S:g} s)")


COVER_WINDOW_S = 60.0  # twin seconds after the reclaimed spot stops in which on-demand cover is looked for


@dataclass(frozen=True)
class Decided:
    """One decision of the controller: the twin time the bridge saw it in the scaler's status,
    its message, and the revision of the observation it was made from (the controller's log)."""

    time_s: float
    message: str
    revision: str | None


@dataclass(frozen=True)
class Rollout:
    """What a model rollout did, from the bridge's samples and the controller's decisions."""

    at_s: float  # twin time of the swap
    old: object  # GpuProfile before…
    new: object  # …and after
    template_changed_s: float | None  # when the pod template changed (None: not within the run)
    spec_before: int  # spec.replicas (both Deployments) just before the rollout
    first_move: tuple[float, int] | None  # the first change of spec.replicas after it: (twin time, value)
    spec_end: int
    before: Decided | None  # the controller's last decision by its policy before the rollout…
    first_new: Decided | None  # …its first on another revision after it…
    last: Decided | None  # …and its last in the run

    def text(self) -> str:
        old, new = self.old, self.new
        head = f"model rollout at {_clock(self.at_s)}: batch slots {old.batch_slots} -> {new.batch_slots}"
        if new.decode_tokens_per_s_batch1 != old.decode_tokens_per_s_batch1:
            head += (f", decode {old.decode_tokens_per_s_batch1:.3g} -> {new.decode_tokens_per_s_batch1:.3g} "
                     "tok/s at batch 1")
        if self.template_changed_s is None:
            return head + "; the pod template did not change within the run"
        moved = (f"first to {self.first_move[1]} at {_clock(self.first_move[0])}, {self.spec_end} at the end"
                 if self.first_move is not None else "unchanged to the end")
        seen = (f"the controller decided on revision {self.first_new.revision} from {_clock(self.first_new.time_s)}"
                if self.first_new is not None else "the controller never decided on a new revision")
        return (f"{head}; pod template changed at {_clock(self.template_changed_s)}\n  {seen} (before: "
                f"{_revision(self.before)}); spec.replicas {self.spec_before} before, {moved}\n  per replica it "
                f"planned {_planned(self.before)} before, {_planned(self.last)} at the end")


def _revision(d: Decided | None) -> str:
    return (d.revision or "none") if d is not None else "no decision"


def _planned(d: Decided | None) -> str:
    return (planned_per_replica(d.message) or "-") if d is not None else "-"


PLANNED = re.compile(r"per replica (<= [0-9.]+ in flight \(\w+\))")  # the meridian law's decision reason


def planned_per_replica(message: str) -> str | None:
    """'<= N in flight (slots|probe)' from a decision message; None for a policy that does not say."""
    found = PLANNED.search(message)
    return found.group(1) if found else None


def _clock(twin_s: float) -> str:
    return f"{int(twin_s // 60)}:{int(twin_s % 60):02d}"


@dataclass
class MinuteRow:
    minute: int
    arrival_rps: float
    replicas_mean: float
    ready_mean: float
    desired_end: int
    ttft_pq_s: float | None
    attainment: float | None
    od_mean: float | None = None  # spot mode: on-demand replicas (ready + starting)
    spot_mean: float | None = None  # spot mode: spot replicas (ready + starting)
    spot_ready_mean: float | None = None


@dataclass
class RehearsalResult:
    requests: float
    attainment: float  # share of requests whose TTFT met the objective
    ttft_pq_s: float  # TTFT at the objective's percentile, whole run
    cost_usd: float
    scale_patches: int  # scale-subresource patches the controller made
    status_writes: int
    replicas_min: int
    replicas_max: int
    rows: list[MinuteRow] = field(default_factory=list)
    controller_exit: int | None = None
    controller_log: str = ""
    samples: list[Sample] = field(default_factory=list)  # every twin step
    spot_patches: int = 0  # of scale_patches, on the spot Deployment
    reclaim: Reclaim | None = None
    rollout: Rollout | None = None
    decisions: list[Decided] = field(default_factory=list)

    def table(self, objective: Objective) -> str:
        pct = f"p{objective.percentile:g}"
        spot = any(r.od_mean is not None for r in self.rows)
        split = f" {'on-dem':>7} {'spot':>5} {'spot rdy':>8}" if spot else ""
        lines = [f"{'min':>4} {'req/s':>7} {'replicas':>9} {'ready':>6}{split} {'desired':>8} {pct + ' TTFT':>10} "
                 f"{'met':>6}"]
        for r in self.rows:
            t = f"{r.ttft_pq_s:.2f}s" if r.ttft_pq_s is not None else "-"
            a = f"{r.attainment:.0%}" if r.attainment is not None else "-"
            split = f" {r.od_mean:>7.1f} {r.spot_mean:>5.1f} {r.spot_ready_mean:>8.1f}" if spot else ""
            lines.append(f"{r.minute:>4} {r.arrival_rps:>7.2f} {r.replicas_mean:>9.1f} {r.ready_mean:>6.1f}{split} "
                         f"{r.desired_end:>8} {t:>10} {a:>6}")
        lines += [event.text() for event in (self.reclaim, self.rollout) if event is not None]
        spot_note = f" ({self.spot_patches} on the spot Deployment)" if spot else ""
        lines.append(f"{self.requests:,.0f} requests; {self.attainment:.1%} met TTFT <= {objective.ttft_s:g}s; "
                     f"{pct} TTFT {self.ttft_pq_s:.2f}s; replicas {self.replicas_min}..{self.replicas_max}; "
                     f"{self.scale_patches} scale patches{spot_note} and {self.status_writes} status writes by the "
                     f"controller; twin cost ${self.cost_usd:.2f}")
        return "\n".join(lines)


class TwinBridge:
    """Stands in the twin's policy slot, called every twin step: exports the step's metrics,
    publishes the Deployment status, waits for the wall clock, and returns whatever replica
    count the controller last patched into the Deployment."""

    name = "meridian-controller-over-http"
    uses_latency = False  # the bridge computes its own per-step latency figures

    def __init__(self, api: ApiStandIn, exporter: VllmMetrics, cfg: RehearsalConfig, step_s: float, revision: str):
        self.api, self.exporter, self.cfg = api, exporter, cfg
        self.interval_s = step_s
        self.scrape_interval_s = step_s
        self.dt = step_s
        self.fleet = None  # set once the Fleet exists
        self.wall0: float | None = None
        self.exported_to = 0  # steps already exported
        self.carry = 0.0
        self.level = 0.0  # position in the prompt-length quantile levels (see _export)
        self.samples: list[Sample] = []
        self.revision = revision  # the twin model the pod templates describe
        self.template_changes: list[float] = []  # twin times
        self.decisions: list[tuple[float, str]] = []
        self._scaler_version: str | None = None

    def decide(self, obs: Observation) -> Decision:
        """Each Deployment's status from its own capacity type (one Deployment: the whole
        fleet); the Decision from their spec.replicas: the sum, of which the spot one's on spot."""
        r = self.fleet.regions[0]
        s = int(round(obs.time_s / self.dt))
        self._follow_model(r.profile, obs)
        self._export(r, s)
        split = self.cfg.spot_share > 0
        # a spot replica under interruption notice is draining: its pod is terminating, which a
        # Deployment's status counts neither as ready nor among its replicas (sim/fleet.py)
        if split:
            self.api.set_deployment_status(NS, TARGET, replicas=r.ready_od + r.start_od, ready=r.ready_od)
            self.api.set_deployment_status(NS, SPOT_TARGET, replicas=r.serving_spot + r.start_spot,
                                           ready=r.serving_spot)
        else:
            self.api.set_deployment_status(NS, TARGET, replicas=r.serving + r.start_od + r.start_spot, ready=r.serving)
        self._pace(obs.time_s)
        od = int(self.api.get("Deployment", NS, TARGET)["spec"]["replicas"])
        spot = int(self.api.get("Deployment", NS, SPOT_TARGET)["spec"]["replicas"]) if split else 0
        self.samples.append(Sample(obs.time_s, r.ready_od, r.start_od, r.serving_spot, r.start_spot, len(r.doomed),
                                   od, spot))
        self._note_decision(obs.time_s)
        return Decision(replicas=od + spot, spot=spot,
                        reason="set by meridian controller run via the scale subresource")

    def _follow_model(self, profile, obs: Observation) -> None:
        """A model swap in the twin is a rollout in the cluster: the pod template changes in
        the same step (its revision is the twin's model's fingerprint)."""
        if obs.revision == self.revision:
            return
        self.revision = obs.revision
        for name in deployments(self.cfg):
            self.api.patch_pod_template(NS, name, model_template(profile))
        self.template_changes.append(obs.time_s)

    def _note_decision(self, twin_s: float) -> None:
        """The scaler's status.lastDecision, each time the controller writes it, at twin time
        (its own timestamp has whole wall seconds: several syncs at a high speed)."""
        scaler = self.api.get("InferenceScaler", NS, SCALER) or {}
        version = scaler.get("metadata", {}).get("resourceVersion")
        last = (scaler.get("status") or {}).get("lastDecision")
        if last and version != self._scaler_version:
            self._scaler_version = version
            self.decisions.append((twin_s, last.get("message", "")))

    def _pace(self, twin_s: float) -> None:
        now = time.monotonic()
        if self.wall0 is None:
            self.wall0 = now - twin_s / self.cfg.speed
        delay = self.wall0 + twin_s / self.cfg.speed - now
        if delay > 0:
            time.sleep(delay)

    def _export(self, r, s: int) -> None:
        q, dt = r.queue, self.dt
        batch = []
        for i in range(self.exported_to, min(s + 1, len(q.admitted))):
            a = q.admitted[i]
            if a <= 1e-9:
                continue
            prof = _profile_at(r.profiles, i)
            occ = q.occupancy[i]
            wait = q.wait_sum[i] / a * dt + r.lat[i]
            arrived = r.arr[i]
            mean_out = r.osum[i] / arrived if arrived > 0 else 0.0
            mean_in = r.psum[i] / arrived if arrived > 0 else 0.0
            self.carry += a / self.cfg.speed
            n = int(self.carry)
            self.carry -= n
            sketch = r.pq[i]  # the step's prompt lengths at equally likely quantiles (sim/fleet.py)
            for _ in range(n):
                # walk the quantile levels with the golden-ratio stride: every level is visited
                # evenly even when each step exports only one or two requests
                self.level = (self.level + 0.6180339887) % 1.0
                ttft = wait + prof.prefill_s(sketch[int(self.level * len(sketch))], occ)
                batch.append((ttft, ttft + mean_out * prof.tpot_s(occ), int(mean_in), int(mean_out)))
        self.exported_to = max(self.exported_to, s + 1)
        self.exporter.record_many(batch, running=q.busy, waiting=q.queued)


def _profile_at(profiles, step: int):
    """The model that served `step`, from the fleet's (first step, profile) list in time order."""
    return next(p for first, p in reversed(profiles) if first <= step)


def deployments(cfg: RehearsalConfig) -> tuple[str, ...]:
    """The Deployments the twin's replicas are in (a rollout changes them all)."""
    return (TARGET, SPOT_TARGET) if cfg.spot_share > 0 else (TARGET,)


def model_template(profile) -> dict:
    """The pod-template patch naming the model the replicas serve, as a vLLM Deployment's
    container args would (a stand-in: the twin's model has no image; its fingerprint names it)."""
    return {"spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai", "args": [
        "--model", f"twin/{profile.revision}", "--max-num-seqs", str(profile.batch_slots)]}]}}


def _load(cfg: RehearsalConfig):
    from sim.traces import TraceOptions, default_trace, load_trace

    trace = load_trace(cfg.trace or default_trace(), TraceOptions(rate_scale=cfg.rate_scale, seed=cfg.seed))
    end = cfg.start_s + cfg.minutes * 60.0
    if cfg.start_s >= trace.duration_s:
        raise InputError("rehearsal window outside the trace", [Problem(
            "--start", f"{cfg.start_s:g}s is past the trace's end ({trace.duration_s:g}s)", "start earlier")])
    mask = (trace.time_s >= cfg.start_s) & (trace.time_s < end)
    window = trace.take(mask, duration_s=min(end, trace.duration_s) - cfg.start_s)
    window.time_s = window.time_s - cfg.start_s
    if window.requests <= 0:
        raise InputError("no requests in the rehearsal window", [Problem(
            "--start/--minutes", "the window holds no arrivals", "pick another part of the trace")])
    return window


def _initial(arrivals, profile, cfg: RehearsalConfig) -> int:
    if cfg.initial_replicas is not None:
        return cfg.initial_replicas
    first = arrivals.time_s < 60.0
    busy = float((arrivals.weight[first] * profile.service_s(arrivals.prompt_tokens[first],
                                                             arrivals.output_tokens[first], 0.7)).sum()) / 60.0
    return max(cfg.min_replicas, min(cfg.max_replicas, math.ceil(busy / (profile.batch_slots * 0.7))))


def _wall(seconds_twin: float, speed: float) -> float:
    return seconds_twin / speed


def _window_text(cfg: RehearsalConfig) -> str:
    wall = max(3, round(_wall(cfg.window_s, cfg.speed)))
    return f"{wall}s"


def scaler_object(cfg: RehearsalConfig, cold_start_s: float) -> dict:
    objective = {"percentile": cfg.objective.percentile}
    if cfg.objective.ttft_s is not None:
        objective["ttftMs"] = int(round(cfg.objective.ttft_s * 1000))
    if cfg.objective.e2e_s is not None:
        objective["e2eMs"] = int(round(cfg.objective.e2e_s * 1000))
    spec = {"targetRef": {"name": TARGET}, "objective": objective,
            "replicas": {"min": cfg.min_replicas, "max": cfg.max_replicas},
            "metrics": {"preset": "vllm", "window": _window_text(cfg), "staleAfterSeconds": 15},
            "coldStartSeconds": cold_start_s}
    if cfg.spot_share > 0:
        spec["targetRef"]["spotName"] = SPOT_TARGET
        spec["cost"] = {"spotShare": cfg.spot_share}
    return {"apiVersion": "meridian.dev/v1alpha1", "kind": "InferenceScaler",
            "metadata": {"name": SCALER, "namespace": NS}, "spec": spec}


def run(cfg: RehearsalConfig, progress=None) -> RehearsalResult:
    from chaos.targets.sim import rollout_profile
    from sim.fleet import Fleet, FleetConfig
    from sim.profiles import DEFAULT_INSTANCE, get_profile, spot_model
    from sim.scenario import ModelSwap, Scenario, SpotReclaim

    if cfg.speed <= 0 or cfg.minutes <= 0:
        raise InputError("bad rehearsal settings", [Problem("--speed/--minutes", "must be positive", "e.g. 10")])
    notice_s = spot_model().notice_s
    problems = spot_problems(cfg.spot_share, cfg.reclaim_at_min, cfg.reclaim_share, cfg.minutes, notice_s)
    if problems:
        raise InputError("bad rehearsal spot settings", problems)
    instance = cfg.instance_type or DEFAULT_INSTANCE
    profile = get_profile(instance)
    changes = rollout_changes(cfg)
    problems = rollout_problems(cfg.rollout_at_min, changes, cfg.minutes, profile)
    if problems:
        raise InputError("bad rehearsal rollout settings", problems)
    arrivals = _load(cfg)
    initial = _initial(arrivals, profile, cfg)
    limits = Limits(min_replicas=cfg.min_replicas, max_replicas=cfg.max_replicas,
                    cold_start_s=profile.cold_start_median_s, spot_share=cfg.spot_share)
    split = cfg.spot_share > 0
    region = FleetConfig.regions[0]
    reclaim = (SpotReclaim(region, cfg.reclaim_share, cfg.reclaim_at_min * 60.0, notice_s),) \
        if cfg.reclaim_at_min is not None else ()
    new = rollout_profile(profile, changes) if cfg.rollout_at_min is not None else None
    swap = (ModelSwap(region, cfg.rollout_at_min * 60.0, new),) if new is not None else ()
    # random interruptions off: the only spot loss is the scheduled reclaim
    fleet_cfg = FleetConfig(instance_type=instance, step_s=1.0, scrape_s=cfg.scrape_interval_s,
                            rate_window_s=cfg.window_s, objective=cfg.objective, limits=limits,
                            initial_replicas=initial, seed=cfg.seed,
                            capacity="spot-mix" if split else "on-demand", scenario=Scenario(reclaim + swap),
                            spot_interruptions_per_hour=0.0 if split else None)
    exporter = VllmMetrics(model_name="twin")
    api = ApiStandIn(auto_ready=False)
    prom = proc = None
    logdir = tempfile.mkdtemp(prefix="meridian-rehearsal-")
    log_path = os.path.join(logdir, "controller.log")
    try:
        exporter.serve()
        api.start()
        api.add_deployment(NS, TARGET, replicas=initial, ready=initial, labels={"app": TARGET})
        if split:  # as on a cluster adopting spot: the whole fleet on demand, the spot Deployment empty
            api.add_deployment(NS, SPOT_TARGET, replicas=0, ready=0, labels={"app": SPOT_TARGET})
        for name in deployments(cfg):  # the model they serve, before the controller first reads them
            api.patch_pod_template(NS, name, model_template(profile))
        api.add_scaler(scaler_object(cfg, profile.cold_start_median_s))
        prom = PrometheusProcess([exporter.url], namespace=NS,
                                 scrape_interval_s=max(0.2, _wall(cfg.scrape_interval_s, cfg.speed))).start()
        cmd = [sys.executable, "-m", "meridian", "--log-level", "INFO", "controller", "run",
               "--api-server", api.url, "--prometheus-url", prom.url, "--namespace", NS,
               "--sync-interval", f"{_wall(cfg.sync_interval_s, cfg.speed):.3f}", "--no-leader-elect",
               "--metrics-port", "0", "--time-scale", f"{cfg.speed:g}", "--policy", cfg.policy,
               "--identity", "rehearsal"]
        if cfg.knob is not None:
            cmd += ["--knob", f"{cfg.knob:g}"]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=_repo_root())
        bridge = TwinBridge(api, exporter, cfg, fleet_cfg.step_s, profile.revision)
        fleet = Fleet(arrivals, fleet_cfg, lambda code: bridge)
        bridge.fleet = fleet
        result = fleet.run(progress)
        if proc.poll() is not None:
            raise RuntimeError(f"the controller exited early ({proc.returncode}); see {log_path}")
    finally:
        exit_code = _stop(proc)
        if prom:
            prom.stop()
        exporter.stop()
        api.stop()
    log_text = open(log_path).read() if os.path.exists(log_path) else ""
    summary = _summarise(arrivals, result, cfg, api, bridge, exit_code, log_text)
    if new is not None:
        summary.rollout = _rollout(summary, bridge.template_changes, cfg.rollout_at_min * 60.0, profile, new)
    return summary


def _stop(proc) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # graceful: our own child, by pid
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def _repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _summarise(arrivals, result, cfg, api, bridge, exit_code, log_text) -> RehearsalResult:
    obj, w = cfg.objective, arrivals.weight
    ttft = result.ttft_s
    ok = ttft <= obj.ttft_s if obj.ttft_s is not None else np.isfinite(ttft)
    q = obj.percentile / 100.0
    rows = []
    tl = result.timelines[result.regions[0]]
    times = np.asarray(tl.time_s)
    ready = np.asarray(tl.ready)
    total = ready + np.asarray(tl.starting)
    minute_of = (arrivals.time_s // 60).astype(int)
    samples = bridge.samples
    for m in range(int(math.ceil(arrivals.duration_s / 60.0))):
        sel = minute_of == m
        in_min = (times >= m * 60) & (times < (m + 1) * 60)
        desired = [x.spec_total for x in samples if x.time_s < (m + 1) * 60]
        served = sel & np.isfinite(ttft)
        row = MinuteRow(
            minute=m, arrival_rps=float(w[sel].sum()) / 60.0,
            replicas_mean=float(total[in_min].mean()) if in_min.any() else float("nan"),
            ready_mean=float(ready[in_min].mean()) if in_min.any() else float("nan"),
            desired_end=desired[-1] if desired else int(total[0]),
            ttft_pq_s=_wq(ttft[served], w[served], q) if served.any() else None,
            attainment=float(w[sel & ok].sum() / w[sel].sum()) if w[sel].sum() > 0 else None)
        steps = [x for x in samples if m * 60 <= x.time_s < (m + 1) * 60]
        if cfg.spot_share > 0 and steps:
            row.od_mean = float(np.mean([x.ready_od + x.start_od for x in steps]))
            row.spot_mean = float(np.mean([x.ready_spot + x.start_spot for x in steps]))
            row.spot_ready_mean = float(np.mean([x.ready_spot for x in steps]))
        rows.append(row)
    served = np.isfinite(ttft)
    patches = [r for r in api.requests_matching("PATCH", r"/deployments/.*/scale$") if r.status == 200]
    writes = [r for r in api.requests_matching("PATCH", r"/status$") if r.status == 200]
    return RehearsalResult(
        requests=float(w.sum()), attainment=float(w[ok].sum() / w.sum()),
        ttft_pq_s=_wq(ttft[served], w[served], q) if served.any() else float("inf"),
        cost_usd=result.cost_usd, scale_patches=len(patches), status_writes=len(writes),
        replicas_min=int(total.min()), replicas_max=int(total.max()), rows=rows,
        controller_exit=exit_code, controller_log=log_text, samples=samples,
        spot_patches=sum(1 for r in patches if f"/deployments/{SPOT_TARGET}/" in r.path),
        reclaim=_reclaim(samples, cfg.reclaim_at_min * 60.0) if cfg.reclaim_at_min is not None else None,
        decisions=_decided(bridge.decisions, log_text))


def _reclaim(samples: list[Sample], notice_s: float) -> Reclaim:
    after = [x for x in samples if x.time_s >= notice_s]
    reclaimed = max((x.noticed_spot for x in after), default=0)
    # they stop serving when the notice drains them: the first step with replicas under notice
    stop = next((x for x in after if x.noticed_spot > 0), None)
    if stop is None:
        return Reclaim(notice_s, reclaimed, None, 0, 0, None)
    before = next(x for x in reversed(samples) if x.time_s < stop.time_s).spec_od
    window = [x for x in samples if stop.time_s <= x.time_s <= stop.time_s + COVER_WINDOW_S]
    rose = next((x.time_s for x in window if x.spec_od > before), None)
    return Reclaim(notice_s, reclaimed, stop.time_s, before, max(x.spec_od for x in window), rose)


def _decided(noted: list[tuple[float, str]], log_text: str) -> list[Decided]:
    """Each decision the bridge saw in the status, with the revision logged with it: the log
    has one `decision` line per status write, in the same order, with the same message."""
    logged = iter(_log_lines(log_text, "decision"))
    out = []
    for time_s, message in noted:
        entry = next((e for e in logged if str(e.get("reason", ""))[:1024] == message), None)
        out.append(Decided(time_s, message, entry.get("revision") if entry else None))
    return out


def _log_lines(log_text: str, event: str) -> list[dict]:
    """The controller's JSON log entries of one event, in order (other lines skipped)."""
    out = []
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event:
            out.append(entry)
    return out


def _rollout(result: RehearsalResult, template_changes: list[float], at_s: float, old, new) -> Rollout:
    samples, decisions = result.samples, result.decisions
    spec_before = next((x.spec_total for x in reversed(samples) if x.time_s < at_s), samples[0].spec_total)
    move = next(((x.time_s, x.spec_total) for x in samples if x.time_s >= at_s and x.spec_total != spec_before), None)
    # decisions without a revision were made without the policy (metrics unavailable)
    earlier = [d for d in decisions if d.time_s < at_s]
    before = next((d for d in reversed(earlier) if d.revision is not None), earlier[-1] if earlier else None)
    old_revision = before.revision if before is not None else None
    first_new = next((d for d in decisions if d.time_s >= at_s and d.revision not in (None, old_revision)), None)
    return Rollout(at_s, old, new, next((t for t in template_changes if t >= at_s), None), spec_before, move,
                   samples[-1].spec_total, before, first_new, decisions[-1] if decisions else None)


def _wq(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    i = int(np.searchsorted(cum, q * cum[-1]))
    return float(values[order][min(i, len(values) - 1)])
