"""Prometheus adapter: instant queries over the HTTP API (`/api/v1/query`).

A query that errors, returns no series or returns NaN makes the whole sample
unavailable (the runtime then holds the size), except a latency quantile that is NaN
because nothing arrived in the window: that is "no traffic", reported as `None`.
Staleness is measured from `timestamp()` of a raw gauge, so a Prometheus that still
answers but has stopped scraping the workload is caught too.

Warm-up: `rate()` divides the increase by the whole window, so over counter series younger
than the window (new Deployment, restarted Prometheus with empty storage, renamed metric) it
under-reads by up to window/age. While the arrival counter's series cover less than
`WARM_SHARE` of the window the sample is unavailable (`WarmingUp`) and the runtime holds.
"""
from __future__ import annotations

import json
import math
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable

from controller import retry
from controller.sources import promql
from controller.sources.base import LoadSample, MetricsUnavailable
from controller.spec import ScalerSpec


# rate() extrapolates the increase to the window start when its first sample is within 1.1
# average scrape intervals of it, else only half an interval: it is exact once the series
# cover the window minus ~one scrape interval, and under-reads by about the uncovered share
# beyond that. Requiring 90 % of the window bounds the under-read at 10 % whatever the scrape
# interval, and is exact for scrape intervals of a tenth of the window or more (15-30 s
# against the 2 m default). It is above 1 - 1/COVERAGE_STEPS (95 %), the least a long-lived
# series can read, so an old series — idle or busy — never trips it.
WARM_SHARE = 0.9


class PrometheusSource:
    def __init__(self, default_url: str | None, *, timeout_s: float = 2.0, deadline_s: float = 6.0,
                 wall_clock: Callable[[], float] = time.time):
        self.default_url = default_url.rstrip("/") if default_url else None
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.wall_clock = wall_clock
        # URL → monotonic time its last query failed at the transport (or 5xx) after retries. For
        # `deadline_s` after that, other scalers on that URL fail fast instead of each waiting out
        # the deadline: 50 scalers on a dead Prometheus would otherwise make one sync take minutes.
        self._failed_at: dict[str, float] = {}

    # -- one query ---------------------------------------------------------------------------
    def _get(self, url: str, query: str) -> dict:
        full = f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        try:
            with urllib.request.urlopen(full, timeout=self.timeout_s) as resp:
                body = resp.read()
        except urllib.error.HTTPError as err:  # Prometheus: 400 bad query, 422 cannot execute, 503…
            raise retry.RemoteHTTPError(err.code, err.read()[:200].decode("utf-8", "replace")) from None
        except urllib.error.URLError as err:  # refused, DNS: transient from our side
            reason = err.reason if isinstance(err.reason, BaseException) else ConnectionError(str(err.reason))
            raise ConnectionError(str(reason)) from None
        except socket.timeout as err:
            raise TimeoutError(str(err)) from None
        try:
            return json.loads(body)
        except ValueError:
            raise MetricsUnavailable("BadResponse", f"not JSON from {url}: {body[:60]!r}") from None

    def query(self, url: str, query: str, deadline_s: float) -> float:
        """One number from an instant query, or MetricsUnavailable. NaN is returned as NaN."""
        try:
            doc = retry.call(self._get, url, query, deadline_s=max(deadline_s, 0.01), what="prometheus query")
        except MetricsUnavailable:
            raise
        except retry.RemoteHTTPError as err:
            reason = "QueryRejected" if err.status < 500 else "QueryFailed"
            raise MetricsUnavailable(reason, f"{err} for {query}") from None
        except Exception as err:  # noqa: BLE001 - any transport failure after retries
            raise MetricsUnavailable("QueryFailed", f"{type(err).__name__}: {err}"[:200]) from None
        return _one_value(doc, query)

    # -- a whole sample -----------------------------------------------------------------------
    def sample(self, spec: ScalerSpec) -> LoadSample:
        url = (spec.metrics.prometheus_url or self.default_url or "").rstrip("/")
        failed_at = self._failed_at.get(url)
        if failed_at is not None and time.monotonic() - failed_at < self.deadline_s:
            raise MetricsUnavailable("QueryFailed", f"{url} failed {time.monotonic() - failed_at:.1f}s ago; "
                                     "not asked again this soon")
        try:
            sample = self._sample(spec)
            self._failed_at.pop(url, None)
            return sample
        except MetricsUnavailable as err:
            if err.reason == "QueryFailed" and url:
                self._failed_at[url] = time.monotonic()
            if err.reason == "NoData" and spec.metrics.preset == "vllm" and "vllm:" in err.message:
                raise MetricsUnavailable("NoData", f"{err.message}; if your pipeline renames vllm:* metrics to "
                                         "vllm_* (some OpenMetrics/OTel exporters do), set spec.metrics.queries"
                                         ) from None
            raise

    def _sample(self, spec: ScalerSpec) -> LoadSample:
        url = (spec.metrics.prometheus_url or self.default_url or "").rstrip("/")
        if not url:
            raise MetricsUnavailable("QueryFailed", "no Prometheus URL: set --prometheus-url or "
                                     "spec.metrics.prometheusUrl")
        qs = promql.build(spec)
        started = time.monotonic()

        def ask(q: str | None) -> float | None:
            if q is None:
                return None
            return self.query(url, q, self.deadline_s - (time.monotonic() - started))

        age = 0.0
        if qs.freshness:
            newest = _finite(ask(qs.freshness), "newest sample time")  # NaN would compare as fresh
            age = max(0.0, self.wall_clock() - newest)
            if age > spec.metrics.stale_after_s:
                raise MetricsUnavailable("Stale", f"newest sample is {age:.0f}s old "
                                         f"(staleAfterSeconds {spec.metrics.stale_after_s:.0f})")
        arrival = _finite(ask(qs.arrival_rate), "arrival rate")  # series absent: NoData, as before
        if qs.coverage:
            _check_warm(self._coverage(ask, qs.coverage), spec)
        in_flight = _finite(ask(qs.in_flight), "in-flight requests")
        queued = _finite(ask(qs.queued), "queued requests")
        no_traffic = arrival is not None and arrival == 0.0
        ttft = _latency(ask(qs.ttft), no_traffic, "TTFT")
        e2e = _latency(ask(qs.e2e), no_traffic, "end-to-end latency")
        if spec.objective.ttft_s is not None and ttft is None and not no_traffic:
            raise MetricsUnavailable("NoData", "the objective is TTFT but no TTFT query is configured")
        if spec.objective.e2e_s is not None and e2e is None and not no_traffic:
            raise MetricsUnavailable("NoData", "the objective is end-to-end latency but no e2e query is configured")
        return LoadSample(
            arrival_rate_rps=arrival, ttft_quantile_s=ttft, e2e_quantile_s=e2e,
            in_flight=in_flight, queued=queued, age_s=age,
            mean_prompt_tokens=self._optional(url, qs.mean_prompt_tokens, started),
            mean_output_tokens=self._optional(url, qs.mean_output_tokens, started),
        )

    @staticmethod
    def _coverage(ask: Callable[[str], float | None], q: str) -> float:
        """Seconds of the window covered. The arrival query has answered, so the series exist: no
        answer here means they are younger than one subquery step (no step since they began)."""
        try:
            return _finite(ask(q), "window coverage")
        except MetricsUnavailable as err:
            if err.reason != "NoData":
                raise
            return 0.0

    def _optional(self, url: str, q: str | None, started: float) -> float | None:
        """Nice-to-have figures (token counts): never make a sample unavailable."""
        remaining = self.deadline_s - (time.monotonic() - started)
        if q is None or remaining <= 0:
            return None
        try:
            value = self.query(url, q, remaining)
        except MetricsUnavailable:
            return None
        return value if math.isfinite(value) else None


def _one_value(doc: dict, query: str) -> float:
    if not isinstance(doc, dict) or doc.get("status") != "success" or not isinstance(doc.get("data"), dict):
        raise MetricsUnavailable("BadResponse", f"unexpected answer for {query}: {str(doc)[:80]}")
    data = doc["data"]
    try:
        if data.get("resultType") == "scalar":
            return float(data["result"][1])
        if data.get("resultType") != "vector":
            raise MetricsUnavailable("BadResponse", f"{query} returned a {data.get('resultType')}, not a vector")
        result = data["result"]
        if not result:
            raise MetricsUnavailable("NoData", f"no series for {query}")
        if len(result) > 1:
            raise MetricsUnavailable("BadResponse", f"{query} returned {len(result)} series; aggregate it "
                                     "to one (e.g. sum(...))")
        return float(result[0]["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        raise MetricsUnavailable("BadResponse", f"malformed sample for {query}") from None


def _check_warm(covered_s: float, spec: ScalerSpec) -> None:
    window_s = spec.metrics.window_s
    if covered_s < WARM_SHARE * window_s:
        raise MetricsUnavailable("WarmingUp", f"the arrival counter's series cover {covered_s:.1f}s of the "
                                 f"{spec.metrics.window} window ({covered_s / window_s:.0%}), so rate() would "
                                 f"under-read; holding until the window is full ({WARM_SHARE:.0%})")


def _finite(value: float | None, what: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise MetricsUnavailable("NotANumber", f"{what} is {value}")
    if value is not None and value < 0:  # rates, counts, times: a negative one is a broken query or exporter
        raise MetricsUnavailable("BadResponse", f"{what} is negative ({value})")
    return value


def _latency(value: float | None, no_traffic: bool, what: str) -> float | None:
    if value is None or math.isfinite(value):
        return _finite(value, f"{what} quantile")
    if no_traffic:
        return None  # histogram_quantile over zero rates: nothing to measure, not a fault
    raise MetricsUnavailable("NotANumber", f"{what} quantile is {value} while requests arrive")
