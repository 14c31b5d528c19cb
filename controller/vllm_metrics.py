"""An exporter that speaks vLLM's metric names, for tests and the closed-loop rehearsal.

It stands in for the `/metrics` endpoint of vLLM pods: whoever drives it (a test, or
the twin in the rehearsal) records finished requests and sets the running/waiting
gauges; Prometheus scrapes it like a pod. Names and bucket bounds follow vLLM's
"Production Metrics" documentation; the bounds are ours (a subset), which only changes
quantile resolution. Every figure is read under one lock, so one scrape is consistent.
"""
from __future__ import annotations

import bisect
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest

# Always the classic text format: prometheus_client's OpenMetrics writer (0.26) rewrites the
# colons of vLLM's names to underscores, which would hide them from the presets.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0)
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0)


class _Histogram:
    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # last: above the largest bound
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def family(self, name: str, doc: str, labels: dict[str, str]) -> HistogramMetricFamily:
        cumulative, running = [], 0
        for bound, count in zip(self.bounds, self.counts):
            running += count
            cumulative.append((repr(float(bound)), running))
        cumulative.append(("+Inf", running + self.counts[-1]))
        fam = HistogramMetricFamily(name, doc, labels=list(labels))
        fam.add_metric(list(labels.values()), cumulative, self.total)
        return fam


class VllmMetrics:
    """Collector with vLLM's names; `serve()` exposes it on 127.0.0.1."""

    def __init__(self, model_name: str = "meridian/rehearsal"):
        self.labels = {"model_name": model_name}
        self._lock = threading.Lock()
        self._ttft = _Histogram(TTFT_BUCKETS)
        self._e2e = _Histogram(E2E_BUCKETS)
        self._prompt = _Histogram((64, 256, 1024, 4096, 16384))
        self._output = _Histogram((16, 64, 256, 1024, 4096))
        self._success = 0
        self._running = 0.0
        self._waiting = 0.0
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def record(self, ttft_s: float, e2e_s: float, prompt_tokens: int = 0, output_tokens: int = 0) -> None:
        with self._lock:
            self._record(ttft_s, e2e_s, prompt_tokens, output_tokens)

    def record_many(self, requests: list[tuple[float, float, int, int]], running: float | None = None,
                    waiting: float | None = None) -> None:
        """Several finished requests and the gauges, atomically (one scrape sees all or none)."""
        with self._lock:
            for r in requests:
                self._record(*r)
            if running is not None:
                self._running = running
            if waiting is not None:
                self._waiting = waiting

    def _record(self, ttft_s, e2e_s, prompt_tokens, output_tokens) -> None:
        self._ttft.observe(ttft_s)
        self._e2e.observe(e2e_s)
        self._prompt.observe(prompt_tokens)
        self._output.observe(output_tokens)
        self._success += 1

    def set_gauges(self, running: float, waiting: float) -> None:
        with self._lock:
            self._running, self._waiting = running, waiting

    def collect(self):
        with self._lock:
            labels = dict(self.labels)
            yield self._ttft.family("vllm:time_to_first_token_seconds", "Time to first token", labels)
            yield self._e2e.family("vllm:e2e_request_latency_seconds", "End-to-end request latency", labels)
            yield self._prompt.family("vllm:request_prompt_tokens", "Prompt tokens per request", labels)
            yield self._output.family("vllm:request_generation_tokens", "Generated tokens per request", labels)
            success = CounterMetricFamily("vllm:request_success", "Finished requests",
                                          labels=[*labels, "finished_reason"])
            success.add_metric([*labels.values(), "stop"], self._success)
            yield success
            for name, value in (("vllm:num_requests_running", self._running),
                                ("vllm:num_requests_waiting", self._waiting)):
                g = GaugeMetricFamily(name, name, labels=list(labels))
                g.add_metric(list(labels.values()), value)
                yield g

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                body = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", TEXT_FORMAT)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="vllm-metrics", daemon=True).start()
        self.url = f"http://{host}:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
