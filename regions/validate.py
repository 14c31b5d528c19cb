"""Read and validate `meridian:topology` into a typed `Topology`, reporting every problem at once.

`load_stack(path)` reads a `Pulumi.<stack>.yaml`; `parse_topology(doc)` checks the value of its
`config: meridian:topology` key. Both raise `InputError` listing each problem with its key path
(e.g. `meridian:topology.jurisdictions.eu.regions[1].region`), what is wrong and how to fix it.
Parsing is done in two passes: shape (keys, types, ranges) first, then the cross-checks against
the region catalog, the residency rules and the DR floors, which only run on well-shaped parts.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from regions import dr
from regions.catalog import load_catalog
from regions.errors import InputError, Problem, closest
from regions.jurisdictions import load_jurisdictions
from regions.residency import DataClass, Transfer, Use, check
from regions.topology import (
    STRATEGIES,
    SLO,
    DRPolicy,
    JurisdictionConfig,
    RegionRole,
    ReplicaBounds,
    Topology,
    Workload,
)

TOPOLOGY_KEY = "meridian:topology"
ROLES = ("primary", "standby", "active")
DATA_CLASSES = tuple(d.value for d in DataClass)
# Workload names become Kubernetes object names and DNS labels (RFC 1123 label).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")

TOP_KEYS = {"domain": True, "jurisdictions": True, "transfers": False, "workloads": False}
JURISDICTION_KEYS = {"regions": True, "dr": True}
REGION_KEYS = {"region": True, "role": True}
DR_KEYS = {"strategy": True, "rto_seconds": True, "rpo_seconds": True}
TRANSFER_KEYS = {"from": True, "to": True, "basis": True}
WORKLOAD_KEYS = {"name": True, "instance_type": True, "data_classes": True, "jurisdictions": True,
                 "slo": True, "replicas": True, "spot_share": False}
# One example value per key, for "missing" fixes.
EXAMPLES = {
    "domain": "infer.example.com",
    "jurisdictions": "{eu: {regions: [...], dr: {...}}}",
    "regions": "[{region: eu-west-1, role: primary}, {region: eu-central-1, role: standby}]",
    "dr": "{strategy: warm-standby, rto_seconds: 600, rpo_seconds: 60}",
    "region": "eu-west-1", "role": "primary", "strategy": "warm-standby",
    "rto_seconds": "600", "rpo_seconds": "60",
    "from": "eu", "to": "uk", "basis": '"adequacy decision"',
    "name": "chat", "instance_type": "g5.2xlarge", "data_classes": "[personal, model]",
    "slo": "{percentile: 95, ttft_ms: 1000}", "replicas": "{min: 1, max: 40}",
    "percentile": "95", "min": "1", "max": "40",
}
SLO_KEYS = {"percentile": True, "ttft_ms": False, "e2e_ms": False}
REPLICA_KEYS = {"min": True, "max": True}


class _Problems:
    """Collects problems; every check adds to it instead of raising, so all are reported."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str, fix: str = "", rule: str = "") -> None:
        self.items.append(Problem(path, message, fix, rule))


# ---------------------------------------------------------------- public API

def load_stack(path: str | Path) -> Topology:
    """Read `Pulumi.<stack>.yaml` and return its validated topology."""
    path = Path(path)
    label = str(path)
    if not path.exists():
        raise InputError(f"{label}: no such file", [Problem(
            label, "the stack file does not exist",
            "pass the path of a Pulumi.<stack>.yaml, e.g. Pulumi.dev.yaml", "file")])
    if not path.is_file():
        raise InputError(f"{label}: not a file", [Problem(
            label, "is a directory or special file, not a stack file",
            "pass the path of a Pulumi.<stack>.yaml file", "file")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{label}: cannot read", [Problem(
            label, f"cannot read the file: {err}", "check permissions and that it is UTF-8 text",
            "file")]) from None
    doc = parse_yaml(text, label)
    stack = _stack_name(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise InputError(f"{label}: no `config:` mapping", [Problem(
            "config", "the stack file has no `config:` mapping",
            f"put the topology under `config:` -> `{TOPOLOGY_KEY}:` (see Pulumi.dev.yaml)",
            "shape")])
    config = doc["config"]
    if TOPOLOGY_KEY not in config:
        close = closest(TOPOLOGY_KEY, config)
        fix = (f"`{close[0]}` looks misspelt: rename it to `{TOPOLOGY_KEY}`" if close else
               f"add `{TOPOLOGY_KEY}:` under `config:` (see Pulumi.dev.yaml)")
        raise InputError(f"{label}: no `{TOPOLOGY_KEY}` in config", [Problem(
            f"config.{TOPOLOGY_KEY}", "missing", fix, "required")])
    return parse_topology(config[TOPOLOGY_KEY], stack=stack, source=label)


def parse_yaml(text: str, label: str) -> Any:
    """YAML -> Python, refusing malformed YAML and duplicate keys with the line they are on."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        what = " ".join(x for x in (err.context, err.problem) if x) or "malformed YAML"
        raise InputError(f"{label}: malformed YAML", [Problem(
            where, what, "fix the YAML syntax at that line (indentation, quotes, brackets)",
            "yaml")]) from None
    except yaml.YAMLError as err:
        raise InputError(f"{label}: malformed YAML", [Problem(
            label, str(err), "fix the YAML syntax", "yaml")]) from None
    except RecursionError:
        raise InputError(f"{label}: malformed YAML", [Problem(
            label, "nested too deeply to read", "a stack file needs only a few levels of nesting",
            "yaml")]) from None


def parse_topology(doc: object, *, stack: str = "", source: str = "") -> Topology:
    """Validate the value of `meridian:topology`; raise InputError with every problem."""
    probs = _Problems()
    topo = _parse(doc, probs, stack, source)
    if probs.items or topo is None:
        where = source or "topology"
        n = len(probs.items)
        raise InputError(f"{where}: {n} problem{'s' if n != 1 else ''} in {TOPOLOGY_KEY}",
                         probs.items)
    return topo


# ---------------------------------------------------------------- YAML loader

class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                "found an unhashable key (a list or mapping used as a key)", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _stack_name(path: Path) -> str:
    name = path.name
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name[len("Pulumi."):] if name.startswith("Pulumi.") else name


# ---------------------------------------------------------------- shape helpers

def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _did_you_mean(word: object, choices, n: int = 1) -> str:
    """"did you mean `x`? " (or "did you mean x, y? " for several), or "" when nothing is close."""
    close = closest(word, choices, n)
    if not close:
        return ""
    return f"did you mean `{close[0]}`? " if n == 1 else f"did you mean {', '.join(close)}? "


def _unknown_jurisdiction(code: object, path: str, probs: _Problems) -> None:
    known = load_jurisdictions()
    probs.add(path, f"unknown jurisdiction {code!r}",
              f"{_did_you_mean(code, known, n=3)}known: {', '.join(sorted(known))}",
              "unknown-jurisdiction")


def _mapping(value: object, path: str, probs: _Problems, keys: dict[str, bool],
             example: str) -> dict | None:
    """Check `value` is a mapping with only `keys` (required ones present)."""
    if not isinstance(value, dict):
        probs.add(path, f"must be a mapping, got {_kind(value)}", f"write it as {example}", "type")
        return None
    for key in value:
        if key not in keys:
            probs.add(f"{path}.{key}", "unknown key",
                      f"{_did_you_mean(key, keys)}allowed keys here: {', '.join(keys)}",
                      "unknown-key")
    for key, required in keys.items():
        if required and key not in value:
            probs.add(f"{path}.{key}", "missing", f"add it, e.g. `{key}: {EXAMPLES[key]}`",
                      "required")
    return value


def _list(value: object, path: str, probs: _Problems, example: str,
          nonempty: bool = True) -> list | None:
    if not isinstance(value, list):
        probs.add(path, f"must be a list, got {_kind(value)}", f"write it as {example}", "type")
        return None
    if nonempty and not value:
        probs.add(path, "must not be empty", f"write it as {example}", "required")
        return None
    return value


def _text(value: object, path: str, probs: _Problems, example: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        got = "an empty string" if isinstance(value, str) else _kind(value)
        probs.add(path, f"must be a non-empty string, got {got}", f"e.g. {example}", "type")
        return None
    return value


def _number(value: object, path: str, probs: _Problems, example: str) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        probs.add(path, f"must be a number, got {_kind(value)}", f"e.g. {example}", "type")
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        probs.add(path, f"must be a finite number of reasonable size, got {str(value)[:40]}",
                  f"e.g. {example}", "type")
        return None
    return number


def _positive(value: object, path: str, probs: _Problems, example: str, fix: str) -> float | None:
    number = _number(value, path, probs, example)
    if number is not None and number <= 0:
        probs.add(path, f"must be positive, got {number:g}", fix, "range")
        return None
    return number


def _integer(value: object, path: str, probs: _Problems, example: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        probs.add(path, f"must be a whole number, got {_kind(value)} {value!r}"[:200],
                  f"e.g. {example}", "type")
        return None
    return value


# ---------------------------------------------------------------- pass 1: shape

def _parse(doc: object, probs: _Problems, stack: str, source: str) -> Topology | None:
    root = TOPOLOGY_KEY
    top = _mapping(doc, root, probs, TOP_KEYS,
                   "`domain: ...`, `jurisdictions: {...}`, `workloads: [...]`")
    if top is None:
        return None
    domain = _domain(top.get("domain"), f"{root}.domain", probs) if "domain" in top else None
    jurisdictions: dict[str, JurisdictionConfig] = {}
    declared: set[str] | None = None  # None: unknown, so workloads' jurisdictions are not judged
    if "jurisdictions" in top:
        jurisdictions = _jurisdictions(top["jurisdictions"], f"{root}.jurisdictions", probs)
        if isinstance(top["jurisdictions"], dict):
            declared = {str(k) for k in top["jurisdictions"]}
    transfers: list[Transfer] = []
    if top.get("transfers") is not None:
        transfers = _transfers(top["transfers"], f"{root}.transfers", probs)
    workloads: list[tuple[int, Workload]] = []
    if top.get("workloads") is not None:
        workloads = _workloads(top["workloads"], f"{root}.workloads", probs)

    _check_regions(jurisdictions, transfers, probs)
    _check_workloads(workloads, jurisdictions, declared, probs)
    if probs.items or domain is None:
        return None
    return Topology(domain=domain, jurisdictions=jurisdictions,
                    workloads=tuple(w for _, w in workloads), transfers=tuple(transfers),
                    stack=stack, source=source)


def _domain(value: object, path: str, probs: _Problems) -> str | None:
    text = _text(value, path, probs, "infer.example.com")
    if text is not None and not _HOSTNAME.match(text):
        probs.add(path, f"{text!r} is not a DNS name", "use a lower-case domain such as "
                  "infer.example.com (the hosted zone meridian's edge records go in)", "domain")
        return None
    return text


def _jurisdictions(value: object, path: str, probs: _Problems) -> dict[str, JurisdictionConfig]:
    if not isinstance(value, dict):
        probs.add(path, f"must be a mapping of jurisdiction code to its regions, got {_kind(value)}",
                  "e.g. `eu: {regions: [...], dr: {...}}`", "type")
        return {}
    if not value:
        probs.add(path, "must declare at least one jurisdiction",
                  "e.g. `eu: {regions: [{region: eu-west-1, role: primary}, ...], dr: {...}}`",
                  "required")
        return {}
    known = load_jurisdictions()
    out: dict[str, JurisdictionConfig] = {}
    for code, body in value.items():
        jpath = f"{path}.{code}"
        ok = True
        if code not in known:
            _unknown_jurisdiction(code, jpath, probs)
            ok = False
        jur = _mapping(body, jpath, probs, JURISDICTION_KEYS, "`{regions: [...], dr: {...}}`")
        if jur is None:
            continue
        regions = _region_roles(jur.get("regions"), f"{jpath}.regions", probs) \
            if "regions" in jur else None
        policy = _dr(jur.get("dr"), f"{jpath}.dr", probs) if "dr" in jur else None
        if ok and regions is not None and policy is not None:
            out[str(code)] = JurisdictionConfig(code=str(code), regions=regions, dr=policy)
    return out


def _region_roles(value: object, path: str, probs: _Problems) -> tuple[RegionRole, ...] | None:
    example = "`[{region: eu-west-1, role: primary}, {region: eu-central-1, role: standby}]`"
    items = _list(value, path, probs, example)
    if items is None:
        return None
    out, ok = [], True
    for i, item in enumerate(items):
        rpath = f"{path}[{i}]"
        entry = _mapping(item, rpath, probs, REGION_KEYS, "`{region: eu-west-1, role: primary}`")
        if entry is None:
            ok = False
            continue
        region = _text(entry.get("region"), f"{rpath}.region", probs, "eu-west-1") \
            if "region" in entry else None
        role = entry.get("role")
        if "role" in entry and role not in ROLES:
            probs.add(f"{rpath}.role", f"unknown role {role!r}",
                      f"{_did_you_mean(role, ROLES)}use primary or standby, or active under "
                      "active-active", "role")
            role = None
        if region is None or role is None:
            ok = False
            continue
        out.append(RegionRole(region=region, role=role))
    return tuple(out) if ok else None


def _dr(value: object, path: str, probs: _Problems) -> DRPolicy | None:
    example = "`{strategy: warm-standby, rto_seconds: 600, rpo_seconds: 60}`"
    body = _mapping(value, path, probs, DR_KEYS, example)
    if body is None:
        return None
    strategy = body.get("strategy")
    if "strategy" in body and strategy not in STRATEGIES:
        probs.add(f"{path}.strategy", f"unknown strategy {strategy!r}",
                  f"{_did_you_mean(strategy, STRATEGIES)}use one of {', '.join(STRATEGIES)}",
                  "strategy")
        strategy = None
    targets = {}
    for key in ("rto_seconds", "rpo_seconds"):
        if key not in body:
            continue
        targets[key] = _positive(body[key], f"{path}.{key}", probs, "600",
                                 "give the objective in seconds, at or above the strategy's floor")
    if strategy is None or targets.get("rto_seconds") is None or targets.get("rpo_seconds") is None:
        return None
    return DRPolicy(strategy=strategy, rto_seconds=targets["rto_seconds"],
                    rpo_seconds=targets["rpo_seconds"])


def _transfers(value: object, path: str, probs: _Problems) -> list[Transfer]:
    example = '`[{from: eu, to: uk, basis: "adequacy decision"}]`'
    items = _list(value, path, probs, example, nonempty=False)
    if items is None:
        return []
    known = load_jurisdictions()
    out: list[Transfer] = []
    for i, item in enumerate(items):
        tpath = f"{path}[{i}]"
        body = _mapping(item, tpath, probs, TRANSFER_KEYS, example.strip("`[]"))
        if body is None:
            continue
        ends = {}
        for key in ("from", "to"):
            if key not in body:
                continue
            code = _text(body[key], f"{tpath}.{key}", probs, "eu")
            if code is not None and code not in known:
                _unknown_jurisdiction(code, f"{tpath}.{key}", probs)
                code = None
            ends[key] = code
        basis = _text(body.get("basis"), f"{tpath}.basis", probs,
                      '"adequacy decision" or "standard contractual clauses"') \
            if "basis" in body else None
        src, dst = ends.get("from"), ends.get("to")
        if src is not None and src == dst:
            probs.add(tpath, f"transfer from {src} to itself",
                      "remove it: data may always stay in its own jurisdiction", "transfer")
            continue
        if src is None or dst is None or basis is None:
            continue
        transfer = Transfer(from_=src, to=dst, basis=basis)
        if any(t.from_ == src and t.to == dst for t in out):
            probs.add(tpath, f"transfer {src} -> {dst} is declared twice",
                      "keep one entry per pair of jurisdictions", "duplicate")
            continue
        out.append(transfer)
    return out


def _workloads(value: object, path: str, probs: _Problems) -> list[tuple[int, Workload]]:
    items = _list(value, path, probs, "`[{name: chat, instance_type: g5.2xlarge, ...}]`",
                  nonempty=False)
    if items is None:
        return []
    out: list[tuple[int, Workload]] = []
    names: dict[str, int] = {}
    for i, item in enumerate(items):
        wpath = f"{path}[{i}]"
        body = _mapping(item, wpath, probs, WORKLOAD_KEYS,
                        "`{name: chat, instance_type: g5.2xlarge, data_classes: [personal, model], "
                        "jurisdictions: [eu], slo: {percentile: 95, ttft_ms: 1000}, "
                        "replicas: {min: 1, max: 40}}`")
        if body is None:
            continue
        name = _name(body, wpath, probs, names, i)
        itype = _text(body.get("instance_type"), f"{wpath}.instance_type", probs, "g5.2xlarge") \
            if "instance_type" in body else None
        classes = _data_classes(body, wpath, probs)
        juris = _codes(body, wpath, probs)
        slo = _slo(body.get("slo"), f"{wpath}.slo", probs) if "slo" in body else None
        reps = _replicas(body.get("replicas"), f"{wpath}.replicas", probs) \
            if "replicas" in body else None
        spot = 0.0
        if body.get("spot_share") is not None:
            share = _number(body["spot_share"], f"{wpath}.spot_share", probs, "0.5")
            if share is not None and not 0.0 <= share <= 1.0:
                probs.add(f"{wpath}.spot_share", f"must be between 0 and 1, got {share:g}",
                          "give the share of replicas that may run on spot, e.g. 0.5", "range")
                share = None
            spot = share if share is not None else -1.0
        parts = (name, itype, classes, juris, slo, reps)
        if any(p is None for p in parts) or spot < 0:
            continue
        out.append((i, Workload(name=name, instance_type=itype, data_classes=classes,
                                jurisdictions=juris, slo=slo, replicas=reps, spot_share=spot)))
    return out


def _name(body: dict, wpath: str, probs: _Problems, names: dict[str, int], i: int) -> str | None:
    if "name" not in body:
        return None
    name = _text(body["name"], f"{wpath}.name", probs, "chat")
    if name is None:
        return None
    if not _DNS_LABEL.match(name):
        probs.add(f"{wpath}.name", f"{name!r} is not a valid name",
                  "use lower-case letters, digits and '-', at most 63 characters "
                  "(it becomes a Kubernetes object name)", "name")
        return None
    if name in names:
        probs.add(f"{wpath}.name", f"duplicate workload name {name!r} (also workloads[{names[name]}])",
                  "give every workload a unique name", "duplicate")
        return None
    names[name] = i
    return name


def _data_classes(body: dict, wpath: str, probs: _Problems) -> tuple[str, ...] | None:
    def one(item: object, path: str) -> str | None:
        if item in DATA_CLASSES:
            return item  # type: ignore[return-value]
        probs.add(path, f"unknown data class {item!r}",
                  f"{_did_you_mean(item, DATA_CLASSES)}use {', '.join(DATA_CLASSES)}", "data-class")
        return None
    return _unique_list(body, "data_classes", wpath, probs, "`[personal, model]`", one)


def _codes(body: dict, wpath: str, probs: _Problems) -> tuple[str, ...] | None:
    return _unique_list(body, "jurisdictions", wpath, probs, "`[eu, us]`",
                        lambda item, path: _text(item, path, probs, "eu"))


def _unique_list(body: dict, key: str, wpath: str, probs: _Problems, example: str,
                 one) -> tuple[str, ...] | None:
    """A non-empty list under `key` whose items `one` accepts, each listed once."""
    if key not in body:
        return None
    path = f"{wpath}.{key}"
    items = _list(body[key], path, probs, example)
    if items is None:
        return None
    out, ok = [], True
    for k, item in enumerate(items):
        value = one(item, f"{path}[{k}]")
        if value is None:
            ok = False
        elif value in out:
            probs.add(f"{path}[{k}]", f"{value} listed twice", "list each once", "duplicate")
            ok = False
        else:
            out.append(value)
    return tuple(out) if ok else None


def _slo(value: object, path: str, probs: _Problems) -> SLO | None:
    body = _mapping(value, path, probs, SLO_KEYS, "`{percentile: 95, ttft_ms: 1000}`")
    if body is None:
        return None
    ok = True
    pct = _number(body.get("percentile"), f"{path}.percentile", probs, "95") \
        if "percentile" in body else None
    if pct is not None and not 50 < pct < 100:
        probs.add(f"{path}.percentile", f"must be above 50 and below 100, got {pct:g}",
                  "use a tail percentile such as 90, 95 or 99", "range")
        pct = None
    targets = {}
    for key in ("ttft_ms", "e2e_ms"):
        if body.get(key) is None:
            continue
        ms = _positive(body[key], f"{path}.{key}", probs, "1000",
                       "give the latency target in milliseconds, e.g. 1000")
        if ms is None:
            ok = False
        targets[key] = ms
    if ok and not targets:
        probs.add(path, "no latency target", "add `ttft_ms:` (time to first token) and/or "
                  "`e2e_ms:` (end-to-end), in milliseconds", "required")
        ok = False
    if not ok or pct is None:
        return None
    return SLO(percentile=pct, ttft_ms=targets.get("ttft_ms"), e2e_ms=targets.get("e2e_ms"))


def _replicas(value: object, path: str, probs: _Problems) -> ReplicaBounds | None:
    body = _mapping(value, path, probs, REPLICA_KEYS, "`{min: 1, max: 40}`")
    if body is None:
        return None
    bounds = {}
    for key in ("min", "max"):
        if key not in body:
            continue
        n = _integer(body[key], f"{path}.{key}", probs, "1" if key == "min" else "40")
        if n is not None and n < 0:
            probs.add(f"{path}.{key}", f"must not be negative, got {n}",
                      "replica counts are 0 or more", "range")
            n = None
        bounds[key] = n
    lo, hi = bounds.get("min"), bounds.get("max")
    if lo is None or hi is None:
        return None
    if lo > hi:
        probs.add(path, f"min ({lo}) is greater than max ({hi})",
                  "set min <= max", "range")
        return None
    if hi == 0:
        probs.add(f"{path}.max", "max is 0: the workload could never run",
                  "set max to at least 1", "range")
        return None
    return ReplicaBounds(min=lo, max=hi)


# ---------------------------------------------------------------- pass 2: cross-checks

def _check_regions(jurisdictions: dict[str, JurisdictionConfig], transfers: list[Transfer],
                   probs: _Problems) -> None:
    catalog = load_catalog()
    seen: dict[str, str] = {}
    for code, jur in jurisdictions.items():
        jpath = f"{TOPOLOGY_KEY}.jurisdictions.{code}"
        for i, rr in enumerate(jur.regions):
            rpath = f"{jpath}.regions[{i}].region"
            if rr.region not in catalog.regions:
                close = closest(rr.region, catalog.regions, n=3)
                hint = f"closest: {', '.join(close)}; " if close else ""
                mine = [r.code for r in catalog.in_jurisdiction(code)]
                probs.add(rpath, f"unknown region {rr.region!r}",
                          f"{hint}regions in {code}: {', '.join(mine) or 'none'} "
                          "(`meridian regions` lists all)", "unknown-region")
                continue
            if rr.region in seen:
                probs.add(rpath, f"{rr.region} is used twice (first at {seen[rr.region]})",
                          "list each region once in the whole topology", "duplicate-region")
                continue
            seen[rr.region] = f"jurisdictions.{code}.regions[{i}]"
            _check_region_home(code, rr, rpath, transfers, probs)
        _check_roles(code, jur, jpath, probs)
        _check_floors(jur.dr, f"{jpath}.dr", probs)


def _check_region_home(code: str, rr: RegionRole, rpath: str, transfers: list[Transfer],
                       probs: _Problems) -> None:
    catalog = load_catalog()
    home = catalog.regions[rr.region].jurisdiction
    if home == code:
        return
    mine = [r.code for r in catalog.in_jurisdiction(code)]
    where = f"regions in {code}: {', '.join(mine)}" if mine else f"{code} has no AWS region"
    if rr.role == "standby":
        verdict = check(DataClass.PERSONAL, code, rr.region, Use.FAILOVER, transfers=transfers)
        if not verdict:
            probs.add(rpath, f"standby {rr.region} is in {home}, outside {code}: personal data "
                      f"of {code} would be failed over out of its jurisdiction",
                      f"use a standby in {code} ({where}) or declare a transfer "
                      f"`{{from: {code}, to: {home}, basis: ...}}` with its legal basis",
                      "residency")
        return
    probs.add(rpath, f"{rr.region} belongs to jurisdiction {home}, not {code}",
              f"list it under `{home}` or use one of the {where}", "wrong-jurisdiction")


def _check_roles(code: str, jur: JurisdictionConfig, jpath: str, probs: _Problems) -> None:
    strategy = jur.dr.strategy
    roles = [r.role for r in jur.regions]
    path = f"{jpath}.regions"
    if strategy == "active-active":
        wrong = [i for i, r in enumerate(roles) if r != "active"]
        for i in wrong:
            probs.add(f"{path}[{i}].role", f"role {roles[i]} under active-active",
                      "under active-active every region has role `active`", "roles")
        if len(roles) < 2:
            probs.add(path, f"active-active needs at least 2 regions, got {len(roles)}",
                      "add another active region in the jurisdiction, or use a primary/standby "
                      "strategy", "roles")
        return
    for i, r in enumerate(roles):
        if r == "active":
            probs.add(f"{path}[{i}].role", f"role active under {strategy}",
                      "use primary or standby, or switch dr.strategy to active-active", "roles")
    primaries = roles.count("primary")
    if primaries != 1:
        probs.add(path, f"{strategy} needs exactly one primary, got {primaries}",
                  "mark exactly one region `role: primary`", "roles")
    if roles.count("standby") < 1:
        probs.add(path, f"{strategy} needs at least one standby region to recover into",
                  "add `{region: <another region in the jurisdiction>, role: standby}`", "roles")


def _check_floors(policy: DRPolicy, path: str, probs: _Problems) -> None:
    floor = dr.floor(policy.strategy)
    if policy.rto_seconds < floor.rto_seconds:
        probs.add(f"{path}.rto_seconds",
                  f"{policy.rto_seconds:g} s is below what {policy.strategy} can achieve "
                  f"({floor.rto_seconds:g} s: {floor.rto_source})",
                  f"set rto_seconds >= {floor.rto_seconds:g} or choose a faster strategy",
                  "rto-floor")
    if policy.rpo_seconds < floor.rpo_seconds:
        probs.add(f"{path}.rpo_seconds",
                  f"{policy.rpo_seconds:g} s is below what {policy.strategy} can achieve "
                  f"({floor.rpo_seconds:g} s: {floor.rpo_source})",
                  f"set rpo_seconds >= {floor.rpo_seconds:g} or choose a strategy with "
                  "continuous replication", "rpo-floor")


def _check_workloads(workloads: list[tuple[int, Workload]],
                     jurisdictions: dict[str, JurisdictionConfig], declared: set[str] | None,
                     probs: _Problems) -> None:
    """Workload jurisdictions and instance types; `declared` holds every jurisdiction key
    written, including ones whose body had problems (already reported, not repeated here)."""
    catalog = load_catalog()
    known = load_jurisdictions()
    all_types = sorted({o.type for r in catalog.regions.values() for o in r.instances})
    for i, w in workloads:
        wpath = f"{TOPOLOGY_KEY}.workloads[{i}]"
        for k, code in enumerate(w.jurisdictions):
            jpath = f"{wpath}.jurisdictions[{k}]"
            if code not in known:
                _unknown_jurisdiction(code, jpath, probs)
            elif declared is not None and code not in declared:
                aws = [r.code for r in catalog.in_jurisdiction(code)]
                has = f"AWS regions in {code}: {', '.join(aws)}" if aws else \
                    f"{code} has no AWS region at all"
                if "personal" in w.data_classes:
                    probs.add(jpath, f"personal data of {code} would be served in a jurisdiction "
                              "with no region in this topology",
                              f"declare `jurisdictions.{code}` with its regions ({has}), or drop "
                              f"{code} from this workload", "residency")
                else:
                    probs.add(jpath, f"jurisdiction {code} is not declared in this topology",
                              f"declare `jurisdictions.{code}` ({has}) or drop it from this "
                              "workload", "undeclared-jurisdiction")
        if w.instance_type not in all_types:
            probs.add(f"{wpath}.instance_type", f"unknown GPU instance type {w.instance_type!r}",
                      f"{_did_you_mean(w.instance_type, all_types, n=3)}known: "
                      f"{', '.join(all_types)}", "instance-type")
            continue
        regions = [r for code in w.jurisdictions if code in jurisdictions
                   for r in jurisdictions[code].region_codes if r in catalog.regions]
        missing = [r for r in regions if not catalog.regions[r].offers(w.instance_type)]
        if missing:
            common = [t for t in all_types if all(catalog.regions[r].offers(t) for r in regions)]
            probs.add(f"{wpath}.instance_type",
                      f"{w.instance_type} is not offered in {', '.join(missing)}, where this "
                      "workload serves or fails over",
                      f"use a type offered in all its regions ({', '.join(common) or 'none'}), "
                      "or serve it from other regions", "instance-type")
