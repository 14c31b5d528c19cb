"""Inputs checked against the installed SDKs' argument types (pulumi-aws 7, pulumi-kubernetes 4).

The mock runtime accepts any nested dict, so these are what stands between a typo inside
`vpc_config` and a `pulumi preview` that fails at the provider. The example stacks' plans are
checked through `check()` in test_infra_plan; here each kind of mistake must be caught.
"""
from __future__ import annotations

import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from infra.offline.plan import SDK_ARGUMENTS, check
from infra.offline.runner import UNKNOWN, PlannedResource
from infra.offline.sdk_args import args_class, problems

CLUSTER = "aws:eks/cluster:Cluster"
GOOD_CLUSTER = {"name": "c", "roleArn": "arn:aws:iam::1:role/r", "version": "1.33",
                "vpcConfig": {"subnetIds": ["subnet-1"], "endpointPrivateAccess": True},
                "encryptionConfig": {"provider": {"keyArn": "arn:aws:kms::1:key/k"}, "resources": ["secrets"]}}


@pytest.mark.parametrize("token, expected", [
    (CLUSTER, aws.eks.ClusterArgs),
    ("aws:s3/bucketVersioning:BucketVersioning", aws.s3.BucketVersioningInitArgs),  # not the nested type
    ("pulumi:providers:aws", aws.ProviderArgs),
    ("kubernetes:apps/v1:Deployment", k8s.apps.v1.DeploymentInitArgs),  # not the nested DeploymentArgs
    ("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
     k8s.apiextensions.v1.CustomResourceDefinitionInitArgs),
    ("kubernetes:helm.sh/v3:Release", k8s.helm.v3.ReleaseArgs),
    ("meridian:index:RegionalCluster", None),
])
def test_type_tokens_map_to_the_resources_own_args_class(token, expected):
    assert args_class(token) is expected


def test_a_correct_resource_has_no_problems_and_unknowns_are_not_judged():
    assert problems(CLUSTER, GOOD_CLUSTER) == []
    assert problems(CLUSTER, {**GOOD_CLUSTER, "roleArn": UNKNOWN}) == []


@pytest.mark.parametrize("change, words", [
    ({"vpcConfig": {"subnet_ids": ["subnet-1"]}}, ["vpcConfig.subnet_ids: not an argument of ClusterVpcConfigArgs",
                                                   "vpcConfig.subnetIds: required by ClusterVpcConfigArgs"]),
    ({"vpcConfig": {"subnetIds": "subnet-1"}}, ["vpcConfig.subnetIds: expected a list"]),
    ({"encryptionConfig": [{"resources": ["secrets"]}]}, ["encryptionConfig: expected an object"]),
    ({"version": 1.33}, ["version: expected str"]),
    ({"enabledClusterLogTypes": "api"}, ["enabledClusterLogTypes: expected a list"]),
    ({"roleArn": None}, ["roleArn: required by ClusterArgs"]),
    ({"nodeCount": 3}, ["nodeCount: not an argument of ClusterArgs"]),
])
def test_misspelt_keys_wrong_shapes_and_missing_required_arguments_are_reported(change, words):
    inputs = {k: v for k, v in {**GOOD_CLUSTER, **change}.items() if v is not None}
    found = problems(CLUSTER, inputs)
    assert len(found) == len(words) and all(w in f for w, f in zip(words, found)), found


def test_integers_must_be_whole_and_booleans_are_not_numbers():
    group = {"clusterName": "c", "nodeRoleArn": "r", "subnetIds": ["s"],
             "scalingConfig": {"minSize": 0.0, "desiredSize": 1.5, "maxSize": True}}
    found = problems("aws:eks/nodeGroup:NodeGroup", group)
    assert [f.split(":")[0] for f in found] == ["scalingConfig.desiredSize", "scalingConfig.maxSize"]


def test_crd_schemas_may_use_the_yaml_spelling_of_kubernetes_extensions():
    crd = {"metadata": {"name": "x.example.com"}, "spec": {
        "group": "example.com", "scope": "Namespaced", "names": {"kind": "X", "plural": "xs"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"a": {"type": "array", "x_kubernetes_list_type": "set", "x-kubernetes-bogus": 1}}}}}]}}
    found = problems("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", crd)
    assert len(found) == 1 and "x-kubernetes-bogus: not an argument" in found[0]


def test_the_plan_reports_sdk_problems_as_mandatory_violations():
    bad = PlannedResource(CLUSTER, "eks", "urn:eks", "eu-west-1", None, None, None, True,
                          {**GOOD_CLUSTER, "vpcConfig": {"subnetIDs": ["s"]}})
    component = PlannedResource("meridian:index:RegionalCluster", "rc", "urn:rc", "eu-west-1", None, None, None,
                                False, {"region": "eu-west-1"})
    found = [v for v in check([bad, component]) if v.policy == SDK_ARGUMENTS]
    assert {(v.resource, v.level) for v in found} == {("eks", "mandatory")}
    assert "vpcConfig.subnetIDs: not an argument" in found[0].message
