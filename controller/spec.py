"""An InferenceScaler object (a dict from the API) → typed, validated `ScalerSpec`.

The API server already applies the CRD schema, but objects can predate a schema change
and a stand-in API does no validation, so the runtime checks again with the same schema
(`manifests.crd_schema`) plus the rules a schema cannot express. A bad spec raises
`InvalidSpec`; the reconciler turns it into a `Ready=False/InvalidSpec` condition.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from controller import manifests
from controller.law.types import Limits, Objective
from regions.errors import InputError, Problem


class InvalidSpec(InputError):
    """An InferenceScaler whose spec cannot be acted on."""


@dataclass(frozen=True)
class MetricsSpec:
    preset: str = "vllm"
    prometheus_url: str | None = None
    histogram: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    window: str = "2m"
    stale_after_s: float = 120.0
    queries: tuple[tuple[str, str], ...] = ()  # (field, PromQL) pairs, field in QUERY_FIELDS

    def query(self, name: str) -> str | None:
        return dict(self.queries).get(name)

    @property
    def window_s(self) -> float:
        """`window` in seconds (the CRD allows `<n>s`, `<n>m`, `<n>h`)."""
        return float(self.window[:-1]) * {"s": 1, "m": 60, "h": 3600}[self.window[-1]]


QUERY_FIELDS = ("ttft", "e2e", "arrivalRate", "inFlight", "queued")


@dataclass(frozen=True)
class ScalerSpec:
    namespace: str
    name: str
    uid: str
    generation: int
    target: str  # Deployment name, same namespace
    objective: Objective
    limits: Limits
    metrics: MetricsSpec = field(default_factory=MetricsSpec)
    spot_target: str | None = None  # a second Deployment pinned to spot nodes (targetRef.spotName)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Fill `default`s the way the API server does (objects only, recursively)."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    for key, sub in schema.get("properties", {}).items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _apply_defaults(sub, value[key])
    return value


def _path(error: jsonschema.ValidationError) -> str:
    parts = ["spec"]
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else f".{p}")
    return "".join(parts)


def _schema_problems(spec: Any) -> list[Problem]:
    schema = manifests.crd_schema()["properties"]["spec"]
    problems = []
    for err in sorted(jsonschema.Draft7Validator(schema).iter_errors(spec), key=lambda e: list(e.absolute_path)):
        msg = err.message
        if err.validator == "anyOf" and list(err.absolute_path) == ["objective"]:
            msg = "sets neither ttftMs nor e2eMs"
        problems.append(Problem(_path(err), msg, "see `kubectl explain inferencescaler.spec`", "schema"))
    return problems


def _rule_problems(spec: dict[str, Any]) -> list[Problem]:
    out = []
    reps = spec["replicas"]
    if reps["min"] > reps["max"]:
        out.append(Problem("spec.replicas", f"min {reps['min']} exceeds max {reps['max']}",
                           "set replicas.min <= replicas.max", "bounds"))
    out += _spot_target_problems(spec)
    m = spec["metrics"]
    queries = m.get("queries", {})
    if m["preset"] == "generic" and not m.get("histogram") and not (queries.get("ttft") or queries.get("e2e")):
        out.append(Problem("spec.metrics.histogram", "the generic preset needs a histogram name",
                           "set metrics.histogram (e.g. http_request_duration_seconds) or queries.ttft/e2e",
                           "metrics"))
    return out


def _spot_target_problems(spec: dict[str, Any]) -> list[Problem]:
    spot_name = spec["targetRef"].get("spotName")
    if spot_name is None:
        return []
    if spot_name == spec["targetRef"]["name"]:
        return [Problem("spec.targetRef.spotName", f"names the same Deployment as targetRef.name ({spot_name})",
                        "name the second Deployment, pinned to spot nodes, or remove spotName", "spot")]
    # Refused rather than read as "keep the spot Deployment at 0": spotShare defaults to 0, so a
    # forgotten spotShare would silently drain the spot Deployment and run everything on demand.
    # To drain spot on purpose, remove spotName and scale the spot Deployment to 0 yourself.
    if spec["cost"]["spotShare"] <= 0:
        return [Problem("spec.cost.spotShare", f"is 0, so the policy never plans spot and targetRef.spotName "
                        f"({spot_name}) would be held at 0 replicas",
                        "set cost.spotShare above 0 (e.g. 0.5), or remove targetRef.spotName", "spot")]
    return []


def parse(obj: dict[str, Any]) -> ScalerSpec:
    """Validate and type one InferenceScaler object. Raises `InvalidSpec` with every problem."""
    meta = obj.get("metadata") or {}
    name = f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
    raw = copy.deepcopy(obj.get("spec"))
    if not isinstance(raw, dict):
        raise InvalidSpec(f"InferenceScaler {name} has no spec",
                          [Problem("spec", "missing or not an object", "add a spec (see deploy/examples)")])
    problems = _schema_problems(raw)
    if problems:
        raise InvalidSpec(f"InferenceScaler {name} has an invalid spec", problems)
    spec = _apply_defaults(manifests.crd_schema()["properties"]["spec"], raw)
    problems = _rule_problems(spec)
    if problems:
        raise InvalidSpec(f"InferenceScaler {name} has an invalid spec", problems)

    obj_spec, reps, m = spec["objective"], spec["replicas"], spec["metrics"]
    cost, behavior = spec["cost"], spec["behavior"]
    objective = Objective(
        percentile=float(obj_spec["percentile"]),
        ttft_s=obj_spec["ttftMs"] / 1000.0 if "ttftMs" in obj_spec else None,
        e2e_s=obj_spec["e2eMs"] / 1000.0 if "e2eMs" in obj_spec else None,
    )
    limits = Limits(
        min_replicas=int(reps["min"]),
        max_replicas=int(reps["max"]),
        max_step_up=behavior.get("maxScaleUpStep"),
        max_step_down=behavior.get("maxScaleDownStep"),
        scale_down_delay_s=float(behavior["scaleDownDelaySeconds"]),
        budget_per_hour=cost.get("budgetPerHour"),
        spot_share=float(cost["spotShare"]),
        cold_start_s=spec.get("coldStartSeconds"),
    )
    metrics = MetricsSpec(
        preset=m["preset"],
        prometheus_url=m.get("prometheusUrl"),
        histogram=m.get("histogram"),
        labels=tuple(sorted((m.get("labels") or {}).items())),
        window=m["window"],
        stale_after_s=float(m["staleAfterSeconds"]),
        queries=tuple((k, m["queries"][k]) for k in QUERY_FIELDS if k in m.get("queries", {})),
    )
    return ScalerSpec(namespace=meta.get("namespace", "default"), name=meta.get("name", ""),
                      uid=meta.get("uid", ""), generation=int(meta.get("generation", 0) or 0),
                      target=spec["targetRef"]["name"], objective=objective, limits=limits, metrics=metrics,
                      spot_target=spec["targetRef"].get("spotName"))
