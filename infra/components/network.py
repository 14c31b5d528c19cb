"""Regional network: a VPC from the region's CIDR across up to three zones, public and
private subnets, and one NAT gateway per zone so losing a zone never cuts egress."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.layout import SubnetPlan


@dataclass
class RegionalNetworkArgs:
    region: str
    cidr: str
    subnets: tuple[SubnetPlan, ...]
    cluster_name: str  # subnets are tagged for the cluster's load balancers
    provider: aws.Provider
    tags: dict[str, str]


class RegionalNetwork(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: RegionalNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("meridian:index:RegionalNetwork", name, {"region": args.region}, opts)
        self._name, self._args = name, args
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True,
                               enable_dns_support=True, tags=self._tags(f"{name}-vpc"), opts=self._opts)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=self._tags(f"{name}-igw"),
                                      opts=self._opts)
        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=self.vpc.id,
                                       routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
                                       tags=self._tags(f"{name}-public"), opts=self._opts)
        self.public_subnet_ids, self.private_subnet_ids = [], []
        for plan in args.subnets:
            self._zone(plan, public_rt)
        self.register_outputs({"vpcId": self.vpc.id, "publicSubnetIds": self.public_subnet_ids,
                               "privateSubnetIds": self.private_subnet_ids})

    def _tags(self, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**self._args.tags, "Name": name, **(extra or {})}

    def _zone(self, plan: SubnetPlan, public_rt: aws.ec2.RouteTable) -> None:
        """Public subnet + NAT, private subnet routed through that NAT, in one zone."""
        n, az, o = self._name, plan.availability_zone, self._opts
        cluster_tag = {f"kubernetes.io/cluster/{self._args.cluster_name}": "shared"}
        public = aws.ec2.Subnet(f"{n}-public-{az}", vpc_id=self.vpc.id, cidr_block=plan.public_cidr,
                                availability_zone=az,
                                tags=self._tags(f"{n}-public-{az}", {**cluster_tag, "kubernetes.io/role/elb": "1"}),
                                opts=o)
        private = aws.ec2.Subnet(f"{n}-private-{az}", vpc_id=self.vpc.id, cidr_block=plan.private_cidr,
                                 availability_zone=az,
                                 tags=self._tags(f"{n}-private-{az}",
                                                 {**cluster_tag, "kubernetes.io/role/internal-elb": "1"}),
                                 opts=o)
        aws.ec2.RouteTableAssociation(f"{n}-public-{az}", subnet_id=public.id, route_table_id=public_rt.id,
                                      opts=o)
        eip = aws.ec2.Eip(f"{n}-nat-{az}", domain="vpc", tags=self._tags(f"{n}-nat-{az}"), opts=o)
        nat = aws.ec2.NatGateway(f"{n}-nat-{az}", allocation_id=eip.id, subnet_id=public.id,
                                 tags=self._tags(f"{n}-nat-{az}"), opts=o)
        private_rt = aws.ec2.RouteTable(f"{n}-private-{az}", vpc_id=self.vpc.id,
                                        routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                                        tags=self._tags(f"{n}-private-{az}"), opts=o)
        aws.ec2.RouteTableAssociation(f"{n}-private-{az}", subnet_id=private.id,
                                      route_table_id=private_rt.id, opts=o)
        self.public_subnet_ids.append(public.id)
        self.private_subnet_ids.append(private.id)
