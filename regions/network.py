"""Round-trip time from a jurisdiction's users to a region: a distance model, not a measurement.

    RTT = access + 2 * distance * ROUTE_INFLATION / FIBRE_KM_PER_S

- distance: great circle from the jurisdiction's user centroid (`regions/data/jurisdictions.json`)
  to the region's city (`regions/data/catalog.json`), `regions.catalog.distance_km`.
- FIBRE_KM_PER_S: light in silica fibre, c / 1.468 (refractive index of single-mode fibre)
  ~ 204,000 km/s, i.e. about 2/3 c.
- ROUTE_INFLATION = 2.1: Bozkurt, Aqeel, Bhattacherjee, Chandrasekaran, Godfrey, Laughlin, Maggs,
  Singla, "Dissecting Latency in the Internet's Fiber Infrastructure" (arXiv:1811.10737, 2018):
  "previous measurement campaigns suggest the following rule of thumb for estimating Internet
  latency: multiply line-of-sight distance by 2.1, then divide by the speed of light in fiber"
  (the median inflation of minimum ping times over the fibre-speed great circle, which folds
  in fibre routes, router hops and peering detours).
- ACCESS_S = 24 ms: the last mile, which the rule of thumb (measured between well-connected
  hosts) leaves out. FCC "Measuring Broadband America": fibre-to-the-home round trip to the
  closest test server inside the subscriber's own provider averaged 24 ms (cable 32 ms,
  DSL 49 ms), as summarised in J. Scott, "Latency on US Home Internet Connections"
  (blog.josephscott.org). The best access technology's figure: the rest of the model is a
  median, and the placement only needs a fair ranking plus an honest order of magnitude.

One request's time to first token as the client sees it is the server's TTFT plus one RTT
(request up, first token down); connection set-up is left out (keep-alive, as inference
clients do). The figures are the same for every region, so they never rank regions by anything
but distance.
"""
from __future__ import annotations

from regions.catalog import distance_km, load_catalog
from regions.jurisdictions import load_jurisdictions

FIBRE_KM_PER_S = 299_792.458 / 1.468
ROUTE_INFLATION = 2.1
ACCESS_S = 0.024


def path_rtt_s(km: float) -> float:
    """Round trip over `km` of great-circle distance between well-connected hosts (no access)."""
    if not km >= 0:
        raise ValueError(f"distance must be >= 0 km, got {km!r}")
    return 2.0 * km * ROUTE_INFLATION / FIBRE_KM_PER_S


def rtt_s(jurisdiction: str, region: str) -> float:
    """Modelled round trip from `jurisdiction`'s users (its centroid) to `region`, in seconds.
    Raises KeyError naming an unknown jurisdiction or region."""
    juris, catalog = load_jurisdictions(), load_catalog()
    if jurisdiction not in juris:
        raise KeyError(f"unknown jurisdiction {jurisdiction!r}")
    if region not in catalog.regions:
        raise KeyError(f"unknown region {region!r}")
    j, r = juris[jurisdiction], catalog.regions[region]
    return ACCESS_S + path_rtt_s(distance_km(j.latitude, j.longitude, r.latitude, r.longitude))
