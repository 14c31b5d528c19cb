"""One sync over every InferenceScaler: observe, ask the policy, make it safe, act, explain.

Safety does not depend on the policy: whatever it returns, the runtime clamps the
answer to the spec's bounds and step limits, never scales to zero, and never scales
down on missing, stale or NaN metrics (it holds the current size instead).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import structlog

from controller import conditions as cond
from controller import scale
from controller.conditions import Condition
from controller.kube import REMOTE_ERRORS, KubeAdapter, NotLeader, ObjectRef, ScalerGone, TargetMissing, now_rfc3339
from controller.law.types import Decision, Limits, Objective, Observation, Policy
from controller.prices import PriceBook, ReplicaPrices
from controller.sources.base import LoadSample, MetricSource, MetricsUnavailable
from controller.spec import InvalidSpec, ScalerSpec, parse
from controller.targets import Step, Targets, describe_steps, split
from controller.telemetry import Telemetry

log = structlog.get_logger(__name__)

PolicyFactory = Callable[[Objective, Limits], Policy]


@dataclass(frozen=True)
class Outcome:
    key: str
    result: str  # one of telemetry.RESULTS
    current: int | None = None
    desired: int | None = None
    message: str = ""


@dataclass(frozen=True)
class SafeDecision:
    replicas: int
    limited_reason: str | None  # HPA-style: TooFewReplicas, TooManyReplicas, ScaleUpLimit, ScaleDownLimit, HeldNoMetrics


def make_safe(wanted: int, current: int, limits: Limits, metrics_ok: bool) -> SafeDecision:
    """Bounds, step limits and fail-static, applied after any policy."""
    lo, hi = max(1, limits.min_replicas), max(1, limits.max_replicas)
    if not metrics_ok:  # hold; only the spec's minimum may raise it
        return SafeDecision(max(current, lo), "HeldNoMetrics" if current >= lo else "TooFewReplicas")
    target, reason = wanted, None
    if target < lo:
        target, reason = lo, "TooFewReplicas"
    elif target > hi:
        target, reason = hi, "TooManyReplicas"
    if limits.max_step_up is not None and target > current + limits.max_step_up and current >= lo:
        target, reason = current + limits.max_step_up, "ScaleUpLimit"
    if limits.max_step_down is not None and target < current - limits.max_step_down and current <= hi:
        target, reason = current - limits.max_step_down, "ScaleDownLimit"
    return SafeDecision(max(1, target), reason)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None or not math.isfinite(seconds) else round(seconds * 1000.0, 1)


class Reconciler:
    def __init__(self, kube: KubeAdapter, source: MetricSource, prices: PriceBook, policy_factory: PolicyFactory, *,
                 is_leader: Callable[[], bool] = lambda: True, dry_run: bool = False,
                 telemetry: Telemetry | None = None, clock: Callable[[], float] = time.time,
                 heartbeat: Callable[[], None] = lambda: None):
        self.kube, self.source, self.prices = kube, source, prices
        self.policy_factory = policy_factory
        self.is_leader = is_leader
        self.dry_run = dry_run
        self.telemetry = telemetry or Telemetry()
        self.clock = clock
        self.heartbeat = heartbeat  # called per object: a long sync is progress, not a stall
        self._policies: dict[str, tuple[int, Policy]] = {}
        self._known: set[tuple[str, str]] = set()
        self._spot_warned: set[str] = set()  # scalers told their planned spot is not scheduled

    # -- all scalers -----------------------------------------------------------------------
    def sync(self, namespaces: list[str] | None = None) -> list[Outcome]:
        items = self.kube.list_scalers(namespaces)
        self.telemetry.scalers.set(len(items))
        outcomes = []
        shared = _shared_targets(items)
        for obj in items:
            if not self.is_leader():  # lost the lease (or told to stop) mid-sync: no next object
                log.warning("no longer leading (or stopping) mid-sync; stopping")
                break
            clash = next(((t[1], shared[t]) for t in _targets_of(obj) if t in shared), (None, None))
            outcomes.append(self.sync_one(obj, clash[1], contested=clash[0]))
            self.heartbeat()
        seen = {(o["metadata"].get("namespace", ""), o["metadata"].get("name", "")) for o in items}
        for ns, name in self._known - seen:
            self.telemetry.forget(ns, name)
        self._known = seen
        self._spot_warned &= {f"{ns}/{name}" for ns, name in seen}
        live = {o["metadata"].get("uid") or f"{o['metadata'].get('namespace')}/{o['metadata'].get('name')}"
                for o in items}
        self._policies = {k: v for k, v in self._policies.items() if k in live}
        return outcomes

    def sync_one(self, obj: dict[str, Any], rivals: list[str] | None = None, *,
                 contested: str | None = None) -> Outcome:
        """`rivals`: every scaler (this one included) that names the same Deployment, if several;
        `contested`: that Deployment (default: the scaler's target)."""
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        try:
            return self._sync_one(obj, rivals, contested)
        except (NotLeader, ScalerGone) as err:
            log.info("sync skipped", scaler=key, why=type(err).__name__)
            return self._count(Outcome(key, "error", message=type(err).__name__))
        except Exception as err:  # noqa: BLE001 - one bad object must not stop the others
            log.error("sync failed", scaler=key, error=f"{type(err).__name__}: {str(err)[:300]}")
            self.telemetry.errors.labels("kubernetes" if isinstance(err, REMOTE_ERRORS) else "internal").inc()
            return self._count(Outcome(key, "error", message=str(err)[:200]))

    def _count(self, outcome: Outcome) -> Outcome:
        self.telemetry.decisions.labels(outcome.result).inc()
        return outcome

    def _sync_one(self, obj: dict[str, Any], rivals: list[str] | None = None,
                  contested: str | None = None) -> Outcome:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace", "default"), meta.get("name", "")
        ref = ObjectRef(ns, name, meta.get("uid", ""))
        previous = (obj.get("status") or {}).get("conditions") or []
        generation = int(meta.get("generation", 0) or 0)
        try:
            spec = parse(obj)
        except InvalidSpec as err:
            self.telemetry.errors.labels("spec").inc()
            message = "; ".join(f"{p.path}: {p.message}" for p in err.problems) or err.summary
            self._not_ready(ref, previous, generation, "InvalidSpec", message)
            return self._count(Outcome(ref_key(ref), "invalid_spec", message=message))
        if rivals:  # two scalers on one Deployment would undo each other's steps: neither acts
            message = (f"InferenceScalers {', '.join(rivals)} all target Deployment {contested or spec.target}; "
                       "delete all but one")
            self._not_ready(ref, previous, generation, "AmbiguousTarget", message)
            return self._count(Outcome(spec.key, "invalid_spec", message=message))
        try:
            self._policy(spec)
        except Exception as err:  # noqa: BLE001 - e.g. an objective this policy cannot serve
            self.telemetry.errors.labels("policy").inc()
            message = f"the policy cannot serve this spec: {err}"[:1024]
            self._not_ready(ref, previous, generation, "PolicyRejectedSpec", message)
            return self._count(Outcome(spec.key, "invalid_spec", message=message))

        try:
            return self._observe_decide_act(spec, ref, previous, _previous_plan(obj))
        except TargetMissing as err:  # before the read, or deleted between read and patch
            self._policies.pop(spec.uid or spec.key, None)
            field = "spotName" if spec.spot_target is not None and err.name == spec.spot_target else "name"
            self._not_ready(ref, previous, generation, "TargetNotFound",
                            f"{err}; create it or fix spec.targetRef.{field}")
            return self._count(Outcome(spec.key, "target_missing", message=str(err)))

    def _observe_decide_act(self, spec: ScalerSpec, ref: ObjectRef, previous: list[dict],
                            previous_plan: tuple[int | None, int | None] = (None, None)) -> Outcome:
        targets = self._read_targets(spec)
        prices = self._prices(spec.namespace, targets)
        sample, unavailable = self._sample(spec)
        current = targets.replicas
        revision = None  # what the policy was told the replicas run (nothing when it was not asked)
        if unavailable is None:
            obs = self._observation(targets, sample, prices)
            decision = self._decide(spec, obs)
            metrics_ok = decision.metrics_available
            revision = obs.revision
        else:
            decision = Decision(replicas=current, reason=f"metrics unavailable ({unavailable.reason}): "
                                f"{unavailable.message}; holding {current}", metrics_available=False)
            metrics_ok = False
        safe = make_safe(decision.replicas, current, spec.limits, metrics_ok)
        steps = split(targets, safe.replicas, decision.spot, metrics_ok)
        return self._act(spec, ref, previous, targets, steps, sample, unavailable, decision, safe, prices,
                         previous_plan, revision)

    # -- pieces ----------------------------------------------------------------------------
    def _read_targets(self, spec: ScalerSpec) -> Targets:
        on_demand = self.kube.read_target(spec.namespace, spec.target)
        if spec.spot_target is None:
            return Targets(on_demand)
        return Targets(on_demand, self.kube.read_target(spec.namespace, spec.spot_target))

    def _prices(self, ns: str, targets: Targets) -> ReplicaPrices:
        try:
            labels = [node for t in targets.members for node in self.kube.replica_node_labels(ns, t.selector)]
            return self.prices.for_replicas(labels)
        except Exception as err:  # noqa: BLE001 - price is advisory; fall back to the catalog
            log.warning("replica prices unavailable", error=str(err)[:200])
            self.telemetry.errors.labels("kubernetes").inc()
            return self.prices.for_replicas([])

    def _sample(self, spec: ScalerSpec) -> tuple[LoadSample | None, MetricsUnavailable | None]:
        try:
            return self.source.sample(spec), None
        except MetricsUnavailable as err:
            self.telemetry.errors.labels("prometheus").inc()
            return None, err
        except Exception as err:  # noqa: BLE001 - an adapter bug is still "no metrics", never a crash
            self.telemetry.errors.labels("prometheus").inc()
            return None, MetricsUnavailable("QueryFailed", f"{type(err).__name__}: {str(err)[:160]}")

    def _observation(self, targets: Targets, s: LoadSample, p: ReplicaPrices) -> Observation:
        ready_spot, starting_spot = targets.spot_counts(p)
        return Observation(
            time_s=self.clock(), ready_replicas=targets.ready, starting_replicas=targets.starting,
            arrival_rate_rps=s.arrival_rate_rps, ttft_quantile_s=s.ttft_quantile_s, e2e_quantile_s=s.e2e_quantile_s,
            in_flight=s.in_flight, queued=s.queued, price_on_demand_per_hour=p.on_demand_per_hour,
            price_spot_per_hour=p.spot_per_hour, ready_spot=ready_spot, starting_spot=starting_spot,
            metrics_age_s=s.age_s, mean_prompt_tokens=s.mean_prompt_tokens, mean_output_tokens=s.mean_output_tokens,
            revision=targets.revision)

    def _policy(self, spec: ScalerSpec) -> Policy:
        key = spec.uid or spec.key
        held = self._policies.get(key)
        if held is None or held[0] != spec.generation:  # new scaler or edited spec: fresh policy state
            held = (spec.generation, self.policy_factory(spec.objective, spec.limits))
            self._policies[key] = held
        return held[1]

    def _decide(self, spec: ScalerSpec, obs: Observation) -> Decision:
        try:
            decision = self._policy(spec).decide(obs)
            if not isinstance(decision.replicas, int):
                raise TypeError(f"policy returned replicas={decision.replicas!r}")
            return decision
        except Exception as err:  # noqa: BLE001 - a policy fault holds, never crashes the controller
            log.error("policy failed; holding", scaler=spec.key, error=f"{type(err).__name__}: {err}"[:300])
            self.telemetry.errors.labels("policy").inc()
            return Decision(replicas=obs.replicas, reason=f"policy error ({type(err).__name__}); holding",
                            metrics_available=False)

    def _act(self, spec, ref, previous, targets: Targets, steps: tuple[Step, ...], sample, unavailable, decision,
             safe, prices, previous_plan=(None, None), revision: str | None = None) -> Outcome:
        current = targets.replicas
        desired = safe.replicas
        spot_plan = steps[1].desired if targets.spot is not None else None
        now = now_rfc3339()
        move = ("scale_up" if desired > current else "scale_down" if desired < current else
                "rebalance" if any(s.changes for s in steps) else "hold")  # rebalance: same total, new split
        result = "metrics_unavailable" if unavailable is not None else move
        message = decision.reason or "no reason given"
        if safe.limited_reason and desired != decision.replicas:
            message += f" (runtime: {safe.limited_reason}, {decision.replicas} → {desired})"
        spot_note = self._spot_not_scheduled(spec, targets, decision, prices)
        if spot_note:
            message += f" (warning: {spot_note})"
            if spec.key not in self._spot_warned:
                self._spot_warned.add(spec.key)
                self.kube.emit_event(ref, "Warning", "SpotNotScheduled", spot_note)
        else:
            self._spot_warned.discard(spec.key)
        # the revision tells a log reader which model the decision was for (a rollout relearns)
        log.info("decision", scaler=spec.key, result=result, current=current, desired=desired, spot=spot_plan,
                 reason=message, dry_run=self.dry_run, revision=revision)

        fresh_plan = previous_plan != (desired, spot_plan)
        applied = self._scale(spec, ref, steps, move, message, fresh_plan)
        replicas_now = sum(applied.replicas.values())
        scale_error = None
        if applied.failed is not None:  # with two Deployments, say which one refused
            scale_error = applied.problem if len(steps) == 1 else f"{applied.failed.target.name}: {applied.problem}"

        metrics_cond = (Condition("MetricsAvailable", True, "MetricsFresh", "all queries answered")
                        if unavailable is None else
                        Condition("MetricsAvailable", False, unavailable.reason, unavailable.message))
        updates = [
            Condition("Ready", True, "Reconciled", f"target {' and '.join(t.name for t in targets.members)} found"),
            metrics_cond,
            Condition("ScalingActive", unavailable is None and scale_error is None,
                      "FailedRescale" if scale_error else
                      "ValidMetricFound" if unavailable is None else "HoldingOnMissingMetrics",
                      scale_error or ("the policy is deciding" if unavailable is None
                                      else f"holding at {current} replicas")),
            Condition("ScalingLimited", safe.limited_reason is not None and safe.limited_reason != "HeldNoMetrics",
                      safe.limited_reason or "DesiredWithinRange",
                      f"policy asked {decision.replicas}, bounds {spec.limits.min_replicas}..{spec.limits.max_replicas}"),
            Condition("BudgetLimited", bool(decision.budget_limited),
                      "BudgetCeiling" if decision.budget_limited else "WithinBudget",
                      f"budget {spec.limits.budget_per_hour} USD/h" if spec.limits.budget_per_hour else "no budget set"),
        ]
        if unavailable is not None and cond.transitioned(previous, metrics_cond):
            self.kube.emit_event(ref, "Warning", "MetricsUnavailable", f"{unavailable.message}; holding {current}")
        elif unavailable is None and (cond.find(previous, "MetricsAvailable") or {}).get("status") == "False":
            self.kube.emit_event(ref, "Normal", "MetricsRecovered", "metrics answer again; scaling resumed")
        if decision.budget_limited and cond.transitioned(previous, updates[4]):
            self.kube.emit_event(ref, "Warning", "BudgetLimited", message)

        cost = targets.cost_per_hour(prices, applied.replicas)
        observed = {}
        if sample is not None:
            observed = {k: v for k, v in {
                "ttftMs": _ms(sample.ttft_quantile_s), "e2eMs": _ms(sample.e2e_quantile_s),
                "arrivalRate": sample.arrival_rate_rps, "inFlight": sample.in_flight, "queued": sample.queued,
                "ageSeconds": round(sample.age_s, 1), "time": now}.items() if v is not None}
        status = {
            "observedGeneration": spec.generation,
            "replicas": replicas_now,
            "desiredReplicas": desired,
            # two Deployments: the spot replicas set now; one: the policy's plan (not enforceable)
            "spotReplicas": (min(decision.spot, desired) if targets.spot is None
                             else applied.replicas[targets.spot.name]),
            "pricePerHour": round(cost, 4),
            "observed": observed or None,
            "lastDecision": {k: v for k, v in {
                "time": now, "reason": _reason(result, safe), "message": message[:1024], "replicas": desired,
                "spotReplicas": spot_plan, "predictedTtftMs": _ms(decision.predicted_ttft_s)}.items()
                if v is not None},
            "conditions": cond.merge(previous, updates, generation=spec.generation, now=now),
        }
        self.kube.patch_status(ref.namespace, ref.name, status)
        self._gauges(spec, replicas_now, desired, sample, decision, cost)
        return self._count(Outcome(spec.key, "error" if scale_error else result, current, desired,
                                   scale_error or message))

    def _scale(self, spec: ScalerSpec, ref: ObjectRef, steps: tuple[Step, ...], move: str, message: str,
               fresh_plan: bool) -> scale.Applied:
        """Patch what changes (all or nothing) and say so in an Event; a dry run only tells."""
        unchanged = scale.Applied({s.target.name: s.target.replicas for s in steps})
        what = describe_steps(steps)
        if not what:
            return unchanged
        if self.dry_run:  # told once per new answer, not every sync (the size never changes)
            if fresh_plan:
                self.kube.emit_event(ref, "Normal", "WouldScale", f"dry run: would scale {what}: {message}")
            return unchanged
        applied = scale.apply(self.kube, ref.namespace, steps)
        if applied.failed is None:
            self.kube.emit_event(ref, "Normal", VERBS[move], f"scaled {what}: {message}")
        else:  # 403, 409s, 5xx past the deadline: say so
            self.telemetry.errors.labels("kubernetes").inc()
            log.warning("scale failed", scaler=spec.key, error=applied.problem)
            self.kube.emit_event(ref, "Warning", "FailedRescale",
                                 f"could not scale {applied.failed}: {applied.problem}")
        return applied

    @staticmethod
    def _spot_not_scheduled(spec: ScalerSpec, targets: Targets, decision: Decision,
                            prices: ReplicaPrices) -> str | None:
        """The law plans a spot share and covers spot that is not ready with extra on-demand
        replicas. With one Deployment this runtime cannot place pods on a capacity type: if
        none of its pods ever lands on a spot node, that cover is permanent extra cost. (With a
        spot Deployment, `targetRef.spotName`, the split is enforced and this does not apply.)"""
        target = targets.on_demand
        if (targets.spot is not None or decision.spot <= 0 or target.ready <= 0 or not prices.known
                or prices.spot_replicas > 0):
            return None
        return (f"the policy plans {decision.spot} of {decision.replicas} replicas on spot (cost.spotShare "
                f"{spec.limits.spot_share:g}) but no replica of {spec.target} runs on a spot node, so it adds "
                "on-demand replicas to cover the missing spot; allow spot nodes in the Deployment's node "
                "affinity or set cost.spotShare: 0")

    def _gauges(self, spec, replicas_now, desired, sample, decision, cost) -> None:
        t = self.telemetry
        t.current.labels(spec.namespace, spec.name).set(replicas_now)
        t.desired.labels(spec.namespace, spec.name).set(desired)
        t.cost.labels(spec.namespace, spec.name).set(cost)
        if decision.predicted_ttft_s is not None:
            t.predicted_ttft.labels(spec.namespace, spec.name).set(decision.predicted_ttft_s)
        if sample is not None and sample.ttft_quantile_s is not None:
            t.observed_ttft.labels(spec.namespace, spec.name).set(sample.ttft_quantile_s)

    def _not_ready(self, ref: ObjectRef, previous, generation: int, reason: str, message: str) -> None:
        now = now_rfc3339()
        ready = Condition("Ready", False, reason, message)
        updates = [ready, Condition("ScalingActive", False, reason, "not scaling until this is fixed")]
        if cond.transitioned(previous, ready) or (cond.find(previous, "Ready") or {}).get("message") != message:
            self.kube.emit_event(ref, "Warning", reason, message)
        self.kube.patch_status(ref.namespace, ref.name, {
            "observedGeneration": generation,
            "lastDecision": {"time": now, "reason": reason, "message": message[:1024]},
            "conditions": cond.merge(previous, updates, generation=generation, now=now),
        })


def _targets_of(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(namespace, Deployment) the scaler names: its target, then its spot Deployment if any."""
    spec = obj.get("spec")
    ref = spec.get("targetRef") if isinstance(spec, dict) else None
    if not isinstance(ref, dict):
        return []
    ns = (obj.get("metadata") or {}).get("namespace", "")
    names = [ref.get("name"), ref.get("spotName")]
    return [(ns, n) for n in dict.fromkeys(names) if isinstance(n, str) and n]


def _shared_targets(items: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """Deployments named by more than one scaler (as target or spot Deployment) → those
    scalers' names (sorted)."""
    by_target: dict[tuple[str, str], list[str]] = {}
    for obj in items:
        for target in _targets_of(obj):
            by_target.setdefault(target, []).append(str((obj.get("metadata") or {}).get("name", "")))
    return {t: sorted(names) for t, names in by_target.items() if len(names) > 1}


def _previous_plan(obj: dict[str, Any]) -> tuple[int | None, int | None]:
    """(total, spot) this scaler last decided, from its status: a dry run tells each new plan once."""
    status = obj.get("status") or {}
    return status.get("desiredReplicas"), (status.get("lastDecision") or {}).get("spotReplicas")


def ref_key(ref: ObjectRef) -> str:
    return f"{ref.namespace}/{ref.name}"


# the condition reason, and the Event reason of a move, for each result
VERBS = {"scale_up": "ScaledUp", "scale_down": "ScaledDown", "rebalance": "Rebalanced", "hold": "Held",
         "metrics_unavailable": "MetricsUnavailable"}


def _reason(result: str, safe: SafeDecision) -> str:
    base = VERBS[result]
    if safe.limited_reason and result != "metrics_unavailable":
        return f"{base}/{safe.limited_reason}"
    return base
