"""Manifests against the bundled Kubernetes schemas; examples against the CRD's own schema."""
from __future__ import annotations

import copy
import pathlib

import jsonschema
import kubernetes_validate
import pytest
import yaml

from controller import manifests

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "deploy" / "examples").glob("*.yaml"))
K8S_VERSION = "1.31"


def _by_kind(objects):
    return {o["kind"]: o for o in objects}


@pytest.mark.parametrize("obj", manifests.render(), ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_every_manifest_validates_against_kubernetes_schema(obj):
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_validator_rejects_a_broken_deployment():
    # guards the test above: the validator really checks what we hand it
    dep = copy.deepcopy(_by_kind(manifests.render())["Deployment"])
    dep["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


def test_render_honours_namespace_image_and_annotations():
    objs = manifests.render("infer-ops", "registry.example/meridian:1", {"eks.amazonaws.com/role-arn": "arn:x"})
    kinds = _by_kind(objs)
    assert kinds["Namespace"]["metadata"]["name"] == "infer-ops"
    assert all(o["metadata"].get("namespace") in (None, "infer-ops") for o in objs)
    assert kinds["ServiceAccount"]["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:x"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/meridian:1"
    assert "infer-ops" in container["args"]
    assert kinds["ClusterRoleBinding"]["subjects"][0]["namespace"] == "infer-ops"


def test_render_options_become_controller_flags_the_cli_accepts():
    from meridian.cli import build_parser

    dep = _by_kind(manifests.render(prometheus_url="http://prom:9090", price_region="eu-west-1",
                                    price_refresh_s=3600))["Deployment"]
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--prometheus-url") + 1] == "http://prom:9090"
    assert args[args.index("--price-refresh") + 1] == "3600"
    parsed = build_parser().parse_args(args)  # the container's args are a valid command line
    assert parsed.price_region == "eu-west-1" and parsed.leader_elect_name == manifests.LEASE_NAME


def test_deployment_is_probed_requested_and_non_root():
    pod = _by_kind(manifests.render())["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(c["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] and c["securityContext"]["runAsNonRoot"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False


def test_rbac_is_least_privilege():
    objs = manifests.render()
    for role in (o for o in objs if o["kind"] in ("ClusterRole", "Role")):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"]
            assert not {"delete", "deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"])
    cluster = _by_kind(objs)["ClusterRole"]
    granted = {(g, r, v) for rule in cluster["rules"] for g in rule["apiGroups"]
               for r in rule["resources"] for v in rule["verbs"]}
    assert ("apps", "deployments/scale", "patch") in granted
    assert ("apps", "deployments", "patch") not in granted  # only the scale subresource
    assert not any(r == "leases" for _, r, _ in granted)  # leases only in our namespace


def _rbac_attributes(path: str, method: str) -> tuple[str, str, str]:
    """(apiGroup, resource[/subresource], verb) of one API request, as the authorizer sees it."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[2:]
    else:
        group, rest = parts[1], parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    verb = {"GET": "get" if len(rest) > 1 else "list", "POST": "create", "PUT": "update",
            "PATCH": "patch", "DELETE": "delete"}[method]
    return group, resource, verb


def test_rbac_grants_exactly_what_a_run_uses():
    """Run the controller through every kind of call it makes (lease create/renew/release, a
    cluster-wide and a namespaced list, a 409 re-read, pods and nodes for prices, status,
    Events) and compare the verbs it used with the verbs the manifests grant: any extra grant
    or any missing one fails."""
    from controller.runner import Controller, RunConfig
    from controller.standin import ApiStandIn, Fault
    from tests.test_controller_helpers import NS, FixedPolicy, StaticSource, scaler

    used = set()
    for namespaces in ((), (NS,)):
        with ApiStandIn() as api:
            api.add_deployment(NS, "llama-vllm", replicas=2)
            api.add_node("gpu-1", {"node.kubernetes.io/instance-type": "g5.2xlarge"})
            api.add_pod(NS, "llama-vllm-a", {"app": "llama-vllm"}, "gpu-1")
            api.add_scaler(scaler())
            api.faults.append(Fault("PATCH", r"/scale$", status=409))
            cfg = RunConfig(api_server=api.url, identity="rbac", namespaces=namespaces, sync_interval_s=0.05,
                            lease_duration_s=3.0, renew_deadline_s=2.0, retry_period_s=0.2, metrics_port=0,
                            max_syncs=2, lease_namespace=manifests.DEFAULT_NAMESPACE,
                            lease_name=manifests.LEASE_NAME)
            c = Controller(cfg, lambda o, l: FixedPolicy(3), source=StaticSource())
            assert c.elector.try_acquire_or_renew()
            assert c.run() == 0
            assert api.get("Deployment", NS, "llama-vllm")["spec"]["replicas"] == 3
            used |= {_rbac_attributes(r.path, r.method) for r in api.requests}
    objs = manifests.render()
    granted = {(g, r, v) for o in objs if o["kind"] in ("ClusterRole", "Role") for rule in o["rules"]
               for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    assert used == granted, f"unused grants: {granted - used}; missing grants: {used - granted}"


def _walk_structural(schema, path="root", in_logic=False):
    """Kubernetes 'structural schema' rule: every node states a type, except inside anyOf/allOf."""
    if not in_logic and "x-kubernetes-int-or-string" not in schema:
        assert "type" in schema, f"{path} has no type"
    for key, sub in schema.get("properties", {}).items():
        _walk_structural(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        _walk_structural(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        _walk_structural(schema["additionalProperties"], f"{path}{{}}")
    for logic in ("anyOf", "allOf", "oneOf"):
        for i, sub in enumerate(schema.get(logic, [])):
            assert "type" not in sub and "default" not in sub, f"{path}.{logic}[{i}] not structural"


def test_crd_schema_is_structural_with_status_and_columns():
    crd = manifests.crd()
    version = crd["spec"]["versions"][0]
    _walk_structural(version["schema"]["openAPIV3Schema"])
    assert version["subresources"] == {"status": {}}
    cols = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert cols["Target"] == ".spec.targetRef.name"
    assert {"Replicas", "Desired", "TTFT-ms", "Objective-ms", "Reason"} <= set(cols)
    jsonschema.Draft7Validator.check_schema(version["schema"]["openAPIV3Schema"])


def test_there_are_examples():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_the_crd_schema(path):
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == f"{manifests.GROUP}/{manifests.VERSION}" and doc["kind"] == manifests.KIND
    jsonschema.validate(doc, manifests.crd_schema())


@pytest.mark.parametrize("mutate, where", [
    (lambda s: s["metrics"].__setitem__("preset", "triton"), "preset"),
    (lambda s: s["replicas"].__setitem__("min", 0), "min"),
    (lambda s: s["objective"].pop("ttftMs") and s["objective"].pop("e2eMs"), "objective"),
    (lambda s: s["cost"].__setitem__("spotShare", 1.5), "spotShare"),
    (lambda s: s.pop("targetRef"), "targetRef"),
])
def test_crd_schema_rejects_bad_specs(mutate, where):
    doc = yaml.safe_load((EXAMPLES[-1].parent / "vllm-llama.yaml").read_text())
    mutate(doc["spec"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, manifests.crd_schema())


def test_cli_writes_yaml_that_round_trips(tmp_path):
    from meridian.cli import main

    out = tmp_path / "meridian.yaml"
    assert main(["controller", "manifests", "--namespace", "x", "-o", str(out)]) == 0
    docs = list(yaml.safe_load_all(out.read_text()))
    assert docs == manifests.render("x")
    assert main(["controller", "manifests", "-o", str(tmp_path / "missing" / "m.yaml")]) == 2


def test_dashboard_queries_only_metrics_the_controller_exports():
    import json
    import re

    from controller.telemetry import Telemetry

    deploy = pathlib.Path(__file__).parent.parent / "deploy"
    dash = json.loads((deploy / "grafana-dashboard.json").read_text())
    exported = {m.name for m in Telemetry().registry.collect()}
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|total|count|sum)$", "", n) for e in exprs for n in re.findall(r"meridian_\w+", e)}
    assert used and used <= exported, used - exported
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])


def test_dockerfile_user_matches_the_pod_security_context():
    deploy = pathlib.Path(__file__).parent.parent / "deploy"
    text = (deploy / "Dockerfile").read_text()
    pod = _by_kind(manifests.render())["Deployment"]["spec"]["template"]["spec"]
    assert f"USER {pod['securityContext']['runAsUser']}" in text
    assert str(manifests.METRICS_PORT) in text
