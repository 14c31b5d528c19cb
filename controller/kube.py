"""Kubernetes adapter: every API call the runtime makes, through the official client.

Each call runs under `retry.call` (deadline, jittered backoff, 4xx never retried). The
scale patch carries the resourceVersion it was computed from, so a concurrent change
answers 409; we then re-read the scale and retry exactly once.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog
import urllib3.exceptions
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from controller import manifests, retry

log = structlog.get_logger(__name__)

MERGE_PATCH = "application/merge-patch+json"  # the client's default for scale is json-patch
REMOTE_ERRORS = (ApiException, urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


def describe(err: BaseException) -> str:
    status = getattr(err, "status", None)
    reason = getattr(err, "reason", None)
    return f"HTTP {status} {reason or ''}".strip() if status else f"{type(err).__name__}: {str(err)[:160]}"


class TargetMissing(Exception):
    """A Deployment the InferenceScaler names does not exist."""

    def __init__(self, namespace: str, name: str):
        super().__init__(f"Deployment {namespace}/{name} not found")
        self.name = name


class ScalerGone(Exception):
    """The InferenceScaler was deleted while we were working on it."""


class NotLeader(Exception):
    """A write was refused because this instance no longer holds the lease."""


class ScaleChanged(Exception):
    """Someone else changed the target's replicas after we read them: the decision is stale."""


@dataclass(frozen=True)
class TargetState:
    name: str
    replicas: int  # spec.replicas: what we (or someone) asked for
    ready: int
    current: int  # status.replicas: pods that exist
    resource_version: str
    selector: dict[str, str] = field(default_factory=dict)
    # template_fingerprint of its pod template; "" when unknown, and while a rollout of the
    # template is under way (rollout_in_progress): a fleet of old and new pods is neither model
    template_hash: str = ""

    @property
    def starting(self) -> int:
        return max(0, max(self.replicas, self.current) - self.ready)


@dataclass(frozen=True)
class ObjectRef:
    namespace: str
    name: str
    uid: str = ""
    api_version: str = f"{manifests.GROUP}/{manifests.VERSION}"
    kind: str = manifests.KIND


# `kubectl rollout restart` stamps this on the template: new pods running the same model,
# so what was learnt about a replica still holds
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def template_fingerprint(template: dict[str, Any] | None) -> str:
    """12 hex chars of sha256 over a Deployment's pod template (as the API serialises it):
    image, args, env, resources, node selection. spec.replicas is outside it, so scaling
    never changes it. "" without a template."""
    if not template:
        return ""
    body = json.dumps(_without_restart(template), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def rollout_in_progress(deployment: dict[str, Any]) -> bool:
    """Whether the Deployment still runs pods of an older template, by the checks `kubectl
    rollout status` makes: the Deployment controller has not yet observed the latest spec
    (status.observedGeneration < metadata.generation), fewer pods than wanted run the latest
    template (status.updatedReplicas < spec.replicas), or pods of an older one still exist
    (status.replicas > status.updatedReplicas). A status without observedGeneration carries no
    rollout state (no Deployment controller has written it): not in progress. The API omits
    zero counts, so a missing updatedReplicas is 0."""
    status = deployment.get("status") or {}
    observed = status.get("observedGeneration")
    if observed is None:
        return False
    generation = (deployment.get("metadata") or {}).get("generation")
    if generation is not None and observed < generation:
        return True
    spec_replicas = (deployment.get("spec") or {}).get("replicas")
    wanted = 1 if spec_replicas is None else spec_replicas
    updated = status.get("updatedReplicas") or 0
    return updated < wanted or (status.get("replicas") or 0) > updated


def _without_restart(template: dict[str, Any]) -> dict[str, Any]:
    """A copy less its restart annotation; no annotations, none left and an empty map alike."""
    meta = dict(template.get("metadata") or {})
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items() if k != RESTARTED_AT}
    return {**template, "metadata": meta}


def now_rfc3339() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class KubeAdapter:
    def __init__(self, api_client: client.ApiClient, *, request_timeout: tuple[float, float] = (3.0, 10.0),
                 write_timeout: tuple[float, float] = (2.0, 3.0), deadline_s: float = 10.0,
                 identity: str = "meridian-controller", write_guard=lambda: True, write_budget=None,
                 cancel=None):
        self.api_client = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.timeout = request_timeout
        self.deadline_s = deadline_s
        self.write_timeout = write_timeout
        self.identity = identity
        self.write_guard = write_guard
        # seconds a write may still take before another instance could lead (None: no limit)
        self.write_budget = write_budget
        self.cancel = cancel  # threading.Event set on shutdown: retries stop at once

    def _call(self, what: str, fn, *args, **kwargs):
        return retry.call(fn, *args, deadline_s=self.deadline_s, what=what, cancel=self.cancel,
                          _request_timeout=self.timeout, **kwargs)

    def _write(self, what: str, fn, *args, **kwargs):
        """Like `_call`, but every attempt first checks we still lead, and its request timeout
        is short enough to land before another instance could take the lease over."""
        def attempt(*a, **kw):
            if not self.write_guard():
                raise NotLeader(what)
            connect, read = self.write_timeout
            budget = self.write_budget() if self.write_budget else None
            if budget is not None:  # the whole request must end before a successor may start
                if budget <= 0.2:
                    raise NotLeader(what)
                connect, read = min(connect, budget / 2), min(read, budget / 2)
            return fn(*a, _request_timeout=(connect, read), **kw)

        return retry.call(attempt, *args, deadline_s=self.deadline_s, what=what, cancel=self.cancel, **kwargs)

    # -- InferenceScalers ------------------------------------------------------------------
    def list_scalers(self, namespaces: list[str] | None) -> list[dict[str, Any]]:
        g, v, p = manifests.GROUP, manifests.VERSION, manifests.PLURAL
        if not namespaces:
            return list(self._call("list scalers", self.custom.list_cluster_custom_object, g, v, p)
                        .get("items", []))
        items: list[dict[str, Any]] = []
        for ns in namespaces:
            items += self._call("list scalers", self.custom.list_namespaced_custom_object, g, v, ns, p
                                ).get("items", [])
        return items

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        try:
            self._write("patch status", self.custom.patch_namespaced_custom_object_status,
                       manifests.GROUP, manifests.VERSION, namespace, manifests.PLURAL, name,
                       {"status": status}, _content_type=MERGE_PATCH)
        except ApiException as err:
            if err.status == 404:
                raise ScalerGone(f"{namespace}/{name}") from None
            raise

    # -- the target Deployment -------------------------------------------------------------
    def _read_of_target(self, what: str, fn, namespace: str, name: str):
        """A read of the Deployment (or its scale) where 404 means the target is gone."""
        try:
            return self._call(what, fn, name, namespace)
        except ApiException as err:
            if err.status == 404:
                raise TargetMissing(namespace, name) from None
            raise

    def read_target(self, namespace: str, name: str) -> TargetState:
        dep = self._read_of_target("read deployment", self.apps.read_namespaced_deployment, namespace, name)
        status = dep.status
        return TargetState(
            name=name,
            replicas=int(dep.spec.replicas if dep.spec.replicas is not None else 1),
            ready=int((status and status.ready_replicas) or 0),
            current=int((status and status.replicas) or 0),
            resource_version=dep.metadata.resource_version or "",
            selector=dict((dep.spec.selector and dep.spec.selector.match_labels) or {}),
            template_hash=self._settled_template_hash(dep),
        )

    def _settled_template_hash(self, dep) -> str:
        """The pod template's fingerprint once every pod runs it; "" during a rollout."""
        body = self.api_client.sanitize_for_serialization(dep)
        return "" if rollout_in_progress(body) else template_fingerprint(body.get("spec", {}).get("template"))

    def patch_scale(self, namespace: str, name: str, replicas: int, resource_version: str,
                    expected_current: int | None = None) -> int:
        """Set spec.replicas through the scale subresource. Returns the replicas now set.

        On a 409 the scale is re-read. If its replicas are still `expected_current` (the
        conflict came from e.g. a status update) the patch is retried once; if they are already
        `replicas` (our own earlier attempt landed) nothing more is sent; if another writer
        changed them, `ScaleChanged` is raised: a step computed from the old size must not be
        applied to the new one (the next sync decides again from fresh state)."""
        for attempt in (1, 2):
            body: dict[str, Any] = {"spec": {"replicas": int(replicas)}}
            if resource_version:
                body["metadata"] = {"resourceVersion": resource_version}
            try:
                scale = self._write("patch scale", self.apps.patch_namespaced_deployment_scale, name, namespace,
                                   body, _content_type=MERGE_PATCH)
                return int(scale.spec.replicas)
            except ApiException as err:
                if err.status == 404:
                    raise TargetMissing(namespace, name) from None
                if err.status != 409 or attempt == 2:
                    raise
                log.info("scale conflict, re-reading", target=f"{namespace}/{name}")
                fresh = self._read_of_target("read scale", self.apps.read_namespaced_deployment_scale,
                                             namespace, name)
                now = fresh.spec.replicas if fresh.spec and fresh.spec.replicas is not None else None
                if now == replicas:
                    return int(now)
                if expected_current is not None and now != expected_current:
                    raise ScaleChanged(f"another writer changed {namespace}/{name} from {expected_current} to "
                                       f"{now} replicas while we decided; deciding again next sync") from None
                resource_version = fresh.metadata.resource_version or ""
        raise AssertionError("unreachable")

    # -- where replicas run (for prices) ---------------------------------------------------
    def replica_node_labels(self, namespace: str, selector: dict[str, str]) -> list[dict[str, str]]:
        """Node labels of every scheduled pod of the target, one entry per pod."""
        if not selector:
            return []
        sel = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = self._call("list pods", self.core.list_namespaced_pod, namespace, label_selector=sel)
        labels_by_node: dict[str, dict[str, str]] = {}
        out = []
        for pod in pods.items or []:
            node = pod.spec.node_name if pod.spec else None
            if not node or (pod.metadata and pod.metadata.deletion_timestamp):
                continue
            if node not in labels_by_node:
                try:
                    labels_by_node[node] = dict(self._call("read node", self.core.read_node, node).metadata.labels
                                                or {})
                except ApiException as err:
                    if err.status != 404:
                        raise
                    labels_by_node[node] = {}
            out.append(labels_by_node[node])
        return out

    # -- Events ----------------------------------------------------------------------------
    def emit_event(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        """Best effort: an Event that cannot be written is logged, never fatal."""
        stamp = dt.datetime.now(dt.timezone.utc)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{ref.name}.{uuid.uuid4().hex[:16]}", namespace=ref.namespace),
            involved_object=client.V1ObjectReference(api_version=ref.api_version, kind=ref.kind, name=ref.name,
                                                     namespace=ref.namespace, uid=ref.uid or None),
            type=type_, reason=reason, message=message[:1024], count=1,
            first_timestamp=stamp, last_timestamp=stamp,
            source=client.V1EventSource(component=manifests.APP_NAME),
            reporting_component=f"{manifests.GROUP}/controller", reporting_instance=self.identity,
        )
        try:
            self._write("create event", self.core.create_namespaced_event, ref.namespace, event)
        except NotLeader:
            raise
        except Exception as err:  # noqa: BLE001 - events are advisory
            log.warning("event not written", reason=reason, error=str(err)[:200])
