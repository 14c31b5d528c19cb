"""Every Kubernetes object the controller needs, kept once.

`render()` returns plain dicts: `infra` installs them with pulumi-kubernetes, and
`meridian controller manifests > meridian.yaml` writes them for `kubectl apply`.
The CRD schema here is also what `controller.spec` enforces at runtime and what the
tests validate `deploy/examples/*.yaml` against, so there is one definition of the API.

Keep `render`'s signature stable: `infra` calls it.
"""
from __future__ import annotations

import copy
from typing import Any

GROUP = "meridian.dev"
VERSION = "v1alpha1"
KIND = "InferenceScaler"
PLURAL = "inferencescalers"
SINGULAR = "inferencescaler"
CRD_NAME = f"{PLURAL}.{GROUP}"

APP_NAME = "meridian-controller"
DEFAULT_NAMESPACE = "meridian-system"
DEFAULT_IMAGE = "ghcr.io/meridian-dev/meridian-controller:0.1.0"
LEASE_NAME = "meridian-controller-leader"
METRICS_PORT = 8080
PRESETS = ("vllm", "tgi", "generic")

_LABELS = {
    "app.kubernetes.io/name": APP_NAME,
    "app.kubernetes.io/part-of": "meridian",
    "app.kubernetes.io/component": "controller",
}
_SELECTOR = {"app.kubernetes.io/name": APP_NAME}

_CONDITION_TYPES = ["Ready", "MetricsAvailable", "ScalingActive", "ScalingLimited", "BudgetLimited"]


def _spec_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["targetRef", "objective", "replicas"],
        # The API server applies the defaults first (cost.spotShare 0, metrics.preset vllm), so
        # these see them; `has` guards keep them right without. Mirrors controller/spec.py's rules,
        # which the controller applies too (for servers older than CEL validation, 1.25).
        "x-kubernetes-validations": [
            {"rule": "!has(self.targetRef.spotName) || "
                     "(has(self.cost) && has(self.cost.spotShare) && self.cost.spotShare > 0.0)",
             "message": "targetRef.spotName needs cost.spotShare above 0 (else the spot Deployment is held at 0)"},
            {"rule": "!has(self.metrics) || !has(self.metrics.preset) || self.metrics.preset != 'generic' || "
                     "(has(self.metrics.histogram) && size(self.metrics.histogram) > 0) || "
                     "(has(self.metrics.queries) && (has(self.metrics.queries.ttft) || has(self.metrics.queries.e2e)))",
             "message": "the generic metrics preset needs metrics.histogram or metrics.queries.ttft/e2e"},
        ],
        "properties": {
            "targetRef": {
                "type": "object",
                "description": "The Deployment whose scale subresource this scaler sets.",
                "required": ["name"],
                "x-kubernetes-validations": [
                    {"rule": "!has(self.spotName) || self.spotName != self.name",
                     "message": "targetRef.spotName must name a second Deployment, not targetRef.name"}
                ],
                "properties": {
                    "apiVersion": {"type": "string", "enum": ["apps/v1"], "default": "apps/v1"},
                    "kind": {"type": "string", "enum": ["Deployment"], "default": "Deployment"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 253},
                    "spotName": {"type": "string", "minLength": 1, "maxLength": 253,
                                 "description": "Optional second Deployment in the same namespace: the same "
                                 "model server pinned to spot nodes (e.g. node affinity on "
                                 "karpenter.sh/capacity-type: spot). When set, the policy's spot share is "
                                 "scaled here and the rest on targetRef.name (then pin that one to "
                                 "on-demand nodes); needs cost.spotShare > 0."},
                },
            },
            "objective": {
                "type": "object",
                "description": "Latency objective: the percentile of time-to-first-token and/or "
                "end-to-end latency. At least one of ttftMs and e2eMs is required.",
                "anyOf": [{"required": ["ttftMs"]}, {"required": ["e2eMs"]}],
                "properties": {
                    "percentile": {"type": "number", "minimum": 50, "maximum": 99.9, "default": 95},
                    "ttftMs": {"type": "integer", "minimum": 1},
                    "e2eMs": {"type": "integer", "minimum": 1},
                },
            },
            "replicas": {
                "type": "object",
                "required": ["max"],
                "x-kubernetes-validations": [
                    {"rule": "self.min <= self.max", "message": "replicas.min must not exceed replicas.max"}
                ],
                "properties": {
                    "min": {"type": "integer", "minimum": 1, "default": 1,
                            "description": "Never fewer (meridian never scales to zero)."},
                    "max": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
            },
            "metrics": {
                "type": "object",
                "default": {},
                "description": "Where latency and load come from: a preset for a serving engine, "
                "or explicit PromQL queries (which override the preset's).",
                "properties": {
                    "prometheusUrl": {"type": "string", "pattern": "^https?://",
                                      "description": "Overrides the controller's --prometheus-url."},
                    "preset": {"type": "string", "enum": list(PRESETS), "default": "vllm"},
                    "histogram": {"type": "string", "description": "generic preset: histogram metric "
                                  "name without _bucket (seconds), e.g. http_request_duration_seconds"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "Extra PromQL label matchers; namespace is always "
                               "set to the scaler's namespace."},
                    "window": {"type": "string", "pattern": "^[1-9][0-9]*[smh]$", "default": "2m",
                               "description": "rate() window for the presets."},
                    "staleAfterSeconds": {"type": "integer", "minimum": 15, "default": 120},
                    "queries": {
                        "type": "object",
                        "description": "Explicit PromQL; each must return one scalar-like sample. "
                        "Latencies in seconds.",
                        "properties": {k: {"type": "string", "minLength": 1} for k in
                                       ("ttft", "e2e", "arrivalRate", "inFlight", "queued")},
                    },
                },
            },
            "coldStartSeconds": {"type": "number", "minimum": 0, "maximum": 3600,
                                 "description": "Estimate of pod start to first served request."},
            "cost": {
                "type": "object",
                "default": {},
                "properties": {
                    "spotShare": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                    "budgetPerHour": {"type": "number", "minimum": 0,
                                      "description": "USD/h ceiling for the whole Deployment."},
                },
            },
            "behavior": {
                "type": "object",
                "default": {},
                "properties": {
                    "maxScaleUpStep": {"type": "integer", "minimum": 1},
                    "maxScaleDownStep": {"type": "integer", "minimum": 1},
                    # 300 s: the HPA's default scale-down stabilization window (autoscaling/v2 behavior)
                    "scaleDownDelaySeconds": {"type": "integer", "minimum": 0, "maximum": 86400,
                                              "default": 300},
                },
            },
        },
    }


def _status_schema() -> dict[str, Any]:
    num = {"type": "number"}
    return {
        "type": "object",
        "properties": {
            "observedGeneration": {"type": "integer"},
            "replicas": {"type": "integer"},
            "desiredReplicas": {"type": "integer"},
            "spotReplicas": {"type": "integer"},
            "pricePerHour": num,
            "observed": {
                "type": "object",
                "properties": {
                    "ttftMs": num, "e2eMs": num, "arrivalRate": num, "inFlight": num, "queued": num,
                    "ageSeconds": num, "time": {"type": "string", "format": "date-time"},
                },
            },
            "lastDecision": {
                "type": "object",
                "properties": {
                    "time": {"type": "string", "format": "date-time"},
                    "reason": {"type": "string"},
                    "message": {"type": "string"},
                    "replicas": {"type": "integer"},
                    "spotReplicas": {"type": "integer"},
                    "predictedTtftMs": num,
                },
            },
            "conditions": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "items": {
                    "type": "object",
                    "required": ["type", "status"],
                    "properties": {
                        "type": {"type": "string", "enum": _CONDITION_TYPES},
                        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                        "reason": {"type": "string"},
                        "message": {"type": "string"},
                        "lastTransitionTime": {"type": "string", "format": "date-time"},
                        "observedGeneration": {"type": "integer"},
                    },
                },
            },
        },
    }


def crd_schema() -> dict[str, Any]:
    """The openAPIV3Schema of InferenceScaler (a fresh copy; callers may mutate it)."""
    return {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _spec_schema(),
            "status": _status_schema(),
        },
        "required": ["spec"],
    }


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": dict(_LABELS)},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "singular": SINGULAR, "kind": KIND, "listKind": f"{KIND}List",
                      "shortNames": ["isc"], "categories": ["meridian"]},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": crd_schema()},
                "additionalPrinterColumns": [
                    {"name": "Target", "type": "string", "jsonPath": ".spec.targetRef.name"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".status.replicas"},
                    {"name": "Desired", "type": "integer", "jsonPath": ".status.desiredReplicas"},
                    {"name": "TTFT-ms", "type": "number", "jsonPath": ".status.observed.ttftMs",
                     "description": "Observed TTFT at the objective's percentile (p95 by default)"},
                    {"name": "Objective-ms", "type": "integer", "jsonPath": ".spec.objective.ttftMs"},
                    {"name": "Reason", "type": "string", "jsonPath": ".status.lastDecision.reason"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }],
        },
    }


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(_LABELS)}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def rbac(namespace: str) -> list[dict[str, Any]]:
    """Least privilege: read scalers and write their status, read/patch Deployment scale,
    read pods and nodes (for prices), write Events; Leases only in our own namespace."""
    cluster_rules = [
        {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["list"]},  # re-listed each sync, no watch
        {"apiGroups": [GROUP], "resources": [f"{PLURAL}/status"], "verbs": ["patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch"]},
        # pods → which node each replica runs on; nodes → instance and capacity type labels (price)
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},  # each Event is new, never patched
    ]
    lease_rules = [
        # `create` cannot be limited by resourceNames; get/update can.
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [LEASE_NAME],
         "verbs": ["get", "update"]},
    ]
    subject = [{"kind": "ServiceAccount", "name": APP_NAME, "namespace": namespace}]
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": _meta(APP_NAME), "rules": cluster_rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": _meta(APP_NAME),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": APP_NAME},
         "subjects": subject},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": _meta(f"{APP_NAME}-leader-election", namespace), "rules": lease_rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(f"{APP_NAME}-leader-election", namespace),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": f"{APP_NAME}-leader-election"},
         "subjects": subject},
    ]


def deployment(namespace: str, image: str, replicas: int = 2, extra_args: list[str] | None = None) -> dict[str, Any]:
    """Two replicas: one leads, the other takes over within the lease duration."""
    probe = {"httpGet": {"path": "/healthz", "port": "http-metrics"},
             "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3}
    ready = {"httpGet": {"path": "/readyz", "port": "http-metrics"},
             "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 2}
    container = {
        "name": "controller",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["controller", "run",
                 "--leader-elect-namespace", namespace,
                 "--leader-elect-name", LEASE_NAME,
                 "--metrics-port", str(METRICS_PORT), *(extra_args or [])],
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            # the CLI imports plotting code that wants a writable config dir; the root is read-only
            {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},
        ],
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "ports": [{"name": "http-metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "livenessProbe": {**probe, "initialDelaySeconds": 5},
        "readinessProbe": ready,
        # measured: an idle `meridian controller run` holds 126 MB resident (python, numpy, the
        # kubernetes client); the request covers that with room, the limit doubles it
        "resources": {"requests": {"cpu": "50m", "memory": "160Mi"}, "limits": {"memory": "320Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(APP_NAME, namespace),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(_SELECTOR)},
            "template": {
                "metadata": {"labels": dict(_LABELS)},
                "spec": {
                    "serviceAccountName": APP_NAME,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                            "labelSelector": {"matchLabels": dict(_SELECTOR)}},
                    }]}},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def render(
    namespace: str = DEFAULT_NAMESPACE,
    image: str = DEFAULT_IMAGE,
    service_account_annotations: dict | None = None,
    *,
    prometheus_url: str | None = None,
    price_region: str | None = None,
    price_refresh_s: float = 0.0,
) -> list[dict]:
    """All objects in apply order: Namespace, CRD, ServiceAccount, RBAC, Service,
    Deployment, PodDisruptionBudget. `service_account_annotations` carries e.g. the IRSA
    role (`eks.amazonaws.com/role-arn`) used for the optional price refresh. The keyword-only
    options become controller flags (`--prometheus-url`, `--price-region`, `--price-refresh`)."""
    extra: list[str] = []
    if prometheus_url:
        extra += ["--prometheus-url", prometheus_url]
    if price_region:
        extra += ["--price-region", price_region]
        if price_refresh_s > 0:
            extra += ["--price-refresh", f"{price_refresh_s:g}"]
    sa_meta = _meta(APP_NAME, namespace)
    if service_account_annotations:
        sa_meta["annotations"] = {str(k): str(v) for k, v in service_account_annotations.items()}
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)},
        crd(),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa_meta},
        *rbac(namespace),
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(APP_NAME, namespace),
         "spec": {"selector": dict(_SELECTOR),
                  "ports": [{"name": "http-metrics", "port": METRICS_PORT, "targetPort": "http-metrics"}]}},
        deployment(namespace, image, extra_args=extra),
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(APP_NAME, namespace),
         "spec": {"minAvailable": 1, "selector": {"matchLabels": dict(_SELECTOR)}}},
    ]
    return copy.deepcopy(objects)


def to_yaml(objects: list[dict]) -> str:
    """Multi-document YAML for kubectl, keys in the order written above."""
    import yaml

    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
