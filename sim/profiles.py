"""GPU replica profiles: how fast one replica prefills and decodes, and how long it takes to start.

Figures live in `data/gpu_profiles.json` with their sources and derivations.
"""
from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from regions.errors import InputError, Problem, closest

DEFAULT_INSTANCE = "g5.2xlarge"


@dataclass(frozen=True)
class GpuProfile:
    instance_type: str
    gpu: str
    batch_slots: int
    prefill_tokens_per_s: float
    prefill_slowdown_full_batch: float
    decode_tokens_per_s_batch1: float
    decode_slowdown_per_sequence: float
    cold_start_median_s: float
    cold_start_sigma: float

    def prefill_s(self, tokens, occupancy=0.0):
        """Prefill time; `occupancy` (0..1 of the batch slots) slows it (chunked prefill shares steps)."""
        return tokens / (self.prefill_tokens_per_s * (1.0 - self.prefill_slowdown_full_batch * occupancy))

    def tpot_s(self, occupancy=0.0):
        """Time per output token for one sequence when `occupancy` of the slots are busy."""
        sequences = 1.0 + occupancy * (self.batch_slots - 1)
        return (1.0 + self.decode_slowdown_per_sequence * (sequences - 1.0)) / self.decode_tokens_per_s_batch1

    def service_s(self, prompt_tokens, output_tokens, occupancy=0.0):
        """How long a request holds a batch slot: its prefill plus its decode."""
        return self.prefill_s(prompt_tokens, occupancy) + output_tokens * self.tpot_s(occupancy)

    @property
    def cold_start_p95_s(self) -> float:
        return self.cold_start_median_s * math.exp(1.645 * self.cold_start_sigma)

    @property
    def revision(self) -> str:
        """What a Deployment's pod-template hash is in a cluster: the same for the same model
        on the same instance type, new for any change (`Observation.revision`)."""
        return f"{self.instance_type}-{zlib.crc32(repr(self).encode()):08x}"


@dataclass(frozen=True)
class SpotModel:
    interruptions_per_hour: float
    notice_s: float


def _raw() -> dict:
    return json.loads(resources.files("sim").joinpath("data", "gpu_profiles.json").read_text())


@lru_cache(maxsize=1)
def load_profiles() -> dict[str, GpuProfile]:
    fields = GpuProfile.__dataclass_fields__
    return {p["instance_type"]: GpuProfile(**{k: v for k, v in p.items() if k in fields})
            for p in _raw()["profiles"]}


def spot_model() -> SpotModel:
    raw = _raw()
    return SpotModel(raw["spot_interruptions_per_instance_hour"], raw["spot_notice_s"])


def get_profile(instance_type: str = DEFAULT_INSTANCE, field: str = "--instance-type") -> GpuProfile:
    """The profile of `instance_type`; an unknown one is an InputError on `field`."""
    profiles = load_profiles()
    if instance_type not in profiles:
        near = closest(instance_type, profiles)
        raise InputError(f"no GPU profile for {instance_type}", [Problem(
            field, f"{instance_type!r} has no profile in sim/data/gpu_profiles.json",
            fix=f"did you mean {near[0]}?" if near else f"use one of {', '.join(sorted(profiles))}")])
    return profiles[instance_type]
