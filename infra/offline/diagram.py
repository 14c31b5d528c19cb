"""Draw the planned estate with Graphviz: jurisdictions, regions, DR arrows, the edge.

Drawn from the plan's resources (replication rules, Route 53 records), so the picture shows
what the program actually creates, not what the topology hoped for."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from regions.files import atomic_write_bytes
from infra.offline.plan import Plan
from infra.naming import TAG_DATA_CLASS, bucket_from_arn
from infra.policy.dns import RECORD, record_targets, region_in_host
from infra.policy.policies import BACKUP_PLAN, BUCKET, REPLICATION
from regions.errors import InputError, Problem
from regions.jurisdictions import load_jurisdictions

FORMATS = {".svg": "svg", ".png": "png"}
ROLE_COLOURS = {"primary": "#cfe8cf", "active": "#cfe8cf", "standby": "#fbe7c6"}


def check_target(path: str) -> None:
    """Refuse a --diagram format we cannot draw, or a missing Graphviz, before any work is done
    (whether the path can be written is the command's check, shared with --json)."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise InputError(f"--diagram {path}: unknown format", [Problem(
            "--diagram", f"{p.suffix or 'no extension'} is not a diagram format",
            "end the file name in .svg or .png", "flag")])
    if shutil.which("dot") is None:
        raise InputError("Graphviz is not installed", [Problem(
            "--diagram", "the `dot` program was not found on PATH",
            "install Graphviz (Debian/Ubuntu: apt-get install graphviz) or drop --diagram", "dependency")])


def to_dot(plan: Plan) -> str:
    topo, laws = plan.topology, load_jurisdictions()
    lines = ["digraph estate {", '  rankdir=LR; compound=true; node [shape=box, style="rounded,filled", '
             'fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=9];',
             f'  label="meridian stack {plan.stack}: {topo.domain}"; labelloc=t;',
             '  users [label="users\\n(api.' + topo.domain + ')", shape=ellipse, fillcolor="#e0e0ff"];',
             '  cdn [label="CloudFront\\n(edge.' + topo.domain + ')", shape=ellipse, fillcolor="#e0e0ff"];']
    groups = _node_groups(plan)
    clustered = {c.region for c in plan.of_type("aws:eks/cluster:Cluster")}
    for code, jur in topo.jurisdictions.items():
        law = laws[code].law if code in laws else code
        lines.append(f'  subgraph "cluster_{code}" {{ label="{code} - {law}\\n{jur.dr.strategy}, '
                     f'RTO {jur.dr.rto_seconds:g} s, RPO {jur.dr.rpo_seconds:g} s"; style=rounded;')
        lines.append(f'    "dns-{code}" [label="{code}.api (Route 53)", shape=hexagon, fillcolor="#eeeeee"];')
        for rr in jur.regions:
            detail = groups.get(rr.region, "no GPU node groups") if rr.region in clustered \
                else "data only (restore on failover)"
            lines.append(f'    "{rr.region}" [label="{rr.region}\\n{rr.role}\\n{detail}", '
                         f'fillcolor="{ROLE_COLOURS.get(rr.role, "#ffffff")}"];')
        lines.append("  }")
        lines.append(f'  users -> "dns-{code}" [label="geolocation"];')
        lines.append(f'  cdn -> "dns-{code}" [label="/{code}/v1/*", style=dotted];')
    lines += _routing_edges(plan) + _replication_edges(plan)
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(plan: Plan, path: str) -> None:
    fmt = FORMATS[Path(path).suffix.lower()]
    result = subprocess.run(["dot", f"-T{fmt}"], input=to_dot(plan).encode(), capture_output=True, check=False)
    if result.returncode != 0:
        raise InputError("Graphviz could not draw the diagram", [Problem(
            "--diagram", f"`dot -T{fmt}` failed: {result.stderr.decode(errors='replace').strip()[:300]}",
            "check the Graphviz installation (`dot -V`), or drop --diagram", "dependency")])
    atomic_write_bytes(path, result.stdout)


def _node_groups(plan: Plan) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for r in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        labels = r.inputs.get("labels") or {}
        if labels.get("meridian.dev/pool") != "gpu":
            continue
        s = r.inputs.get("scalingConfig") or {}
        out.setdefault(r.region, []).append(f"{r.inputs['instanceTypes'][0]} {r.inputs['capacityType']} "
                                            f"{s.get('minSize', 0):g}-{s.get('maxSize', 0):g}")
    return {region: "\\n".join(sorted(v)) for region, v in out.items()}


def _routing_edges(plan: Plan) -> list[str]:
    edges = []
    for code in plan.topology.jurisdictions:
        host = f"{code}.api.{plan.topology.domain}"
        for r in plan.of_type(RECORD):
            name = str(r.inputs.get("name", "")).rstrip(".")
            if name != host and not name.endswith(f".{host}"):  # chained failover: drN.<j>.api.<domain>
                continue
            failover = (r.inputs.get("failoverRoutingPolicies") or [{}])[0].get("type")
            if failover:  # place in the takeover order: level k's PRIMARY is k, its SECONDARY k + 1
                level = int(name.split(".", 1)[0][2:]) if name != host else 0
                rank = level + (failover == "SECONDARY")
                policy = "primary" if rank == 0 else f"standby {rank}"
            else:
                policy = "latency" if r.inputs.get("latencyRoutingPolicies") else ""
            for t in record_targets(r.inputs):
                region = region_in_host(t)
                if region:
                    edges.append(f'  "dns-{code}" -> "{region}" [label="{policy}"];')
    return edges


def _replication_edges(plan: Plan) -> list[str]:
    buckets = {b.inputs.get("bucket"): b for b in plan.of_type(BUCKET)}
    pairs: dict[tuple[str, str], list[str]] = {}
    for rep in plan.of_type(REPLICATION):
        for rule in rep.inputs.get("rules") or []:
            dest = buckets.get(bucket_from_arn(str((rule.get("destination") or {}).get("bucket"))))
            source = buckets.get(rep.inputs.get("bucket"))
            cls = ((source.inputs.get("tags") or {}) if source else {}).get(TAG_DATA_CLASS, "?")
            pairs.setdefault((rep.region, dest.region if dest else "?"), []).append(cls)
    for plan_ in plan.of_type(BACKUP_PLAN):
        cls = (plan_.inputs.get("tags") or {}).get(TAG_DATA_CLASS, "?")
        for rule in plan_.inputs.get("rules") or []:
            for copy in rule.get("copyActions") or []:
                dest = str(copy.get("destinationVaultArn", "")).split(":")
                if len(dest) > 3:
                    pairs.setdefault((plan_.region, dest[3]), []).append(f"{cls} (hourly backup)")
    return [f'  "{a}" -> "{b}" [label="copies {", ".join(sorted(c))}", style=dashed, color="#555555"];'
            for (a, b), c in pairs.items()]
