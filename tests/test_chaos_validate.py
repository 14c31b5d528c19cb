"""Experiment validation: every problem at once, with key paths, exit 2, nothing run."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chaos import catalog
from chaos.validate import load_experiment, parse_experiment
from meridian.cli import main
from regions.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
STACK = str(ROOT / "Pulumi.dev.yaml")
DRILLS = sorted((ROOT / "chaos" / "drills").glob("*.yaml"))


def base(**changes) -> dict:
    doc = {"title": "t", "target": "sim", "topology": STACK, "duration_seconds": 3600,
           "blast_radius": {"regions": ["eu-west-1"]},
           "steady_state": [{"probe": "slo_attainment", "jurisdiction": "eu", "tolerance": {"min": 0.9}}],
           "method": [{"action": "region_outage", "name": "ie", "region": "eu-west-1",
                       "start_seconds": 600, "duration_seconds": 600}]}
    doc.update(changes)
    return doc


def problems(doc: dict, target: str | None = None) -> dict[str, str]:
    with pytest.raises(InputError) as err:
        parse_experiment(doc, source="test.yaml", target=target)
    return {p.path: f"{p.message} | {p.fix}" for p in err.value.problems}


def test_every_problem_is_reported_at_once_with_key_paths_and_did_you_mean():
    doc = base(titel="x", steady_state=[{"probe": "slo_atainment", "tolerance": {"min": 1}},
                                        {"probe": "error_rate", "windw_seconds": 60, "tolerance": {"max": 0.1}}],
               method=[{"action": "region_outag", "region": "eu-west-1", "start_seconds": 0},
                       {"action": "region_outage", "region": "eu-west-1", "start_seconds": "ten"}],
               expect={"rto_secs": 1})
    found = problems(doc)
    assert "did you mean 'title'" in found["titel"]
    assert "did you mean 'slo_attainment'" in found["steady_state[0].probe"]
    assert "did you mean 'window_seconds'" in found["steady_state[1].windw_seconds"]
    assert "did you mean 'region_outage'" in found["method[0].action"]
    assert "must be a finite number" in found["method[1].start_seconds"]
    assert "did you mean 'rto_seconds'" in found["expect.rto_secs"]
    assert len(found) == 6


def test_a_rollback_naming_a_broken_action_says_what_to_fix_not_an_empty_list():
    doc = base(method=[{"action": "region_outagee", "name": "ie", "region": "eu-west-1", "start_seconds": 0}],
               rollbacks=[{"revert": "ie"}])
    fix = problems(doc)["rollbacks[0].revert"].split(" | ")[1]
    assert fix.strip() and not fix.rstrip().endswith(":") and "fix the problems" in fix


def test_action_outside_the_blast_radius_is_refused():
    doc = base(method=[{"action": "region_outage", "region": "us-east-1", "start_seconds": 0,
                        "duration_seconds": 60}])
    assert "outside the blast radius" in problems(doc)["method[0].region"]
    doc["blast_radius"] = {"jurisdictions": ["us"]}  # a jurisdiction covers its regions
    parse_experiment(doc)


def test_offsets_beyond_the_drill_are_refused():
    doc = base(duration_seconds=1000, method=[
        {"action": "region_outage", "region": "eu-west-1", "start_seconds": 1000},
        {"action": "price_spike", "region": "eu-west-1", "factor": 3, "start_seconds": 500,
         "duration_seconds": 600}])
    found = problems(doc)
    assert "at or after the drill's end" in found["method[0].start_seconds"]
    assert "beyond the drill's length" in found["method[1].duration_seconds"]


@pytest.mark.parametrize("duration", [-5, 0, "long"])
def test_a_bad_duration_is_the_one_problem_not_every_start_after_it(duration):
    assert list(problems(base(duration_seconds=duration))) == ["duration_seconds"]


def _both_eu_regions_down(**changes) -> dict:
    return base(blast_radius={"jurisdictions": ["eu"]}, method=[
        {"action": "region_outage", "name": "ie", "region": "eu-west-1", "start_seconds": 600,
         "duration_seconds": 1200},
        {"action": "region_outage", "name": "de", "region": "eu-central-1", "start_seconds": 900,
         "duration_seconds": 600}], **changes)


def test_taking_a_whole_personal_data_jurisdiction_down_is_refused():
    found = problems(_both_eu_regions_down(expect={"min_slo_attainment_during": {"eu": 0.5}}))
    assert "every region of eu" in found["method[1]"] and "from 900 s to 1500 s" in found["method[1]"]
    assert "may not be failed over" in found["method[1]"]
    assert "cross-jurisdiction failover" in found["expect.min_slo_attainment_during.eu"]


def test_a_declared_transfer_allows_the_cross_jurisdiction_failover(tmp_path):
    doc = _both_eu_regions_down()
    assert "method[1]" in problems(doc)  # the dev stack declares no transfer
    stack = yaml.safe_load(Path(STACK).read_text())
    stack["config"]["meridian:topology"]["transfers"] = [
        {"from": "eu", "to": "us", "basis": "EU-US Data Privacy Framework adequacy decision"}]
    path = tmp_path / "Pulumi.transfer.yaml"
    path.write_text(yaml.safe_dump(stack))
    doc["topology"] = str(path)
    assert parse_experiment(doc).experiment.method[1].name == "de"


def test_target_capabilities_are_checked():
    doc = base(target="kube", blast_radius={"namespaces": ["serving"]}, topology=None,
               steady_state=[], method=[{"action": "spot_reclaim", "start_seconds": 0}],
               expect={"residency_violations": 0})
    found = problems(doc)
    assert "target kube cannot run action spot_reclaim" in found["method[0].action"]
    assert "cannot measure residency_violations" in found["expect.residency_violations"]
    found = problems(base(), target="aws")  # the same file checked for another target
    assert "needs exactly one of health_check_id" in found["method[0]"]
    assert "is required for probe slo_attainment on target aws" in found["steady_state[0].region"]


def test_unknown_region_zone_and_missing_topology():
    doc = base(topology="nowhere/Pulumi.x.yaml", method=[
        {"action": "az_outage", "region": "eu-west-1", "zone": "eu-west-1z", "start_seconds": 0}])
    found = problems(doc)
    assert "not found next to the experiment" in found["topology"]
    assert "eu-west-1z is not an availability zone of eu-west-1" in found["method[0].zone"]
    found = problems(base(blast_radius={"regions": ["eu-west-9"]}))
    assert "unknown region 'eu-west-9'" in found["blast_radius.regions[0]"]


def test_rollbacks_default_to_every_action_in_reverse_and_must_name_actions():
    doc = base(blast_radius={"regions": ["eu-west-1", "eu-central-1"]}, method=[
        {"action": "region_outage", "name": "a", "region": "eu-west-1", "start_seconds": 0},
        {"action": "latency_injection", "name": "b", "region": "eu-central-1", "added_ms": 50,
         "start_seconds": 10}])
    assert parse_experiment(doc).experiment.rollbacks == ("b", "a")
    doc["rollbacks"] = [{"revert": "c"}]
    assert "unknown method action 'c'" in problems(doc)["rollbacks[0].revert"]


def test_cli_exit_2_for_bad_yaml_missing_file_and_refusals(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\nmethod: [\n")
    assert main(["drill", "validate", str(bad)]) == 2
    assert "bad.yaml:" in capsys.readouterr().err
    assert main(["drill", "run", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    refused = tmp_path / "refused.yaml"
    refused.write_text(yaml.safe_dump(_both_eu_regions_down()))
    journal = tmp_path / "j.json"
    assert main(["drill", "run", str(refused), "--journal", str(journal)]) == 2
    err = capsys.readouterr().err
    assert "[residency] method[1]" in err and "Traceback" not in err
    assert not journal.exists()  # refused: nothing ran, nothing written


def test_flags_for_another_target_are_refused(tmp_path, capsys):
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(base()))
    assert main(["drill", "run", str(path), "--endpoint-url", "http://127.0.0.1:1"]) == 2
    assert "--endpoint-url: does not apply to target sim" in capsys.readouterr().err
    aws = ROOT / "chaos" / "examples" / "aws-eu-primary-outage.yaml"
    assert main(["drill", "run", str(aws), "--policy", "hpa", "--dry-run"]) == 2
    assert "--policy: does not apply to target aws" in capsys.readouterr().err


@pytest.mark.parametrize("path", DRILLS, ids=[p.stem for p in DRILLS])
def test_shipped_drills_validate(path):
    x = load_experiment(path).experiment
    assert x.target == "sim" and x.method and x.steady_state
    assert x.expect.residency_violations == 0


def test_list_prints_every_action_and_probe(capsys):
    assert main(["drill", "list"]) == 0
    out = capsys.readouterr().out
    for name in list(catalog.ACTIONS) + list(catalog.PROBES):
        assert f"  {name} " in out


@pytest.mark.parametrize("name", ["aws-eu-primary-outage", "kube-pod-kill"])
def test_real_target_templates_validate(name):
    x = load_experiment(ROOT / "chaos" / "examples" / f"{name}.yaml").experiment
    assert x.target in ("aws", "kube") and x.allow != type(x.allow)()


def test_unwritable_journal_path_is_refused_before_running(tmp_path, capsys):
    assert main(["drill", "run", str(DRILLS[0]), "--journal", str(tmp_path)]) == 2
    assert "cannot write the journal" in capsys.readouterr().err
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert main(["drill", "run", str(DRILLS[0]), "--journal", str(not_a_folder / "j.json")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    # a drill refused after the check (here: a missing trace) leaves no folder behind
    assert main(["drill", "run", str(DRILLS[0]), "--trace", str(tmp_path / "none.csv"),
                 "--journal", str(tmp_path / "new" / "j.json")]) == 2
    assert not (tmp_path / "new").exists()


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 5000), st.floats(allow_nan=True),
                     st.text(max_size=12), st.sampled_from(["eu-west-1", "eu", "region_outage", "slo_attainment"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["action", "probe", "region", "start_seconds", "duration_seconds", "tolerance", "min", "max",
         "jurisdiction", "revert", "phases", "regions", "name", "window_seconds"]), inner, max_size=4)),
    max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["blast_radius", "steady_state", "method", "rollbacks",
                                        "stop_conditions", "expect", "allow", "duration_seconds",
                                        "poll_seconds", "target", "title"]), _values, max_size=6))
def test_any_malformed_experiment_is_an_input_error_never_a_crash(changes):
    try:
        parse_experiment(base(**changes), source="fuzz.yaml")
    except InputError as err:
        assert err.problems and all(p.path for p in err.problems)


def test_non_finite_numbers_are_refused():
    found = problems(base(duration_seconds=float("nan"), poll_seconds=float("inf")))
    assert "finite" in found["duration_seconds"] and "finite" in found["poll_seconds"]


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe\x00title", "is not UTF-8 text"),
    (b"title: a\nblast_radius: {regions: [eu-west-1]}\nblast_radius: {jurisdictions: [eu, us, jp]}\n",
     "key 'blast_radius' appears twice"),
    (None, "cannot read experiment file"),  # a directory
])
def test_unreadable_or_ambiguous_files_exit_2_without_a_traceback(tmp_path, capsys, content, expected):
    path = tmp_path / "x.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    journal = tmp_path / "j.json"
    assert main(["drill", "run", str(path), "--journal", str(journal)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not journal.exists()


def test_names_and_counts_must_have_the_right_type():
    doc = base(expect={"residency_violations": 0.5})
    doc["method"][0]["name"] = {"a": 1}
    doc["steady_state"][0]["name"] = ["x"]
    found = problems(doc)
    assert "non-empty string" in found["method[0].name"]
    assert "non-empty string" in found["steady_state[0].name"]
    assert "whole number" in found["expect.residency_violations"]


def test_an_action_that_names_no_place_needs_every_region_in_the_blast_radius():
    blackout = [{"action": "metrics_blackout", "start_seconds": 60, "duration_seconds": 60}]
    found = problems(base(method=blackout))  # radius: eu-west-1 only
    assert "us-east-1" in found["method[0].action"] and "outside the blast radius" in found["method[0].action"]
    assert parse_experiment(base(method=blackout, blast_radius={"jurisdictions": ["eu", "us", "jp"]}))


def test_aws_region_outage_needs_exactly_one_failover_switch():
    def aws(**params):
        action = {"action": "region_outage", "region": "eu-west-1", "start_seconds": 60, **params}
        return base(target="aws", topology=None, steady_state=[], method=[action])

    assert "exactly one of health_check_id" in problems(aws())["method[0]"]
    both = problems(aws(health_check_id="hc", routing_control_arn="arn:rc"))
    assert "exactly one" in both["method[0]"] and "is required" in both["method[0].cluster_endpoints"]
    empty = problems(aws(routing_control_arn="arn:rc", cluster_endpoints=[]))
    assert "at least one endpoint" in empty["method[0].cluster_endpoints"]
    bad = problems(aws(routing_control_arn="arn:rc", cluster_endpoints=[
        {"url": "https://h1/v1", "region": "us-west-9"}, {"url": "h2", "region": "us-west-2"}, "x"]))
    assert "unknown region 'us-west-9'" in bad["method[0].cluster_endpoints[0].region"]
    assert "not a URL" in bad["method[0].cluster_endpoints[1].url"]
    assert "{url, region}" in bad["method[0].cluster_endpoints[2]"]
    ok = parse_experiment(aws(routing_control_arn="arn:rc", cluster_endpoints=[
        {"url": "https://h1.route53-recovery-cluster.us-west-2.amazonaws.com/v1", "region": "us-west-2"}]))
    assert ok.experiment.method[0].params["routing_control_arn"] == "arn:rc"


def test_a_real_target_rto_that_no_poll_could_observe_is_refused():
    doc = base(target="aws", topology=None, steady_state=[], poll_seconds=700, expect={"rto_seconds": 300},
               method=[{"action": "region_outage", "region": "eu-west-1", "health_check_id": "hc",
                        "start_seconds": 600, "duration_seconds": 600}])
    assert "no poll of 700 s falls inside" in problems(doc)["poll_seconds"]
    doc["poll_seconds"] = 60
    assert parse_experiment(doc).experiment.poll_seconds == 60


def _rollout(**fields) -> dict:
    action = {"action": "model_rollout", "name": "big", "region": "eu-west-1", "start_seconds": 300, **fields}
    return base(method=[action])


def test_a_model_rollout_names_a_new_model_and_every_field_is_checked():
    ok = parse_experiment(_rollout(batch_slots=16, decode_speed_factor=0.6667)).experiment
    assert ok.method[0].params == {"region": "eu-west-1", "batch_slots": 16, "decode_speed_factor": 0.6667}
    assert ok.rollbacks == ("big",)  # listed like any action; the sim target says it stays
    parse_experiment(_rollout(instance_type="g6.xlarge"))
    parse_experiment(_rollout(instance_type="g6.xlarge", batch_slots=24, prefill_speed_factor=1.2))

    found = problems(_rollout(instance_type="g5.2xlarg", batch_slots=16.5, decode_speed_factor="slow",
                              prefill_speed_factor=0, duration_seconds=600))
    assert "unknown instance type (no profile in sim/data/gpu_profiles.json) 'g5.2xlarg'" in \
        found["method[0].instance_type"] and "did you mean 'g5.2xlarge'?" in found["method[0].instance_type"]
    assert "must be an integer, got 16.5" in found["method[0].batch_slots"]
    assert "must be a number, got 'slow'" in found["method[0].decode_speed_factor"]
    assert "must be at least 0.01, got 0" in found["method[0].prefill_speed_factor"]
    assert "a rollout has no duration" in found["method[0].duration_seconds"] and \
        "add a second model_rollout" in found["method[0].duration_seconds"]
    assert len(found) == 5
    assert "must be at least 1, got 0" in problems(_rollout(batch_slots=0))["method[0].batch_slots"]
    assert "names no new model" in problems(_rollout())["method[0]"]
    assert "is required for action model_rollout" in problems(base(method=[
        {"action": "model_rollout", "batch_slots": 16, "start_seconds": 300}]))["method[0].region"]
    assert "outside the blast radius" in problems(base(method=[
        {"action": "model_rollout", "region": "us-east-1", "batch_slots": 16, "start_seconds": 300}]))["method[0].region"]


def test_a_model_rollout_to_an_instance_type_the_region_does_not_offer_is_refused(monkeypatch):
    from sim import profiles

    real = profiles.load_profiles()
    monkeypatch.setattr(profiles, "load_profiles", lambda: {**real, "p5.48xlarge": real["g5.2xlarge"]})
    doc = base(blast_radius={"jurisdictions": ["jp"]}, method=[
        {"action": "model_rollout", "region": "ap-northeast-3", "instance_type": "p5.48xlarge", "start_seconds": 300}])
    assert "ap-northeast-3 does not offer p5.48xlarge" in problems(doc)["method[0].instance_type"]
    doc["method"][0]["region"] = "ap-northeast-1"
    parse_experiment(doc)


@pytest.mark.parametrize("target", ["aws", "kube"])
def test_real_targets_refuse_a_model_rollout(target):
    doc = _rollout(batch_slots=16, topology=None, steady_state=[], blast_radius={
        "regions": ["eu-west-1"], "namespaces": ["serving"]})
    found = problems(doc, target=target)
    assert f"target {target} cannot run action model_rollout" in found["method[0].action"]
    assert "model_rollout" not in found["method[0].action"].split("|")[1]  # the fix lists what it can run
