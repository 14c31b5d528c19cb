"""A stand-in for the few Kubernetes API endpoints the controller uses.

No kube-apiserver can run on the machines this project is built on, so tests and the
closed-loop rehearsal drive the real `kubernetes` client against this server instead.
It stands in for: listing InferenceScalers and merge-patching their status; reading
Deployments and merge-patching their scale subresource (with resourceVersion
preconditions → 409, like the real server); listing pods by label selector; reading
nodes; creating Events; and get/create/replace of Leases (resourceVersion → 409).
It does NOT do authentication, admission, defaulting, watches or garbage collection.

Faults can be injected per request (status code or delay), optionally only for one
client (matched on User-Agent), and every request is recorded for assertions.
"""
from __future__ import annotations

import copy
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from controller import manifests

G, V, P = manifests.GROUP, manifests.VERSION, manifests.PLURAL


@dataclass
class Fault:
    method: str  # GET, PATCH, POST, PUT or "*"
    path: str  # regex searched in the path
    status: int | None = None  # answer with this status…
    delay_s: float = 0.0  # …and/or after this delay
    times: int = 1  # how many requests it affects (-1: forever)
    user_agent: str | None = None  # only requests from this client

    def matches(self, method: str, path: str, agent: str) -> bool:
        return (self.times != 0 and self.method in ("*", method) and re.search(self.path, path) is not None
                and (self.user_agent is None or self.user_agent == agent))


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any
    user_agent: str
    status: int = 0


@dataclass
class ApiStandIn:
    auto_ready: bool = True  # a scaled Deployment's pods become ready at once
    on_scale: Callable[[str, str, int], None] | None = None  # (namespace, name, replicas)
    objects: dict[tuple[str, str, str], dict] = field(default_factory=dict)  # (kind, namespace, name)
    requests: list[Request] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.RLock()
        self._rv = 100
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "ApiStandIn":
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out together, no 40 ms stalls

            def _handle(self):
                stand_in._dispatch(self)

            do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="api-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- fixtures --------------------------------------------------------------------------
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def put(self, kind: str, obj: dict) -> dict:
        with self._lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = self._next_rv()
            meta.setdefault("uid", f"uid-{kind}-{meta.get('namespace', '')}-{meta['name']}")
            meta.setdefault("generation", 1)
            self.objects[(kind, meta.get("namespace", ""), meta["name"])] = obj
            return copy.deepcopy(obj)

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        with self._lock:
            obj = self.objects.get((kind, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def delete(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self.objects.pop((kind, namespace, name), None)

    def add_scaler(self, obj: dict) -> dict:
        return self.put("InferenceScaler", obj)

    def add_deployment(self, namespace: str, name: str, replicas: int, ready: int | None = None,
                       labels: dict[str, str] | None = None) -> dict:
        labels = labels or {"app": name}
        ready = replicas if ready is None else ready
        return self.put("Deployment", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai"}]}}},
            "status": {"replicas": replicas, "readyReplicas": ready},
        })

    def set_deployment_status(self, namespace: str, name: str, *, replicas: int, ready: int) -> None:
        with self._lock:
            dep = self.objects[("Deployment", namespace, name)]
            dep["status"] = {"replicas": replicas, "readyReplicas": ready}

    def patch_pod_template(self, namespace: str, name: str, patch: dict) -> None:
        """Merge-patch a Deployment's spec.template, as `kubectl set image` or a rollout
        restart would: a new resourceVersion and generation, spec.replicas untouched."""
        with self._lock:
            dep = self.objects[("Deployment", namespace, name)]
            dep["spec"]["template"] = merge_patch(dep["spec"]["template"], patch)
            dep["metadata"]["resourceVersion"] = self._next_rv()
            dep["metadata"]["generation"] = dep["metadata"].get("generation", 1) + 1

    def roll_out(self, namespace: str, name: str, patch: dict) -> None:
        """`patch_pod_template`, then the status the Deployment controller writes once it has
        seen the new template and before any new pod exists: observedGeneration current,
        updatedReplicas 0 (the API omits it), the old pods still counted in replicas."""
        self.patch_pod_template(namespace, name, patch)
        with self._lock:
            dep = self.objects[("Deployment", namespace, name)]
            old = dep.get("status") or {}
            dep["status"] = {"replicas": old.get("replicas", 0), "readyReplicas": old.get("readyReplicas", 0),
                             "observedGeneration": dep["metadata"]["generation"]}

    def finish_rollout(self, namespace: str, name: str) -> None:
        """Every pod runs the latest template: updatedReplicas = replicas = spec.replicas."""
        with self._lock:
            dep = self.objects[("Deployment", namespace, name)]
            want = dep["spec"]["replicas"]
            dep["status"] = {**(dep.get("status") or {}), "replicas": want, "updatedReplicas": want,
                             "observedGeneration": dep["metadata"]["generation"]}

    def add_node(self, name: str, labels: dict[str, str]) -> dict:
        return self.put("Node", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})

    def add_pod(self, namespace: str, name: str, labels: dict[str, str], node: str | None) -> dict:
        spec: dict[str, Any] = {"containers": [{"name": "server", "image": "vllm/vllm-openai"}]}
        if node:
            spec["nodeName"] = node
        return self.put("Pod", {"apiVersion": "v1", "kind": "Pod",
                                "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": spec})

    def requests_matching(self, method: str, pattern: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def events(self, reason: str | None = None) -> list[dict]:
        with self._lock:
            evs = [copy.deepcopy(o) for (k, _, _), o in self.objects.items() if k == "Event"]
        return [e for e in evs if reason is None or e.get("reason") == reason]

    # -- HTTP ------------------------------------------------------------------------------
    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlparse(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        req = Request(h.command, parsed.path, urllib.parse.parse_qs(parsed.query),
                      h.headers.get("Content-Type", ""), body, h.headers.get("User-Agent", ""))
        with self._lock:
            self.requests.append(req)
            fault = next((f for f in self.faults if f.matches(req.method, req.path, req.user_agent)), None)
            if fault and fault.times > 0:
                fault.times -= 1
        if fault and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault and fault.status:
            status, payload = fault.status, _status(fault.status, "injected fault")
        else:
            try:
                with self._lock:
                    status, payload = self._route(req)
            except Exception as err:  # noqa: BLE001 - a stand-in bug shows as a 500 with its text
                status, payload = 500, _status(500, f"stand-in error: {type(err).__name__}: {err}")
        req.status = status
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def _route(self, r: Request) -> tuple[int, Any]:
        p, m = r.path.rstrip("/"), r.method
        if m == "GET" and (p == f"/apis/{G}/{V}/{P}" or re.fullmatch(rf"/apis/{G}/{V}/namespaces/[^/]+/{P}", p)):
            ns = p.split("/")[5] if "/namespaces/" in p else None
            return 200, self._list("InferenceScaler", ns, None, f"{manifests.KIND}List", f"{G}/{V}")
        if mt := re.fullmatch(rf"/apis/{G}/{V}/namespaces/([^/]+)/{P}/([^/]+)(/status)?", p):
            return self._object("InferenceScaler", mt.group(1), mt.group(2), m, r, status_only=bool(mt.group(3)))
        if mt := re.fullmatch(r"/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)(/scale)?", p):
            if mt.group(3):
                return self._scale(mt.group(1), mt.group(2), m, r)
            return self._object("Deployment", mt.group(1), mt.group(2), m, r)
        if m == "GET" and (mt := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", p)):
            sel = (r.query.get("labelSelector") or [""])[0]
            return 200, self._list("Pod", mt.group(1), sel, "PodList", "v1")
        if m == "GET" and (mt := re.fullmatch(r"/api/v1/nodes/([^/]+)", p)):
            return self._object("Node", "", mt.group(1), m, r)
        if m == "POST" and (mt := re.fullmatch(r"/api/v1/namespaces/([^/]+)/events", p)):
            ev = dict(r.body)
            ev.setdefault("metadata", {}).setdefault("name", f"event-{self._rv}")
            ev["metadata"]["namespace"] = mt.group(1)
            return 201, self.put("Event", ev)
        if mt := re.fullmatch(r"/apis/coordination.k8s.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?", p):
            return self._lease(mt.group(1), mt.group(2), m, r)
        return 404, _status(404, f"no route for {m} {p}")

    def _list(self, kind: str, ns: str | None, selector: str | None, list_kind: str, api_version: str):
        want = dict(kv.split("=", 1) for kv in selector.split(",") if "=" in kv) if selector else {}
        items = [copy.deepcopy(o) for (k, n, _), o in sorted(self.objects.items())
                 if k == kind and (ns is None or n == ns)
                 and all(o["metadata"].get("labels", {}).get(a) == b for a, b in want.items())]
        return {"apiVersion": api_version, "kind": list_kind, "metadata": {"resourceVersion": str(self._rv)},
                "items": items}

    def _object(self, kind, ns, name, method, r, status_only=False):
        obj = self.objects.get((kind, ns, name))
        if obj is None:
            return 404, _status(404, f"{kind} {ns}/{name} not found", "NotFound")
        if method == "GET":
            return 200, copy.deepcopy(obj)
        if method == "PATCH" and status_only:
            if "merge-patch" not in r.content_type:
                return 415, _status(415, f"unsupported patch type {r.content_type}", "UnsupportedMediaType")
            obj["status"] = merge_patch(obj.get("status") or {}, (r.body or {}).get("status") or {})
            obj["metadata"]["resourceVersion"] = self._next_rv()
            return 200, copy.deepcopy(obj)
        return 405, _status(405, f"{method} not supported here", "MethodNotAllowed")

    def _scale(self, ns, name, method, r):
        dep = self.objects.get(("Deployment", ns, name))
        if dep is None:
            return 404, _status(404, f"deployments.apps {name} not found", "NotFound")
        if method == "PATCH":
            if "merge-patch" not in r.content_type:  # our adapter must never send a json-patch here
                return 415, _status(415, f"unsupported patch type {r.content_type}", "UnsupportedMediaType")
            want_rv = ((r.body or {}).get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != dep["metadata"]["resourceVersion"]:
                return 409, _status(409, "the object has been modified; please apply your changes to the "
                                    "latest version and try again", "Conflict")
            replicas = int((r.body or {}).get("spec", {}).get("replicas", dep["spec"]["replicas"]))
            if replicas < 0:
                return 422, _status(422, "replicas must be >= 0", "Invalid")
            dep["spec"]["replicas"] = replicas
            dep["metadata"]["resourceVersion"] = self._next_rv()
            if self.auto_ready:
                old = dep.get("status") or {}
                dep["status"] = {**old, "replicas": replicas, "readyReplicas": replicas}
                if "observedGeneration" in old:  # rollout state kept: only a finished one scales whole
                    settled = (old.get("updatedReplicas") or 0) >= (old.get("replicas") or 0)
                    dep["status"]["updatedReplicas"] = replicas if settled else min(old.get("updatedReplicas") or 0,
                                                                                    replicas)
            if self.on_scale:
                self.on_scale(ns, name, replicas)
        elif method != "GET":
            return 405, _status(405, f"{method} not supported on scale", "MethodNotAllowed")
        return 200, {"apiVersion": "autoscaling/v1", "kind": "Scale",
                     "metadata": {"name": name, "namespace": ns, "resourceVersion": dep["metadata"]["resourceVersion"]},
                     "spec": {"replicas": dep["spec"]["replicas"]},
                     "status": {"replicas": dep.get("status", {}).get("replicas", 0),
                                "selector": ",".join(f"{k}={v}" for k, v in dep["spec"]["selector"]["matchLabels"].items())}}

    def _lease(self, ns, name, method, r):
        key = ("Lease", ns, name or (r.body or {}).get("metadata", {}).get("name", ""))
        current = self.objects.get(key)
        if method == "GET":
            return (200, copy.deepcopy(current)) if current else (404, _status(404, "lease not found", "NotFound"))
        if method == "POST":
            if current:
                return 409, _status(409, "lease already exists", "AlreadyExists")
            return 201, self.put("Lease", r.body)
        if method == "PUT":
            if not current:
                return 404, _status(404, "lease not found", "NotFound")
            if (r.body.get("metadata") or {}).get("resourceVersion") != current["metadata"]["resourceVersion"]:
                return 409, _status(409, "the object has been modified", "Conflict")
            body = copy.deepcopy(r.body)
            body["metadata"]["resourceVersion"] = self._next_rv()
            self.objects[key] = body
            return 200, copy.deepcopy(body)
        return 405, _status(405, f"{method} not supported on leases", "MethodNotAllowed")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _status(code: int, message: str, reason: str = "") -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason or {500: "InternalError", 503: "ServiceUnavailable"}.get(code, ""), "code": code}
