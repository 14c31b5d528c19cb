"""The policy pack as the Pulumi CLI uses it: `infra/policy/__main__.py` started as a process,
serving the Analyzer gRPC API on 127.0.0.1; we call it the way the engine does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from infra.policy.policies import POLICIES

PACK = Path(__file__).resolve().parent.parent / "infra" / "policy" / "__main__.py"


@pytest.fixture(scope="module")
def analyzer():
    proc = subprocess.Popen([sys.executable, str(PACK)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd="/")  # cwd: the pack must find the repository by itself
    try:
        port = proc.stdout.readline().strip()  # the plugin protocol: first line is the port
        assert port.isdigit(), proc.stderr.read()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _struct(value: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def _analyze(stub, tags: dict, region: str, typ: str = "aws:s3/bucket:Bucket", **props):
    request = analyzer_pb2.AnalyzeRequest(
        type=typ, name="b", urn=f"urn:pulumi:s::meridian::{typ}::b",
        properties=_struct({"bucket": "b", "tags": tags, **props}),
        provider=analyzer_pb2.AnalyzerProviderResource(type="pulumi:providers:aws", name="p", urn="urn:p",
                                                       properties=_struct({"region": region})))
    return stub.Analyze(request, timeout=30).diagnostics


def test_the_pack_serves_every_policy_with_its_enforcement_level(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "meridian-residency"
    served = {p.name: p.enforcementLevel for p in info.policies}
    assert set(served) == {p.name for p in POLICIES}
    assert served["bucket-tls-only"] == analyzer_pb2.ADVISORY
    assert {v for k, v in served.items() if k != "bucket-tls-only"} == {analyzer_pb2.MANDATORY}


def test_the_served_pack_rejects_a_personal_bucket_abroad_and_accepts_one_at_home(analyzer):
    tags = {"meridian.dev/jurisdiction": "eu", "meridian.dev/data-class": "personal"}
    abroad = _analyze(analyzer, tags, "us-east-1")
    assert [d.policyName for d in abroad] == ["personal-data-bucket-in-jurisdiction"]
    assert abroad[0].enforcementLevel == analyzer_pb2.MANDATORY and "us-east-1" in abroad[0].message
    assert list(_analyze(analyzer, tags, "eu-west-1")) == []


def test_a_key_arn_unknown_during_preview_does_not_stop_the_residency_check(analyzer):
    """The engine sends unknowns as a sentinel; a policy that reads one is skipped with an
    advisory "can't run during preview". The table policy must still judge the replicas."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

    tags = {"meridian.dev/jurisdiction": "us", "meridian.dev/data-class": "personal"}
    sse = {"enabled": True, "kmsKeyArn": UNKNOWN_STRING_VALUE}  # a new key: no ARN yet
    abroad = _analyze(analyzer, tags, "us-east-1", "aws:dynamodb/table:Table", serverSideEncryption=sse,
                      replicas=[{"regionName": "eu-west-1", "kmsKeyArn": UNKNOWN_STRING_VALUE}])
    assert [(d.policyName, d.enforcementLevel) for d in abroad] == \
        [("personal-data-table-in-jurisdiction", analyzer_pb2.MANDATORY)]
    assert "eu-west-1" in abroad[0].message
    home = _analyze(analyzer, tags, "us-east-1", "aws:dynamodb/table:Table", serverSideEncryption=sse,
                    replicas=[{"regionName": "us-west-2", "kmsKeyArn": UNKNOWN_STRING_VALUE}])
    assert list(home) == []
