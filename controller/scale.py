"""Apply a split decision to its Deployments, all or nothing.

Each Deployment is patched through its scale subresource with the resourceVersion it was
read at (`KubeAdapter.patch_scale`). Growth goes first, so between the two patches the
fleet is never smaller than both the old and the new size. If the second patch fails, the
first is reverted to the size it had, unless another writer changed it since. A lost lease
(`NotLeader`) stops everything at once, revert included: the next leader decides afresh.
"""
from __future__ import annotations

from dataclasses import dataclass

import structlog

from controller.kube import REMOTE_ERRORS, KubeAdapter, ScaleChanged, TargetMissing, describe
from controller.targets import Step

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Applied:
    replicas: dict[str, int]  # by Deployment name, as they are now
    failed: Step | None = None  # the step that could not be applied
    error: str = ""  # the API's answer to it
    undo: str = ""  # what became of the steps applied before it

    @property
    def problem(self) -> str:
        return "; ".join(p for p in (self.error, self.undo) if p)


def apply(kube: KubeAdapter, namespace: str, steps: tuple[Step, ...]) -> Applied:
    now = {s.target.name: s.target.replicas for s in steps}
    done: list[Step] = []
    for step in sorted((s for s in steps if s.changes), key=lambda s: not s.grows):
        try:
            now[step.target.name] = kube.patch_scale(namespace, step.target.name, step.desired,
                                                     step.target.resource_version,
                                                     expected_current=step.target.replicas)
        except TargetMissing:  # deleted since the read: undo, then report the missing target
            if done:
                log.warning("target vanished mid-split", target=f"{namespace}/{step.target.name}",
                            undo=_undo(kube, namespace, done, now))
            raise
        except (*REMOTE_ERRORS, ScaleChanged) as err:  # 403, 409s, 5xx past the deadline
            return Applied(now, step, describe(err), _undo(kube, namespace, done, now))
        done.append(step)
    return Applied(now)


def _undo(kube: KubeAdapter, namespace: str, done: list[Step], now: dict[str, int]) -> str:
    notes = []
    for step in reversed(done):
        name, before = step.target.name, step.target.replicas
        try:
            fresh = kube.read_target(namespace, name)
            if fresh.replicas != step.desired:  # someone else's size now: not ours to undo
                notes.append(f"left {name} at {fresh.replicas} (changed by another writer)")
                now[name] = fresh.replicas
                continue
            now[name] = kube.patch_scale(namespace, name, before, fresh.resource_version,
                                         expected_current=step.desired)
            notes.append(f"reverted {name} to {before}")
        except (*REMOTE_ERRORS, ScaleChanged, TargetMissing) as err:
            notes.append(f"could not revert {name} (left at {now[name]}): {describe(err)}")
    return "; ".join(notes)
