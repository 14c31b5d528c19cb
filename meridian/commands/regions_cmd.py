"""`meridian regions`: the region catalog as a table, or JSON."""
from __future__ import annotations

import json
from dataclasses import asdict

from regions.catalog import load_catalog


def register(sub) -> None:
    p = sub.add_parser("regions", help="print the region catalog (jurisdiction, GPU types, prices)",
                       description="Print the AWS regions meridian knows, with their jurisdiction, "
                       "GPU instance types and the cheapest GPU on-demand price.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    catalog = load_catalog()
    rows = sorted(catalog.regions.values(), key=lambda r: (r.jurisdiction, r.code))
    if args.json:
        print(json.dumps({"source": catalog.source, "regions": [asdict(r) for r in rows]}, indent=2))
        return 0
    header = f"{'JURISDICTION':<13}{'REGION':<16}{'GPU FAMILIES':<18}{'CHEAPEST GPU $/h':>18}"
    print(header)
    for r in rows:
        cheapest = r.cheapest_gpu()
        types = " ".join(_families(r))
        print(f"{r.jurisdiction:<13}{r.code:<16}{types:<18}{cheapest.on_demand_usd_per_hour:>10.4f} {cheapest.type}")
    print(f"\n{len(rows)} regions, {len({r.jurisdiction for r in rows})} jurisdictions; "
          f"prices as of {catalog.source['as_of']} (approximate, see regions/data/catalog.json)")
    return 0


def _families(region) -> list[str]:
    """Instance families offered (g5, g6, p4d, p5), in catalog order."""
    return list(dict.fromkeys(i.type.split(".")[0] for i in region.instances))
