"""The offline plan: run the program on a stack file under mocks, then the policy pack over it."""
from __future__ import annotations

import collections
import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from pulumi_policy import (
    EnforcementLevel,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    PolicyCustomTimeouts,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from infra.offline.runner import UNKNOWN, PlannedResource, run_offline
from regions.topology import Topology

UNIQUE_NAMES = "unique-resource-names"
SDK_ARGUMENTS = "sdk-arguments"


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str  # resource name; "" for the stack as a whole
    message: str
    level: str  # "mandatory" | "advisory"


@dataclass
class Plan:
    stack: str
    topology: Topology
    resources: list[PlannedResource]
    violations: list[Violation]
    outputs: dict[str, Any]

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    def of_type(self, typ: str, region: str | None = None) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == typ and (region is None or r.region == region)]

    def as_policy_resources(self) -> list[PolicyResource]:
        """The resources as a stack policy sees them (for helpers like resolve_regions)."""
        by_urn = {r.urn: r for r in self.resources}
        return [_policy_resource(r, by_urn) for r in self.resources]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [{"type": r.type, "name": r.name, "region": r.region, "parent": r.parent,
                           "inputs": r.inputs} for r in self.resources],
            "violations": [asdict(v) for v in self.violations],
        }


def policy_config(topology: Topology) -> dict[str, Any]:
    """The pack's config that matches the topology: its declared transfers."""
    return {"allowedTransfers": [{"from": t.from_, "to": t.to} for t in topology.transfers]}


def plan_stack(path: str | Path) -> Plan:
    """Validate the stack file's topology (InputError if invalid), run the program, check it."""
    from regions.validate import load_stack, parse_yaml

    path = Path(path)
    topology = load_stack(path)  # raises InputError with every validator message
    raw = parse_yaml(path.read_text(encoding="utf-8"), str(path))["config"]
    from infra.__main__ import main

    run = run_offline(main, topology.stack or "stack", raw)
    return Plan(topology.stack, topology, run.resources, check(run.resources, policy_config(topology)),
                run.outputs)


def check(resources: list[PlannedResource], config: dict[str, Any] | None = None,
          policies: Iterable | None = None) -> list[Violation]:
    """Run the policy pack's policies over planned resources, as the Pulumi engine would."""
    from infra.policy.policies import POLICIES

    config = config or {}
    violations = unique_names(resources)
    if policies is None:  # the whole pack: also what the real engine and providers would refuse
        violations += sdk_arguments(resources)
    by_urn = {r.urn: _as_engine_sends(r) for r in resources}
    resources = [by_urn[r.urn] for r in resources]
    for policy in POLICIES if policies is None else policies:
        level = "advisory" if policy.enforcement_level == EnforcementLevel.ADVISORY else "mandatory"
        found: list[tuple[str, str]] = []  # (resource name, message)
        skipped: list[tuple[str, str]] = []  # like the engine: a policy that meets an unknown is not run
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:  # like the engine: every resource; the policy filters by type
                args = ResourceValidationArgs(r.type, r.inputs, r.urn, r.name, _options(r),
                                              _provider(r, by_urn), config)
                try:
                    policy.validate(args, lambda m, _u=None, _n=r.name: found.append((_n, m)))
                except UnknownValueError as err:
                    skipped.append((r.name, f"can't run policy {policy.name} during preview: {err.message}"))
        else:
            stack = StackValidationArgs([_policy_resource(r, by_urn) for r in resources], config)
            try:
                policy.validate(stack, lambda m, u=None: found.append((by_urn[u].name if u in by_urn else "", m)))
            except UnknownValueError as err:
                skipped.append(("", f"can't run policy {policy.name} during preview: {err.message}"))
        violations += [Violation(policy.name, name, message, level) for name, message in found]
        violations += [Violation(policy.name, name, message, "advisory") for name, message in skipped]
    return violations


def _as_engine_sends(r: PlannedResource) -> PlannedResource:
    """Inputs as the engine hands them to a policy pack: a value unknown during preview is
    Pulumi's unknown sentinel, and reading one raises UnknownValueError (pulumi_policy.proxy)."""
    return dataclasses.replace(r, inputs=unknown_checking_proxy(_sentinels(r.inputs)))


def _sentinels(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sentinels(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_sentinels(v) for v in value]
    return UNKNOWN_STRING_VALUE if value == UNKNOWN else value


def unique_names(resources: list[PlannedResource]) -> list[Violation]:
    """Pulumi requires unique URNs; the mock runtime does not enforce it, so the plan does."""
    counts = collections.Counter((r.type, r.name) for r in resources)
    return [Violation(UNIQUE_NAMES, name, f"{n} resources of type {typ} are named {name!r}", "mandatory")
            for (typ, name), n in counts.items() if n > 1]


def sdk_arguments(resources: list[PlannedResource]) -> list[Violation]:
    """Inputs the installed pulumi-aws / pulumi-kubernetes argument types refuse: the mock
    runtime passes them through, a real `pulumi preview` would fail on them."""
    from infra.offline.sdk_args import check_resources

    return [Violation(SDK_ARGUMENTS, name, message, "mandatory") for name, message in check_resources(resources)]


def _options(r: PlannedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], r.parent_urn)


def _provider(r: PlannedResource, by_urn: dict[str, PlannedResource]) -> PolicyProviderResource | None:
    p = by_urn.get(r.provider_urn or "")
    return PolicyProviderResource(p.type, p.inputs, p.urn, p.name) if p else None


def _policy_resource(r: PlannedResource, by_urn: dict[str, PlannedResource]) -> PolicyResource:
    return PolicyResource(r.type, r.inputs, r.urn, r.name, _options(r), _provider(r, by_urn), None, [], {})
