"""Global edge: Route 53 records that keep each jurisdiction's users inside it, and one
CloudFront distribution with an origin group per jurisdiction.

Names (see `infra.naming`): users call `api.<domain>`; geolocation records send each
country of a jurisdiction to `<j>.api.<domain>`; that name routes by latency (active-active)
or failover (pilot-light, warm-standby) among the jurisdiction's regions, each
`<region>.api.<domain>` (published by the cluster's ingress). Countries of no jurisdiction in
the topology get no answer: there is no default geolocation record, on purpose.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.layout import JurisdictionRouting
from infra.naming import api_host, edge_host, failover_host, jurisdiction_host, region_host
from regions import dr

# The numbers the validator's RTO floors are built from (regions.dr: detection = interval x
# failures, then one TTL): taken from there so what is deployed is what was promised.
HEALTH_CHECK_INTERVAL_S = int(dr.HEALTH_CHECK_INTERVAL_S)  # Route 53 "fast" health checks: 10 or 30 s
HEALTH_CHECK_FAILURES = dr.HEALTH_CHECK_FAILURE_THRESHOLD
RECORD_TTL_S = int(dr.DNS_TTL_S)
# AWS managed CloudFront policies (CloudFront Developer Guide, "Use managed cache policies" and
# "Use managed origin request policies"); IDs are the same in every account.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
READ_METHODS = ["GET", "HEAD", "OPTIONS"]
# Paths outside /<jurisdiction>/ are refused at the edge rather than sent to some region.
_NOT_FOUND_JS = """function handler(event) {
  return {statusCode: 404, statusDescription: 'Not Found',
          headers: {'content-type': {value: 'text/plain'}},
          body: 'use /<jurisdiction>/v1/... (e.g. /eu/v1/completions)'};
}"""


@dataclass
class EdgeArgs:
    domain: str
    routing: tuple[JurisdictionRouting, ...]
    provider: aws.Provider  # us-east-1: CloudFront certificates must live there
    tags: dict[str, str]


class GlobalEdge(pulumi.ComponentResource):
    zone: aws.route53.Zone
    distribution: aws.cloudfront.Distribution

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("meridian:index:GlobalEdge", name, {"region": "global"}, opts)
        self._name, self._args = name, args
        self._o = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.zone = aws.route53.Zone(f"{name}-zone", name=args.domain, tags=args.tags, opts=self._o)
        regions = list(dict.fromkeys(r for j in args.routing for r in j.targets))
        self.health_checks = {r: self._health_check(r) for r in regions}
        for j in args.routing:
            self._jurisdiction_records(j)
            self._geolocation_records(j)
        self.distribution = self._distribution()
        self.domain_names = {"api": api_host(args.domain), "edge": edge_host(args.domain),
                             **{j.jurisdiction: jurisdiction_host(args.domain, j.jurisdiction)
                                for j in args.routing}}
        self.register_outputs({"zoneId": self.zone.zone_id, "domainNames": self.domain_names,
                               "distributionDomain": self.distribution.domain_name})

    def _health_check(self, region: str) -> aws.route53.HealthCheck:
        return aws.route53.HealthCheck(
            f"{self._name}-hc-{region}", type="HTTPS", fqdn=region_host(self._args.domain, region), port=443,
            resource_path="/healthz", request_interval=HEALTH_CHECK_INTERVAL_S,
            failure_threshold=HEALTH_CHECK_FAILURES, measure_latency=True,
            tags={**self._args.tags, "Name": region_host(self._args.domain, region)}, opts=self._o)

    def _record(self, suffix: str, name: str, target: str, **routing) -> aws.route53.Record:
        return aws.route53.Record(f"{self._name}-{suffix}", zone_id=self.zone.zone_id, name=name, type="CNAME",
                                  ttl=RECORD_TTL_S, records=[target], opts=self._o, **routing)

    def _jurisdiction_records(self, j: JurisdictionRouting) -> None:
        host, d = jurisdiction_host(self._args.domain, j.jurisdiction), self._args.domain
        if j.mode == "simple":
            self._record(f"{j.jurisdiction}", host, region_host(d, j.targets[0]))
            return
        if j.mode == "latency":
            for region in j.targets:
                self._record(f"{j.jurisdiction}-{region}", host, region_host(d, region), set_identifier=region,
                             health_check_id=self.health_checks[region].id,
                             latency_routing_policies=[{"region": region}])
            return
        self._failover_chain(j)

    def _failover_chain(self, j: JurisdictionRouting) -> None:
        """PRIMARY -> first standby -> second standby ...: at level k the k-th target is PRIMARY
        (health-checked); the SECONDARY is the last target, or the next level's name with no
        health check of its own, which Route 53 then treats as always healthy (Route 53
        Developer Guide, "How health checks work in complex Amazon Route 53 configurations")."""
        d, code, last = self._args.domain, j.jurisdiction, len(j.targets) - 1
        for level, region in enumerate(j.targets[:-1]):
            host = failover_host(d, code, level)
            self._record(f"{code}-{region}", host, region_host(d, region), set_identifier=region,
                         health_check_id=self.health_checks[region].id,
                         failover_routing_policies=[{"type": "PRIMARY"}])
            if level + 1 == last:
                standby = j.targets[last]
                self._record(f"{code}-{standby}", host, region_host(d, standby), set_identifier=standby,
                             health_check_id=self.health_checks[standby].id,
                             failover_routing_policies=[{"type": "SECONDARY"}])
            else:
                self._record(f"{code}-dr{level + 1}", host, failover_host(d, code, level + 1),
                             set_identifier=f"dr{level + 1}", failover_routing_policies=[{"type": "SECONDARY"}])

    def _geolocation_records(self, j: JurisdictionRouting) -> None:
        target = jurisdiction_host(self._args.domain, j.jurisdiction)
        for country in j.countries:
            self._record(f"geo-{country.lower()}", api_host(self._args.domain), target,
                         set_identifier=f"{j.jurisdiction}-{country}",
                         geolocation_routing_policies=[{"country": country}])

    def _distribution(self) -> aws.cloudfront.Distribution:
        n, a, o = self._name, self._args, self._o
        host = edge_host(a.domain)
        cert = aws.acm.Certificate(f"{n}-cert", domain_name=host, validation_method="DNS", tags=a.tags, opts=o)
        option = cert.domain_validation_options.apply(lambda opts: opts[0])
        proof = aws.route53.Record(f"{n}-cert-validation", zone_id=self.zone.zone_id,
                                   name=option.apply(lambda v: v.resource_record_name),
                                   type=option.apply(lambda v: v.resource_record_type),
                                   records=[option.apply(lambda v: v.resource_record_value)],
                                   ttl=RECORD_TTL_S, allow_overwrite=True, opts=o)
        valid = aws.acm.CertificateValidation(f"{n}-cert", certificate_arn=cert.arn,
                                              validation_record_fqdns=[proof.fqdn], opts=o)
        refuse = aws.cloudfront.Function(f"{n}-not-found", runtime="cloudfront-js-2.0", publish=True,
                                         comment="refuse paths outside /<jurisdiction>/", code=_NOT_FOUND_JS,
                                         opts=o)
        origins, groups, behaviors = [], [], []
        for j in a.routing:
            # Inference calls (POST) go to the jurisdiction's Route 53 name, which fails over inside it:
            # CloudFront origin groups only fail over GET/HEAD/OPTIONS and refuse POST behaviours.
            api_origin = f"api-{j.jurisdiction}"
            origins.append(self._origin(api_origin, jurisdiction_host(a.domain, j.jurisdiction)))
            # Only the origins a behaviour or group uses: the first two targets (see below).
            origins += [self._origin(r, region_host(a.domain, r)) for r in j.targets[:2]
                        if r not in {x["origin_id"] for x in origins}]
            static = j.targets[0]
            if len(j.targets) > 1:  # an origin group has exactly a primary and a failover member
                static = f"group-{j.jurisdiction}"
                groups.append({"origin_id": static,
                               "failover_criteria": {"status_codes": [500, 502, 503, 504]},
                               "members": [{"origin_id": r} for r in j.targets[:2]]})
            behaviors.append(self._behavior(f"/{j.jurisdiction}/v1/*", api_origin, CACHING_DISABLED, ALL_METHODS))
            behaviors.append(self._behavior(f"/{j.jurisdiction}/*", static, CACHING_OPTIMIZED, READ_METHODS))
        default = {**self._behavior("*", origins[0]["origin_id"], CACHING_DISABLED, READ_METHODS),
                   "function_associations": [{"event_type": "viewer-request", "function_arn": refuse.arn}]}
        del default["path_pattern"]
        dist = aws.cloudfront.Distribution(
            f"{n}-cdn", enabled=True, is_ipv6_enabled=True, http_version="http2and3", aliases=[host],
            comment=f"meridian edge for {a.domain}", price_class="PriceClass_All",
            origins=origins, origin_groups=groups, ordered_cache_behaviors=behaviors,
            default_cache_behavior=default,
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate={"acm_certificate_arn": valid.certificate_arn, "ssl_support_method": "sni-only",
                                "minimum_protocol_version": "TLSv1.2_2021"},
            tags=a.tags, opts=o)
        for rtype in ("A", "AAAA"):  # the distribution serves IPv4 and IPv6
            aws.route53.Record(f"{n}-edge-alias-{rtype.lower()}", zone_id=self.zone.zone_id, name=host, type=rtype,
                               aliases=[{"name": dist.domain_name, "zone_id": dist.hosted_zone_id,
                                         "evaluate_target_health": False}], opts=o)
        return dist

    @staticmethod
    def _origin(origin_id: str, host: str) -> dict:
        return {"origin_id": origin_id, "domain_name": host,
                "custom_origin_config": {"http_port": 80, "https_port": 443, "origin_protocol_policy": "https-only",
                                         "origin_ssl_protocols": ["TLSv1.2"]}}

    @staticmethod
    def _behavior(path: str, target: str, cache_policy: str, methods: list[str]) -> dict:
        return {"path_pattern": path, "target_origin_id": target, "viewer_protocol_policy": "https-only",
                "allowed_methods": methods, "cached_methods": ["GET", "HEAD"], "compress": True,
                "cache_policy_id": cache_policy, "origin_request_policy_id": ALL_VIEWER_EXCEPT_HOST}
