"""The whole estate from a validated topology: one AWS provider per region, a cluster and a
resident data store per region, data replication per jurisdiction, and the global edge."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi_aws as aws

from infra.components.cluster import RegionalCluster, RegionalClusterArgs
from infra.components.data_store import DataStoreArgs, ResidentDataStore
from infra.components.edge import EdgeArgs, GlobalEdge
from infra.components.replication import DataReplication, ReplicationArgs
from infra.layout import EstateLayout, plan_estate
from infra.naming import TAG_JURISDICTION, TAG_ROLE, TAG_STACK, bucket_name, cluster_name
from infra.settings import EstateSettings
from regions.topology import Topology

EDGE_REGION = "us-east-1"  # CloudFront's ACM certificates and Route 53 are managed from here


@dataclass
class Estate:
    layout: EstateLayout
    outputs: dict[str, object]


def build_estate(topology: Topology, settings: EstateSettings, stack: str) -> Estate:
    layout = plan_estate(topology)
    base_tags = {TAG_STACK: stack, "managed-by": "pulumi", **settings.extra_tags}
    providers = {r.region: aws.Provider(f"aws-{r.region}", region=r.region) for r in layout.regions}
    stores: dict[str, ResidentDataStore] = {}
    regions_out: dict[str, dict] = {}
    for r in layout.regions:
        tags = {**base_tags, TAG_JURISDICTION: r.jurisdiction, TAG_ROLE: r.role}
        stores[r.region] = ResidentDataStore(f"{r.region}-data", DataStoreArgs(
            region=r.region, jurisdiction=r.jurisdiction, provider=providers[r.region], tags=tags,
            buckets={c: bucket_name(topology.domain, stack, r.region, c) for c in r.data_classes}))
        out: dict[str, object] = {"jurisdiction": r.jurisdiction, "role": r.role,
                                  "bucketNames": stores[r.region].bucket_names}
        if r.has_cluster:
            cluster = RegionalCluster(f"{r.region}-cluster", RegionalClusterArgs(
                layout=r, cluster_name=cluster_name(stack, r.region), provider=providers[r.region],
                settings=settings, tags=tags))
            out |= {"clusterName": cluster.cluster.name, "clusterEndpoint": cluster.cluster.endpoint,
                    "nodeGroupNames": cluster.node_group_names}
        regions_out[r.region] = out
    for code, jur in topology.jurisdictions.items():
        reps = tuple(x for x in layout.replications if x.jurisdiction == code)
        if reps:
            DataReplication(f"{code}-replication", ReplicationArgs(
                jurisdiction=code, stack=stack, strategy=jur.dr.strategy, replications=reps, stores=stores,
                providers=providers, tags={**base_tags, TAG_JURISDICTION: code}))
    edge_provider = aws.Provider("aws-edge", region=EDGE_REGION)
    edge = GlobalEdge("edge", EdgeArgs(domain=topology.domain, routing=layout.routing,
                                       provider=edge_provider, tags=base_tags))
    return Estate(layout, {"regions": regions_out, "domainNames": edge.domain_names,
                           "edgeDistribution": edge.distribution.domain_name,
                           "nameServers": edge.zone.name_servers})
