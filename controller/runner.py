"""The controller process: wiring, the sync loop, leader election and graceful shutdown.

The loop syncs every `sync_interval_s` while this instance leads; a standby only keeps
trying for the lease. SIGTERM (or SIGINT) stops the loop between objects, releases the
lease so a standby takes over at once, and stops the HTTP server.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import structlog
from kubernetes import client, config as kube_config

from controller.kube import KubeAdapter
from controller.lease import LeaseElector
from controller.prices import PriceBook
from controller.reconcile import PolicyFactory, Reconciler
from controller.sources.prometheus import PrometheusSource
from controller.telemetry import Health, Telemetry, serve
from regions.errors import InputError, Problem

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RunConfig:
    kubeconfig: str | None = None  # None: in-cluster config
    context: str | None = None
    api_server: str | None = None  # plain URL (no auth), for the local stand-in and rehearsals
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    sync_interval_s: float = 15.0
    prometheus_url: str | None = None
    leader_elect: bool = True
    lease_name: str = "meridian-controller-leader"
    lease_namespace: str = "meridian-system"
    # 15/10/2 s: kube-controller-manager's --leader-elect-lease-duration/-renew-deadline/-retry-period defaults
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0
    identity: str = field(default_factory=lambda: os.environ.get("POD_NAME") or socket.gethostname())
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8080
    dry_run: bool = False
    max_syncs: int | None = None  # stop after this many sync intervals, leading or not (rehearsals, tests)
    price_region: str | None = None  # default region for nodes without a region label
    price_refresh_s: float = 0.0  # >0: refresh price_region's prices from AWS this often (IRSA role)
    time_scale: float = 1.0  # rehearsals: the policy sees time pass this many times faster than the wall clock


def api_client_for(cfg: RunConfig) -> client.ApiClient:
    """Kubernetes client config: explicit URL, kubeconfig, or in-cluster. Transport retries are
    switched off so tenacity is the one retry layer (with a deadline)."""
    configuration = client.Configuration()
    if cfg.api_server:
        configuration.host = cfg.api_server.rstrip("/")
    elif cfg.kubeconfig:
        try:
            kube_config.load_kube_config(config_file=cfg.kubeconfig, context=cfg.context,
                                         client_configuration=configuration)
        except Exception as err:  # noqa: BLE001 - bad file/context is user input
            raise InputError("cannot load kubeconfig", [Problem("--kubeconfig", f"{cfg.kubeconfig}: {err}",
                                                                "point it at a valid kubeconfig file")]) from None
    else:
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
        except kube_config.ConfigException as err:
            raise InputError("not running in a cluster", [Problem(
                "--kubeconfig", str(err), "pass --kubeconfig PATH (or --api-server URL) outside a cluster")]) from None
    configuration.retries = 0
    return client.ApiClient(configuration)


def default_policy_factory() -> PolicyFactory:
    try:
        from controller.law.meridian import MeridianPolicy  # lands with the control-law work
    except ImportError:
        raise InputError("the meridian control law is not in this build", [Problem(
            "controller.law.meridian", "module not found",
            "install a build that includes controller/law/meridian.py")]) from None
    return MeridianPolicy


def _scaled(clock: Callable[[], float], factor: float) -> Callable[[], float]:
    """A clock that runs `factor` times faster from now on (compressed-time rehearsals)."""
    origin = clock()
    return lambda: origin + (clock() - origin) * factor


class Controller:
    def __init__(self, cfg: RunConfig, policy_factory: PolicyFactory, *, api: client.ApiClient | None = None,
                 clock: Callable[[], float] = time.time, source=None, prices: PriceBook | None = None):
        self.cfg = cfg
        self.api = api or api_client_for(cfg)
        self.api.user_agent = f"meridian-controller ({cfg.identity})"  # who wrote what, in audit logs
        self.stop = threading.Event()
        self.telemetry = Telemetry()
        self.health = Health(stale_after_s=max(3 * cfg.sync_interval_s, 30.0))
        self.elector = None
        if cfg.leader_elect:
            self.elector = LeaseElector(self.api, name=cfg.lease_name, namespace=cfg.lease_namespace,
                                        identity=cfg.identity, lease_duration_s=cfg.lease_duration_s,
                                        renew_deadline_s=cfg.renew_deadline_s, retry_period_s=cfg.retry_period_s)
            self.health.lease_attempted = lambda: self.elector.attempted
        self.kube = KubeAdapter(self.api, identity=cfg.identity, write_guard=self.is_leader,
                                write_budget=self.elector.takeover_margin_s if self.elector else None,
                                cancel=self.stop)
        if cfg.time_scale != 1.0:
            clock = _scaled(clock, cfg.time_scale)
        self.reconciler = Reconciler(self.kube, source or PrometheusSource(cfg.prometheus_url),
                                     prices or PriceBook(default_region=cfg.price_region), policy_factory,
                                     is_leader=self._may_go_on, dry_run=cfg.dry_run, telemetry=self.telemetry,
                                     clock=clock, heartbeat=self._heartbeat)
        self.syncs = 0  # syncs run as leader
        self.ticks = 0  # loop iterations, leader or not (what --max-syncs counts)
        self.server = None

    def _heartbeat(self) -> None:
        self.health.last_tick = time.monotonic()

    def is_leader(self) -> bool:
        return self.elector.is_leader() if self.elector else True

    def _may_go_on(self) -> bool:
        """Checked between scalers: after SIGTERM the object in hand is finished, no new one begun."""
        return not self.stop.is_set() and self.is_leader()

    def request_stop(self, *_args) -> None:
        if not self.stop.is_set():
            log.info("stopping")
        self.health.stopping = True
        self.stop.set()

    @contextlib.contextmanager
    def signal_handlers(self):
        """SIGTERM and SIGINT stop the loop while inside; the handlers before are put back
        after, also on an error (an in-process caller -- a test, the rehearsal -- must not be
        left with a handler that stops a controller long gone)."""
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def run(self) -> int:
        if self.cfg.metrics_port:
            where = f"{self.cfg.metrics_host}:{self.cfg.metrics_port}"
            try:
                self.server = serve(self.telemetry, self.health, self.cfg.metrics_host, self.cfg.metrics_port)
            except OSError as err:  # port taken, no such address: before anything else has started
                raise InputError("cannot serve /metrics and the probes", [Problem(
                    "--metrics-port/--metrics-host", f"{where}: {err.strerror or err}",
                    "pick a free port (or 0 for off) and an address of this host")]) from None
        lease_thread = None
        if self.cfg.price_refresh_s > 0 and self.cfg.price_region:
            threading.Thread(target=self._refresh_prices, name="prices", daemon=True).start()
        if self.elector:
            lease_thread = threading.Thread(target=self.elector.run, args=(self.stop,), name="lease", daemon=True)
            lease_thread.start()
        log.info("controller started", identity=self.cfg.identity, namespaces=list(self.cfg.namespaces) or "all",
                 interval_s=self.cfg.sync_interval_s, dry_run=self.cfg.dry_run)
        try:
            while not self.stop.is_set():
                self.health.last_tick = time.monotonic()
                leading = self.is_leader()
                self.telemetry.leader.set(1 if leading else 0)
                if leading:
                    self._sync_once()
                elif self.elector is not None and (self.health.last_list_ok is None or time.monotonic()
                                                   - self.health.last_list_ok > self.cfg.sync_interval_s):
                    self._probe_api()
                self.ticks += 1
                if self.cfg.max_syncs is not None and self.ticks >= self.cfg.max_syncs:
                    break
                self.stop.wait(self.cfg.sync_interval_s if leading else min(1.0, self.cfg.retry_period_s))
        finally:
            self.stop.set()
            if lease_thread:
                lease_thread.join(timeout=5)
            if self.elector:
                self.elector.release()
            self.telemetry.leader.set(0)
            if self.server:
                self.server.shutdown()
                self.server.server_close()
            log.info("controller stopped", syncs=self.syncs)
        return 0

    def _sync_once(self) -> None:
        started = time.monotonic()
        try:
            outcomes = self.reconciler.sync(list(self.cfg.namespaces) or None)
            self.health.last_list_ok = time.monotonic()
            log.debug("sync done", scalers=len(outcomes))
        except Exception as err:  # noqa: BLE001 - API down: log, count, try again next interval
            self.telemetry.errors.labels("kubernetes").inc()
            log.error("sync failed", error=f"{type(err).__name__}: {str(err)[:300]}")
        finally:
            self.syncs += 1
            self.telemetry.reconcile.observe(time.monotonic() - started)

    def _refresh_prices(self) -> None:
        """Keep the price table fresh; a failed refresh keeps the last known table."""
        from regions.catalog import load_catalog

        region = self.cfg.price_region
        types = [o.type for o in load_catalog().region(region).instances]
        while not self.stop.is_set():
            self.reconciler.prices.refresh_from_aws(region, types)
            self.stop.wait(self.cfg.price_refresh_s)

    def _probe_api(self) -> None:
        """A standby is ready once it can list scalers (it will have to, when it leads)."""
        try:
            self.reconciler.kube.list_scalers(list(self.cfg.namespaces) or None)
            self.health.last_list_ok = time.monotonic()
        except Exception as err:  # noqa: BLE001
            log.info("standby cannot list scalers", error=type(err).__name__)
