"""Check every planned resource's inputs against the installed SDKs' own argument types.

The mock runtime accepts any nested dict: a misspelt key inside `vpc_config` or a string
where a list belongs goes through `set_mocks` silently, and only the real provider would
refuse it during `pulumi preview`. The SDK packages (pulumi-aws, pulumi-kubernetes) carry
the schema as typed `*Args` input classes; this walks each recorded input (as the engine
receives it: Pulumi names, camelCase) down those classes and reports unknown keys, missing
required keys and values of the wrong shape.
"""
from __future__ import annotations

import collections.abc
import importlib
import sys
import typing
from typing import Any, Iterable

from pulumi import _types

from infra.offline.runner import UNKNOWN

# Type-token package -> Python package of the SDK.
PACKAGES = {"aws": "pulumi_aws", "kubernetes": "pulumi_kubernetes"}


def args_class(token: str) -> type | None:
    """`aws:eks/cluster:Cluster` -> pulumi_aws.eks.ClusterArgs; None for component resources."""
    parts = token.split(":")
    if len(parts) != 3:
        return None
    if parts[0] == "pulumi" and parts[1] == "providers":
        package, module, cls = parts[2], "index", "Provider"
    else:
        package, module, cls = parts
    root = PACKAGES.get(package)
    if root is None:
        return None
    mod = module.split("/", 1)[0]
    if package == "kubernetes" and "/" in module:  # apps/v1:Deployment, helm.sh/v3:Release
        group, version = module.split("/", 1)
        mod = f"{group.split('.', 1)[0]}.{version}"
    path = root if mod == "index" else f"{root}.{mod}"
    resource = getattr(importlib.import_module(path), cls, None)
    if resource is None:
        return None
    # The resource's own module holds its args class; `<Cls>InitArgs` where `<Cls>Args` is
    # taken by a nested input type of the same name (s3.BucketVersioning).
    home = sys.modules[resource.__module__]
    return getattr(home, f"{cls}InitArgs", None) or getattr(home, f"{cls}Args", None)


def problems(token: str, inputs: dict[str, Any]) -> list[str]:
    """Every input of a resource of type `token` that its SDK's argument types refuse."""
    cls = args_class(token)
    if cls is None:
        return []
    if token.startswith("pulumi:providers:"):  # provider inputs travel as strings: check names only
        return [m for m in _check_object(cls, inputs, "") if "not an argument" in m]
    return list(_check_object(cls, inputs, ""))


def check_resources(resources: Iterable) -> list[tuple[str, str]]:
    """(resource name, message) for each problem in planned resources (`type`, `name`, `inputs`)."""
    found = []
    for r in resources:
        if r.custom:
            found += [(r.name, f"{r.type} {m}") for m in problems(r.type, r.inputs)]
    return found


def _check_object(cls: type, value: Any, path: str) -> Iterable[str]:
    if not isinstance(value, dict):
        yield f"{path or 'inputs'}: expected an object ({cls.__name__}), got {_shown(value)}"
        return
    types = dict(_types.input_type_types(cls))
    # CRD schemas: pulumi-kubernetes's own yaml.ConfigFile sends YAML's `x-kubernetes-*` keys
    # unchanged, so the provider takes them as well as the SDK's `x_kubernetes_*` names.
    types |= {k.replace("_", "-"): t for k, t in types.items() if k.startswith("x_kubernetes_")}
    for key in sorted(set(value) - set(types)):
        yield f"{_join(path, key)}: not an argument of {cls.__name__} (known: {', '.join(sorted(types))})"
    for key in sorted(_types._required_property_names(cls) - set(value)):
        yield f"{_join(path, key)}: required by {cls.__name__} but not set"
    for key, v in value.items():
        if key in types:
            yield from _check_value(types[key], v, _join(path, key))


def _check_value(typ: Any, value: Any, path: str) -> Iterable[str]:
    if value is None or value == UNKNOWN:
        return
    typ = _types.unwrap_type(typ) if not isinstance(typ, str) else typ
    origin = typing.get_origin(typ)
    if origin is typing.Union:
        options = [a for a in typing.get_args(typ) if a is not type(None)]
        results = [list(_check_value(a, value, path)) for a in options]
        if results and all(results):
            yield min(results, key=len)[0]
        return
    if origin in (collections.abc.Sequence, list, tuple):
        if not isinstance(value, list):
            yield f"{path}: expected a list, got {_shown(value)}"
            return
        (item,) = typing.get_args(typ)[:1] or (Any,)
        for i, v in enumerate(value):
            yield from _check_value(item, v, f"{path}[{i}]")
        return
    if origin in (collections.abc.Mapping, dict):
        if not isinstance(value, dict):
            yield f"{path}: expected a map, got {_shown(value)}"
            return
        args = typing.get_args(typ)
        for k, v in value.items():
            yield from _check_value(args[1] if len(args) == 2 else Any, v, f"{path}.{k}")
        return
    if isinstance(typ, type) and _types.is_input_type(typ):
        yield from _check_object(typ, value, path)
        return
    expected = {str: (str,), bool: (bool,), int: (int, float), float: (int, float)}.get(typ)
    if expected is None:  # Any, JSON blobs, enums of str: nothing more to check
        return
    if isinstance(value, bool) and typ is not bool or not isinstance(value, expected):
        yield f"{path}: expected {typ.__name__}, got {_shown(value)}"
    elif typ is int and isinstance(value, float) and not value.is_integer():
        yield f"{path}: expected an integer, got {value}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


