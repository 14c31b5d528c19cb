"""CR spec parsing (defaults, every problem reported) and replica prices (node labels,
boto3 refresh against a real moto_server, failed refresh keeps the last table)."""
from __future__ import annotations

import json
import subprocess
import threading
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from controller.prices import PriceBook
from controller.prom_process import free_port
from controller.spec import InvalidSpec, parse
from regions.catalog import load_catalog
from tests.test_controller_helpers import scaler


def test_defaults_are_applied_like_the_api_server():
    s = parse(scaler())
    assert s.objective.percentile == 95 and s.objective.ttft_s == 0.8 and s.objective.e2e_s is None
    assert s.limits.min_replicas == 1 and s.limits.scale_down_delay_s == 300 and s.limits.spot_share == 0
    assert s.metrics.preset == "vllm" and s.metrics.window == "2m" and s.metrics.stale_after_s == 120


def test_full_spec_maps_to_law_types():
    s = parse(scaler(min_=2, max_=20, coldStartSeconds=180, cost={"spotShare": 0.5, "budgetPerHour": 60},
                     behavior={"maxScaleUpStep": 4, "maxScaleDownStep": 1, "scaleDownDelaySeconds": 600},
                     objective={"percentile": 99, "e2eMs": 20000}))
    assert (s.limits.min_replicas, s.limits.max_replicas, s.limits.max_step_up, s.limits.max_step_down) == (2, 20, 4, 1)
    assert s.limits.budget_per_hour == 60 and s.limits.spot_share == 0.5 and s.limits.cold_start_s == 180
    assert s.objective.e2e_s == 20.0 and s.objective.ttft_s is None and s.objective.percentile == 99


def test_every_problem_is_reported_with_its_path():
    bad = scaler(min_=0)
    bad["spec"]["metrics"] = {"preset": "triton", "window": "soon"}
    bad["spec"]["objective"] = {"percentile": 10}
    with pytest.raises(InvalidSpec) as err:
        parse(bad)
    paths = {p.path for p in err.value.problems}
    assert {"spec.replicas.min", "spec.metrics.preset", "spec.metrics.window", "spec.objective",
            "spec.objective.percentile"} <= paths


def test_generic_preset_needs_a_histogram():
    with pytest.raises(InvalidSpec) as err:
        parse(scaler(metrics={"preset": "generic"}))
    assert err.value.problems[0].path == "spec.metrics.histogram"


def test_spot_deployment_is_optional_and_parsed():
    assert parse(scaler()).spot_target is None
    s = parse(scaler(targetRef={"name": "llama-vllm", "spotName": "llama-vllm-spot"}, cost={"spotShare": 0.5}))
    assert s.target == "llama-vllm" and s.spot_target == "llama-vllm-spot"


@pytest.mark.parametrize("target_ref, cost, path, fix", [
    ({"name": "llama-vllm", "spotName": "llama-vllm"}, {"spotShare": 0.5}, "spec.targetRef.spotName",
     "name the second Deployment"),
    ({"name": "llama-vllm", "spotName": "llama-vllm-spot"}, {}, "spec.cost.spotShare", "set cost.spotShare above 0"),
    ({"name": "llama-vllm", "spotName": ""}, {"spotShare": 0.5}, "spec.targetRef.spotName", "kubectl explain"),
])
def test_bad_spot_deployment_names_the_field_and_the_fix(target_ref, cost, path, fix):
    with pytest.raises(InvalidSpec) as err:
        parse(scaler(targetRef=target_ref, cost=cost))
    [problem] = err.value.problems
    assert problem.path == path and fix in problem.fix


def test_missing_spec():
    with pytest.raises(InvalidSpec):
        parse({"metadata": {"name": "x", "namespace": "y"}})


# -- prices ----------------------------------------------------------------------------------
NODE = {"node.kubernetes.io/instance-type": "g5.2xlarge", "topology.kubernetes.io/region": "us-east-1"}


def test_replica_price_comes_from_the_catalog_by_node_labels():
    cat = load_catalog()
    offer = cat.region("us-east-1").offer("g5.2xlarge")
    book = PriceBook(cat)
    p = book.for_replicas([dict(NODE, **{"karpenter.sh/capacity-type": "spot"}),
                           dict(NODE, **{"eks.amazonaws.com/capacityType": "ON_DEMAND"})])
    assert p.known and p.spot_replicas == 1
    assert p.on_demand_per_hour == offer.on_demand_usd_per_hour and p.spot_per_hour == offer.spot_usd_per_hour


def test_unknown_nodes_fall_back_and_say_so():
    p = PriceBook().for_replicas([{"node.kubernetes.io/instance-type": "m9.nonexistent"}])
    assert not p.known and p.on_demand_per_hour > 0


@pytest.fixture(scope="module")
def moto():
    port = free_port()
    # the moto_server next to this interpreter (a venv's bin is not always on PATH)
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe) if exe.exists() else "moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    yield url
    proc.terminate()  # our own child, by pid
    proc.wait(10)


def _session():
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name="us-east-1")


def test_spot_refresh_from_ec2_price_history(moto, monkeypatch):
    # moto serves EC2 spot price history but has no Pricing API: on-demand keeps the catalog's figure.
    book = PriceBook()
    before = book.price("us-east-1", "g5.2xlarge")
    history = _session().client("ec2", endpoint_url=moto).describe_spot_price_history(
        InstanceTypes=["g5.2xlarge"], ProductDescriptions=["Linux/UNIX"])["SpotPriceHistory"]
    monkeypatch.setattr(PriceBook, "_on_demand_prices", staticmethod(lambda *a, **k: {}))
    assert book.refresh_from_aws("us-east-1", ["g5.2xlarge"], session=_session(), endpoint_url=moto)
    after = book.price("us-east-1", "g5.2xlarge")
    assert after[0] == before[0]
    assert history  # moto answers one row per zone (with a placeholder price)
    expected = sum(float(h["SpotPrice"]) for h in history) / len(history)
    assert after[1] == pytest.approx(expected) and after[1] != before[1]


def test_failed_refresh_keeps_the_last_known_table(moto):
    book = PriceBook()
    before = book.price("us-east-1", "g5.2xlarge")
    dead = f"http://127.0.0.1:{free_port()}"
    assert not book.refresh_from_aws("us-east-1", ["g5.2xlarge"], session=_session(), endpoint_url=dead,
                                     deadline_s=1.0)
    assert book.price("us-east-1", "g5.2xlarge") == before
    # the pricing call fails at moto (no Pricing API there): the spot figures fetched first are discarded too
    assert not book.refresh_from_aws("us-east-1", ["g5.2xlarge"], session=_session(), endpoint_url=moto,
                                     deadline_s=1.0)
    assert book.price("us-east-1", "g5.2xlarge") == before


class _PricingStandIn(BaseHTTPRequestHandler):
    """Stands in for the AWS Price List Query API (JSON 1.1, `AWSPriceListService.GetProducts`),
    which moto does not serve. Each PriceList entry is a JSON string with the offer-file shape:
    product attributes and terms.OnDemand.<offer>.priceDimensions.<rate>.pricePerUnit.USD."""

    usd = "1.2345"
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.headers.get("X-Amz-Target"), body))
        filters = {f["Field"]: f["Value"] for f in body["Filters"]}
        item = {"product": {"attributes": {"instanceType": filters["instanceType"],
                                           "regionCode": filters["regionCode"]}},
                "terms": {"OnDemand": {"SKU.JRTCKXETXF": {"priceDimensions": {
                    "SKU.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": self.usd}}}}}}}
        out = json.dumps({"FormatVersion": "aws_v1", "PriceList": [json.dumps(item)]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


def test_full_refresh_updates_on_demand_and_spot(moto):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PricingStandIn)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        book = PriceBook()
        assert book.refresh_from_aws("eu-west-1", ["g5.2xlarge"], session=_session(), endpoint_url=moto,
                                     pricing_endpoint_url=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    target, body = _PricingStandIn.seen[-1]
    assert target == "AWSPriceListService.GetProducts" and body["ServiceCode"] == "AmazonEC2"
    assert {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"} in body["Filters"]
    assert book.price("eu-west-1", "g5.2xlarge")[0] == 1.2345
