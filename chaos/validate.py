"""Read an experiment file into a typed `Experiment`, reporting every problem at once.

Each problem names its key path (`method[1].region`), what is wrong and how to fix
it; the CLI prints them and exits 2. Refused: unknown keys, actions and probes (with
a "did you mean"), actions outside the blast radius, faults that would force personal
data to fail over out of its jurisdiction (unless the stack declares a transfer),
offsets beyond the drill's length, and expectations the target cannot measure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chaos import catalog
from chaos.model import (PHASES, Action, AllowList, BlastRadius, Expect, Experiment, Probe,
                         Tolerance)
from chaos.stack import load_topology, resolve
from regions.catalog import load_catalog
from regions.errors import InputError, Problem, closest
from regions.residency import check
from regions.topology import Topology

TOP_KEYS = ("title", "description", "target", "topology", "duration_seconds", "poll_seconds",
            "blast_radius", "steady_state", "method", "rollbacks", "stop_conditions", "expect",
            "allow")
PROBE_KEYS = ("probe", "name", "tolerance", "phases")
ACTION_KEYS = ("action", "name", "start_seconds", "duration_seconds")
EXPECT_KEYS = ("rto_seconds", "rpo_seconds", "residency_violations", "detection_seconds",
               "min_slo_attainment_during")


@dataclass
class _Problems:
    items: list[Problem] = field(default_factory=list)

    def add(self, path: str, message: str, fix: str = "", rule: str = "") -> None:
        self.items.append(Problem(path, message, fix, rule))

    def unknown(self, path: str, key: str, known: tuple[str, ...] | list[str], what: str) -> None:
        close = closest(key, known)
        fix = (f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(known)}" if known
               else f"there is no valid {what} to name: fix the problems with them first")
        self.add(path, f"unknown {what} '{key}'", fix, "unknown-key")


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int):
        super().__init__(key)
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping: a second `blast_radius` or
    `region` must not silently replace the first in a drill that breaks things."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep)


@dataclass(frozen=True)
class Validated:
    experiment: Experiment
    topology: Topology | None


def load_experiment(path: str | Path, *, target: str | None = None) -> Validated:
    """Read and validate the experiment at `path`; `target` overrides the file's."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except FileNotFoundError:
        raise InputError(f"experiment file {path} not found",
                         [Problem(str(path), "no such file", "give the path of a drill YAML file; "
                                  "shipped drills are in chaos/drills/")]) from None
    except UnicodeDecodeError as err:
        raise InputError(f"experiment file {path} is not UTF-8 text",
                         [Problem(str(path), f"byte {err.start}: {err.reason}",
                                  "save the experiment as UTF-8 YAML")]) from None
    except OSError as err:  # a directory, no permission, ...
        raise InputError(f"cannot read experiment file {path}",
                         [Problem(str(path), err.strerror or str(err),
                                  "give the path of a readable drill YAML file")]) from None
    except _DuplicateKey as err:
        raise InputError(f"experiment file {path} repeats a key",
                         [Problem(f"{path}:{err.line}", f"key '{err.key}' appears twice in one mapping; "
                                  "YAML would silently keep only the last one",
                                  "keep one of them (merge their values)")]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InputError(f"experiment file {path} is not valid YAML",
                         [Problem(where, str(getattr(err, 'problem', err)), "fix the YAML syntax")]) from None
    return parse_experiment(raw, source=str(path), target=target)


def parse_experiment(raw: Any, *, source: str = "", target: str | None = None) -> Validated:
    p = _Problems()
    if not isinstance(raw, dict):
        raise InputError(f"experiment {source} must be a YAML mapping",
                         [Problem("(top)", f"got {type(raw).__name__}", "start with 'title: ...'")])
    for key in raw:
        if key not in TOP_KEYS:
            p.unknown(str(key), key, TOP_KEYS, "key")

    title = _str(p, raw, "title", required=True)
    description = _str(p, raw, "description") or ""
    target = target or raw.get("target", "sim")
    if target not in catalog.TARGETS:
        p.unknown("target", target, catalog.TARGETS, "target")
        target = "sim"
    # an invalid duration is already a problem: the checks against the drill's end then have
    # no end to hold a start to (a stand-in of 1 s made every start look late)
    duration = _num(p, raw, "duration_seconds", required=True, minimum=1) or math.inf
    poll = _num(p, raw, "poll_seconds", minimum=0.1) or (15.0 if target == "sim" else 5.0)

    topology, topology_path = _topology(p, raw, source, target)
    radius = _blast_radius(p, raw.get("blast_radius"), topology)
    steady = _probes(p, raw.get("steady_state"), "steady_state", target, topology, phases=True)
    stops = _probes(p, raw.get("stop_conditions"), "stop_conditions", target, topology, phases=False)
    method = _method(p, raw.get("method"), target, duration, radius, topology)
    rollbacks = _rollbacks(p, raw.get("rollbacks"), method)
    expect = _expect(p, raw.get("expect"), target, topology)
    allow = _allow(p, raw.get("allow"))
    if topology is not None:
        _residency(p, method, expect, topology, duration)
    if target != "sim" and expect.rto_seconds is not None and method:
        first = min(a.start_seconds for a in method)
        end = max(a.end_seconds if a.end_seconds is not None else duration for a in method)
        if first + poll >= end:
            p.add("poll_seconds", f"real targets measure RTO by polling every poll_seconds while the "
                  f"faults last ({first:g} s to {end:g} s), and no poll of {poll:g} s falls inside",
                  f"set poll_seconds below {end - first:g}, or drop expect.rto_seconds")
    _unique(p, steady, "steady_state probe")
    _unique(p, stops, "stop_conditions probe")

    if p.items:
        raise InputError(f"experiment {source or '(inline)'} is invalid or refused "
                         f"({len(p.items)} problem{'s' * (len(p.items) > 1)})", p.items)
    return Validated(
        Experiment(title=title, description=description, target=target,
                   topology_path=topology_path, duration_seconds=float(duration),
                   blast_radius=radius, steady_state=tuple(steady), method=tuple(method),
                   rollbacks=rollbacks, stop_conditions=tuple(stops), expect=expect, allow=allow,
                   poll_seconds=float(poll), source=source),
        topology,
    )


# --- scalars -------------------------------------------------------------------------------

def _str(p: _Problems, raw: dict, key: str, *, path: str = "", required: bool = False) -> str | None:
    value = raw.get(key)
    where = f"{path}.{key}" if path else key
    if value is None:
        if required:
            p.add(where, "is required", f"add '{key}: ...'")
        return None
    if not isinstance(value, str) or not value.strip():
        p.add(where, f"must be a non-empty string, got {value!r}")
        return None
    return value


def _num(p: _Problems, raw: dict, key: str, *, path: str = "", required: bool = False,
         minimum: float | None = None, maximum: float | None = None) -> float | None:
    value = raw.get(key)
    where = f"{path}.{key}" if path else key
    if value is None:
        if required:
            p.add(where, "is required", f"add '{key}: <number>'")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        p.add(where, f"must be a finite number, got {value!r}")
        return None
    if minimum is not None and value < minimum:
        p.add(where, f"must be at least {minimum:g}, got {value:g}")
        return None
    if maximum is not None and value > maximum:
        p.add(where, f"must be at most {maximum:g}, got {value:g}")
        return None
    return float(value)


def _list(p: _Problems, value: Any, path: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        p.add(path, f"must be a list, got {type(value).__name__}", f"write '{path}:' followed by '- ...' items")
        return []
    return value


def _mapping(p: _Problems, raw: Any, path: str, keys: tuple[str, ...]) -> bool:
    """True when `raw` is a mapping; reports it otherwise, and every unknown key."""
    if not isinstance(raw, dict):
        p.add(path, f"must be a mapping with {', '.join(keys)}")
        return False
    for key in raw:
        if key not in keys:
            p.unknown(f"{path}.{key}", key, keys, "key")
    return True


def _str_list(p: _Problems, value: Any, path: str) -> tuple[str, ...]:
    items = _list(p, value, path)
    bad = [i for i, v in enumerate(items) if not isinstance(v, str)]
    for i in bad:
        p.add(f"{path}[{i}]", f"must be a string, got {items[i]!r}")
    return tuple(str(v) for v in items)


# --- sections ------------------------------------------------------------------------------

def _topology(p: _Problems, raw: dict, source: str, target: str) -> tuple[Topology | None, str | None]:
    name = _str(p, raw, "topology", required=(target == "sim"))
    if name is None:
        return None, None
    path = resolve(name, source or None)
    if path is None:
        p.add("topology", f"stack file '{name}' not found next to the experiment or in the working "
              "directory", "give a path to a Pulumi.<stack>.yaml, relative to the experiment file")
        return None, None
    try:
        return load_topology(path), str(path)
    except InputError as err:
        p.items.extend(err.problems)
        return None, str(path)


def _blast_radius(p: _Problems, raw: Any, topology: Topology | None) -> BlastRadius:
    if raw is None:
        p.add("blast_radius", "is required: a drill must say what it may touch",
              "add 'blast_radius: {regions: [eu-west-1]}' (and namespaces for kube)")
        return BlastRadius()
    if not _mapping(p, raw, "blast_radius", ("regions", "jurisdictions", "namespaces")):
        return BlastRadius()
    regions = _str_list(p, raw.get("regions"), "blast_radius.regions")
    known = load_catalog().regions
    for i, r in enumerate(regions):
        if r not in known:
            p.unknown(f"blast_radius.regions[{i}]", r, sorted(known), "region")
    jurisdictions = _str_list(p, raw.get("jurisdictions"), "blast_radius.jurisdictions")
    for i, j in enumerate(jurisdictions):
        if topology is not None and j not in topology.jurisdictions:
            p.unknown(f"blast_radius.jurisdictions[{i}]", j, sorted(topology.jurisdictions), "jurisdiction")
    return BlastRadius(regions, jurisdictions, _str_list(p, raw.get("namespaces"), "blast_radius.namespaces"))


def _tolerance(p: _Problems, raw: Any, path: str) -> Tolerance:
    if not isinstance(raw, dict) or not raw:
        p.add(path, "must be a mapping with 'min' and/or 'max'", "e.g. 'tolerance: {min: 0.95}'")
        return Tolerance(min=0.0)
    for key in raw:
        if key not in ("min", "max"):
            p.unknown(f"{path}.{key}", key, ("min", "max"), "tolerance key")
    lo = _num(p, raw, "min", path=path)
    hi = _num(p, raw, "max", path=path)
    if lo is not None and hi is not None and lo > hi:
        p.add(path, f"min {lo:g} is above max {hi:g}", "swap them")
    if lo is None and hi is None:
        return Tolerance(min=0.0)
    return Tolerance(lo, hi)


def _params(p: _Problems, raw: dict, path: str, kind: catalog.Kind, reserved: tuple[str, ...],
            target: str, what: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in reserved:
            continue
        spec = kind.params.get(key)
        if spec is None:
            p.unknown(f"{path}.{key}", key, tuple(kind.params) + reserved, f"parameter of {what} {kind.name}")
            continue
        if spec.only and target not in spec.only:
            p.add(f"{path}.{key}", f"applies only to target {' or '.join(spec.only)}, not {target}",
                  f"drop it for {target}")
            continue
        if isinstance(value, bool) or not isinstance(value, spec.type) or \
                (isinstance(value, float) and not math.isfinite(value)):
            p.add(f"{path}.{key}", f"must be {_type_name(spec.type)}, got {value!r}")
            continue
        if spec.choices and value not in spec.choices:
            p.unknown(f"{path}.{key}", value, spec.choices, "value")
            continue
        out_of_range = spec.range_problem(value)
        if out_of_range:
            p.add(f"{path}.{key}", out_of_range)
            continue
        params[key] = value
    for key, spec in kind.params.items():
        if target in spec.required and key not in raw:
            p.add(f"{path}.{key}", f"is required for {what} {kind.name} on target {target}",
                  f"add '{key}: ...' ({spec.doc})")
    return params


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", dict: "a mapping", list: "a list"}
    return "a number" if t == catalog.NUM else names.get(t, str(t))


def _check_place(p: _Problems, params: dict, path: str, topology: Topology | None) -> None:
    """Regions, zones and jurisdictions named in parameters exist (in the topology, if any)."""
    regions = load_catalog().regions
    region = params.get("region")
    if region is not None:
        if region not in regions:
            p.unknown(f"{path}.region", region, sorted(regions), "region")
        elif topology is not None and region not in topology.all_regions():
            p.add(f"{path}.region", f"{region} is not a region of the topology {topology.stack}",
                  f"use one of: {', '.join(topology.all_regions())}")
        zone = params.get("zone")
        if zone is not None and region in regions and zone not in regions[region].availability_zones:
            p.add(f"{path}.zone", f"{zone} is not an availability zone of {region}",
                  f"use one of: {', '.join(regions[region].availability_zones)}")
    j = params.get("jurisdiction")
    if j is not None and topology is not None and j not in topology.jurisdictions:
        p.unknown(f"{path}.jurisdiction", j, sorted(topology.jurisdictions), "jurisdiction")


def _kind(p: _Problems, entry: Any, path: str, field: str, table: dict[str, catalog.Kind],
          supported: tuple[str, ...], target: str) -> catalog.Kind | None:
    """The action or probe kind an entry names, or None after reporting why not."""
    example = "region_outage" if field == "action" else "slo_attainment"
    if not isinstance(entry, dict) or field not in entry:
        p.add(path, f"must be a mapping with '{field}: <kind>'", f"e.g. '- {field}: {example}'")
        return None
    name = entry[field]
    if not isinstance(name, str) or name not in table:
        p.unknown(f"{path}.{field}", name, tuple(table), field)
        return None
    if name not in supported:
        p.add(f"{path}.{field}", f"target {target} cannot run {field} {name}",
              f"on {target} use one of: {', '.join(supported)}")
    return table[name]


def _probes(p: _Problems, raw: Any, section: str, target: str, topology: Topology | None,
            *, phases: bool) -> list[Probe]:
    probes = []
    support = catalog.SUPPORT[target]
    for i, entry in enumerate(_list(p, raw, section)):
        path = f"{section}[{i}]"
        kind = _kind(p, entry, path, "probe", catalog.PROBES, support.probes, target)
        if kind is None:
            continue
        kind_name = kind.name
        reserved = PROBE_KEYS if phases else tuple(k for k in PROBE_KEYS if k != "phases")
        params = _params(p, entry, path, kind, reserved, target, "probe")
        _check_place(p, params, path, topology)
        tolerance = _tolerance(p, entry.get("tolerance"), f"{path}.tolerance")
        chosen = PHASES
        if phases and "phases" in entry:
            chosen = _str_list(p, entry["phases"], f"{path}.phases")
            for k, ph in enumerate(chosen):
                if ph not in PHASES:
                    p.unknown(f"{path}.phases[{k}]", ph, PHASES, "phase")
        name = _str(p, entry, "name", path=path) if "name" in entry else _default_name(kind_name, params)
        probes.append(Probe(str(name or kind_name), kind_name, params, tolerance, tuple(chosen)))
    return probes


def _default_name(kind: str, params: dict) -> str:
    where = params.get("jurisdiction") or params.get("region") or params.get("deployment")
    return f"{kind}:{where}" if where else kind


def _method(p: _Problems, raw: Any, target: str, duration: float, radius: BlastRadius,
            topology: Topology | None) -> list[Action]:
    actions = []
    entries = _list(p, raw, "method")
    if raw is None or not entries:
        p.add("method", "is required and must list at least one action", "add '- action: region_outage ...'")
    support = catalog.SUPPORT[target]
    for i, entry in enumerate(entries):
        path = f"method[{i}]"
        kind = _kind(p, entry, path, "action", catalog.ACTIONS, support.actions, target)
        if kind is None:
            continue
        kind_name = kind.name
        params = _params(p, entry, path, kind, ACTION_KEYS, target, "action")
        _check_place(p, params, path, topology)
        start = _num(p, entry, "start_seconds", path=path, required=True, minimum=0)
        length = _num(p, entry, "duration_seconds", path=path, minimum=0.001)
        if start is not None and start >= duration:
            p.add(f"{path}.start_seconds", f"starts at {start:g} s, at or after the drill's end "
                  f"({duration:g} s)", "start earlier or raise duration_seconds")
        elif start is not None and length is not None and start + length > duration:
            p.add(f"{path}.duration_seconds", f"ends at {start + length:g} s, beyond the drill's "
                  f"length ({duration:g} s)", "shorten it or raise duration_seconds")
        if target == "aws" and kind_name == "region_outage":
            _check_failover_switch(p, path, entry, params)
        if kind_name == "model_rollout":
            _check_rollout(p, path, entry, params)
        _check_radius(p, path, params, radius, topology)
        if not {"region", "jurisdiction", "namespace"} & set(kind.params):
            _check_everywhere(p, path, kind_name, radius, topology)
        name = _str(p, entry, "name", path=path) if "name" in entry else f"{kind_name}-{i}"
        actions.append(Action(name or f"{kind_name}-{i}", kind_name, params, start or 0.0, length))
    _unique(p, actions, "action")
    return actions


def _check_failover_switch(p: _Problems, path: str, entry: dict, params: dict) -> None:
    """aws region_outage: exactly one of a Route 53 health check or an ARC routing control,
    the latter with the cluster endpoints its data plane answers on."""
    hc, rc = "health_check_id" in entry, "routing_control_arn" in entry
    if hc == rc:
        p.add(path, "needs exactly one of health_check_id (Route 53 health check inverted) or "
              "routing_control_arn (ARC routing control turned Off)", "keep the one your failover uses")
    if rc and not params.get("cluster_endpoints") and isinstance(entry.get("cluster_endpoints"), (list, type(None))):
        p.add(f"{path}.cluster_endpoints", "is required with routing_control_arn (at least one endpoint)",
              "list the ARC cluster's endpoints: [{url: https://....route53-recovery-cluster..."
              "amazonaws.com/v1, region: us-west-2}, ...]")
    if "cluster_endpoints" in entry and not rc:
        p.add(f"{path}.cluster_endpoints", "applies only with routing_control_arn", "drop it")
    regions = load_catalog().regions
    for i, ep in enumerate(params.get("cluster_endpoints") or []):
        where = f"{path}.cluster_endpoints[{i}]"
        if not isinstance(ep, dict) or set(ep) != {"url", "region"} or \
                not all(isinstance(v, str) and v for v in ep.values()):
            p.add(where, f"must be a mapping {{url, region}} of strings, got {ep!r}",
                  "copy the endpoints from 'aws route53-recovery-control-config describe-cluster'")
        elif ep["region"] not in regions:
            p.unknown(f"{where}.region", ep["region"], sorted(regions), "region")
        elif not ep["url"].startswith(("https://", "http://")):
            p.add(f"{where}.url", f"'{ep['url']}' is not a URL", "e.g. https://host.route53-recovery-"
                  "cluster.us-west-2.amazonaws.com/v1")


ROLLOUT_CHANGES = ("instance_type", "batch_slots", "decode_speed_factor", "prefill_speed_factor")


def _check_rollout(p: _Problems, path: str, entry: dict, params: dict) -> None:
    """model_rollout: a new model that differs from the current one, on a profile the twin has
    and the region offers; and no duration (a rollout stays until a second one replaces it)."""
    from sim.profiles import load_profiles

    if "duration_seconds" in entry:
        p.add(f"{path}.duration_seconds", "a rollout has no duration: the new model stays, and the "
              "drill's rollback does not revert it", "drop it; to roll back, add a second model_rollout "
              "(instance_type or the inverse changes) at a later start_seconds")
    if not any(key in entry for key in ROLLOUT_CHANGES):
        p.add(path, "model_rollout names no new model", f"give instance_type and/or changes to the current "
              f"profile: {', '.join(ROLLOUT_CHANGES[1:])} (e.g. 'batch_slots: 16')")
    instance = params.get("instance_type")
    if instance is None:
        return
    profiles = load_profiles()
    if instance not in profiles:
        p.unknown(f"{path}.instance_type", instance, sorted(profiles), "instance type (no profile in "
                  "sim/data/gpu_profiles.json)")
        return
    region = load_catalog().regions.get(params.get("region", ""))
    if region is not None and not region.offers(instance):
        p.add(f"{path}.instance_type", f"{region.code} does not offer {instance}",
              "choose an instance type the region offers (`meridian regions --json`)")


def _radius_regions(radius: BlastRadius, topology: Topology | None) -> set[str]:
    """The regions the blast radius allows: listed ones plus its jurisdictions' regions."""
    allowed = set(radius.regions)
    if topology is not None:
        for j in radius.jurisdictions:
            if j in topology.jurisdictions:
                allowed |= set(topology.jurisdictions[j].region_codes)
    return allowed


def _check_radius(p: _Problems, path: str, params: dict, radius: BlastRadius,
                  topology: Topology | None) -> None:
    allowed = _radius_regions(radius, topology)
    region = params.get("region")
    if region is not None and region not in allowed:
        p.add(f"{path}.region", f"{region} is outside the blast radius "
              f"({', '.join(sorted(allowed)) or 'no regions'})",
              f"add {region} to blast_radius.regions if the drill may really touch it", "blast-radius")
    juris = params.get("jurisdiction")
    if juris is not None and juris not in radius.jurisdictions:
        p.add(f"{path}.jurisdiction", f"jurisdiction {juris} is outside the blast radius",
              f"add {juris} to blast_radius.jurisdictions", "blast-radius")
    ns = params.get("namespace")
    if ns is not None and ns not in radius.namespaces:
        p.add(f"{path}.namespace", f"namespace {ns} is outside the blast radius",
              f"add {ns} to blast_radius.namespaces", "blast-radius")


def _check_everywhere(p: _Problems, path: str, kind: str, radius: BlastRadius,
                      topology: Topology | None) -> None:
    """An action that names no place (metrics_blackout) hits every region: the blast radius
    must say so."""
    if topology is None:
        return
    allowed = _radius_regions(radius, topology)
    missing = [r for r in topology.all_regions() if r not in allowed]
    if missing:
        p.add(f"{path}.action", f"{kind} touches every region of the topology, but "
              f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} outside the blast radius",
              f"list every jurisdiction in blast_radius.jurisdictions ({', '.join(topology.jurisdictions)})",
              "blast-radius")


def _rollbacks(p: _Problems, raw: Any, method: list[Action]) -> tuple[str, ...]:
    names = [a.name for a in method]
    if raw is None:
        return tuple(reversed(names))  # default: undo every fault, last first
    out = []
    for i, entry in enumerate(_list(p, raw, "rollbacks")):
        path = f"rollbacks[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"revert"}:
            p.add(path, "must be '{revert: <method action name>}'", f"e.g. '- revert: {names[0] if names else 'x'}'")
            continue
        if entry["revert"] not in names:
            p.unknown(f"{path}.revert", entry["revert"], names, "method action")
            continue
        out.append(entry["revert"])
    return tuple(out)


def _expect(p: _Problems, raw: Any, target: str, topology: Topology | None) -> Expect:
    if raw is None:
        return Expect()
    if not isinstance(raw, dict):
        p.add("expect", "must be a mapping", "e.g. 'expect: {rto_seconds: 600, residency_violations: 0}'")
        return Expect()
    for key in raw:
        if key not in EXPECT_KEYS:
            p.unknown(f"expect.{key}", key, EXPECT_KEYS, "expectation")
        elif key not in catalog.SUPPORT[target].measures:
            p.add(f"expect.{key}", f"target {target} cannot measure {key}",
                  "drop it, or run the drill on the sim target", "unmeasurable")
    violations = _num(p, raw, "residency_violations", path="expect", minimum=0)
    if violations is not None and violations != int(violations):
        p.add("expect.residency_violations", f"counts requests: must be a whole number, got {violations:g}",
              "normally 0")
        violations = None
    floors: dict[str, float] = {}
    slo = raw.get("min_slo_attainment_during")
    if isinstance(slo, (int, float)) and not isinstance(slo, bool):
        if not 0 <= slo <= 1:
            p.add("expect.min_slo_attainment_during", f"must be in [0, 1], got {slo}")
        elif topology is not None:
            floors = {j: float(slo) for j in topology.jurisdictions}
        else:
            floors = {"*": float(slo)}
    elif isinstance(slo, dict):
        for j, v in slo.items():
            path = f"expect.min_slo_attainment_during.{j}"
            if topology is not None and j not in topology.jurisdictions:
                p.unknown(path, j, sorted(topology.jurisdictions), "jurisdiction")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                p.add(path, f"must be a number in [0, 1], got {v!r}")
            else:
                floors[str(j)] = float(v)
    elif slo is not None:
        p.add("expect.min_slo_attainment_during", "must be a number in [0, 1] or a mapping "
              "jurisdiction -> number", "e.g. '{eu: 0.8}'")
    return Expect(
        rto_seconds=_num(p, raw, "rto_seconds", path="expect", minimum=0),
        rpo_seconds=_num(p, raw, "rpo_seconds", path="expect", minimum=0),
        residency_violations=None if violations is None else int(violations),
        detection_seconds=_num(p, raw, "detection_seconds", path="expect", minimum=0),
        min_slo_attainment_during=floors,
    )


def _allow(p: _Problems, raw: Any) -> AllowList:
    if raw is None:
        return AllowList()
    if not _mapping(p, raw, "allow", ("accounts", "regions", "contexts")):
        return AllowList()
    accounts = tuple(str(a) for a in _list(p, raw.get("accounts"), "allow.accounts"))
    for i, a in enumerate(accounts):
        if not (a.isdigit() and len(a) == 12):
            p.add(f"allow.accounts[{i}]", f"'{a}' is not a 12-digit AWS account id",
                  "quote account ids so YAML keeps leading zeros")
    return AllowList(accounts, _str_list(p, raw.get("regions"), "allow.regions"),
                     _str_list(p, raw.get("contexts"), "allow.contexts"))


def _residency(p: _Problems, method: list[Action], expect: Expect, topology: Topology,
               duration: float) -> None:
    """Refuse faults that leave a personal-data jurisdiction with no region of its own."""
    personal = {j for w in topology.workloads if "personal" in w.data_classes for j in w.jurisdictions}
    for code in sorted(personal & set(topology.jurisdictions)):
        regions = topology.jurisdictions[code].region_codes
        window = _all_down(method, regions, duration)
        if window is None:
            continue
        start, end, culprit = window
        outside = [r for r in topology.all_regions() if r not in regions]
        verdicts = [check("personal", code, r, "failover", transfers=topology.transfers,
                          topology_regions=topology.all_regions()) for r in outside]
        if any(verdicts):
            continue  # a declared transfer allows failing over out of the jurisdiction
        reason = verdicts[0].reason if verdicts else f"the topology has no region outside {code}"
        idx = method.index(culprit)
        p.add(f"method[{idx}]", f"with the other outages, this takes every region of {code} "
              f"({', '.join(regions)}) down from {start:g} s to {end:g} s: {code}'s personal data "
              f"would have to fail over out of its jurisdiction ({reason})",
              f"keep one region of {code} up, or declare a transfer from {code} with a legal basis "
              "in the stack's transfers", "residency")
        if code in expect.min_slo_attainment_during and expect.min_slo_attainment_during[code] > 0:
            p.add(f"expect.min_slo_attainment_during.{code}", f"serving {code} while all its "
                  "regions are down needs a cross-jurisdiction failover of personal data",
                  f"expect 0 for {code}, or keep one of its regions up", "residency")


def _all_down(method: list[Action], regions: tuple[str, ...], duration: float):
    """First interval during which every region in `regions` has a region_outage, or None."""
    outages = {r: [a for a in method if a.kind == "region_outage" and a.region == r] for r in regions}
    if not all(outages.values()):
        return None
    for combo_start in sorted(a.start_seconds for acts in outages.values() for a in acts):
        covering = []
        for r in regions:
            a = next((a for a in outages[r] if a.start_seconds <= combo_start <
                      (a.end_seconds if a.end_seconds is not None else duration)), None)
            if a is None:
                break
            covering.append(a)
        else:
            end = min(a.end_seconds if a.end_seconds is not None else duration for a in covering)
            return combo_start, end, max(covering, key=lambda a: a.start_seconds)
    return None


def _unique(p: _Problems, items: list, what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            p.add(f"{what} '{item.name}'", f"{what} name '{item.name}' is used twice",
                  "give each one a distinct 'name'")
        seen.add(item.name)
