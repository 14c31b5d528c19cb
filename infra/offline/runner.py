"""Run a Pulumi program under the mock runtime and record every resource it registers.

`RecordingMonitor` is Pulumi's own `MockMonitor`; it only also keeps what the engine would
see for each registration (type, name, parent, provider, inputs), which `MockMonitor` itself
does not expose.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.settings import get_root_resource, set_root_resource

from infra.offline.mocks import EstateMocks

PROJECT = "meridian"
UNKNOWN = "<unknown until created>"  # how a preview's computed values appear in the plan
# Services AWS runs globally; their resources are shown under "global", not their API region.
GLOBAL_TYPE_PREFIXES = ("aws:route53/", "aws:cloudfront/")


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    urn: str
    parent_urn: str
    provider_urn: str
    custom: bool
    inputs: dict[str, Any]
    dependencies: tuple[str, ...] = ()  # URNs of explicit and input dependencies


@dataclass(frozen=True)
class PlannedResource:
    type: str  # Pulumi type token, e.g. aws:eks/cluster:Cluster
    name: str
    urn: str
    region: str | None
    parent: str | None  # the parent's name (None: the stack)
    parent_urn: str | None
    provider_urn: str | None
    custom: bool
    inputs: dict[str, Any] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(Registration(
                type=request.type, name=request.name, urn=response.urn, parent_urn=request.parent,
                provider_urn=request.provider.rsplit("::", 1)[0] if request.provider else "",
                custom=bool(request.custom), inputs=_plain(rpc.deserialize_properties(request.object)),
                dependencies=tuple(request.dependencies)))
        return response


@dataclass
class OfflineRun:
    resources: list[PlannedResource]
    outputs: dict[str, Any]


def stack_config(raw: dict[str, Any]) -> dict[str, str]:
    """Stack-file config as Pulumi hands it to a program: namespaced keys, objects as JSON."""
    out = {}
    for key, value in raw.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        out[full] = value if isinstance(value, str) else json.dumps(value)
    return out


def run_offline(program: Callable[[], None], stack: str, config: dict[str, Any],
                preview: bool = False) -> OfflineRun:
    """Run `program` (which registers resources) under mocks; return every resource, in order,
    and the stack outputs it exported. `preview=True` leaves computed outputs unknown."""
    mocks = EstateMocks(preview=preview)
    monitor = RecordingMonitor(mocks)
    set_root_resource(None)  # a previous run's stack resource must not become this one's parent
    pulumi.runtime.set_all_config(stack_config(config))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)

    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def _run():
        program()
        # Under mocks the stack's outputs are never registered; read the `pulumi.export`s directly.
        exported = dict(get_root_resource().outputs)
        return pulumi.Output.from_input(exported).apply(lambda v: outputs.update(_plain(v)))

    _run()  # returns once every outstanding registration has completed
    return OfflineRun(attribute_regions(monitor.registrations), outputs)


def attribute_regions(regs: list[Registration]) -> list[PlannedResource]:
    """Region of a resource: its own `region` input, else its provider's, else its parent's."""
    by_urn = {r.urn: r for r in regs}
    memo: dict[str, str | None] = {}

    def region(urn: str, seen: frozenset = frozenset()) -> str | None:
        if urn in memo:
            return memo[urn]
        reg = by_urn.get(urn)
        if reg is None or urn in seen:
            return None
        seen = seen | {urn}
        found = reg.inputs.get("region") if isinstance(reg.inputs.get("region"), str) else None
        if found is None and reg.provider_urn:
            found = region(reg.provider_urn, seen)
        if found is None and reg.parent_urn:
            found = region(reg.parent_urn, seen)
        memo[urn] = found
        return found

    planned = []
    for r in regs:
        parent = by_urn.get(r.parent_urn)
        where = "global" if r.type.startswith(GLOBAL_TYPE_PREFIXES) else region(r.urn)
        planned.append(PlannedResource(
            type=r.type, name=r.name, urn=r.urn, region=where, parent=parent.name if parent else None,
            parent_urn=r.parent_urn or None, provider_urn=r.provider_urn or None, custom=r.custom,
            inputs=r.inputs, dependencies=r.dependencies))
    return planned


def _plain(value: Any) -> Any:
    """Inputs as JSON-ready values (mock runs resolve every Output; anything else becomes text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return UNKNOWN if value == rpc.UNKNOWN else value
    if isinstance(value, Unknown):
        return UNKNOWN
    return str(value)
