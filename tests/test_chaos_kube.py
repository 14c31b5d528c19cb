"""The kube target, driven through the real `kubernetes` client over HTTP.

No kube-apiserver can run here, so a small HTTP server on 127.0.0.1 stands in for the
Kubernetes API: it serves the few endpoints the target calls (list/delete pods,
read a Deployment and its status, patch the scale subresource) from an in-memory
store and records every request. It runs no controllers: deleted pods stay deleted,
and a scale patch sets ready replicas at once, where a real cluster would take time.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from meridian.cli import main


class FakeKubeAPI:
    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        self.pods: dict[str, dict[str, dict]] = {}  # namespace -> name -> pod
        self.deployments: dict[str, dict[str, dict]] = {}

    def add_pod(self, ns: str, name: str, labels: dict) -> None:
        self.pods.setdefault(ns, {})[name] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai"}]},
            "status": {"phase": "Running"}}

    def add_deployment(self, ns: str, name: str, replicas: int, labels: dict | None = None) -> None:
        self.deployments.setdefault(ns, {})[name] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai"}]}}},
            "status": {"replicas": replicas, "readyReplicas": replicas}}

    def handle(self, method: str, url: str, body: bytes) -> tuple[int, dict]:
        self.requests.append((method, url))
        parsed = urllib.parse.urlparse(url)
        parts = parsed.path.strip("/").split("/")
        query = urllib.parse.parse_qs(parsed.query)
        if parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods":
            ns = parts[3]
            if len(parts) == 5 and method == "GET":
                wanted = dict(kv.split("=", 1) for kv in query.get("labelSelector", [""])[0].split(",") if kv)
                items = [p for p in self.pods.get(ns, {}).values()
                         if all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())]
                return 200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}
            if len(parts) == 6 and method == "DELETE" and parts[5] in self.pods.get(ns, {}):
                return 200, self.pods[ns].pop(parts[5])
        if parts[:4] == ["apis", "apps", "v1", "namespaces"] and parts[5] == "deployments":
            dep = self.deployments.get(parts[4], {}).get(parts[6])
            if dep is None:
                return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
            sub = parts[7] if len(parts) > 7 else ""
            if method == "GET" and sub in ("", "status"):
                return 200, dep
            if sub == "scale":
                if method == "PATCH":
                    replicas = json.loads(body)["spec"]["replicas"]
                    dep["spec"]["replicas"] = replicas
                    dep["status"].update(replicas=replicas, readyReplicas=replicas)
                return 200, {"apiVersion": "autoscaling/v1", "kind": "Scale",
                             "metadata": {"name": parts[6], "namespace": parts[4]},
                             "spec": {"replicas": dep["spec"]["replicas"]},
                             "status": {"replicas": dep["status"]["replicas"]}}
        return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}


@pytest.fixture
def kube_api(tmp_path):
    api = FakeKubeAPI()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            code, payload = api.handle(self.command, self.path, self.rfile.read(length))
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_DELETE = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "standin",
        "clusters": [{"name": "standin", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "drill", "user": {"token": "t"}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "drill"}}]}))
    api.kubeconfig = str(kubeconfig)
    yield api
    server.shutdown()
    server.server_close()


def _experiment(tmp_path: Path, method: list, steady: list) -> Path:
    doc = {"title": "kube drill", "target": "kube", "duration_seconds": 1.0, "poll_seconds": 0.3,
           "blast_radius": {"namespaces": ["serving"]}, "allow": {"contexts": ["standin"]},
           "steady_state": steady, "method": method}
    path = tmp_path / "drill.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(api: FakeKubeAPI, path: Path, *flags: str) -> tuple[int, dict | None]:
    journal = path.with_suffix(".journal.json")
    code = main(["drill", "run", str(path), "--kubeconfig", api.kubeconfig, "--journal", str(journal), *flags])
    return code, json.loads(journal.read_text()) if journal.exists() else None


def test_pod_kill_deletes_matching_pods_but_spares_protected_ones(kube_api, tmp_path):
    for i in range(3):
        kube_api.add_pod("serving", f"chat-{i}", {"app": "chat"})
    kube_api.add_pod("serving", "chat-canary", {"app": "chat", "meridian.dev/protected": "true"})
    kube_api.add_pod("serving", "embed-0", {"app": "embed"})
    method = [{"action": "pod_kill", "name": "kill", "namespace": "serving", "selector": "app=chat",
               "count": 2, "start_seconds": 0.1}]
    code, journal = _run(kube_api, _experiment(tmp_path, method, []), "--yes")
    assert code == 0, journal
    assert sorted(kube_api.pods["serving"]) == ["chat-2", "chat-canary", "embed-0"]
    action = next(e for e in journal["timeline"] if e["kind"] == "action")
    assert action["output"] == {"deleted": ["chat-0", "chat-1"], "protected_spared": 1}
    assert ("DELETE", "/api/v1/namespaces/serving/pods/chat-canary") not in kube_api.requests


def _scale_drill(tmp_path: Path) -> Path:
    where = {"namespace": "serving", "deployment": "chat"}
    method = [{"action": "region_outage", "name": "down", "start_seconds": 0.1, **where}]
    steady = [{"probe": "replicas", "name": "serving", "tolerance": {"min": 4}, "phases": ["before", "after"], **where},
              {"probe": "replicas", "name": "gone", "tolerance": {"max": 0}, "phases": ["during"], **where}]
    return _experiment(tmp_path, method, steady)


def test_deployment_scaled_to_zero_and_restored(kube_api, tmp_path):
    kube_api.add_deployment("serving", "chat", 4)
    code, journal = _run(kube_api, _scale_drill(tmp_path), "--yes", "--rollback-strategy", "never")
    assert code == 1  # 'after' needs 4 ready replicas; the fault was left in place
    assert kube_api.deployments["serving"]["chat"]["spec"]["replicas"] == 0

    kube_api.add_deployment("serving", "chat", 4)
    code, journal = _run(kube_api, _scale_drill(tmp_path), "--yes")
    assert code == 0, journal
    assert journal["steady_state"]["during"]["probes"][0]["value"] == 0.0
    assert journal["rollbacks"][0]["output"] == {"deployment": "serving/chat", "replicas": 4}
    assert kube_api.deployments["serving"]["chat"]["spec"]["replicas"] == 4
    patches = [u for m, u in kube_api.requests if m == "PATCH"]
    assert patches[-2:] == ["/apis/apps/v1/namespaces/serving/deployments/chat/scale"] * 2


def test_protected_deployment_is_refused_and_untouched(kube_api, tmp_path, capsys):
    kube_api.add_deployment("serving", "chat", 4, labels={"meridian.dev/protected": "true"})
    code, journal = _run(kube_api, _scale_drill(tmp_path), "--yes")
    assert code == 2 and journal is None
    assert "protected" in capsys.readouterr().err
    assert not [m for m, _ in kube_api.requests if m == "PATCH"]


def test_kube_needs_yes_and_dry_run_contacts_nothing(kube_api, tmp_path, capsys):
    kube_api.add_deployment("serving", "chat", 4)
    assert _run(kube_api, _scale_drill(tmp_path))[0] == 2
    assert "--yes" in capsys.readouterr().err
    code, journal = _run(kube_api, _scale_drill(tmp_path), "--dry-run")
    assert code == 0 and journal is None
    assert "kube apps patch_namespaced_deployment_scale('chat', 'serving', {'spec': {'replicas': 0}})" \
        in capsys.readouterr().err
    assert kube_api.requests == []


def test_context_not_allow_listed_is_refused(kube_api, tmp_path, capsys):
    kube_api.add_deployment("serving", "chat", 4)
    path = _scale_drill(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["allow"] = {"contexts": ["production"]}
    path.write_text(yaml.safe_dump(doc))
    assert _run(kube_api, path, "--yes")[0] == 2
    assert "context standin is not in (production)" in capsys.readouterr().err
    assert kube_api.requests == []


@pytest.mark.parametrize("kubeconfig, flags", [
    ("contexts: [\n", []),  # not YAML
    ("apiVersion: v1\nkind: Config\ncurrent-context: 5\ncontexts: 7\n", []),  # not a kubeconfig's shape
    (None, ["--context", "production"]),  # a context the kubeconfig does not have
])
def test_a_kubeconfig_or_context_that_cannot_be_used_is_refused_before_any_fault(kube_api, tmp_path, capsys,
                                                                                   kubeconfig, flags):
    kube_api.add_deployment("serving", "chat", 4)
    path = _scale_drill(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["allow"] = {"contexts": ["standin", "production"]}
    path.write_text(yaml.safe_dump(doc))
    if kubeconfig is not None:
        kube_api.kubeconfig = str(tmp_path / "bad-kubeconfig")
        Path(kube_api.kubeconfig).write_text(kubeconfig)
    code, journal = _run(kube_api, path, "--yes", *flags)
    err = capsys.readouterr().err
    assert code == 2 and journal is None  # refused, as a missing kubeconfig is: not a failed drill
    assert "cannot read the kubeconfig" in err and "--kubeconfig" in err and "Traceback" not in err
    assert kube_api.requests == []


def test_namespace_outside_blast_radius_is_refused(kube_api, tmp_path, capsys):
    method = [{"action": "pod_kill", "namespace": "kube-system", "selector": "app=dns", "start_seconds": 0}]
    code, _ = _run(kube_api, _experiment(tmp_path, method, []), "--yes")
    assert code == 2
    assert "method[0].namespace: namespace kube-system is outside the blast radius" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_aborts_a_running_drill_and_rolls_back(kube_api, tmp_path, sig):
    """A real Ctrl-C (SIGINT) or SIGTERM to `meridian drill run` in its own process, mid-fault."""
    kube_api.add_deployment("serving", "chat", 4)
    path = _scale_drill(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["duration_seconds"] = 60  # long enough to be interrupted while the fault is on
    path.write_text(yaml.safe_dump(doc))
    journal = tmp_path / "j.json"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "meridian", "drill", "run", str(path), "--yes",
                             "--kubeconfig", kube_api.kubeconfig, "--journal", str(journal)],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        for _ in range(400):  # wait until the fault is in effect
            if kube_api.deployments["serving"]["chat"]["spec"]["replicas"] == 0:
                break
            time.sleep(0.05)
        assert kube_api.deployments["serving"]["chat"]["spec"]["replicas"] == 0
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    j = json.loads(journal.read_text())
    assert j["status"] == "aborted" and sig.name in j["timeline"][-1]["output"]
    assert j["rollbacks"][0]["status"] == "succeeded"
    assert kube_api.deployments["serving"]["chat"]["spec"]["replicas"] == 4
    assert "ABORTED" in out
