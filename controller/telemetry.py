"""The controller's own metrics and its health endpoints.

Label sets are bounded: results and error kinds are fixed lists; the per-scaler
gauges are labelled by namespace/name of InferenceScalers (as many as the operator
creates), never by pod.
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

RESULTS = ("scale_up", "scale_down", "rebalance", "hold", "metrics_unavailable", "invalid_spec", "target_missing", "error")
ERROR_KINDS = ("kubernetes", "prometheus", "policy", "lease", "spec", "internal")


class Telemetry:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter("meridian_decisions", "Decisions made, by result", ["result"], registry=r)
        self.errors = Counter("meridian_errors", "Errors during reconcile, by kind", ["kind"], registry=r)
        self.desired = Gauge("meridian_desired_replicas", "Replicas the last decision asked for",
                             ["namespace", "scaler"], registry=r)
        self.current = Gauge("meridian_current_replicas", "Replicas of the target at the last sync",
                             ["namespace", "scaler"], registry=r)
        self.predicted_ttft = Gauge("meridian_predicted_ttft_seconds", "TTFT the policy predicts after its decision",
                                    ["namespace", "scaler"], registry=r)
        self.observed_ttft = Gauge("meridian_observed_ttft_seconds", "TTFT at the objective's percentile",
                                   ["namespace", "scaler"], registry=r)
        self.cost = Gauge("meridian_replica_cost_dollars_per_hour", "Cost of the target's replicas, USD/h",
                          ["namespace", "scaler"], registry=r)
        self.reconcile = Histogram("meridian_reconcile_duration_seconds", "Time of one sync over all scalers",
                                   buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r)
        self.leader = Gauge("meridian_leader", "1 while this instance holds the lease", registry=r)
        self.scalers = Gauge("meridian_scalers", "InferenceScalers seen at the last sync", registry=r)
        for result in RESULTS:
            self.decisions.labels(result)
        for kind in ERROR_KINDS:
            self.errors.labels(kind)

    def forget(self, namespace: str, scaler: str) -> None:
        """Drop a deleted scaler's series so label sets do not grow forever."""
        for g in (self.desired, self.current, self.predicted_ttft, self.observed_ttft, self.cost):
            try:
                g.remove(namespace, scaler)
            except KeyError:
                pass


class Health:
    """Liveness: the main loop ticked recently. Readiness: Kubernetes answered a list recently
    and the lease loop has run (a standby that is healthy is ready)."""

    def __init__(self, stale_after_s: float, clock: Callable[[], float] = time.monotonic):
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.last_tick: float | None = None
        self.last_list_ok: float | None = None
        self.lease_attempted: Callable[[], bool] = lambda: True
        self.stopping = False

    def alive(self) -> bool:
        return self.last_tick is not None and self.clock() - self.last_tick < self.stale_after_s

    def ready(self) -> bool:
        return (not self.stopping and self.lease_attempted() and self.last_list_ok is not None
                and self.clock() - self.last_list_ok < self.stale_after_s)


def serve(telemetry: Telemetry, health: Health, host: str, port: int) -> ThreadingHTTPServer:
    """Start /healthz, /readyz and /metrics on a daemon thread; returns the server (shutdown() it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(telemetry.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = health.alive()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"main loop stalled\n")
            elif path == "/readyz":
                ok = health.ready()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"not ready\n")
            else:
                self._reply(404, b"not found\n")

        def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # probes every few seconds: keep stderr quiet
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.1,), name="telemetry-http", daemon=True).start()
    return server
