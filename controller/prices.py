"""What one replica costs: by the instance type and capacity type of its node.

The table starts from the `regions` catalog (shipped prices with their source and date).
`refresh_from_aws` optionally replaces entries with AWS Pricing API on-demand prices and
EC2 spot price history (through the pod's IRSA role); any failure keeps the last table.
"""
from __future__ import annotations

import json
import statistics
import threading
from dataclasses import dataclass

import structlog

from controller import retry
from regions.catalog import Catalog, load_catalog

log = structlog.get_logger(__name__)

INSTANCE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
# Karpenter writes spot/on-demand; EKS managed node groups write SPOT/ON_DEMAND.
CAPACITY_LABELS = ("karpenter.sh/capacity-type", "eks.amazonaws.com/capacityType")


@dataclass(frozen=True)
class ReplicaPrices:
    on_demand_per_hour: float  # mean per replica
    spot_per_hour: float | None
    spot_replicas: int
    known: bool  # False when no replica's node could be priced (fallback figure used)

    def cost_per_hour(self, replicas: int) -> float:
        """What `replicas` cost now: those seen on spot nodes at the spot price, the rest on demand."""
        on_spot = min(self.spot_replicas, replicas) if self.spot_per_hour is not None else 0
        return on_spot * (self.spot_per_hour or 0.0) + (replicas - on_spot) * self.on_demand_per_hour


def _first(labels: dict[str, str], keys: tuple[str, ...]) -> str | None:
    return next((labels[k] for k in keys if labels.get(k)), None)


def is_spot(labels: dict[str, str]) -> bool:
    return (_first(labels, CAPACITY_LABELS) or "").lower() == "spot"


class PriceBook:
    def __init__(self, catalog: Catalog | None = None, *, default_region: str | None = None,
                 default_instance_type: str | None = None):
        catalog = catalog or load_catalog()
        self._lock = threading.Lock()
        self._table: dict[tuple[str, str], tuple[float, float]] = {
            (r.code, o.type): (o.on_demand_usd_per_hour, o.spot_usd_per_hour)
            for r in catalog.regions.values() for o in r.instances
        }
        self.default_region = default_region
        self.default_instance_type = default_instance_type
        self.source = dict(catalog.source)

    def price(self, region: str | None, instance_type: str | None) -> tuple[float, float] | None:
        if not instance_type:
            return None
        with self._lock:
            if region:
                return self._table.get((region, instance_type))
            found = [v for (r, t), v in self._table.items() if t == instance_type]
        if not found:  # region unknown: the median across regions is a fair first guess
            return None
        return statistics.median(v[0] for v in found), statistics.median(v[1] for v in found)

    def fallback(self) -> tuple[float, float]:
        """No node could be priced: the configured default, else the catalog's median GPU."""
        hit = self.price(self.default_region, self.default_instance_type)
        if hit:
            return hit
        with self._lock:
            values = list(self._table.values())
        return statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)

    def for_replicas(self, node_labels: list[dict[str, str]]) -> ReplicaPrices:
        priced = []
        for labels in node_labels:
            hit = self.price(_first(labels, REGION_LABELS) or self.default_region, _first(labels, INSTANCE_LABELS))
            if hit:
                priced.append(hit)
        spot = sum(1 for labels in node_labels if is_spot(labels))
        if not priced:
            od, sp = self.fallback()
            return ReplicaPrices(od, sp, spot, known=False)
        return ReplicaPrices(statistics.fmean(p[0] for p in priced), statistics.fmean(p[1] for p in priced),
                             spot, known=True)

    # -- optional refresh ------------------------------------------------------------------
    def refresh_from_aws(self, region: str, instance_types: list[str], *, session=None,
                         endpoint_url: str | None = None, pricing_endpoint_url: str | None = None,
                         deadline_s: float = 20.0) -> bool:
        """Refresh on-demand (Pricing API) and spot (EC2 price history) prices of `instance_types`
        in `region`. All or nothing: on any failure the table is left as it was."""
        import boto3

        session = session or boto3.session.Session()
        try:
            spot = self._spot_prices(session, region, instance_types, endpoint_url, deadline_s)
            on_demand = self._on_demand_prices(session, region, instance_types,
                                               pricing_endpoint_url or endpoint_url, deadline_s)
        except Exception as err:  # noqa: BLE001 - keep the last known table, say why
            log.warning("price refresh failed; keeping last known prices", region=region,
                        error=f"{type(err).__name__}: {str(err)[:160]}")
            return False
        with self._lock:
            for t in instance_types:
                old = self._table.get((region, t))
                od = on_demand.get(t, old[0] if old else None)
                sp = spot.get(t, old[1] if old else None)
                if od is not None and sp is not None:
                    self._table[(region, t)] = (od, sp)
        log.info("prices refreshed", region=region, types=len(instance_types))
        return True

    @staticmethod
    def _spot_prices(session, region, instance_types, endpoint_url, deadline_s) -> dict[str, float]:
        ec2 = session.client("ec2", region_name=region, endpoint_url=endpoint_url)
        history = retry.call(ec2.describe_spot_price_history, deadline_s=deadline_s, what="spot price history",
                             InstanceTypes=list(instance_types), ProductDescriptions=["Linux/UNIX"],
                             MaxResults=1000)
        by_type: dict[str, list[float]] = {}
        for row in history.get("SpotPriceHistory", []):
            by_type.setdefault(row["InstanceType"], []).append(float(row["SpotPrice"]))
        return {t: statistics.fmean(v) for t, v in by_type.items() if v}

    @staticmethod
    def _on_demand_prices(session, region, instance_types, endpoint_url, deadline_s) -> dict[str, float]:
        # The Pricing API is served from us-east-1 (and a few others) for every region.
        pricing = session.client("pricing", region_name="us-east-1", endpoint_url=endpoint_url)
        out = {}
        for t in instance_types:
            filters = [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in (
                ("instanceType", t), ("regionCode", region), ("operatingSystem", "Linux"),
                ("tenancy", "Shared"), ("preInstalledSw", "NA"), ("capacitystatus", "Used"))]
            page = retry.call(pricing.get_products, deadline_s=deadline_s, what="pricing get_products",
                              ServiceCode="AmazonEC2", Filters=filters, MaxResults=10)
            for item in page.get("PriceList", []):
                product = json.loads(item) if isinstance(item, str) else item
                for term in product.get("terms", {}).get("OnDemand", {}).values():
                    for dim in term.get("priceDimensions", {}).values():
                        usd = float(dim.get("pricePerUnit", {}).get("USD", 0) or 0)
                        if usd > 0:
                            out[t] = usd
        return out
