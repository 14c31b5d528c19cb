"""The aws target against a real `moto_server` on 127.0.0.1, started and stopped here.

moto stores configuration and performs no failover, replication or spot interruption:
these tests assert the state changes a drill makes (health check inverted, node group
at zero, FIS experiment started) and their rollback, through describe calls.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
import yaml

from controller.prom_process import free_port
from meridian.cli import main

ACCOUNT = "123456789012"  # moto's default account


@pytest.fixture(scope="module")
def moto_url():
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("moto_server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def aws(moto_url, monkeypatch):
    """Clients on moto; the environment's default region is a decoy the target must ignore."""
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "ap-south-1", "AWS_REGION": "ap-south-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MERIDIAN_DRILL_ALLOWED_ACCOUNTS", raising=False)
    monkeypatch.delenv("MERIDIAN_DRILL_ALLOWED_REGIONS", raising=False)
    urllib.request.urlopen(urllib.request.Request(moto_url + "/moto-api/reset", method="POST"))
    session = boto3.session.Session()
    return lambda service, region: session.client(service, region_name=region, endpoint_url=moto_url)


def _health_check(aws, protected: bool = False) -> str:
    r53 = aws("route53", "us-east-1")
    hc = r53.create_health_check(CallerReference=str(time.time()), HealthCheckConfig={
        "Type": "HTTPS", "FullyQualifiedDomainName": "eu-west-1.infer.example.com", "Port": 443,
        "ResourcePath": "/healthz"})["HealthCheck"]["Id"]
    if protected:
        r53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=hc,
                                     AddTags=[{"Key": "meridian.dev/protected", "Value": "true"}])
    return hc


def _inverted(aws, hc: str) -> bool:
    cfg = aws("route53", "us-east-1").get_health_check(HealthCheckId=hc)["HealthCheck"]["HealthCheckConfig"]
    return bool(cfg.get("Inverted"))


def _experiment(tmp_path: Path, method: list, steady: list, **extra) -> Path:
    doc = {"title": "aws drill", "target": "aws", "duration_seconds": 1.2, "poll_seconds": 0.3,
           "blast_radius": {"regions": ["eu-west-1"]},
           "allow": {"accounts": [ACCOUNT], "regions": ["eu-west-1", "us-east-1"]},
           "steady_state": steady, "method": method, **extra}
    path = tmp_path / "drill.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _run(path: Path, moto_url: str, *flags: str) -> tuple[int, dict | None]:
    journal = path.with_suffix(".journal.json")
    code = main(["drill", "run", str(path), "--endpoint-url", moto_url, "--journal", str(journal), *flags])
    return code, json.loads(journal.read_text()) if journal.exists() else None


def _outage(hc: str) -> tuple[list, list]:
    method = [{"action": "region_outage", "name": "ireland", "region": "eu-west-1",
               "health_check_id": hc, "start_seconds": 0.1}]
    steady = [{"probe": "health_check_status", "name": "healthy", "region": "eu-west-1",
               "health_check_id": hc, "tolerance": {"min": 1}, "phases": ["before", "after"]},
              {"probe": "health_check_status", "name": "failed-over", "region": "eu-west-1",
               "health_check_id": hc, "tolerance": {"max": 0}, "phases": ["during"]}]
    return method, steady


def test_region_outage_inverts_the_health_check_and_rolls_back(aws, moto_url, tmp_path):
    """moto records the Inverted flag (no DNS failover happens): asserted via get_health_check."""
    hc = _health_check(aws)
    path = _experiment(tmp_path, *_outage(hc))
    code, journal = _run(path, moto_url, "--yes")
    assert code == 0, journal
    assert journal["status"] == "passed"
    assert journal["steady_state"]["during"]["probes"][0]["value"] == 0.0  # inverted while active
    action = next(e for e in journal["timeline"] if e["kind"] == "action")
    assert action["output"]["inverted"] is True
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert _inverted(aws, hc) is False  # restored, read back from Route 53


def test_rollback_strategy_never_leaves_the_fault_in_place(aws, moto_url, tmp_path):
    hc = _health_check(aws)
    path = _experiment(tmp_path, *_outage(hc))
    code, journal = _run(path, moto_url, "--yes", "--rollback-strategy", "never")
    assert code == 1  # the 'after' hypothesis (healthy) cannot hold with the fault left in place
    assert _inverted(aws, hc) is True
    assert journal["rollbacks"] == []


def test_az_outage_scales_the_node_group_to_zero_and_restores_it(aws, moto_url, tmp_path):
    """moto stores the scaling config (no nodes exist): asserted via describe_nodegroup."""
    eks = aws("eks", "eu-west-1")
    eks.create_cluster(name="meridian-eu", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                       resourcesVpcConfig={"subnetIds": []})
    eks.create_nodegroup(clusterName="meridian-eu", nodegroupName="gpu-a", nodeRole=f"arn:aws:iam::{ACCOUNT}:role/n",
                         subnets=["subnet-1"], scalingConfig={"minSize": 2, "maxSize": 5, "desiredSize": 3})
    params = {"region": "eu-west-1", "cluster": "meridian-eu", "nodegroup": "gpu-a"}
    method = [{"action": "az_outage", "name": "zone-a", "start_seconds": 0.1, **params}]
    steady = [{"probe": "replicas", "name": "nodes", "tolerance": {"min": 3}, "phases": ["before", "after"], **params},
              {"probe": "replicas", "name": "nodes-gone", "tolerance": {"max": 0}, "phases": ["during"], **params}]
    path = _experiment(tmp_path, method, steady)

    code, journal = _run(path, moto_url, "--yes", "--rollback-strategy", "never")
    sc = eks.describe_nodegroup(clusterName="meridian-eu", nodegroupName="gpu-a")["nodegroup"]["scalingConfig"]
    assert (sc["minSize"], sc["desiredSize"]) == (0, 0)

    eks.update_nodegroup_config(clusterName="meridian-eu", nodegroupName="gpu-a",
                                scalingConfig={"minSize": 2, "maxSize": 5, "desiredSize": 3})
    code, journal = _run(path, moto_url, "--yes")
    assert code == 0, journal
    sc = eks.describe_nodegroup(clusterName="meridian-eu", nodegroupName="gpu-a")["nodegroup"]["scalingConfig"]
    assert (sc["minSize"], sc["maxSize"], sc["desiredSize"]) == (2, 5, 3)


def test_spot_reclaim_starts_an_fis_experiment_without_protected_instances(aws, moto_url, tmp_path):
    """moto stores the FIS template and experiment (nothing is interrupted): asserted via FIS reads."""
    ec2 = aws("ec2", "eu-west-1")
    reqs = ec2.request_spot_instances(InstanceCount=3, LaunchSpecification={
        "ImageId": "ami-12c6146b", "InstanceType": "g5.2xlarge"})["SpotInstanceRequests"]
    ids = [r["InstanceId"] for r in ec2.describe_spot_instance_requests(
        SpotInstanceRequestIds=[r["SpotInstanceRequestId"] for r in reqs])["SpotInstanceRequests"]]
    ec2.create_tags(Resources=ids, Tags=[{"Key": "meridian.dev/workload", "Value": "chat"}])
    ec2.create_tags(Resources=ids[:1], Tags=[{"Key": "meridian.dev/protected", "Value": "true"}])
    method = [{"action": "spot_reclaim", "name": "wave", "region": "eu-west-1", "fraction": 0.5,
               "role_arn": f"arn:aws:iam::{ACCOUNT}:role/fis", "start_seconds": 0.1,
               "instance_tags": {"meridian.dev/workload": "chat"}}]
    path = _experiment(tmp_path, method, [])
    fis = aws("fis", "eu-west-1")

    code, journal = _run(path, moto_url, "--yes", "--rollback-strategy", "never")
    assert code == 0, journal
    (tmpl,) = fis.list_experiment_templates()["experimentTemplates"]
    full = fis.get_experiment_template(id=tmpl["id"])["experimentTemplate"]
    assert full["actions"]["reclaim"]["actionId"] == "aws:ec2:send-spot-instance-interruptions"
    targets = full["targets"]["spot"]
    assert targets["selectionMode"] == "PERCENT(50)"
    assert sorted(a.rsplit("/", 1)[1] for a in targets["resourceArns"]) == sorted(ids[1:])
    (exp,) = fis.list_experiments()["experiments"]
    assert exp["state"]["status"] not in ("stopped", "stopping")

    code, journal = _run(path, moto_url, "--yes")
    assert code == 0, journal
    assert journal["rollbacks"][0]["output"]["stopped"] is True
    statuses = {e["id"]: e["state"]["status"] for e in fis.list_experiments()["experiments"]}
    second = journal["rollbacks"][0]["output"]["experiment_id"]
    assert statuses[second] in ("stopping", "stopped")
    remaining = {t["id"] for t in fis.list_experiment_templates()["experimentTemplates"]}
    assert remaining == {tmpl["id"]}  # the second drill's template was deleted; the first was left


def test_protected_health_check_is_refused_and_untouched(aws, moto_url, tmp_path, capsys):
    hc = _health_check(aws, protected=True)
    code, journal = _run(_experiment(tmp_path, *_outage(hc)), moto_url, "--yes")
    assert code == 2 and journal is None
    assert "meridian.dev/protected" in capsys.readouterr().err
    assert _inverted(aws, hc) is False


def test_refused_without_yes_allow_list_or_allowed_account(aws, moto_url, tmp_path, capsys, monkeypatch):
    hc = _health_check(aws)
    method, steady = _outage(hc)
    path = _experiment(tmp_path, method, steady)
    assert _run(path, moto_url)[0] == 2
    assert "--yes" in capsys.readouterr().err

    path = _experiment(tmp_path, method, steady, allow={"accounts": [ACCOUNT], "regions": ["us-east-1"]})
    assert _run(path, moto_url, "--yes")[0] == 2
    assert "region eu-west-1 is not allow-listed" in capsys.readouterr().err
    monkeypatch.setenv("MERIDIAN_DRILL_ALLOWED_REGIONS", "eu-west-1")  # the environment may allow it
    assert _run(path, moto_url, "--yes")[0] == 0

    path = _experiment(tmp_path, method, steady, allow={"accounts": ["999999999999"],
                                                         "regions": ["eu-west-1", "us-east-1"]})
    assert _run(path, moto_url, "--yes")[0] == 2
    assert f"account {ACCOUNT} is not in" in capsys.readouterr().err
    assert _inverted(aws, hc) is False


@pytest.mark.parametrize("url", ["notaurl", "127.0.0.1:5000", "http://"])
def test_an_endpoint_url_that_is_not_one_is_refused_before_the_drill(aws, tmp_path, capsys, url):
    hc = _health_check(aws)
    path = _experiment(tmp_path, *_outage(hc))
    code, journal = _run(path, url, "--yes")
    err = capsys.readouterr().err
    assert code == 2 and journal is None and "--endpoint-url" in err and "Traceback" not in err
    assert _inverted(aws, hc) is False


def test_dry_run_prints_every_call_and_changes_nothing(aws, moto_url, tmp_path, capsys):
    hc = _health_check(aws)
    code, journal = _run(_experiment(tmp_path, *_outage(hc)), moto_url, "--dry-run")
    err = capsys.readouterr().err
    assert code == 0 and journal is None
    assert f"aws route53 update_health_check(HealthCheckId='{hc}', Inverted=True)  [region us-east-1]" in err
    assert "aws sts get_caller_identity()  [region eu-west-1]" in err
    assert _inverted(aws, hc) is False


@pytest.mark.parametrize("strategy", ["always", "never"])
def test_dry_run_prints_the_preflight_reads_and_the_rollback_of_an_unlisted_fault(
        aws, moto_url, tmp_path, capsys, strategy):
    hc = _health_check(aws)
    method, steady = _outage(hc)  # open-ended: only the end-of-drill rollback undoes it
    code, journal = _run(_experiment(tmp_path, method, steady, rollbacks=[]), moto_url, "--dry-run",
                         "--rollback-strategy", strategy)
    err = capsys.readouterr().err
    assert code == 0 and journal is None
    preflight = err.index(f"list_tags_for_resource(ResourceType='healthcheck', ResourceId='{hc}')")
    assert preflight < err.index("inject ireland")  # the protected-tag check comes first
    restore = f"aws route53 update_health_check(HealthCheckId='{hc}', Inverted=False)"
    assert (restore in err) is (strategy == "always")
    assert ("left in place: ireland" in err) is (strategy == "never")
    assert _inverted(aws, hc) is False


def test_error_rate_stop_condition_aborts_and_rolls_back(aws, moto_url, tmp_path):
    hc = _health_check(aws)
    cw = aws("cloudwatch", "eu-west-1")
    cw.put_metric_data(Namespace="Edge", MetricData=[
        {"MetricName": "Errors", "Value": 40.0, "Unit": "Count"},
        {"MetricName": "Requests", "Value": 100.0, "Unit": "Count"}])
    method, steady = _outage(hc)
    stop = [{"probe": "error_rate", "name": "errors", "region": "eu-west-1", "namespace": "Edge",
             "errors_metric": "Errors", "requests_metric": "Requests", "window_seconds": 600,
             "tolerance": {"max": 0.1}}]
    code, journal = _run(_experiment(tmp_path, method, steady, stop_conditions=stop), moto_url, "--yes")
    assert code == 1
    assert journal["status"] == "aborted"
    breach = next(e for e in journal["timeline"] if e["kind"] == "stop-condition")
    assert breach["output"]["value"] == pytest.approx(0.4)
    assert journal["rollbacks"][0]["status"] == "succeeded"
    assert _inverted(aws, hc) is False


def test_protected_resource_is_refused_before_any_fault(aws, moto_url, tmp_path):
    """Two faults, the second on a protected node group: the first must not even start."""
    hc = _health_check(aws)
    eks = aws("eks", "eu-west-1")
    eks.create_cluster(name="meridian-eu", roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                       resourcesVpcConfig={"subnetIds": []})
    eks.create_nodegroup(clusterName="meridian-eu", nodegroupName="system", nodeRole=f"arn:aws:iam::{ACCOUNT}:role/n",
                         subnets=["subnet-1"], scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
                         tags={"meridian.dev/protected": "true"})
    method, steady = _outage(hc)
    method.append({"action": "az_outage", "name": "zone", "region": "eu-west-1", "cluster": "meridian-eu",
                   "nodegroup": "system", "start_seconds": 0.5})
    code, journal = _run(_experiment(tmp_path, method, steady), moto_url, "--yes")
    assert code == 2 and journal is None
    assert _inverted(aws, hc) is False
    sc = eks.describe_nodegroup(clusterName="meridian-eu", nodegroupName="system")["nodegroup"]["scalingConfig"]
    assert sc["desiredSize"] == 2


def test_cloudwatch_probes_read_metrics_with_an_explicit_region(aws, moto_url):
    """SLO attainment comes from the Meridian/SLOAttainment metric in the probe's region only."""
    from chaos.model import AllowList, Probe, Tolerance
    from chaos.targets.aws import AwsTarget

    aws("cloudwatch", "eu-central-1").put_metric_data(Namespace="Meridian", MetricData=[
        {"MetricName": "SLOAttainment", "Dimensions": [{"Name": "Jurisdiction", "Value": "eu"}], "Value": v}
        for v in (0.9, 1.0)])
    target = AwsTarget(allowed=AllowList((ACCOUNT,), ("eu-central-1",)), endpoint_url=moto_url)
    probe = Probe("eu", "slo_attainment", {"region": "eu-central-1", "jurisdiction": "eu"}, Tolerance(min=0.9))
    assert target.probe(probe) == pytest.approx(0.95)
    elsewhere = Probe("eu", "slo_attainment", {"region": "eu-west-1", "jurisdiction": "eu"}, Tolerance(min=0.9))
    assert target.probe(elsewhere) is None  # no data there: never read as healthy


class _FailingCall:
    """Wraps a real moto client; the first `operation` raises, after really being made when
    `applied` (a response lost after AWS applied the change). Everything else goes to moto."""

    failed: set = set()  # operations that have failed once (reset per test by _fail)

    def __init__(self, client, operation: str, applied: bool):
        self._client, self._operation, self._applied = client, operation, applied

    def __getattr__(self, name):
        real = getattr(self._client, name)
        if name != self._operation or name in _FailingCall.failed:
            return real

        def call(**kwargs):
            _FailingCall.failed.add(name)
            if self._applied:
                real(**kwargs)
            raise ConnectionError(f"{name}: connection reset")
        return call


def _fail(monkeypatch, service: str, operation: str, applied: bool) -> None:
    from chaos.targets.aws import AwsTarget

    original = AwsTarget.client
    _FailingCall.failed = set()

    def client(self, svc, region):
        c = original(self, svc, region)
        return _FailingCall(c, operation, applied) if svc == service else c
    monkeypatch.setattr(AwsTarget, "client", client)


def test_a_change_applied_before_the_call_failed_is_still_rolled_back(aws, moto_url, tmp_path, monkeypatch):
    hc = _health_check(aws)
    _fail(monkeypatch, "route53", "update_health_check", applied=True)
    code, journal = _run(_experiment(tmp_path, *_outage(hc)), moto_url, "--yes")
    assert code == 1 and journal["status"] == "failed" and "connection reset" in journal["timeline"][-1]["output"]
    assert [(r["name"], r["status"]) for r in journal["rollbacks"]] == [("ireland", "succeeded")]
    assert _inverted(aws, hc) is False  # the inversion AWS applied was undone


def test_a_failed_fis_start_deletes_the_template(aws, moto_url, tmp_path, monkeypatch):
    ec2 = aws("ec2", "eu-west-1")
    ec2.request_spot_instances(InstanceCount=1, LaunchSpecification={
        "ImageId": "ami-12c6146b", "InstanceType": "g5.2xlarge"})
    method = [{"action": "spot_reclaim", "name": "wave", "region": "eu-west-1", "fraction": 1.0,
               "role_arn": f"arn:aws:iam::{ACCOUNT}:role/fis", "start_seconds": 0.1, "instance_tags": {}}]
    _fail(monkeypatch, "fis", "start_experiment", applied=False)
    code, journal = _run(_experiment(tmp_path, method, []), moto_url, "--yes")
    assert code == 1 and journal["status"] == "failed" and "connection reset" in journal["timeline"][-1]["output"]
    assert journal["rollbacks"][0]["status"] == "succeeded"
    assert journal["rollbacks"][0]["output"]["template_deleted"] is True
    assert aws("fis", "eu-west-1").list_experiment_templates()["experimentTemplates"] == []


# --- Route 53 ARC routing controls ---------------------------------------------------------
# moto has no Route 53 ARC, so a local stand-in speaks the three wire formats involved, as
# botocore's service models define them: STS GetCallerIdentity (query/XML), the ARC
# control-config reads (REST-JSON) and the cluster's routing-control API (JSON 1.0).

ARC_PANEL = f"arn:aws:route53-recovery-control::{ACCOUNT}:controlpanel/p1"
ARC_CONTROL = ARC_PANEL + "/routingcontrol/eu-west-1-cell"


class _ArcStandIn:
    def __init__(self, panel_tags: dict | None = None, conflict: bool = False):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import unquote

        self.state, self.panel_tags, self.conflict = "On", panel_tags or {}, conflict
        self.updates: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a):
                pass

            def _reply(self, status: int, body: str, ctype: str = "application/x-amz-json-1.0"):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = unquote(self.path)
                if path.startswith("/routingcontrol/") and path.endswith(ARC_CONTROL):
                    self._reply(200, json.dumps({"RoutingControl": {
                        "ControlPanelArn": ARC_PANEL, "RoutingControlArn": ARC_CONTROL,
                        "Name": "eu-west-1-cell", "Status": "DEPLOYED"}}), "application/json")
                elif path == f"/tags/{ARC_PANEL}":
                    self._reply(200, json.dumps({"Tags": stand_in.panel_tags}), "application/json")
                else:
                    self._reply(404, json.dumps({"message": path}), "application/json")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                op = self.headers.get("X-Amz-Target", "")
                if "Action=GetCallerIdentity" in body:
                    self._reply(200, "<GetCallerIdentityResponse><GetCallerIdentityResult>"
                                f"<Arn>arn:aws:iam::{ACCOUNT}:user/drill</Arn><UserId>AID</UserId>"
                                f"<Account>{ACCOUNT}</Account></GetCallerIdentityResult>"
                                "</GetCallerIdentityResponse>", "text/xml")
                elif op.endswith(".GetRoutingControlState"):
                    self._reply(200, json.dumps({"RoutingControlArn": ARC_CONTROL,
                                                 "RoutingControlState": stand_in.state}))
                elif op.endswith(".UpdateRoutingControlState"):
                    if stand_in.conflict:  # an ARC safety rule forbids it
                        self._reply(409, json.dumps({"__type": "ConflictException",
                                                     "message": "safety rule at-least-one-cell"}))
                        return
                    stand_in.state = json.loads(body)["RoutingControlState"]
                    stand_in.updates.append(stand_in.state)
                    self._reply(200, "{}")
                else:
                    self._reply(400, json.dumps({"__type": "UnknownOperation", "message": op}))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # close without waiting on idle keep-alive connections
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        import threading

        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def arc(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    stand_ins = []

    def make(**kw):
        stand_ins.append(_ArcStandIn(**kw))
        return stand_ins[-1]
    yield make
    for s in stand_ins:
        s.close()


def _arc_drill(tmp_path: Path, url: str) -> Path:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: the next endpoint must answer
    method = [{"action": "region_outage", "name": "ireland", "region": "eu-west-1",
               "routing_control_arn": ARC_CONTROL, "start_seconds": 0.1, "duration_seconds": 0.3,
               "cluster_endpoints": [{"url": dead, "region": "us-west-2"}, {"url": url, "region": "eu-west-1"}]}]
    return _experiment(tmp_path, method, [], duration_seconds=1)


def test_arc_routing_control_is_turned_off_and_restored_via_the_next_endpoint(arc, tmp_path):
    stand_in = arc()
    code, journal = _run(_arc_drill(tmp_path, stand_in.url), stand_in.url, "--yes")
    assert code == 0, journal
    assert stand_in.updates == ["Off", "On"] and stand_in.state == "On"
    action = next(e for e in journal["timeline"] if e["kind"] == "action")
    assert action["output"] == {"routing_control_arn": ARC_CONTROL, "state": "Off", "was": "On"}


def test_arc_protected_control_panel_is_refused_before_any_change(arc, tmp_path, capsys):
    stand_in = arc(panel_tags={"meridian.dev/protected": "true"})
    code, journal = _run(_arc_drill(tmp_path, stand_in.url), stand_in.url, "--yes")
    assert code == 2 and journal is None and stand_in.updates == []
    assert "ARC routing control" in capsys.readouterr().err


def test_arc_safety_rule_refusal_is_final_and_reported(arc, tmp_path):
    stand_in = arc(conflict=True)
    code, journal = _run(_arc_drill(tmp_path, stand_in.url), stand_in.url, "--yes")
    assert code == 1 and journal["status"] == "failed"
    assert "safety rule" in journal["timeline"][-1]["output"] and stand_in.state == "On"
