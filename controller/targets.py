"""The Deployments one InferenceScaler sizes, and how a decision is split between them.

Without `spec.targetRef.spotName` there is one Deployment and the scheduler decides which
capacity type each pod lands on. With it there are two: the target, to be pinned to
on-demand nodes, and its spot twin, pinned to spot nodes (the SkyServe idea: the law's
spot share goes to the spot Deployment, the rest, including the on-demand replicas that
cover spot not ready, to the target). Pure: reading and patching live in `kube` and `scale`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from controller.kube import TargetState
from controller.prices import ReplicaPrices


@dataclass(frozen=True)
class Targets:
    on_demand: TargetState  # spec.targetRef.name: the whole fleet when there is no spot twin
    spot: TargetState | None = None  # spec.targetRef.spotName

    @property
    def members(self) -> tuple[TargetState, ...]:
        return (self.on_demand,) if self.spot is None else (self.on_demand, self.spot)

    @property
    def replicas(self) -> int:
        return sum(t.replicas for t in self.members)

    @property
    def ready(self) -> int:
        return sum(t.ready for t in self.members)

    @property
    def starting(self) -> int:
        return sum(t.starting for t in self.members)

    @property
    def revision(self) -> str | None:
        """What the replicas run: the target's template hash, joined by the spot twin's when
        there is one (a rollout of either is a new revision). None while any is unknown."""
        hashes = [t.template_hash for t in self.members]
        return "+".join(hashes) if all(hashes) else None

    def spot_counts(self, prices: ReplicaPrices) -> tuple[int, int]:
        """(ready, starting) replicas on spot. One Deployment: as many as its pods' nodes say
        are spot, ready ones first. Two: the spot Deployment's own counts."""
        if self.spot is not None:
            return self.spot.ready, self.spot.starting
        ready = min(prices.spot_replicas, self.ready)
        return ready, max(0, min(prices.spot_replicas - ready, self.starting))

    def cost_per_hour(self, prices: ReplicaPrices, replicas: dict[str, int]) -> float:
        """What `replicas` (by Deployment name) cost; the spot Deployment's at the spot price,
        whatever its nodes' labels say (it is pinned to spot)."""
        total = sum(replicas[t.name] for t in self.members)
        if self.spot is not None:
            prices = dataclasses.replace(prices, spot_replicas=replicas[self.spot.name])
        return prices.cost_per_hour(total)


@dataclass(frozen=True)
class Step:
    """One Deployment's part of a decision."""

    target: TargetState
    desired: int

    @property
    def changes(self) -> bool:
        return self.desired != self.target.replicas

    @property
    def grows(self) -> bool:
        return self.desired > self.target.replicas

    def __str__(self) -> str:
        return f"{self.target.name} from {self.target.replicas} to {self.desired}"


def split(targets: Targets, total: int, spot_wanted: int, metrics_ok: bool) -> tuple[Step, ...]:
    """`total` is already safe (bounds, steps, fail-static). Without metrics both Deployments
    hold (a raised minimum goes on demand); otherwise spot gets the policy's share, never more
    than the total, as the twin does."""
    if targets.spot is None:
        return (Step(targets.on_demand, total),)
    current_spot = targets.spot.replicas
    spot = min(current_spot, total) if not metrics_ok else max(0, min(total, int(spot_wanted)))
    return Step(targets.on_demand, total - spot), Step(targets.spot, spot)


def describe_steps(steps: tuple[Step, ...]) -> str:
    """e.g. "llama-vllm from 4 to 3 and llama-vllm-spot from 0 to 2": only what changes."""
    return " and ".join(str(s) for s in steps if s.changes)
