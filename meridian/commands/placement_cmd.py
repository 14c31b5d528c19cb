"""`meridian placement STACK_FILE`: where each jurisdiction's load goes, cheapest first, and why."""
from __future__ import annotations

import json

from controller.law.placement import Placement
from controller.law.settings import LawSettings
from controller.law.types import Objective
from regions.errors import InputError, Problem
from regions.topology import Topology
from regions.validate import load_stack
from sim.geo import static_placement


def register(sub) -> None:
    p = sub.add_parser(
        "placement", help="cost-aware region order per jurisdiction, with prices, RTTs and reasons",
        description="For every workload and jurisdiction of a stack file: the order in which its serving "
        "regions take the load -- the cheapest one whose modelled round trip (regions.network) plus the "
        "control law's planned TTFT (objective x ttft_headroom) fits the workload's TTFT objective first, "
        "then the others as failover order, then the standbys -- each with its on-demand price for the "
        "workload's instance type, RTT and a one-line reason. Regions residency forbids for the "
        "jurisdiction's personal data are listed as refused. Catalog prices, every region healthy: "
        "the placement a run starts from. A bad stack file exits 2.")
    p.add_argument("stack_file", metavar="STACK_FILE", help="stack file, e.g. Pulumi.placement.yaml")
    p.add_argument("--json", action="store_true", help="print the placement as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    topo = load_stack(args.stack_file)
    if not topo.workloads:
        raise InputError("nothing to place", [Problem(
            "meridian:topology.workloads", f"{args.stack_file} declares no workload: placement needs a "
            "workload's instance type and TTFT objective", fix="add a workload (see Pulumi.placement.yaml)")])
    doc = {"stack": topo.source or args.stack_file, "plan_share": LawSettings().ttft_headroom,
           "workloads": [_workload(topo, w) for w in topo.workloads]}
    print(json.dumps(doc, indent=2) if args.json else render(doc))
    return 0


def _workload(topo: Topology, w) -> dict:
    out = {"name": w.name, "instance_type": w.instance_type, "percentile": w.slo.percentile,
           "ttft_ms": w.slo.ttft_ms, "jurisdictions": []}
    if w.slo.ttft_ms is None:
        out["note"] = "no TTFT objective (slo.ttft_ms): placement needs one to judge round trips"
        return out
    objective = Objective(percentile=w.slo.percentile, ttft_s=w.slo.ttft_ms / 1000.0)
    everywhere = topo.all_regions()
    for code in w.jurisdictions:
        jur = topo.jurisdictions.get(code)
        if jur is None:
            continue
        others = [r for r in everywhere if r not in jur.region_codes]
        try:
            placed = static_placement(code, jur.serving, objective, w.instance_type, transfers=topo.transfers,
                                      topology_regions=everywhere, others=others)
            standby = static_placement(code, jur.standbys, objective, w.instance_type, transfers=topo.transfers,
                                       topology_regions=everywhere) if jur.standbys else None
        except KeyError as err:  # a region without the instance type (validate normally catches it)
            raise InputError("cannot price the placement", [Problem(
                f"meridian:topology.workloads.{w.name}.instance_type", str(err).strip("'\""),
                fix="choose an instance type every region of the workload offers (`meridian regions`)")]) from None
        out["jurisdictions"].append(_jurisdiction(code, placed, standby))
    return out


def _jurisdiction(code: str, placed: Placement, standby: Placement | None) -> dict:
    rows = [_row(p, "serving") for p in placed.order]
    if standby is not None:
        rows += [_row(p, "standby") for p in standby.order]
    return {"code": code, "order": rows, "at_risk": placed.at_risk,
            "refused": [{"region": r, "reason": why} for r, why in placed.refused]}


def _row(p, role: str) -> dict:
    reason = p.reason if role == "serving" else (
        f"{p.region}: standby, takes load once every serving region is down: {p.price_per_hour:.2f} $/h, "
        f"RTT {p.rtt_s * 1000:.0f} ms" + ("" if p.fits else " (would not fit the objective)"))
    return {"region": p.region, "role": role, "price_per_hour": p.price_per_hour, "rtt_s": p.rtt_s,
            "planned_ttft_s": p.planned_ttft_s, "fits": p.fits, "reason": reason}


def render(doc: dict) -> str:
    lines = [f"{doc['stack']}: placement at catalog prices, every region healthy; a region fits when "
             f"RTT + planned TTFT (objective x {doc['plan_share']:g}) <= the TTFT objective"]
    for w in doc["workloads"]:
        goal = f"p{w['percentile']:g} TTFT <= {w['ttft_ms']:g} ms" if w["ttft_ms"] is not None else "no TTFT objective"
        lines.append(f"\nworkload {w['name']}: {w['instance_type']}, {goal}")
        if "note" in w:
            lines.append(f"  {w['note']}")
        for j in w["jurisdictions"]:
            lines.append(f"  {j['code']}" + ("  (objective at risk: no region fits)" if j["at_risk"] else ""))
            lines.append(f"    {'#':<3}{'REGION':<16}{'ROLE':<9}{'$/h':>8}{'RTT ms':>8}  REASON")
            for i, row in enumerate(j["order"], 1):
                lines.append(f"    {i:<3}{row['region']:<16}{row['role']:<9}{row['price_per_hour']:>8.4f}"
                             f"{row['rtt_s'] * 1000:>8.0f}  {row['reason']}")
            for r in j["refused"]:
                lines.append(f"    -  {r['region']:<16}refused  {r['reason']}")
    return "\n".join(lines)
