"""The CRD's CEL rules (`x-kubernetes-validations`), evaluated by a real CEL implementation the
way the API server evaluates them at admission: defaults applied first, each rule with `self`
bound to the node that carries it, and values typed by the schema (a `number` field is a CEL
double even when the YAML says 0, an `integer` an int).

cel-python stands in for the API server's cel-go: the same language, without the Kubernetes
library extensions (the rules here use none). What it catches: a rule that does not compile, a
rule that refuses a shipped example, and a rule that disagrees with the controller's own check
(`controller/spec.py`), which refuses the same specs at sync time.
"""
from __future__ import annotations

import copy
from pathlib import Path

import celpy
import pytest
import yaml

from controller import manifests, spec as specs
from controller.spec import InvalidSpec

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "deploy" / "examples").glob("*.yaml"))
SPEC_SCHEMA = manifests.crd_schema()["properties"]["spec"]
CEL = celpy.Environment()


def rule_nodes(schema: dict, path: tuple[str, ...] = ()):
    """(path below spec, rules) for every schema node that carries rules."""
    if schema.get("x-kubernetes-validations"):
        yield path, schema["x-kubernetes-validations"]
    for key, sub in schema.get("properties", {}).items():
        yield from rule_nodes(sub, path + (key,))


def to_cel(schema: dict, value):
    """A JSON value as the API server hands it to CEL: typed by its schema."""
    kind = schema.get("type")
    if kind == "object":
        props, extra = schema.get("properties", {}), schema.get("additionalProperties") or {}
        return celpy.celtypes.MapType({celpy.celtypes.StringType(k): to_cel(props.get(k, extra), v)
                                       for k, v in value.items()})
    if kind == "array":
        return celpy.celtypes.ListType([to_cel(schema.get("items", {}), v) for v in value])
    if kind == "number":
        return celpy.celtypes.DoubleType(float(value))
    if kind == "integer":
        return celpy.celtypes.IntType(int(value))
    return celpy.json_to_cel(value)


def refusals(spec: dict) -> list[str]:
    """The messages of the rules the API server would refuse `spec` with."""
    spec = specs._apply_defaults(SPEC_SCHEMA, copy.deepcopy(spec))
    out = []
    for path, rules in rule_nodes(SPEC_SCHEMA):
        node, schema = spec, SPEC_SCHEMA
        for key in path:
            node, schema = (node or {}).get(key), schema["properties"][key]
        if node is None:
            continue  # the API server runs a node's rules only where the node is present
        for rule in rules:
            verdict = CEL.program(CEL.compile(rule["rule"])).evaluate({"self": to_cel(schema, node)})
            if not isinstance(verdict, celpy.celtypes.BoolType):
                raise AssertionError(f"rule {rule['rule']!r} gave {verdict!r}, not a bool")
            if not verdict:
                out.append(rule["message"])
    return out


def controller_refuses(spec: dict) -> bool:
    obj = {"apiVersion": f"{manifests.GROUP}/{manifests.VERSION}", "kind": manifests.KIND,
           "metadata": {"name": "s", "namespace": "inference"}, "spec": copy.deepcopy(spec)}
    try:
        specs.parse(obj)
    except InvalidSpec:
        return True
    return False


def example_specs() -> list[dict]:
    found = []
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == manifests.KIND:
                found.append(doc["spec"])
    return found


BASE = {"targetRef": {"name": "llama"}, "objective": {"ttftMs": 1000}, "replicas": {"max": 10}}


def with_(**changes) -> dict:
    spec = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        node, *path, last = dotted.split("__")
        target = spec.setdefault(node, {})
        for key in path:
            target = target.setdefault(key, {})
        target[last] = value
    return spec


def test_the_crd_carries_rules_and_each_compiles():
    nodes = list(rule_nodes(SPEC_SCHEMA))
    assert sum(len(rules) for _, rules in nodes) >= 4
    for _, rules in nodes:
        for rule in rules:
            CEL.compile(rule["rule"])  # raises on a syntax error
            assert rule["message"]


def test_every_shipped_example_is_admitted():
    found = example_specs()
    assert len(found) >= len(EXAMPLES)
    for spec in found:
        assert refusals(spec) == [], spec
        assert not controller_refuses(spec)


@pytest.mark.parametrize("spec, message", [
    (with_(targetRef__spotName="llama", cost__spotShare=0.5), "second Deployment"),
    (with_(targetRef__spotName="llama-spot"), "spotShare"),  # spotShare defaults to 0
    (with_(targetRef__spotName="llama-spot", cost__spotShare=0), "spotShare"),  # an int 0 in YAML
    (with_(replicas__min=11), "min must not exceed"),
    (with_(metrics__preset="generic"), "generic metrics preset"),
    (with_(metrics__preset="generic", metrics__histogram=""), "generic metrics preset"),
    (with_(metrics__preset="generic", metrics__queries__arrivalRate="sum(rate(x[1m]))"), "generic metrics preset"),
])
def test_a_bad_spec_is_refused_at_admission_as_the_controller_refuses_it(spec, message):
    found = refusals(spec)
    assert len(found) == 1 and message in found[0], found
    assert controller_refuses(spec)


@pytest.mark.parametrize("spec", [
    BASE,
    with_(targetRef__spotName="llama-spot", cost__spotShare=0.5),
    with_(targetRef__spotName="llama-spot", cost__spotShare=1),  # an int 1 in YAML, a double in CEL
    with_(replicas__min=10),
    with_(metrics__preset="generic", metrics__histogram="http_request_duration_seconds"),
    with_(metrics__preset="generic", metrics__queries__ttft="histogram_quantile(0.95, x)"),
    with_(metrics__preset="tgi"),
])
def test_a_good_spec_is_admitted_and_the_controller_takes_it(spec):
    assert refusals(spec) == []
    assert not controller_refuses(spec)
