"""Topology validation: the example stacks pass; every bad configuration is refused with its key path."""
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from meridian.cli import main
from regions import dr
from regions.errors import InputError
from regions.catalog import load_catalog
from regions.residency import DataClass, Transfer, Use, check
from regions.topology import Topology
from regions.validate import load_stack, parse_topology

ROOT = Path(__file__).resolve().parent.parent
T = "meridian:topology"


def dev_doc() -> dict:
    """The dev stack's topology as a plain dict; each case mutates a fresh copy."""
    return copy.deepcopy(yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"][T])


def problems_of(doc) -> InputError:
    with pytest.raises(InputError) as err:
        parse_topology(doc)
    return err.value


# ---------------------------------------------------------------- happy path

@pytest.mark.parametrize("name", ["Pulumi.dev.yaml", "Pulumi.eu-only.yaml"])
def test_example_stacks_validate(name):
    topo = load_stack(ROOT / name)
    assert topo.stack == name[len("Pulumi."):-len(".yaml")]
    assert topo.source.endswith(name)
    assert topo.workloads and topo.jurisdictions


def test_dev_stack_matches_the_issue():
    topo = load_stack(ROOT / "Pulumi.dev.yaml")
    eu, us, jp = (topo.jurisdictions[c] for c in ("eu", "us", "jp"))
    assert (eu.dr.strategy, eu.primary, eu.standbys) == ("warm-standby", "eu-west-1", ("eu-central-1",))
    assert us.dr.strategy == "active-active" and us.serving == ("us-east-1", "us-west-2")
    assert (jp.dr.strategy, jp.primary, jp.standbys) == ("pilot-light", "ap-northeast-1", ("ap-northeast-3",))
    chat = topo.workloads[0]
    assert chat.slo.percentile == 95 and chat.replicas.max == 40 and chat.spot_share == 0.5


def test_transfer_allows_a_standby_outside_the_jurisdiction():
    doc = dev_doc()
    doc["jurisdictions"]["eu"]["regions"][1]["region"] = "eu-west-2"  # London, jurisdiction uk
    doc["transfers"] = [{"from": "eu", "to": "uk", "basis": "adequacy decision"}]
    topo = parse_topology(doc)
    assert topo.transfers[0].to == "uk" and topo.transfers[0].basis == "adequacy decision"
    assert check(DataClass.PERSONAL, "eu", "eu-west-2", Use.FAILOVER, transfers=topo.transfers)
    # the same standby without the transfer is refused (case standby-outside below)


# ---------------------------------------------------------------- refusals

def _set(path, value):
    """Mutation: set doc[path...] = value (path as a tuple of keys/indices)."""
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _delete(path):
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


def _apply(*mutations):
    def mutate(doc):
        for m in mutations:
            m(doc)
    return mutate


EU = ("jurisdictions", "eu")
US = ("jurisdictions", "us")
JP = ("jurisdictions", "jp")
W0 = ("workloads", 0)

# (id, mutation, key path expected in the message, words expected in the message)
BAD = [
    ("unknown-top-key", _set(("workload",), []), f"{T}.workload", "did you mean `workloads`"),
    ("unknown-region-key", _set(EU + ("regions", 0, "rgion"), "x"),
     f"{T}.jurisdictions.eu.regions[0].rgion", "did you mean `region`"),
    ("unknown-workload-key", _set(W0 + ("replica",), {}), f"{T}.workloads[0].replica",
     "did you mean `replicas`"),
    ("unknown-region", _set(EU + ("regions", 1, "region"), "eu-central-9"),
     f"{T}.jurisdictions.eu.regions[1].region", "eu-central-1"),
    ("wrong-jurisdiction", _set(EU + ("regions", 0, "region"), "us-east-2"),
     f"{T}.jurisdictions.eu.regions[0].region", "belongs to jurisdiction us"),
    ("region-twice", _set(EU + ("regions", 1, "region"), "eu-west-1"),
     f"{T}.jurisdictions.eu.regions[1].region", "used twice"),
    ("region-twice-across", _set(US + ("regions", 1, "region"), "us-east-1"),
     f"{T}.jurisdictions.us.regions[1].region", "used twice"),
    ("personal-no-region", _set(W0 + ("jurisdictions",), ["eu", "us", "jp", "vn"]),
     f"{T}.workloads[0].jurisdictions[3]", "no AWS region"),
    ("personal-undeclared", _set(W0 + ("jurisdictions",), ["eu", "in"]),
     f"{T}.workloads[0].jurisdictions[1]", "personal data of in"),
    ("standby-outside", _set(EU + ("regions", 1, "region"), "eu-west-2"),
     f"{T}.jurisdictions.eu.regions[1].region", "declare a transfer"),
    ("two-primaries", _set(EU + ("regions", 1, "role"), "primary"),
     f"{T}.jurisdictions.eu.regions", "exactly one primary"),
    ("no-primary", _set(JP + ("regions", 0, "role"), "standby"),
     f"{T}.jurisdictions.jp.regions", "exactly one primary"),
    ("no-standby", _set(EU + ("regions",), [{"region": "eu-west-1", "role": "primary"}]),
     f"{T}.jurisdictions.eu.regions", "at least one standby"),
    ("primary-under-active-active", _set(US + ("regions", 0, "role"), "primary"),
     f"{T}.jurisdictions.us.regions[0].role", "active-active"),
    ("single-active", _set(US + ("regions",), [{"region": "us-east-1", "role": "active"}]),
     f"{T}.jurisdictions.us.regions", "at least 2"),
    ("active-under-warm-standby", _set(EU + ("regions", 1, "role"), "active"),
     f"{T}.jurisdictions.eu.regions[1].role", "active-active"),
    ("rto-below-floor", _set(US + ("dr", "rto_seconds"), 30),
     f"{T}.jurisdictions.us.dr.rto_seconds", "Route 53"),
    ("pilot-light-rto-below-floor", _set(JP + ("dr", "rto_seconds"), 300),
     f"{T}.jurisdictions.jp.dr.rto_seconds", "tens of minutes"),
    ("rpo-below-floor", _set(JP + ("dr",), {"strategy": "backup-restore", "rto_seconds": 14400,
                                            "rpo_seconds": 600}),
     f"{T}.jurisdictions.jp.dr.rpo_seconds", "hourly"),
    ("instance-not-offered", _set(W0 + ("instance_type",), "p4d.24xlarge"),
     f"{T}.workloads[0].instance_type", "ap-northeast-3"),
    ("instance-unknown", _set(W0 + ("instance_type",), "g5.3xlarge"),
     f"{T}.workloads[0].instance_type", "did you mean"),
    ("replicas-min-gt-max", _set(W0 + ("replicas",), {"min": 5, "max": 2}),
     f"{T}.workloads[0].replicas", "greater than max"),
    ("replicas-negative", _set(W0 + ("replicas", "min"), -1),
     f"{T}.workloads[0].replicas.min", "negative"),
    ("replicas-fraction", _set(W0 + ("replicas", "max"), 2.5),
     f"{T}.workloads[0].replicas.max", "whole number"),
    ("percentile-50", _set(W0 + ("slo", "percentile"), 50),
     f"{T}.workloads[0].slo.percentile", "above 50"),
    ("percentile-100", _set(W0 + ("slo", "percentile"), 100),
     f"{T}.workloads[0].slo.percentile", "below 100"),
    ("ttft-zero", _set(W0 + ("slo", "ttft_ms"), 0), f"{T}.workloads[0].slo.ttft_ms", "positive"),
    ("e2e-negative", _set(W0 + ("slo", "e2e_ms"), -5), f"{T}.workloads[0].slo.e2e_ms", "positive"),
    ("slo-no-target", _set(W0 + ("slo",), {"percentile": 95}), f"{T}.workloads[0].slo",
     "no latency target"),
    ("duplicate-workload", lambda d: d["workloads"].append(copy.deepcopy(d["workloads"][0])),
     f"{T}.workloads[1].name", "duplicate workload name"),
    ("rto-wrong-type", _set(EU + ("dr", "rto_seconds"), "ten minutes"),
     f"{T}.jurisdictions.eu.dr.rto_seconds", "must be a number"),
    ("rpo-boolean", _set(EU + ("dr", "rpo_seconds"), True),
     f"{T}.jurisdictions.eu.dr.rpo_seconds", "must be a number"),
    ("regions-not-list", _set(EU + ("regions",), "eu-west-1"),
     f"{T}.jurisdictions.eu.regions", "must be a list"),
    ("jurisdictions-list", _set(("jurisdictions",), ["eu"]), f"{T}.jurisdictions", "mapping"),
    ("topology-missing-keys", lambda d: d.clear() or d.update({"x": 1}), f"{T}.domain", "missing"),
    ("unknown-strategy", _set(EU + ("dr", "strategy"), "warm_standby"),
     f"{T}.jurisdictions.eu.dr.strategy", "did you mean `warm-standby`"),
    ("unknown-role", _set(EU + ("regions", 0, "role"), "primery"),
     f"{T}.jurisdictions.eu.regions[0].role", "did you mean `primary`"),
    ("unknown-jurisdiction", lambda d: d["jurisdictions"].update(
        {"euu": d["jurisdictions"].pop("eu")}), f"{T}.jurisdictions.euu", "did you mean eu"),
    ("missing-dr", _delete(EU + ("dr",)), f"{T}.jurisdictions.eu.dr", "missing"),
    ("transfer-no-basis", _set(("transfers",), [{"from": "eu", "to": "uk"}]),
     f"{T}.transfers[0].basis", "missing"),
    ("transfer-unknown-to", _set(("transfers",), [{"from": "eu", "to": "ukk", "basis": "x"}]),
     f"{T}.transfers[0].to", "unknown jurisdiction"),
    ("transfer-to-self", _set(("transfers",), [{"from": "eu", "to": "eu", "basis": "x"}]),
     f"{T}.transfers[0]", "to itself"),
    ("spot-share-above-one", _set(W0 + ("spot_share",), 1.5), f"{T}.workloads[0].spot_share",
     "between 0 and 1"),
    ("bad-domain", _set(("domain",), "not a domain"), f"{T}.domain", "not a DNS name"),
    ("unknown-data-class", _set(W0 + ("data_classes",), ["personel"]),
     f"{T}.workloads[0].data_classes[0]", "did you mean `personal`"),
    ("bad-workload-name", _set(W0 + ("name",), "Chat Bot"), f"{T}.workloads[0].name",
     "not a valid name"),
    ("nan-rto", _set(EU + ("dr", "rto_seconds"), float("nan")),
     f"{T}.jurisdictions.eu.dr.rto_seconds", "finite"),
    ("slo-null", _set(W0 + ("slo",), None), f"{T}.workloads[0].slo", "nothing (null)"),
]


@pytest.mark.parametrize("mutate,path,words", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_configuration_is_refused_with_its_key_path(mutate, path, words):
    doc = dev_doc()
    mutate(doc)
    err = problems_of(doc)
    text = err.render()
    matching = [p for p in err.problems if p.path == path]
    assert matching, f"no problem at {path}:\n{text}"
    assert any(words in p.message or words in p.fix for p in matching), text
    assert all(p.fix for p in err.problems), "every problem says how to fix it"


@pytest.mark.parametrize("doc", [None, [1, 2], "text", 3])
def test_topology_that_is_not_a_mapping_is_refused(doc):
    err = problems_of(doc)
    assert [p.path for p in err.problems] == [T] and "must be a mapping" in err.render()


def test_jurisdictions_of_wrong_type_is_one_problem_not_a_cascade():
    doc = dev_doc()
    doc["jurisdictions"] = ["eu"]
    assert [p.path for p in problems_of(doc).problems] == [f"{T}.jurisdictions"]


def test_distinct_bad_configurations_are_at_least_25():
    assert len({c[0] for c in BAD}) >= 25


def test_every_problem_is_reported_at_once():
    doc = dev_doc()
    _set(W0 + ("slo", "percentile"), 101)(doc)
    _set(US + ("dr", "rto_seconds"), 10)(doc)
    _set(EU + ("regions", 1, "region"), "eu-west-2")(doc)
    _set(("extra",), 1)(doc)
    paths = {p.path for p in problems_of(doc).problems}
    assert {f"{T}.workloads[0].slo.percentile", f"{T}.jurisdictions.us.dr.rto_seconds",
            f"{T}.jurisdictions.eu.regions[1].region", f"{T}.extra"} <= paths


def test_broken_jurisdiction_is_not_reported_again_as_undeclared():
    doc = dev_doc()
    _set(EU + ("dr", "strategy"), "nope")(doc)
    paths = [p.path for p in problems_of(doc).problems]
    assert paths == [f"{T}.jurisdictions.eu.dr.strategy"]


def test_floors_cite_their_source_and_order_by_strategy():
    order = ["active-active", "warm-standby", "pilot-light", "backup-restore"]
    rtos = [dr.floor(s).rto_seconds for s in order]
    assert rtos == sorted(rtos) and len(set(rtos)) == 4
    assert dr.floor("active-active").rto_seconds == dr.HEALTH_CHECK_INTERVAL_S * 3 + dr.DNS_TTL_S
    for s in order:
        f = dr.floor(s)
        assert f.rto_source and f.rpo_source and f.rpo_seconds > 0


def test_expected_data_loss_model():
    assert dr.expected_data_loss_s("backup-restore") == dr.BACKUP_INTERVAL_S / 2
    assert dr.expected_data_loss_s("backup-restore", since_last_backup_s=120) == 120
    assert dr.expected_data_loss_s("backup-restore", tail=True) == dr.BACKUP_INTERVAL_S
    assert dr.expected_data_loss_s("warm-standby") == dr.S3_TYPICAL_LAG_S
    assert dr.expected_data_loss_s("warm-standby", tail=True) == dr.S3_RTC_BOUND_S
    assert dr.expected_data_loss_s("active-active") < dr.expected_data_loss_s("pilot-light")
    assert not dr.guaranteed("warm-standby", 60) and dr.guaranteed("warm-standby", 900)


# ---------------------------------------------------------------- files and the CLI

def _write(tmp_path, text, name="Pulumi.t.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


FILE_CASES = [
    ("missing-file", None, "does not exist"),
    ("malformed-yaml", "config:\n  meridian:topology:\n    domain: [oops\n", ":4"),
    ("duplicate-key", "config:\n  meridian:topology: {}\n  meridian:topology: {}\n", "duplicate key"),
    ("no-config", "encryptionsalt: x\n", "config"),
    ("topology-typo", "config:\n  meridian:topolgy: {}\n", "`meridian:topolgy` looks misspelt"),
    ("empty-file", "", "config"),
]


@pytest.mark.parametrize("text,words", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_bad_stack_file_is_refused(tmp_path, text, words):
    path = tmp_path / "Pulumi.missing.yaml" if text is None else _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_stack(path)
    assert words in err.value.render()


def test_malformed_yaml_names_the_line(tmp_path):
    path = _write(tmp_path, "config:\n  meridian:topology:\n    domain: x\n   bad: indent\n")
    with pytest.raises(InputError) as err:
        load_stack(path)
    assert f"{path}:4" in err.value.problems[0].path


def test_cli_valid_stack_prints_summary(capsys):
    assert main(["validate", str(ROOT / "Pulumi.dev.yaml")]) == 0
    out = capsys.readouterr().out
    for word in ("warm-standby", "active-active", "pilot-light", "eu-central-1 (standby)",
                 "us-west-2 (active)", "workload chat", "3 jurisdictions, 6 regions"):
        assert word in out


@pytest.mark.parametrize("case", ["wrong-jurisdiction", "rto-below-floor", "duplicate-workload",
                                  "replicas-min-gt-max"])
def test_cli_bad_topology_exits_2_with_key_path(tmp_path, capsys, case):
    _, mutate, path, _ = next(c for c in BAD if c[0] == case)
    doc = dev_doc()
    mutate(doc)
    stack = _write(tmp_path, yaml.safe_dump({"config": {T: doc}}))
    assert main(["validate", str(stack)]) == 2
    err = capsys.readouterr().err
    assert path in err and "fix:" in err and "Traceback" not in err


def test_cli_process_exit_code_and_no_traceback(tmp_path):
    stack = _write(tmp_path, "config:\n  meridian:topology:\n    domain: [\n")
    run = subprocess.run([sys.executable, "-m", "meridian", "validate", str(stack)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    assert "malformed YAML" in run.stderr and "Traceback" not in run.stderr
    missing = subprocess.run([sys.executable, "-m", "meridian", "validate", "nope/Pulumi.x.yaml"],
                             capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_topology_is_frozen_and_typed():
    topo = load_stack(ROOT / "Pulumi.eu-only.yaml")
    assert isinstance(topo, Topology)
    with pytest.raises(AttributeError):
        topo.domain = "x"  # type: ignore[misc]


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "Pulumi.bin.yaml"
    path.write_bytes(b"config:\n  meridian:topology: \xff\xfe\n")
    with pytest.raises(InputError) as err:
        load_stack(path)
    assert "UTF-8" in err.value.render()


def test_readme_floor_table_matches_the_model():
    readme = (ROOT / "README.md").read_text()
    for strategy, f in dr.FLOORS.items():
        row = next(l for l in readme.splitlines() if l.startswith(f"| {strategy} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == f"{f.rto_seconds:g} s" and cells[3] == f"{f.rpo_seconds:g} s", row


def test_cli_json_is_the_validated_topology(capsys):
    import json
    assert main(["validate", "--json", str(ROOT / "Pulumi.eu-only.yaml")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["stack"] == "eu-only" and doc["workloads"][0]["name"] == "assistant"
    assert doc["jurisdictions"]["eu"]["regions"][0] == {"region": "eu-west-1", "role": "primary"}
    assert doc["floors"]["eu"]["rto_seconds"] == dr.floor("warm-standby").rto_seconds


@pytest.mark.parametrize("with_transfer", [False, True])
def test_standby_verdict_agrees_with_the_residency_model_for_every_region(with_transfer):
    """The validator asks `regions.residency.check`; for each catalog region as eu's standby,
    the topology passes exactly when personal data of eu may fail over there."""
    transfers = [Transfer("eu", "uk", "adequacy decision")] if with_transfer else []
    used_elsewhere = {"eu-west-1", "us-east-1", "us-west-2", "ap-northeast-1", "ap-northeast-3"}
    for region in sorted(set(load_catalog().regions) - used_elsewhere):
        doc = dev_doc()
        doc["jurisdictions"]["eu"]["regions"][1]["region"] = region
        doc["transfers"] = [{"from": t.from_, "to": t.to, "basis": t.basis} for t in transfers]
        try:
            topo = parse_topology(doc)
            passed = True
        except InputError as err:
            passed = False
            assert all(p.rule in ("residency", "instance-type") for p in err.problems), err.render()
        allowed = bool(check(DataClass.PERSONAL, "eu", region, Use.FAILOVER, transfers=transfers))
        offered = load_catalog().regions[region].offers("g5.2xlarge")
        assert passed == (allowed and offered), region
        if passed:
            assert topo.jurisdictions["eu"].standbys == (region,)
