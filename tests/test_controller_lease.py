"""Leader election over the Kubernetes API stand-in: never two leaders, a partitioned leader
stops acting within the renew deadline, handover on release, SIGTERM, health endpoints."""
from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
import urllib.request


from controller.prom_process import free_port
from controller.lease import LeaseElector
from controller.runner import Controller, RunConfig
from controller.standin import ApiStandIn, Fault
from tests.test_controller_helpers import NS, ProportionalPolicy, StaticSource, api_client, scaler

LEASE = dict(name="meridian-leader", namespace="meridian-system")


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def elector(api, identity, clock):
    return LeaseElector(api_client(api.url, identity), identity=identity, clock=clock, lease_duration_s=15,
                        renew_deadline_s=10, retry_period_s=2, **LEASE)


def test_only_one_leader_and_partitioned_leader_steps_down_before_takeover():
    clock = FakeClock()
    with ApiStandIn() as api:
        a, b = elector(api, "a", clock), elector(api, "b", clock)
        assert a.try_acquire_or_renew()
        a_stopped = b_started = None
        for step in range(60):
            if step == 10:  # partition a: every request from it now fails
                api.faults.append(Fault("*", "/leases", status=503, times=-1, user_agent="a"))
            for e in (a, b) if step % 2 else (b, a):
                e.try_acquire_or_renew()
            assert not (a.is_leader() and b.is_leader()), f"two leaders at step {step}"
            if step >= 10 and a_stopped is None and not a.is_leader():
                a_stopped = clock.t
            if b_started is None and b.is_leader():
                b_started = clock.t
            clock.t += 1.0
        assert step >= 10 and a_stopped is not None and b_started is not None
        assert a_stopped < b_started
        assert a_stopped <= 1010 + 10  # partitioned at t=1010, renew deadline 10 s
        lease = api.get("Lease", LEASE["namespace"], LEASE["name"])
        assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1


def test_racing_creates_make_one_leader():
    clock = FakeClock()
    with ApiStandIn() as api:
        electors = [elector(api, f"e{i}", clock) for i in range(4)]
        results = [None] * 4
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, electors[i].try_acquire_or_renew()))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(bool(r) for r in results) == 1
        assert sum(e.is_leader() for e in electors) == 1


def test_release_hands_over_at_once():
    clock = FakeClock()
    with ApiStandIn() as api:
        a, b = elector(api, "a", clock), elector(api, "b", clock)
        assert a.try_acquire_or_renew() and not b.try_acquire_or_renew()
        a.release()
        assert not a.is_leader()
        assert b.try_acquire_or_renew() and b.is_leader()


def _controller(api, identity, **cfg):
    base = dict(api_server=api.url, identity=identity, sync_interval_s=0.2, lease_name=LEASE["name"],
                lease_namespace=LEASE["namespace"], lease_duration_s=2.0, renew_deadline_s=1.5,
                retry_period_s=0.3, metrics_port=0)
    base.update(cfg)
    return Controller(RunConfig(**base), lambda o, l: ProportionalPolicy(o, l), source=StaticSource())


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_two_controllers_never_both_act_and_fail_over():
    with ApiStandIn() as api:
        api.add_deployment(NS, "llama-vllm", replicas=1)
        api.add_scaler(scaler())
        a, b = _controller(api, "a"), _controller(api, "b")
        ta = threading.Thread(target=a.run)
        ta.start()
        assert _wait(a.is_leader)
        tb = threading.Thread(target=b.run)
        tb.start()
        assert _wait(lambda: len(api.requests_matching("PATCH", "/status$")) >= 5)
        a.request_stop()
        ta.join(10)
        assert _wait(b.is_leader)
        n = len(api.requests)
        assert _wait(lambda: any(r.method == "PATCH" and "(b)" in r.user_agent for r in api.requests[n:]))
        b.request_stop()
        tb.join(10)
        writes = [r for r in api.requests if r.method in ("PATCH", "POST") and "/leases" not in r.path]
        agents = [("(a)" in r.user_agent, "(b)" in r.user_agent) for r in writes]
        first_b = next(i for i, (_, is_b) in enumerate(agents) if is_b)
        assert all(is_a for is_a, _ in agents[:first_b]) and not any(is_a for is_a, _ in agents[first_b:])
        assert api.get("Deployment", NS, "llama-vllm")["spec"]["replicas"] == 2  # 16 in flight / 8 slots


def test_sigterm_stops_and_releases_the_lease():
    with ApiStandIn() as api:
        api.add_deployment(NS, "llama-vllm", replicas=1)
        api.add_scaler(scaler())
        c = _controller(api, "solo")
        previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
        with c.signal_handlers():
            timer = threading.Thread(target=lambda: (_wait(lambda: c.syncs >= 2), os.kill(os.getpid(), signal.SIGTERM)))
            timer.start()
            assert c.run() == 0
            timer.join()
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == previous
        assert c.syncs >= 2
        assert not api.get("Lease", LEASE["namespace"], LEASE["name"])["spec"].get("holderIdentity")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_health_ready_and_metrics_endpoints():
    with ApiStandIn() as api:
        api.add_deployment(NS, "llama-vllm", replicas=1)
        api.add_scaler(scaler())
        port = free_port()
        c = _controller(api, "m", metrics_host="127.0.0.1", metrics_port=port)
        t = threading.Thread(target=c.run)
        t.start()
        try:
            assert _wait(lambda: c.syncs >= 2)
            base = f"http://127.0.0.1:{port}"
            assert _get(base + "/healthz")[0] == 200
            assert _get(base + "/readyz")[0] == 200
            code, text = _get(base + "/metrics")
            assert code == 200
            assert 'meridian_decisions_total{result="scale_up"} 1.0' in text
            assert 'meridian_desired_replicas{namespace="inference",scaler="llama"} 2.0' in text
            assert "meridian_reconcile_duration_seconds_count" in text and "meridian_leader 1.0" in text
            assert "pod=" not in text  # bounded labels
            c.health.stopping = True
            assert _get(base + "/readyz")[0] == 503
        finally:
            c.request_stop()
            t.join(10)


def test_api_outage_keeps_the_loop_alive():
    with ApiStandIn() as api:
        api.add_deployment(NS, "llama-vllm", replicas=3)
        api.add_scaler(scaler())
        api.faults.append(Fault("GET", r"/inferencescalers$", status=500, times=-1))
        c = _controller(api, "o", leader_elect=False)
        c.reconciler.kube.deadline_s = 0.3
        t = threading.Thread(target=c.run)
        t.start()
        try:
            assert _wait(lambda: c.syncs >= 3)
            assert t.is_alive()
            assert api.get("Deployment", NS, "llama-vllm")["spec"]["replicas"] == 3
        finally:
            c.request_stop()
            t.join(10)
        assert c.telemetry.errors.labels("kubernetes")._value.get() >= 3


def test_liveness_fails_when_the_loop_stalls():
    from controller.telemetry import Health

    clock = FakeClock()
    health = Health(stale_after_s=30, clock=clock)
    assert not health.alive() and not health.ready()
    health.last_tick = health.last_list_ok = clock.t
    assert health.alive() and health.ready()
    clock.t += 31
    assert not health.alive() and not health.ready()
