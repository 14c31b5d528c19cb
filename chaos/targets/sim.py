"""Sim target: drills on the digital twin (`sim`), replaying a real trace.

The twin (`sim.fleet.simulate`) runs a whole scenario at once and is causal: what it
reports up to time t depends only on events before t. So the drill's planned events
are simulated in one run, and probes read the run at the drill's clock; when the
drill departs from the plan (a fault injected or ended at another time, e.g. rolled
back after an abort) the run is redone with the events as they really happened.

Set-up follows `meridian bench` (`sim.bench.prepare`): the trace split among the
stack's jurisdictions, one autoscaler per region, the same warm start, the workload's
SLO as objective, a baseline's knob tuned with the bench's protocol on the same trace
without faults. The drill's time 0 is `lead_in_s` into the trace (the bench's warm-up
plus the longest steady-state window), so the hypothesis "before" has history to read.

Measurements (all over the drill, from the twin's per-request results):
- RTO: per affected jurisdiction, from the first fault until the SLO is back: the start
  of the first 5 consecutive 1-minute windows meeting it after the first window the
  fault made miss (one good minute amid misses is noise; a window that also misses in
  the run without faults is not the fault's doing); 0 if the fault made no window miss,
  None if the SLO never came back. The drill's RTO is the worst jurisdiction's.
- detection: from the first fault until an autoscaler of a region serving an affected
  jurisdiction first wants more replicas than in the run without faults, while a fault lasts.
- RPO: for an outage of a region holding a jurisdiction's data (primary or active),
  `regions.dr.expected_data_loss_s` of its DR strategy (scheduled backups are taken on
  the trace's hour); otherwise 0.
- residency violations: requests served where `regions.residency` forbids.
- SLO attainment during the fault: share of scored windows meeting the SLO, per
  jurisdiction, over the fault period. Cost delta: against the same run without faults.

Thin adapters over what the twin does not model yet: it reroutes a dead region's users
in the same step, so the requests the region would have served during the health-check
and DNS delay (`regions.dr.REROUTE_S`) are failed here; it has no individual zones (an
AZ outage loses one zone's share of the region's replicas) and kills replicas by
fraction (pod_kill takes a fraction, not a count). Each fault's journal output says what
share of the requests its region served without the fault, so a fault that touched no
traffic is visible. A model rollout is a `sim.scenario.ModelSwap`: region-wide in one step,
with the requested slots and speeds applied to the region's current profile (or to
`instance_type`'s); it stays, so its revert changes nothing (a revert is a second rollout).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from chaos.model import Action, Experiment, Probe
from chaos.targets.base import Measurements
from regions.errors import InputError, Problem
from regions.residency import check
from regions.topology import Topology
from sim.score import WINDOW_S  # the bench's 1-minute scoring window: one definition

# Our definition of "recovered", not an external figure: the SLO met for 5 minutes in a row
# (one good minute amid misses is noise). Changing it changes every drill's RTO.
RECOVERED_WINDOWS = 5
INSTANT = ("spot_reclaim", "pod_kill", "az_outage")  # the twin replaces lost capacity itself
STAYS = ("model_rollout",)  # the new model stays: a revert would be a second rollout


def build(*, trace: str | None = None, policy: str = "meridian", say: Callable[[str], None] = print,
          **_ignored) -> "SimTarget":
    return SimTarget(trace=trace, policy=policy, say=say)


@dataclass
class _Fault:
    action: Action
    start: float  # drill seconds
    end: float


class SimTarget:
    name = "sim"
    realtime = False

    def __init__(self, *, trace: str | None = None, policy: str = "meridian",
                 say: Callable[[str], None] = print):
        self.trace, self.policy, self.say = trace, policy, say
        self.t = 0.0
        self.faults: dict[str, _Fault] = {}  # as planned, updated as they really happen
        self._result = None
        self._dirty = True

    # --- set-up ----------------------------------------------------------------------------

    def prepare(self, experiment: Experiment, topology: Topology | None) -> None:
        from sim import bench
        from sim.policies import KNOBS, REGISTRY, SPOT_CAPABLE
        from sim.traces import default_trace

        if topology is None:
            raise InputError("the sim target needs a topology", [Problem(
                "topology", "missing", "name the stack file, e.g. 'topology: ../../Pulumi.dev.yaml'")])
        if self.policy not in REGISTRY:
            raise InputError(f"unknown policy '{self.policy}'", [Problem(
                "--policy", f"the twin has no policy '{self.policy}'",
                f"use one of: {', '.join(sorted(REGISTRY))}")])
        self.x, self.topo = experiment, topology
        workload = _personal_workload(topology)
        self.objective = _objective(workload)
        spec = self.trace or default_trace()
        windows = [p.params.get("window_seconds", 300) for p in experiment.steady_state]
        windows += [p.params.get("window_seconds", 300) for p in experiment.stop_conditions]
        spot = workload.spot_share > 0 and self.policy in SPOT_CAPABLE
        self.cfg = bench.BenchConfig(
            traces=(spec,), tune_on=spec, objective=self.objective, instance_type=workload.instance_type,
            topology=_split(topology, workload), capacity="spot-mix" if spot else "on-demand")
        self.lead_in = self.cfg.warmup_s + max(windows, default=300)
        self.say(f"sim: loading {spec} for {len(topology.all_regions())} regions "
                 f"({', '.join(topology.jurisdictions)})")
        self.work = bench.prepare(spec, self.cfg)
        if spot:  # the workload's own cap on spot replicas, not the bench's "any share"
            fleet = self.work.fleet
            self.work.fleet = replace(fleet, limits=replace(fleet.limits, spot_share=workload.spot_share))
        self.arrivals = self.work.arrivals
        if self.lead_in + experiment.duration_seconds > self.arrivals.duration_s:
            raise InputError("the drill is longer than the trace", [Problem(
                "duration_seconds", f"{experiment.duration_seconds:g} s after a {self.lead_in:g} s lead-in "
                f"exceeds the trace's {self.arrivals.duration_s:g} s",
                "shorten the drill, or pass a longer --trace")])
        self.knob = getattr(bench, "UNTUNED", 1.0)  # what the bench passes to knob-less policies
        if self.policy in KNOBS:
            self.say(f"sim: tuning {self.policy} on the trace without faults (the bench's protocol)")
            self.knob = bench.tune(self.work, self.policy, self.cfg).knob
        self.factory = REGISTRY[self.policy]
        self.baseline = self._simulate(())
        self._base_ok = self._ok(self.baseline)
        self.faults = {a.name: _Fault(a, a.start_seconds, a.end_seconds if a.end_seconds is not None
                                      else experiment.duration_seconds) for a in experiment.method}
        self._index()
        self._refuse_unsimulated(experiment, workload)

    def _refuse_unsimulated(self, x: Experiment, workload) -> None:
        """The twin runs only the workload's jurisdictions and their regions: a fault or probe
        elsewhere would measure nothing, so it is refused by key path before anything runs."""
        problems = []
        sections = [("method", x.method)] + [(name, getattr(x, name)) for name in ("steady_state", "stop_conditions")]
        for section, items in sections:
            for i, item in enumerate(items):
                region, juris = item.params.get("region"), item.params.get("jurisdiction")
                if region is not None and region not in self.codes:
                    problems.append(Problem(f"{section}[{i}].region", f"{region} serves no user of workload "
                                            f"'{workload.name}' in the twin", f"use one of: {', '.join(self.codes)}"))
                if juris is not None and juris not in self.arrivals.jurisdictions:
                    problems.append(Problem(f"{section}[{i}].jurisdiction", f"workload '{workload.name}' has no "
                                            f"users in {juris}", f"use one of: {', '.join(self.arrivals.jurisdictions)}"))
        for j in x.expect.min_slo_attainment_during:
            if j != "*" and j not in self.arrivals.jurisdictions:
                problems.append(Problem(f"expect.min_slo_attainment_during.{j}", f"workload '{workload.name}' "
                                        f"has no users in {j}", "drop it"))
        if problems:
            raise InputError("the drill names places the twin does not simulate", problems)

    def _simulate(self, events: tuple):
        from sim.fleet import simulate
        from sim.scenario import Scenario

        fleet = replace(self.work.fleet, scenario=Scenario(tuple(events)))
        return simulate(self.arrivals, fleet, lambda code: self.factory(self.objective, fleet.limits, self.knob))

    def _index(self) -> None:
        """Per-row and per-window arrays every probe reads."""
        a = self.arrivals
        self.codes = tuple(self.work.fleet.regions)
        self.homes = a.homes()
        self.minute = (a.time_s // WINDOW_S).astype(np.int64)
        self.n_windows = int(math.ceil(a.duration_s / WINDOW_S))
        self.minute = np.minimum(self.minute, self.n_windows - 1)
        self.allowed = np.array([[bool(check("personal", j, r, "serve", transfers=self.topo.transfers,
                                             topology_regions=self.codes)) for r in self.codes]
                                 for j in a.jurisdictions])
        # feasible rows, as `sim.score` defines them: an idle replica would meet the objective
        # (prefill alone within the TTFT target, and the whole request within the e2e target)
        profile = self.work.profile
        best = profile.prefill_s(a.prompt_tokens, 0.0)
        self.feasible_row = best <= (self.objective.ttft_s if self.objective.ttft_s is not None else math.inf)
        if self.objective.e2e_s is not None:
            self.feasible_row &= best + a.output_tokens * profile.tpot_s(0.0) <= self.objective.e2e_s

    # --- time and faults -------------------------------------------------------------------

    def advance(self, until_s: float) -> None:
        self.t = until_s

    def inject(self, action: Action) -> Any:
        f = self.faults[action.name]
        if f.start != self.t:
            f.start, self._dirty = self.t, True
        out = {"twin_event": type(self._event(f)).__name__, "at_trace_s": self.t + self.lead_in}
        if action.region and action.kind in ("region_outage", "az_outage", "pod_kill", "latency_injection",
                                             "model_rollout"):
            share = self._served_share(action.region)
            out["share_of_requests_served_there_without_the_fault"] = round(share, 4)
            if share == 0:
                out["note"] = (f"without the fault the twin serves no request from {action.region} "
                               "(a standby): this fault touches no traffic")
        if action.kind == "model_rollout":
            out["profile_before"], out["profile_after"] = (
                _profile_figures(p) for p in self._rollout_profiles(f))
        if action.kind == "spot_reclaim" and self.cfg.capacity != "spot-mix":
            out["note"] = f"policy {self.policy} runs on on-demand capacity only: no spot replica to reclaim"
        return out

    def revert(self, action: Action) -> Any:
        f = self.faults[action.name]
        if action.kind in INSTANT:
            return {"reverted": False, "reason": "the twin replaces lost capacity itself"}
        if action.kind in STAYS:
            return {"reverted": False, "reason": "a rollout stays: reverting it would be a second "
                    "model_rollout back to the old profile"}
        if f.end != self.t:
            f.end, self._dirty = self.t, True
        return {"ended_at_trace_s": self.t + self.lead_in}

    def _served_share(self, region: str) -> float:
        """Share of the drill's requests the region serves in the run without faults."""
        t = self.arrivals.time_s
        rows = (t >= self.lead_in) & (t < self.lead_in + self.x.duration_seconds)
        w = self.arrivals.weight[rows]
        hit = self.baseline.served_region[rows] == self.codes.index(region)
        return float(w[hit].sum() / max(w.sum(), 1e-12))

    def _event(self, f: _Fault):
        from sim import scenario as sc

        a, p = f.action, f.action.params
        start, end = f.start + self.lead_in, max(f.end, f.start + 1) + self.lead_in
        if a.kind == "region_outage":
            return sc.RegionOutage(p["region"], start, end)
        if a.kind == "az_outage":
            return sc.AzOutage(p["region"], start, end)
        if a.kind == "pod_kill":
            return sc.AzOutage(p["region"], start, end, fraction=p.get("fraction", 1.0))
        if a.kind == "spot_reclaim":
            return sc.SpotReclaim(p["region"], p.get("fraction", 1.0), start)
        if a.kind == "metrics_blackout":
            return sc.MetricsBlackout(start, end)
        if a.kind == "latency_injection":
            return sc.LatencyInjection(p["region"], p["added_ms"] / 1000.0, start, end)
        if a.kind == "price_spike":
            return sc.PriceSpike(p["region"], p["factor"], start, end,
                                 spot_only=p.get("capacity", "spot") == "spot")
        if a.kind == "traffic_surge":
            return sc.TrafficSurge(p["factor"], start, end, p["jurisdiction"])
        if a.kind == "model_rollout":
            return sc.ModelSwap(p["region"], start, self._rollout_profiles(f)[1])
        raise ValueError(a.kind)

    def _rollout_profiles(self, f: _Fault):
        """A model_rollout's profile before and after: the region's current one (the workload's,
        or an earlier rollout's there), and its instance type's (default: the current one) with
        the requested slots and speeds."""
        order = list(self.faults.values())
        earlier = [g for g in order if g.action.kind == "model_rollout" and g.action.region == f.action.region
                   and (g.start, order.index(g)) < (f.start, order.index(f))]
        current = self._rollout_profiles(max(earlier, key=lambda g: (g.start, order.index(g))))[1] \
            if earlier else self.work.profile
        return current, rollout_profile(current, f.action.params)

    @property
    def result(self):
        if self._dirty or self._result is None:
            events = tuple(self._event(f) for f in self.faults.values())
            self.say(f"sim: simulating {len(events)} fault(s) with policy {self.policy}")
            self._result = self._reroute_delay(self._simulate(events))
            self._row_ok = self._ok(self._result)
            self._dirty = False
        return self._result

    def _reroute_delay(self, result):
        """Until Route 53 marks a dead region unhealthy and resolvers' cached answers expire
        (`regions.dr.REROUTE_S`: 3 failed 10 s checks + 60 s TTL), users keep being sent to it.
        The twin reroutes in the same step, so the requests that, without the fault, the dead
        region would have served in that interval are failed here."""
        from regions import dr

        ttft, e2e, served = result.ttft_s.copy(), result.e2e_s.copy(), result.served_region.copy()
        t = self.arrivals.time_s
        for f in self.faults.values():
            if f.action.kind != "region_outage":
                continue
            start = f.start + self.lead_in
            end = min(start + dr.REROUTE_S, f.end + self.lead_in)
            lost = (t >= start) & (t < end) & (self.baseline.served_region == self.codes.index(f.action.region))
            ttft[lost], e2e[lost], served[lost] = np.inf, np.inf, -1
        return replace(result, ttft_s=ttft, e2e_s=e2e, served_region=served)

    def _ok(self, result) -> np.ndarray:
        ok = result.ttft_s <= (self.objective.ttft_s if self.objective.ttft_s is not None else math.inf)
        if self.objective.e2e_s is not None:
            ok &= result.e2e_s <= self.objective.e2e_s
        return ok

    # --- probes ----------------------------------------------------------------------------

    def probe(self, probe: Probe) -> float | None:
        p, now = probe.params, self.t + self.lead_in
        window = p.get("window_seconds", 300)
        if probe.kind == "slo_attainment":
            return self._attainment(p["jurisdiction"], now - window, now)
        if probe.kind == "residency_violations":
            return self._violations(self.result, self.lead_in, now, p.get("jurisdiction"))
        if probe.kind == "error_rate":
            return self._error_rate(now - window, now, p.get("jurisdiction"))
        if probe.kind == "replicas":
            return self._replicas(now, p.get("region"), p.get("jurisdiction"))
        if probe.kind == "health_check_status":
            down = any(f.action.kind == "region_outage" and f.action.region == p["region"]
                       and f.start <= self.t < f.end for f in self.faults.values()
                       if f.action.name in self._injected())
            return 0.0 if down else 1.0
        if probe.kind == "rto":
            return self._rto(until=now)
        if probe.kind == "rpo":
            return self._rpo()
        raise ValueError(probe.kind)

    def _injected(self) -> set[str]:
        return {n for n, f in self.faults.items() if f.start <= self.t}

    def _rows(self, t0: float, t1: float, jurisdiction: str | None) -> np.ndarray:
        a = self.arrivals
        mask = (a.time_s >= t0) & (a.time_s < t1)
        if jurisdiction is not None:
            mask &= self.homes == a.jurisdictions.index(jurisdiction)
        return mask

    def _window_met(self, jurisdiction: str, baseline: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Per 1-minute window of `jurisdiction`'s users: met the SLO? feasible? (the bench's
        definition: at least `percentile` % of the window's requests within the target).
        `baseline=True`: in the same run without faults."""
        row_ok = self._base_ok if baseline else self._ok_rows()
        m = self.homes == self.arrivals.jurisdictions.index(jurisdiction)
        w, idx, n = self.arrivals.weight[m], self.minute[m], self.n_windows
        share = self.objective.percentile / 100.0
        tot = np.bincount(idx, weights=w, minlength=n)
        met = (tot <= 0) | (np.bincount(idx, weights=w * row_ok[m], minlength=n) >= tot * share - 1e-9)
        feas = (tot <= 0) | (np.bincount(idx, weights=w * self.feasible_row[m], minlength=n) >= tot * share - 1e-9)
        return met, feas

    def _ok_rows(self) -> np.ndarray:
        self.result  # noqa: B018 - refreshes self._row_ok
        return self._row_ok

    def _windows_between(self, t0: float, t1: float) -> np.ndarray:
        """Indices of the whole 1-minute windows inside [t0, t1]: never one that ends after t1,
        so a probe at time t reads nothing of the twin's future."""
        first = max(0, int(math.ceil(t0 / WINDOW_S - 1e-9)))
        last = int(t1 // WINDOW_S + 1e-9)
        return np.arange(first, min(max(first, last), self.n_windows))

    def _attainment(self, jurisdiction: str, t0: float, t1: float) -> float | None:
        met, feas = self._window_met(jurisdiction)
        idx = self._windows_between(t0, t1)
        idx = idx[feas[idx]]
        return float(met[idx].mean()) if idx.size else None

    def _violations(self, result, t0: float, t1: float, jurisdiction: str | None) -> int:
        rows = self._rows(t0, t1, jurisdiction) & (result.served_region >= 0)
        bad = ~self.allowed[self.homes[rows], result.served_region[rows]]
        return int(round(float(self.arrivals.weight[rows][bad].sum())))

    def _error_rate(self, t0: float, t1: float, jurisdiction: str | None) -> float | None:
        rows = self._rows(t0, t1, jurisdiction)
        w = self.arrivals.weight[rows]
        if w.sum() <= 0:
            return None
        failed = ~np.isfinite(self.result.ttft_s[rows])
        return float(w[failed].sum() / w.sum())

    def _replicas(self, now: float, region: str | None, jurisdiction: str | None) -> float | None:
        regions = [region] if region else (self.topo.jurisdictions[jurisdiction].region_codes
                                           if jurisdiction else self.codes)
        total = 0
        for code in regions:
            tl = self.result.timelines[code]
            i = int(np.searchsorted(tl.time_s, now, side="right")) - 1
            if i < 0:
                return None
            total += tl.ready[i]
        return float(total)

    # --- measurements ----------------------------------------------------------------------

    def _affected(self) -> list[str]:
        out = []
        for f in self.faults.values():
            a = f.action
            if a.kind == "metrics_blackout":
                out += list(self.topo.jurisdictions)
            elif a.kind == "traffic_surge":
                out.append(a.params["jurisdiction"])
            elif a.region:
                out.append(self.topo.jurisdiction_of(a.region))
        return list(dict.fromkeys(out))

    def _first_fault(self) -> float:
        return min(f.start for f in self.faults.values()) + self.lead_in

    def _rto(self, until: float | None = None) -> float | None:
        """Worst affected jurisdiction: from the first fault until SLO attainment is back, i.e.
        the start of the first `RECOVERED_WINDOWS` consecutive met windows after the first miss."""
        start = self._first_fault()
        until = until if until is not None else self.x.duration_seconds + self.lead_in
        idx = self._windows_between(start, until)  # empty before the first fault
        worst = 0.0
        for j in self._affected():
            met, feas = self._window_met(j)
            base_met, _ = self._window_met(j, baseline=True)
            # a window missed without the fault too, or infeasible, is not the fault's doing
            ok = met[idx] | ~feas[idx] | ~base_met[idx]
            if ok.all():
                continue
            first_miss = int(np.argmin(ok))
            run = 0
            for k in range(first_miss + 1, len(idx)):
                run = run + 1 if ok[k] else 0
                if run == RECOVERED_WINDOWS:
                    worst = max(worst, float(idx[k - run + 1] * WINDOW_S - start))
                    break
            else:
                return None  # not recovered (yet)
        return worst

    def _rpo(self) -> float:
        from regions import dr

        worst = 0.0
        for f in self.faults.values():
            if f.action.kind != "region_outage":
                continue
            j = self.topo.jurisdictions[self.topo.jurisdiction_of(f.action.region)]
            if f.action.region not in j.serving:
                continue  # a standby holds copies only: nothing is lost with it
            at = f.start + self.lead_in
            loss = dr.expected_data_loss_s(j.dr.strategy, since_last_backup_s=at % dr.BACKUP_INTERVAL_S)
            worst = max(worst, loss)
        return worst

    def _detection(self) -> float | None:
        """From the first fault until an autoscaler of an affected jurisdiction first wants more
        replicas than it wanted at that moment in the same run without faults, while a fault
        lasts. A scale-up the fault-free run makes too, or one after every fault has ended, is
        not a reaction to the fault: None then (no detection seen)."""
        start = self._first_fault()
        end = max(f.end for f in self.faults.values()) + self.lead_in
        serving = {r for j in self._affected() for r in self.topo.jurisdictions[j].region_codes}
        best = None
        for code in serving & set(self.codes):
            tl, base = self.result.timelines[code], self.baseline.timelines[code]
            times, desired = np.asarray(tl.time_s), np.asarray(tl.desired)
            base_times, base_desired = np.asarray(base.time_s), np.asarray(base.desired)
            if not base_times.size:
                continue
            k = np.clip(np.searchsorted(base_times, times, side="right") - 1, 0, None)
            react = np.flatnonzero((times > start) & (times <= end) & (desired > base_desired[k]))
            if react.size:
                t = float(times[react[0]] - start)
                best = t if best is None else min(best, t)
        return best

    def measurements(self) -> Measurements:
        r = self.result
        start = self._first_fault()
        end = max(f.end for f in self.faults.values()) + self.lead_in
        during = {j: self._attainment(j, start, end) for j in self.topo.jurisdictions}
        drill_end = self.x.duration_seconds + self.lead_in
        return Measurements(
            rto_seconds=self._rto(),
            rpo_seconds=self._rpo(),
            residency_violations=self._violations(r, self.lead_in, drill_end, None),
            slo_attainment_during={j: v for j, v in during.items() if v is not None},
            detection_seconds=self._detection(),
            cost_delta_usd=float(r.cost_usd - self.baseline.cost_usd),
            extra={"policy": self.policy, "knob": self.knob, "trace": self.arrivals.name,
                   "lead_in_seconds": self.lead_in, "affected_jurisdictions": self._affected(),
                   "failed_requests": float(r.failed_requests), "cost_usd": float(r.cost_usd)},
        )

    def close(self) -> None:
        pass


def rollout_profile(current, params: dict[str, Any]):
    """The model a model_rollout's parameters describe: `instance_type`'s profile (default:
    `current`) with their batch slots and speed factors (the catalog's vocabulary)."""
    from sim.profiles import load_profiles

    new = load_profiles()[params["instance_type"]] if "instance_type" in params else current
    return replace(
        new, batch_slots=params.get("batch_slots", new.batch_slots),
        decode_tokens_per_s_batch1=new.decode_tokens_per_s_batch1 * params.get("decode_speed_factor", 1.0),
        prefill_tokens_per_s=new.prefill_tokens_per_s * params.get("prefill_speed_factor", 1.0))


def _profile_figures(profile) -> dict:
    """What a rollout changes, for the journal."""
    return {"instance_type": profile.instance_type, "batch_slots": profile.batch_slots,
            "prefill_tokens_per_s": round(profile.prefill_tokens_per_s, 1),
            "decode_tokens_per_s_batch1": round(profile.decode_tokens_per_s_batch1, 2),
            "cold_start_p95_s": round(profile.cold_start_p95_s, 1)}


def _personal_workload(topology: Topology):
    for w in topology.workloads:
        if "personal" in w.data_classes:
            return w
    return topology.workloads[0]


def _objective(workload):
    from controller.law.types import Objective

    slo = workload.slo
    return Objective(percentile=slo.percentile,
                     ttft_s=None if slo.ttft_ms is None else slo.ttft_ms / 1000.0,
                     e2e_s=None if slo.e2e_ms is None else slo.e2e_ms / 1000.0)


def _split(topology: Topology, workload):
    """The twin's topology split: equal shares of the trace per jurisdiction of the workload,
    each jurisdiction routed to its serving regions first, then its standbys."""
    from sim.topology_split import Split, parse_shares

    codes = tuple(j for j in workload.jurisdictions if j in topology.jurisdictions)
    return Split(topology, parse_shares(None, codes))
