"""Metric sources against a real Prometheus (Debian `prometheus`, started here on 127.0.0.1)
scraping exporters served by this test: vLLM-style names (controller.vllm_metrics) and
TGI/generic names (prometheus_client). Faults: stopped, slow and garbage-answering servers."""
from __future__ import annotations

import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.exposition import MetricsHandler

from controller.prom_process import PrometheusProcess
from controller.sources.base import MetricsUnavailable
from controller.sources.prometheus import PrometheusSource
from controller.spec import parse
from controller.vllm_metrics import VllmMetrics
from tests.test_controller_helpers import scaler

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian prometheus not installed")

WINDOW = "4s"
RUNNING, WAITING = 12.0, 3.0


class Traffic:
    """Every 0.25 s: 9 fast requests (TTFT 0.2 s) and 1 slow one (TTFT 0.7 s), atomically,
    so every rate() window sees the same 9:1 mix and p95 TTFT is exactly computable."""

    def __init__(self, vllm: VllmMetrics, tgi_hist: Histogram, tgi_count: Gauge, gen: Histogram, tgi_queue, tgi_fwd):
        self.vllm, self.tgi_hist, self.tgi_count, self.gen = vllm, tgi_hist, tgi_count, gen
        self.tgi_queue, self.tgi_fwd = tgi_queue, tgi_fwd
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.sent, self.started = 0, time.monotonic()

    def achieved_rps(self) -> float:
        """What the thread really managed (a loaded machine may lag the 40/s it aims for)."""
        return self.sent / (time.monotonic() - self.started)

    def _run(self):
        while not self.stop.is_set():
            self.sent += 10
            reqs = [(0.2, 2.0, 512, 128)] * 9 + [(0.7, 8.0, 512, 128)]
            self.vllm.record_many(reqs, running=RUNNING, waiting=WAITING)
            for _ in range(10):
                self.tgi_count.inc()
            for value in [0.2] * 9 + [0.7]:
                self.tgi_hist.observe(value)
                self.gen.observe(value)
                self.tgi_queue.observe(0.05)
                self.tgi_fwd.labels("prefill").observe(0.05)
            self.stop.wait(0.25)


@pytest.fixture(scope="module")
def prom():
    vllm = VllmMetrics()
    vllm_url = vllm.serve()
    idle = VllmMetrics(model_name="idle")
    idle.record(0.2, 1.0)  # one old request, then nothing
    idle_url = idle.serve()
    reg = CollectorRegistry()
    buckets = (0.1, 0.25, 0.5, 1.0, 2.5)
    tgi_e2e = Histogram("tgi_request_duration", "e2e", buckets=buckets, registry=reg)
    tgi_queue = Histogram("tgi_request_queue_duration", "queue", buckets=buckets, registry=reg)
    tgi_fwd = Histogram("tgi_batch_forward_duration", "forward", ["method"], buckets=buckets, registry=reg)
    # TGI's counter has no _total suffix; prometheus_client would add one to a Counter
    tgi_count = Gauge("tgi_request_count", "requests", registry=reg)
    Gauge("tgi_queue_size", "queue", registry=reg).set(4)
    Gauge("tgi_batch_current_size", "batch", registry=reg).set(6)
    gen = Histogram("http_request_duration_seconds", "latency", buckets=buckets, registry=reg)
    # a fleet of pods: "old" scraped from the start and idle after one request; a test adds "new"
    fleet = Histogram("fleet_request_duration_seconds", "latency", ["pod"], buckets=buckets, registry=reg)
    fleet.labels("old").observe(0.2)
    server = ThreadingHTTPServer(("127.0.0.1", 0), MetricsHandler.factory(reg))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    traffic = Traffic(vllm, tgi_e2e, tgi_count, gen, tgi_queue, tgi_fwd)
    traffic.thread.start()
    p = PrometheusProcess([vllm_url, idle_url, f"127.0.0.1:{server.server_address[1]}"],
                          scrape_interval_s=0.5).start()
    source = PrometheusSource(p.url)
    spec = parse_spec(metrics={"labels": {"model_name": "meridian/rehearsal"}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until rate() over the window has enough samples
        try:
            if (source.sample(spec).arrival_rate_rps or 0) > 0:
                break
        except MetricsUnavailable:
            pass
        time.sleep(0.5)
    time.sleep(5)  # let the window fill with the steady mix
    p.traffic, p.fleet = traffic, fleet
    yield p
    traffic.stop.set()
    p.stop()
    vllm.stop()
    idle.stop()
    server.shutdown()
    server.server_close()


def parse_spec(**overrides):
    metrics = {"preset": "vllm", "window": WINDOW, "labels": {"model_name": "meridian/rehearsal"}}
    metrics.update(overrides.pop("metrics", {}))
    return parse(scaler(metrics=metrics, **overrides))


def expected_p95(fast_le=0.25, slow_lo=0.5, slow_hi=0.75, fast_share=0.9, q=0.95):
    """histogram_quantile's linear interpolation inside the bucket holding rank q."""
    return slow_lo + (slow_hi - slow_lo) * (q - fast_share) / (1 - fast_share)


def test_vllm_preset_returns_the_right_numbers(prom):
    s = PrometheusSource(prom.url).sample(parse_spec())
    assert s.ttft_quantile_s == pytest.approx(expected_p95(), rel=1e-6)  # 0.625: bucket (0.5, 0.75]
    assert s.in_flight == RUNNING and s.queued == WAITING
    assert s.arrival_rate_rps == pytest.approx(prom.traffic.achieved_rps(), rel=0.35)
    assert s.e2e_quantile_s is not None and 5.0 < s.e2e_quantile_s <= 10.0  # slow ones: 8 s, bucket (5, 10]
    assert s.mean_prompt_tokens == pytest.approx(512.0) and s.mean_output_tokens == pytest.approx(128.0)
    assert 0.0 <= s.age_s < 10.0


def test_percentile_follows_the_objective(prom):
    s = PrometheusSource(prom.url).sample(parse_spec(objective={"ttftMs": 800, "percentile": 50}))
    assert s.ttft_quantile_s == pytest.approx(0.1 + 0.15 * 0.5 / 0.9, rel=1e-6)  # rank 0.5 in (0.1, 0.25]


def test_tgi_preset(prom):
    s = PrometheusSource(prom.url).sample(parse_spec(metrics={"preset": "tgi", "labels": {}}))
    assert s.in_flight == 6.0 and s.queued == 4.0
    assert s.arrival_rate_rps == pytest.approx(prom.traffic.achieved_rps(), rel=0.35)
    assert s.e2e_quantile_s == pytest.approx(expected_p95(slow_hi=1.0), rel=1e-6)
    # TTFT ≈ p95(queue) + p95(prefill); each sits in bucket (0, 0.1] → 0.095 + 0.095
    assert s.ttft_quantile_s == pytest.approx(0.19, rel=1e-6)


def test_generic_preset_uses_the_named_histogram(prom):
    spec = parse_spec(metrics={"preset": "generic", "histogram": "http_request_duration_seconds", "labels": {}},
                      objective={"e2eMs": 900})
    s = PrometheusSource(prom.url).sample(spec)
    assert s.e2e_quantile_s == pytest.approx(expected_p95(slow_hi=1.0), rel=1e-6)
    assert s.ttft_quantile_s is None and s.in_flight is None


def test_explicit_queries_override_the_preset(prom):
    spec = parse_spec(metrics={"queries": {"inFlight": "vector(42)", "queued": "sum(vllm:num_requests_waiting) * 2"}})
    s = PrometheusSource(prom.url).sample(spec)
    assert s.in_flight == 42.0 and s.queued == 2 * WAITING


def test_nan_with_traffic_is_unavailable(prom):
    spec = parse_spec(metrics={"queries": {"ttft": "vector(NaN)"}})
    with pytest.raises(MetricsUnavailable) as err:
        PrometheusSource(prom.url).sample(spec)
    assert err.value.reason == "NotANumber"


def test_no_series_is_unavailable(prom):
    spec = parse_spec(metrics={"labels": {"model_name": "not-served"}})
    with pytest.raises(MetricsUnavailable) as err:
        PrometheusSource(prom.url).sample(spec)
    assert err.value.reason == "NoData"
    assert "vllm_" in err.value.message  # the likeliest cause is named: a renamed metric


def test_bad_promql_is_rejected_and_not_retried(prom):
    spec = parse_spec(metrics={"queries": {"inFlight": "sum(("}})
    src = PrometheusSource(prom.url, deadline_s=5.0)
    calls = []
    real = src._get
    src._get = lambda url, query: (calls.append(query), real(url, query))[1]
    with pytest.raises(MetricsUnavailable) as err:
        src.sample(spec)
    assert err.value.reason == "QueryRejected"
    assert calls.count("sum((") == 1  # Prometheus said 400: asked once, not retried


def test_old_samples_are_stale(prom):
    src = PrometheusSource(prom.url, wall_clock=lambda: time.time() + 600)  # as if 10 min had passed
    with pytest.raises(MetricsUnavailable) as err:
        src.sample(parse_spec())
    assert err.value.reason == "Stale"


def test_stopped_prometheus_is_unavailable():
    p = PrometheusProcess([]).start()
    url = p.url
    p.stop()
    with pytest.raises(MetricsUnavailable) as err:
        PrometheusSource(url, deadline_s=1.0).sample(parse_spec())
    assert err.value.reason == "QueryFailed"


class _Bad(BaseHTTPRequestHandler):
    mode = "garbage"

    hits: list = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        if self.mode == "slow":
            time.sleep(1.5)
        body = b"<html>proxy error</html>" if self.mode == "garbage" else b'{"status":"success"}'
        if self.mode in ("nan_time", "inf_time", "negative"):  # well-formed answers with garbage numbers
            value = {"nan_time": "NaN", "inf_time": "-Inf"}.get(self.mode, str(time.time())) \
                if "timestamp%28" in self.path \
                else "-3" if self.mode == "negative" and "rate%28" in self.path else "1"
            body = ('{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"%s"]}]}}'
                    % value).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *a):
        pass


@pytest.mark.parametrize("mode, reason", [("garbage", "BadResponse"), ("slow", "QueryFailed"),
                                          ("nan_time", "NotANumber"), ("inf_time", "NotANumber"),
                                          ("negative", "BadResponse")])
def test_garbage_and_slow_prometheus_are_unavailable(mode, reason):
    handler = type("H", (_Bad,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        src = PrometheusSource(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=0.5, deadline_s=1.5)
        with pytest.raises(MetricsUnavailable) as err:
            src.sample(parse_spec())
        assert err.value.reason == reason
    finally:
        server.shutdown()
        server.server_close()


def test_zero_traffic_latency_is_none_not_unavailable(prom):
    """An idle server: histograms exist but nothing arrives, so latency is NaN = 'no traffic'
    (and its counter, long-lived but flat, covers the window: no traffic is not warm-up)."""
    s = PrometheusSource(prom.url).sample(parse_spec(metrics={"labels": {"model_name": "idle"}}))
    assert s.arrival_rate_rps == 0.0
    assert s.ttft_quantile_s is None and s.e2e_quantile_s is None and s.in_flight == 0.0


@pytest.mark.parametrize("metrics", [{}, {"preset": "tgi", "labels": {}},
                                     {"preset": "generic", "histogram": "http_request_duration_seconds", "labels": {}}],
                         ids=["vllm", "tgi", "generic"])
def test_series_younger_than_the_window_are_warming_up(prom, metrics):
    """The fixture's series are seconds old: a 10 m window is nearly empty, and rate() over it
    would under-read ~50x. Each preset's arrival counter is checked."""
    spec = parse_spec(metrics={"window": "10m", **metrics}, objective={"e2eMs": 900, "percentile": 95})
    with pytest.raises(MetricsUnavailable) as err:
        PrometheusSource(prom.url).sample(spec)
    assert err.value.reason == "WarmingUp"
    assert "of the 10m window" in err.value.message and "holding until the window is full" in err.value.message


def test_an_explicit_arrival_query_skips_the_warm_up_check(prom):
    """queries.arrivalRate names no counter whose coverage could be measured: no check."""
    arrival = 'sum(rate(vllm:request_success_total{model_name="meridian/rehearsal"}[10m]))'
    spec = parse_spec(metrics={"window": "10m", "queries": {"arrivalRate": arrival}})
    assert PrometheusSource(prom.url).sample(spec).arrival_rate_rps > 0


def test_one_young_pod_in_an_old_fleet_is_not_warm_up_and_a_young_one_warms_up(prom):
    """A counter series appears mid-window ("new"): alone it is WarmingUp until it covers the
    window; next to the long-lived, idle "old" series the oldest counts and nothing holds."""
    fleet = {"preset": "generic", "histogram": "fleet_request_duration_seconds"}
    src = PrometheusSource(prom.url)
    prom.fleet.labels("new").observe(0.2)
    appeared = time.time()
    new = parse_spec(metrics={**fleet, "labels": {"pod": "new"}}, objective={"e2eMs": 900})
    deadline = time.monotonic() + 5
    warm = None
    while warm is None:  # until Prometheus has scraped "new" twice (rate() needs two samples)
        try:
            src.sample(new)
            pytest.fail("a series younger than the window was acted on")
        except MetricsUnavailable as err:
            assert err.reason in ("NoData", "WarmingUp") and time.monotonic() < deadline, err
            warm = err if err.reason == "WarmingUp" else None
        time.sleep(0.1)
    assert "s of the 4s window" in warm.message
    both = parse_spec(metrics={**fleet, "labels": {}}, objective={"e2eMs": 900})
    assert src.sample(both).arrival_rate_rps is not None  # "old" covers the window: no hold
    time.sleep(max(0.0, appeared + 4.5 - time.time()))  # "new" now covers the 4 s window
    assert src.sample(new).arrival_rate_rps == 0.0  # one request at the start, none since


def test_dashboard_queries_parse_in_prometheus(prom):
    """Every panel of deploy/grafana-dashboard.json is valid PromQL to this Prometheus."""
    import json
    import pathlib
    import urllib.error
    import urllib.parse
    import urllib.request

    dash = json.loads((pathlib.Path(__file__).parent.parent / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"].replace("$namespace", ".*").replace("$scaler", ".*")
             for p in dash["panels"] for t in p["targets"]]
    assert exprs
    for expr in exprs:
        url = f"{prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                assert json.loads(r.read())["status"] == "success", expr
        except urllib.error.HTTPError as err:
            pytest.fail(f"{expr}: HTTP {err.code} {err.read()[:200]!r}")


def test_a_failed_prometheus_is_not_asked_again_by_every_scaler():
    """Prometheus stalls: the first scaler waits out the deadline; the next ones on the same URL
    fail fast (no request at all) instead of each taking the whole deadline."""
    handler = type("H", (_Bad,), {"mode": "slow", "hits": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        src = PrometheusSource(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=0.3, deadline_s=30.0)
        src.deadline_s = 0.6  # this sample gives up quickly; the fail-fast window is set below
        with pytest.raises(MetricsUnavailable):
            src.sample(parse_spec())
        asked = len(handler.hits)
        assert asked >= 1
        src.deadline_s = 30.0  # a window no test run reaches
        for _ in range(3):
            with pytest.raises(MetricsUnavailable) as err:
                src.sample(parse_spec())
            assert err.value.reason == "QueryFailed" and "not asked again" in err.value.message
        assert len(handler.hits) == asked
    finally:
        server.shutdown()
        server.server_close()
