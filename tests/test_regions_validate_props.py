"""Property tests: any YAML document gives a valid Topology or InputError, never another exception,
and every Topology that passes keeps the residency, role and DR-floor rules."""
import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regions import dr
from regions.catalog import load_catalog
from regions.errors import InputError
from regions.residency import DataClass, Use, check
from regions.topology import Topology
from regions.validate import load_stack, parse_topology, parse_yaml

ROOT = Path(__file__).resolve().parent.parent
T = "meridian:topology"
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Words the validator knows, so generated documents often get past the first checks.
VOCAB = ["domain", "jurisdictions", "transfers", "workloads", "regions", "dr", "region", "role",
         "strategy", "rto_seconds", "rpo_seconds", "from", "to", "basis", "name", "instance_type",
         "data_classes", "slo", "replicas", "percentile", "ttft_ms", "e2e_ms", "min", "max",
         "spot_share", "eu", "us", "uk", "jp", "vn", "primary", "standby", "active",
         "warm-standby", "active-active", "pilot-light", "backup-restore", "eu-west-1",
         "eu-west-2", "eu-central-1", "us-east-1", "g5.2xlarge", "p5.48xlarge", "personal",
         "model", "telemetry", "infer.example.com"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-10**400, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12), st.sampled_from(VOCAB))
keys = st.one_of(st.sampled_from(VOCAB), st.text(max_size=8), st.integers(), st.none(),
                 st.booleans())
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25)


def dev_doc() -> dict:
    return copy.deepcopy(yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"][T])


def _parse_or_error(doc):
    try:
        return parse_topology(doc)
    except InputError as err:
        assert err.problems, "an InputError always lists at least one problem"
        assert all(p.path.startswith(T) for p in err.problems)
        err.render()  # rendering never fails either
        return None


def _assert_rules_hold(topo: Topology) -> None:
    """What a Topology that passed validation guarantees to infra, the twin and the drills."""
    catalog = load_catalog()
    regions = topo.all_regions()
    assert len(regions) == len(set(regions))
    for code, j in topo.jurisdictions.items():
        floor = dr.floor(j.dr.strategy)
        assert j.dr.rto_seconds >= floor.rto_seconds and j.dr.rpo_seconds >= floor.rpo_seconds
        for region in j.serving:
            assert catalog.regions[region].jurisdiction == code
        for region in j.standbys:
            assert check(DataClass.PERSONAL, code, region, Use.FAILOVER, transfers=topo.transfers)
        if j.dr.strategy == "active-active":
            assert len(j.serving) >= 2 and not j.standbys
        else:
            assert j.primary is not None and len(j.serving) == 1 and j.standbys
    for w in topo.workloads:
        assert 50 < w.slo.percentile < 100 and 0 <= w.replicas.min <= w.replicas.max
        assert 0 <= w.spot_share <= 1
        for code in w.jurisdictions:
            if "personal" in w.data_classes:
                assert code in topo.jurisdictions
            if code in topo.jurisdictions:
                for region in topo.jurisdictions[code].region_codes:
                    assert catalog.regions[region].offers(w.instance_type)


@SETTINGS
@given(documents)
def test_arbitrary_documents_give_topology_or_input_error(doc):
    topo = _parse_or_error(doc)
    if topo is not None:
        _assert_rules_hold(topo)


def _mutate(data, doc):
    """Walk to a random node of `doc` and replace, delete or add something there."""
    node = doc
    for _ in range(data.draw(st.integers(0, 6), label="depth")):
        children = list(node.items()) if isinstance(node, dict) else \
            list(enumerate(node)) if isinstance(node, list) else []
        containers = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
        if not containers:
            break
        _, node = data.draw(st.sampled_from(containers), label="step")
    slots = list(node) if isinstance(node, dict) else list(range(len(node)))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
    if action == "add" or not slots:
        if isinstance(node, dict):
            node[data.draw(keys, label="new key")] = data.draw(documents, label="new value")
        else:
            node.append(data.draw(documents, label="new item"))
    elif action == "delete":
        del node[data.draw(st.sampled_from(slots), label="deleted")]
    else:
        node[data.draw(st.sampled_from(slots), label="replaced")] = data.draw(documents,
                                                                             label="value")


@SETTINGS
@given(st.data())
def test_mutations_of_the_dev_topology_give_topology_or_input_error(data):
    doc = dev_doc()
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        _mutate(data, doc)
    topo = _parse_or_error(doc)
    if topo is not None:
        _assert_rules_hold(topo)


@SETTINGS
@given(st.one_of(st.text(max_size=200),
                 st.text(alphabet=" \n\t:-[]{}&*!|>'\"#%@`,?abc019", max_size=120)))
def test_arbitrary_text_parses_or_is_refused_as_yaml(text):
    try:
        parse_yaml(text, "Pulumi.x.yaml")
    except InputError as err:
        assert err.problems and err.problems[0].path.startswith("Pulumi.x.yaml")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(documents)
def test_stack_files_round_trip_through_load_stack(tmp_path, doc):
    path = tmp_path / "Pulumi.prop.yaml"
    try:
        text = yaml.safe_dump({"config": {T: doc}})
    except (yaml.YAMLError, TypeError):
        return  # some generated keys (e.g. None mixed with str) cannot be dumped; nothing to test
    path.write_text(text)
    try:
        topo = load_stack(path)
    except InputError:
        return
    assert topo.stack == "prop"
    _assert_rules_hold(topo)


def test_deep_nesting_is_an_input_error_not_a_recursion_error():
    text = "config: " + "[" * 5000 + "]" * 5000  # PyYAML's composer recurses once per level
    with pytest.raises(InputError) as err:
        parse_yaml(text, "deep.yaml")
    assert "nested too deeply" in err.value.render()


# Well-shaped topologies built from real codes, mostly plausible and sometimes subtly wrong: they
# pass the shape checks, so these examples exercise the cross-checks (residency, roles, floors,
# offerings) and the rules a passing topology promises.
CATALOG = load_catalog()
JURIS = ["eu", "us", "jp", "in", "uk", "vn"]
STRATS = ["backup-restore", "pilot-light", "warm-standby", "active-active"]


def _mostly(draw, good, bad):
    """`good` nine times in ten, else one of `bad`: most examples pass, some break one rule."""
    return draw(st.sampled_from(bad)) if draw(st.integers(0, 9)) == 7 else good


@st.composite
def jurisdiction_bodies(draw, code):
    own = [r.code for r in CATALOG.in_jurisdiction(code)]
    pool = _mostly(draw, own, [sorted(CATALOG.regions)]) or sorted(CATALOG.regions)
    unique = _mostly(draw, True, [False])
    least = _mostly(draw, 2, [1]) if len(pool) > 1 or not unique else 1
    regions = draw(st.lists(st.sampled_from(pool), min_size=least, max_size=3, unique=unique))
    strategy = draw(st.sampled_from(STRATS))
    wanted = ["active"] * len(regions) if strategy == "active-active" else \
        ["primary"] + ["standby"] * (len(regions) - 1)
    roles = _mostly(draw, wanted, [draw(st.lists(st.sampled_from(["primary", "standby", "active"]),
                                                 min_size=len(regions), max_size=len(regions)))])
    floor = dr.floor(strategy)
    return {"regions": [{"region": r, "role": o} for r, o in zip(regions, roles)],
            "dr": {"strategy": strategy,
                   "rto_seconds": floor.rto_seconds * _mostly(draw, 2, [0.5, 1]),
                   "rpo_seconds": floor.rpo_seconds * _mostly(draw, 4, [0.5, 1])}}


@st.composite
def topologies(draw):
    codes = draw(st.lists(st.sampled_from(["eu", "us", "jp", "in"]), min_size=1, max_size=3,
                          unique=True)) + _mostly(draw, [], [["uk"], ["vn"]])
    workloads = []
    for name in _mostly(draw, ["chat", "embed"], [[], ["chat", "chat"]]):
        workloads.append({
            "name": name,
            "instance_type": _mostly(draw, "g5.2xlarge", ["g6.xlarge", "p4d.24xlarge"]),
            "data_classes": draw(st.sampled_from([["personal"], ["model"], ["personal", "model"]])),
            "jurisdictions": _mostly(draw, codes[:2], [codes + ["vn"]]),
            "slo": {"percentile": _mostly(draw, 95, [50, 99]),
                    "ttft_ms": _mostly(draw, 800, [0, 500])},
            "replicas": _mostly(draw, {"min": 1, "max": 4}, [{"min": 3, "max": 1},
                                                             {"min": -1, "max": 2}]),
            "spot_share": _mostly(draw, 0.5, [0, 1, 1.5]),
        })
    return {
        "domain": "infer.example.com",
        "jurisdictions": {c: draw(jurisdiction_bodies(c)) for c in codes},
        "transfers": _mostly(draw, [], [draw(st.lists(st.fixed_dictionaries({
            "from": st.sampled_from(JURIS), "to": st.sampled_from(JURIS),
            "basis": st.just("standard contractual clauses")}), min_size=1, max_size=2))]),
        "workloads": workloads,
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topologies())
def test_well_shaped_topologies_pass_only_when_every_rule_holds(doc):
    topo = _parse_or_error(doc)
    if topo is not None:
        _assert_rules_hold(topo)
