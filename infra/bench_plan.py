"""Benchmark: `meridian plan` on a generated 12-region stack; prints the wall time.

    /work/venv/bin/python -m infra.bench_plan [--keep DIR]

The stack has four jurisdictions, one per DR strategy (eu warm-standby with 4 regions,
us active-active with 4, in pilot-light with 2, jp backup-restore with 2) and two workloads.
Target (issue 3): under 30 s. The figure includes importing pulumi-aws's modules.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

STACK = {
    "config": {
        "aws:region": "us-east-1",
        "meridian:topology": {
            "domain": "bench.example.com",
            "jurisdictions": {
                "eu": {"regions": [{"region": "eu-west-1", "role": "primary"},
                                   {"region": "eu-central-1", "role": "standby"},
                                   {"region": "eu-north-1", "role": "standby"},
                                   {"region": "eu-west-3", "role": "standby"}],
                       "dr": {"strategy": "warm-standby", "rto_seconds": 600, "rpo_seconds": 60}},
                "us": {"regions": [{"region": r, "role": "active"}
                                   for r in ("us-east-1", "us-east-2", "us-west-1", "us-west-2")],
                       "dr": {"strategy": "active-active", "rto_seconds": 120, "rpo_seconds": 5}},
                "in": {"regions": [{"region": "ap-south-1", "role": "primary"},
                                   {"region": "ap-south-2", "role": "standby"}],
                       "dr": {"strategy": "pilot-light", "rto_seconds": 2700, "rpo_seconds": 300}},
                "jp": {"regions": [{"region": "ap-northeast-1", "role": "primary"},
                                   {"region": "ap-northeast-3", "role": "standby"}],
                       "dr": {"strategy": "backup-restore", "rto_seconds": 14400, "rpo_seconds": 3600}},
            },
            "transfers": [],
            "workloads": [
                {"name": "chat", "instance_type": "g5.2xlarge", "data_classes": ["personal", "model"],
                 "jurisdictions": ["eu", "us", "in", "jp"], "slo": {"percentile": 95, "ttft_ms": 1000},
                 "replicas": {"min": 1, "max": 40}, "spot_share": 0.5},
                {"name": "embed", "instance_type": "g6.xlarge", "data_classes": ["personal", "telemetry"],
                 "jurisdictions": ["eu", "us"], "slo": {"percentile": 99, "e2e_ms": 300},
                 "replicas": {"min": 2, "max": 16}, "spot_share": 0.25},
            ],
        },
    },
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.bench_plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", metavar="DIR", help="also write the generated stack file into DIR")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep or tmp) / "Pulumi.bench12.yaml"
        path.write_text(yaml.safe_dump(STACK, sort_keys=False))
        started = time.perf_counter()
        from infra.offline.plan import plan_stack

        plan = plan_stack(path)
        wall = time.perf_counter() - started
    regions = {rr.region for j in plan.topology.jurisdictions.values() for rr in j.regions}
    print(f"meridian plan, {len(regions)}-region stack: {len(plan.resources)} resources, "
          f"{len(plan.mandatory)} mandatory violations, wall time {wall:.1f} s (target < 30 s)")
    return 0 if not plan.mandatory else 1


if __name__ == "__main__":
    sys.exit(main())
