"""Fault matrix: the whole controller loop (runner + reconciler + adapters) for a few syncs
under each fault. Every case asserts: no crash, replicas never leave [min, max], never 0,
and never shrink on missing metrics. The Kubernetes API is the local stand-in; Prometheus
faults are real HTTP failures (closed port, a server that stalls, one that answers garbage)."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controller.prom_process import free_port
from controller.runner import Controller, RunConfig
from controller.sources.prometheus import PrometheusSource
from controller.standin import ApiStandIn, Fault
from tests.test_controller_helpers import NS, FixedPolicy, StaticSource, scaler

START, MIN, MAX = 4, 2, 10


class _Answer(BaseHTTPRequestHandler):
    mode = "garbage"

    def do_GET(self):  # noqa: N802
        if self.mode == "slow":
            time.sleep(1.0)
        body = b"\x00\xffnot json"
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, *a):
        pass


def _server(mode):
    s = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Answer,), {"mode": mode}))
    s.daemon_threads = True
    threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True).start()
    return s


def _run(api, policy, source, *, syncs=3, leader_elect=False, tweak=None):
    cfg = RunConfig(api_server=api.url, identity="fm", sync_interval_s=0.05, leader_elect=leader_elect,
                    lease_duration_s=3.0, renew_deadline_s=2.0, retry_period_s=0.2, metrics_port=0,
                    max_syncs=syncs, lease_namespace="meridian-system")
    c = Controller(cfg, lambda o, l: policy, source=source)
    c.reconciler.kube.deadline_s = 0.6
    c.reconciler.kube.timeout = c.reconciler.kube.write_timeout = (0.5, 0.5)
    if tweak:
        tweak(c)
    if leader_elect:  # take the lease before the loop starts
        assert c.elector.try_acquire_or_renew()
    assert c.run() == 0  # no crash
    return c


def _replica_history(api) -> list[int]:
    return [START] + [int(r.body["spec"]["replicas"]) for r in api.requests_matching("PATCH", r"/scale$")
                      if r.status == 200]


def _condition(api, type_):
    st = api.get("InferenceScaler", NS, "llama").get("status") or {}
    return next((c for c in st.get("conditions", []) if c["type"] == type_), {})


@pytest.fixture
def api():
    with ApiStandIn() as a:
        a.add_deployment(NS, "llama-vllm", replicas=START)
        a.add_scaler(scaler(min_=MIN, max_=MAX))
        yield a


def _assert_safe(api):
    hist = _replica_history(api)
    assert all(MIN <= r <= MAX for r in hist), hist
    return hist


@pytest.mark.parametrize("fault", ["prometheus_down", "prometheus_slow", "prometheus_garbage"])
def test_prometheus_faults_hold_the_size(api, fault):
    server = None
    if fault == "prometheus_down":
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    else:
        server = _server(fault.split("_")[1])
        url = f"http://127.0.0.1:{server.server_address[1]}"
    policy = FixedPolicy(1)  # would shrink below min if it were asked; it must not be
    try:
        _run(api, policy, PrometheusSource(url, timeout_s=0.3, deadline_s=0.6), syncs=2)
    finally:
        if server:
            server.shutdown()
            server.server_close()
    assert _assert_safe(api) == [START]  # held: not a single scale patch
    assert policy.seen == []
    assert _condition(api, "MetricsAvailable")["status"] == "False"
    assert _condition(api, "ScalingActive")["status"] == "False"


@pytest.mark.parametrize("fault", [
    Fault("PATCH", r"/scale$", status=500, times=2),
    Fault("PATCH", r"/scale$", status=503, times=-1),
    Fault("GET", r"/deployments/llama-vllm$", delay_s=0.8, times=1),
    Fault("PATCH", r"/scale$", status=409, times=1),
    Fault("PATCH", r"/status$", status=500, times=-1),
    Fault("GET", r"/inferencescalers$", status=502, times=2),
], ids=["5xx-then-ok", "5xx-forever", "timeout", "409", "status-5xx", "list-5xx"])
def test_api_faults_never_crash_or_overshoot(api, fault):
    api.faults.append(fault)
    _run(api, FixedPolicy(6), StaticSource(), syncs=4)
    hist = _assert_safe(api)
    assert set(hist) <= {START, 6}
    if fault.times != -1 or fault.path.endswith("status$"):
        assert api.get("Deployment", NS, "llama-vllm")["spec"]["replicas"] == 6  # recovered and acted


def test_invalid_spec_never_scales(api):
    api.add_scaler(scaler(min_=8, max_=3))
    _run(api, FixedPolicy(6), StaticSource())
    assert _replica_history(api) == [START]
    assert _condition(api, "Ready")["reason"] == "InvalidSpec"


def test_target_deleted_mid_run(api):
    class DeletingPolicy(FixedPolicy):
        def decide(self, obs):  # the Deployment disappears between our read and our patch
            api.delete("Deployment", NS, "llama-vllm")
            return super().decide(obs)

    _run(api, DeletingPolicy(6), StaticSource())
    assert _replica_history(api) == [START]
    assert _condition(api, "Ready")["reason"] == "TargetNotFound"


def test_lease_lost_mid_sync(api):
    class LosingPolicy(FixedPolicy):
        controller = None

        def decide(self, obs):  # partition this instance and let its renew deadline pass
            api.faults.append(Fault("*", "/leases", status=503, times=-1))
            real = time.monotonic
            self.controller.elector.clock = lambda: real() + 100.0
            return super().decide(obs)

    policy = LosingPolicy(6)
    _run(api, policy, StaticSource(), leader_elect=True, tweak=lambda c: setattr(policy, "controller", c))
    assert _replica_history(api) == [START]  # the patch after losing the lease was refused
    assert not api.requests_matching("PATCH", r"/scale$")
    assert len(policy.seen) == 1  # and it did not decide again as a non-leader


def test_sigterm_mid_sync_finishes_the_object_in_hand_and_starts_no_other(api):
    """SIGTERM arrives while the first of two scalers is being decided: that one is finished
    (its patch and status are consistent), the second is not touched, the lease is released."""
    api.add_deployment(NS, "other-vllm", replicas=START)
    api.add_scaler(scaler(name="other", target="other-vllm", min_=MIN, max_=MAX))

    class StoppingPolicy(FixedPolicy):
        controller = None

        def decide(self, obs):
            self.controller.request_stop()  # what the SIGTERM handler calls
            return super().decide(obs)

    policy = StoppingPolicy(6)
    c = _run(api, policy, StaticSource(), syncs=5, leader_elect=True,
             tweak=lambda c: setattr(policy, "controller", c))
    assert len(policy.seen) == 1 and c.syncs == 1
    patched = [r.path for r in api.requests_matching("PATCH", r"/scale$")]
    assert len(patched) == 1
    untouched = "other-vllm" if "llama-vllm" in patched[0] else "llama-vllm"
    assert api.get("Deployment", NS, untouched)["spec"]["replicas"] == START
    assert not api.get("Lease", "meridian-system", "meridian-controller-leader")["spec"].get("holderIdentity")


def test_sigterm_during_retries_stops_retrying(api):
    """API down: a list is being retried (10 s deadline) when SIGTERM comes. No further attempt
    is made, so the process exits (and releases nothing it holds) well within the grace period."""
    api.faults.append(Fault("GET", r"/inferencescalers$", status=503, times=-1))
    cfg = RunConfig(api_server=api.url, identity="term", sync_interval_s=0.05, leader_elect=False, metrics_port=0)
    c = Controller(cfg, lambda o, l: FixedPolicy(6), source=StaticSource())
    at_stop = []

    def stop_when_retrying():
        while len(api.requests_matching("GET", r"/inferencescalers$")) < 2:
            time.sleep(0.02)
        at_stop.append(len(api.requests_matching("GET", r"/inferencescalers$")))
        c.request_stop()

    t = threading.Thread(target=stop_when_retrying)
    t.start()
    assert c.run() == 0
    t.join()
    assert len(api.requests_matching("GET", r"/inferencescalers$")) <= at_stop[0] + 1
