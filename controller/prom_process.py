"""Start and stop a real Prometheus (the Debian `prometheus` binary) on 127.0.0.1.

Used by the tests and the closed-loop rehearsal: it scrapes the given targets every
`scrape_interval_s`, with the `namespace` label attached at scrape time the way
Kubernetes service discovery relabelling would.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusProcess:
    def __init__(self, targets: list[str], *, namespace: str = "inference", scrape_interval_s: float = 1.0,
                 binary: str | None = None):
        self.binary = binary or shutil.which("prometheus")
        if not self.binary:
            raise FileNotFoundError("prometheus binary not found (Debian package `prometheus`)")
        self.targets = [t.replace("http://", "") for t in targets]
        self.namespace = namespace
        self.scrape_interval_s = scrape_interval_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.tmp: str | None = None

    def start(self, timeout_s: float = 30.0) -> "PrometheusProcess":
        self.tmp = tempfile.mkdtemp(prefix="meridian-prom-")
        interval = f"{int(self.scrape_interval_s * 1000)}ms"
        config = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
                  "scrape_configs": [{"job_name": "vllm", "static_configs": [
                      {"targets": self.targets, "labels": {"namespace": self.namespace}}]}]}
        cfg_path = os.path.join(self.tmp, "prometheus.yml")
        with open(cfg_path, "w") as fh:
            yaml.safe_dump(config, fh)
        self.log = open(os.path.join(self.tmp, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={cfg_path}", f"--storage.tsdb.path={self.tmp}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}; see {self.log.name}")
            try:
                # ready, and service discovery has handed over the targets (it batches for ~5 s)
                with urllib.request.urlopen(self.url + "/api/v1/targets", timeout=1) as r:
                    active = json.loads(r.read())["data"]["activeTargets"]
                    if len(active) >= len(self.targets):
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError("prometheus did not become ready")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its pid
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
