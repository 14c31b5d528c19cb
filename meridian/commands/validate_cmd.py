"""`meridian validate PATH`: check a Pulumi stack file's `meridian:topology`, print a summary."""
from __future__ import annotations

import json
from dataclasses import asdict

from regions import dr
from regions.topology import Topology
from regions.validate import load_stack


def register(sub) -> None:
    p = sub.add_parser(
        "validate", help="check a stack file's meridian:topology and summarise it",
        description="Validate `config: meridian:topology` of a Pulumi.<stack>.yaml against the "
        "region catalog, the residency rules and the DR floors. Prints a summary and exits 0 "
        "when valid; otherwise prints every problem (key path, what is wrong, how to fix it) "
        "and exits 2.")
    p.add_argument("path", metavar="PATH", help="stack file, e.g. Pulumi.dev.yaml")
    p.add_argument("--json", action="store_true",
                   help="print the validated topology (with each strategy's floors) as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    topo = load_stack(args.path)
    if args.json:
        doc = asdict(topo)
        doc["floors"] = {code: asdict(dr.floor(j.dr.strategy))
                         for code, j in topo.jurisdictions.items()}
        print(json.dumps(doc, indent=2))
    else:
        print(summary(topo))
    return 0


def summary(topo: Topology) -> str:
    """A short human summary: jurisdictions, regions with roles, DR strategy, workloads."""
    lines = [f"{topo.source or 'topology'}: valid (stack {topo.stack or '-'}, domain {topo.domain})"]
    lines.append(f"{'JURISDICTION':<13}{'DR STRATEGY':<16}{'RTO/RPO s':<14}{'FLOOR s':<12}REGIONS")
    for code, j in topo.jurisdictions.items():
        floor = dr.floor(j.dr.strategy)
        regions = ", ".join(f"{r.region} ({r.role})" for r in j.regions)
        lines.append(f"{code:<13}{j.dr.strategy:<16}{f'{j.dr.rto_seconds:g}/{j.dr.rpo_seconds:g}':<14}"
                     f"{f'{floor.rto_seconds:g}/{floor.rpo_seconds:g}':<12}{regions}")
    hoped = [code for code, j in topo.jurisdictions.items()
             if not dr.guaranteed(j.dr.strategy, j.dr.rpo_seconds)]
    if hoped:
        lines.append(f"note: RPO of {', '.join(hoped)} relies on typical replication lag; the "
                     f"published bound is {dr.S3_RTC_BOUND_S:g} s (S3 Replication Time Control SLA)")
    for t in topo.transfers:
        lines.append(f"transfer: personal data {t.from_} -> {t.to} ({t.basis})")
    for w in topo.workloads:
        slo = " ".join(x for x in (
            f"ttft<={w.slo.ttft_ms:g}ms" if w.slo.ttft_ms is not None else "",
            f"e2e<={w.slo.e2e_ms:g}ms" if w.slo.e2e_ms is not None else "") if x)
        lines.append(f"workload {w.name}: {w.instance_type} in {', '.join(w.jurisdictions)}; "
                     f"data {', '.join(w.data_classes)}; p{w.slo.percentile:g} {slo}; "
                     f"replicas {w.replicas.min}-{w.replicas.max}; spot share {w.spot_share:g}")
    lines.append(", ".join(_count(n, what) for n, what in (
        (len(topo.jurisdictions), "jurisdiction"), (len(topo.all_regions()), "region"),
        (len(topo.workloads), "workload"))))
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
