"""Kubernetes target, through the official `kubernetes` client.

- pod_kill: delete the pods a label selector matches (all, or `count` of them, in
  name order so a rerun picks the same ones); their controller recreates them, so
  there is nothing to revert.
- region_outage: the region's serving Deployment scaled to zero through the scale
  subresource; revert restores the saved replica count.
- replicas probe: the Deployment's ready replicas.

Only an allow-listed kubeconfig context is used. Pods and Deployments labelled or
annotated `meridian.dev/protected=true` are never touched. With `dry_run=True` nothing is contacted: every call is printed.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from chaos import safety
from chaos.model import Action, AllowList, Experiment, Probe
from chaos.targets.base import Measurements
from regions.errors import InputError, Problem
from regions.topology import Topology


def build(*, allowed: AllowList, kubeconfig: str | None = None, context: str | None = None,
          dry_run: bool = False, say: Callable[[str], None] = print) -> "KubeTarget":
    return KubeTarget(allowed=allowed, kubeconfig=kubeconfig, context=context, dry_run=dry_run, say=say)


class KubeTarget:
    name = "kube"
    realtime = True

    def __init__(self, *, allowed: AllowList, kubeconfig: str | None = None, context: str | None = None,
                 dry_run: bool = False, say: Callable[[str], None] = print):
        self.allowed, self.kubeconfig, self.context = allowed, kubeconfig, context
        self.dry_run, self.say = dry_run, say
        self._api_client = None
        self._saved: dict[str, int] = {}
        self._t0 = 0.0

    def _apis(self):
        if self.dry_run:
            return _DryApi("core", self.say), _DryApi("apps", self.say)
        from kubernetes import client, config

        if self._api_client is None:
            try:
                self._api_client = config.new_client_from_config(config_file=self.kubeconfig,
                                                                 context=self.context)
            except Exception as err:  # noqa: BLE001 - a bad file or --context is user input
                raise _bad_kubeconfig(err) from None
        return client.CoreV1Api(self._api_client), client.AppsV1Api(self._api_client)

    def prepare(self, experiment: Experiment, topology: Topology | None) -> None:
        if not self.dry_run:
            safety.check_context(self._current_context(), self.allowed)
        _, apps = self._apis()  # reads the kubeconfig now, so a bad one fails before any fault
        for action in experiment.method:  # protected Deployments are refused before any change
            if action.kind == "region_outage":  # a dry run prints the read
                p = action.params
                if _protected(apps.read_namespaced_deployment(p["deployment"], p["namespace"]).metadata):
                    safety.refuse_protected("Deployment", f"{p['namespace']}/{p['deployment']}")
        self._t0 = time.monotonic()

    def _current_context(self) -> str:
        from kubernetes import config

        try:
            _, active = config.list_kube_config_contexts(config_file=self.kubeconfig)
        except Exception as err:  # noqa: BLE001 - missing, not YAML, or not a kubeconfig's shape
            raise _bad_kubeconfig(err) from None
        return self.context or active["name"]

    def advance(self, until_s: float) -> None:
        if self.dry_run:
            return
        while (left := self._t0 + until_s - time.monotonic()) > 0:
            time.sleep(min(left, 0.25))

    def close(self) -> None:
        if self._api_client is not None:
            self._api_client.close()
            self._api_client = None

    def measurements(self) -> Measurements:
        return Measurements()

    # --- actions ---------------------------------------------------------------------------

    def inject(self, action: Action) -> Any:
        return getattr(self, f"_inject_{action.kind}")(action)

    def revert(self, action: Action) -> Any:
        if action.kind == "pod_kill":
            return {"reverted": False, "reason": "deleted pods are recreated by their controller"}
        if action.name not in self._saved:
            return {"reverted": False, "reason": "nothing was changed"}
        p = action.params
        replicas = self._saved.pop(action.name)
        _, apps = self._apis()
        apps.patch_namespaced_deployment_scale(p["deployment"], p["namespace"], {"spec": {"replicas": replicas}})
        return {"deployment": f"{p['namespace']}/{p['deployment']}", "replicas": replicas}

    def _inject_pod_kill(self, action: Action) -> dict:
        p = action.params
        core, _ = self._apis()
        pods = core.list_namespaced_pod(p["namespace"], label_selector=p["selector"]).items
        victims = sorted((pod for pod in pods if not _protected(pod.metadata)), key=lambda x: x.metadata.name)
        spared = len(pods) - len(victims)
        victims = victims[: p.get("count", len(victims))]
        if self.dry_run:
            core.delete_namespaced_pod("<each unprotected pod matching the selector>", p["namespace"])
        for pod in victims:
            core.delete_namespaced_pod(pod.metadata.name, p["namespace"])
        return {"deleted": [pod.metadata.name for pod in victims], "protected_spared": spared}

    def _inject_region_outage(self, action: Action) -> dict:
        p = action.params
        _, apps = self._apis()
        dep = apps.read_namespaced_deployment(p["deployment"], p["namespace"])
        if _protected(dep.metadata):
            safety.refuse_protected("Deployment", f"{p['namespace']}/{p['deployment']}")
        was = dep.spec.replicas if dep.spec.replicas is not None else 1
        self._saved[action.name] = was  # before the change: a failed call is still reverted
        apps.patch_namespaced_deployment_scale(p["deployment"], p["namespace"], {"spec": {"replicas": 0}})
        return {"deployment": f"{p['namespace']}/{p['deployment']}", "replicas": 0, "was": was}

    # --- probes ----------------------------------------------------------------------------

    def probe(self, probe: Probe) -> float | None:
        p = probe.params
        _, apps = self._apis()
        dep = apps.read_namespaced_deployment_status(p["deployment"], p["namespace"])
        status = getattr(dep, "status", None)
        return float(getattr(status, "ready_replicas", None) or 0)


def _protected(metadata) -> bool:
    return safety.is_protected(getattr(metadata, "labels", None)) or \
        safety.is_protected(getattr(metadata, "annotations", None))


class _DryApi:
    """Prints each call; answers reads with an empty placeholder."""

    def __init__(self, group: str, say: Callable[[str], None]):
        self.group, self.say = group, say

    def __getattr__(self, operation: str):
        def call(*args, **kwargs):
            shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
            self.say(f"    kube {self.group} {operation}({', '.join(shown)})")
            return _Placeholder()
        return call


class _Placeholder:
    """Stands for an object the API would return: empty lists, no labels, one replica."""

    items: list = []
    metadata = None
    spec = type("Spec", (), {"replicas": "<current replicas>"})()
    status = None


def _bad_kubeconfig(err: Exception) -> InputError:
    return InputError("cannot read the kubeconfig", [Problem(
        "--kubeconfig", f"{type(err).__name__}: {err}",
        "point --kubeconfig at a valid kubeconfig file, and --context at one of its contexts")])
