"""Load the topology a drill runs against from a Pulumi stack file.

The foundation's `regions.validate.load_stack` is the one parser and validator of
`meridian:topology`; this module only resolves the path the experiment gives
(relative to the experiment file, then to the working directory).
"""
from __future__ import annotations

from pathlib import Path

from regions.errors import InputError, Problem
from regions.topology import Topology


def resolve(path: str, experiment_file: str | Path | None) -> Path | None:
    """The stack file `path` names: next to the experiment first, then from the cwd."""
    candidates = []
    if experiment_file:
        candidates.append(Path(experiment_file).resolve().parent / path)
    candidates.append(Path.cwd() / path)
    return next((c for c in candidates if c.is_file()), None)


def load_topology(path: Path, key_path: str = "topology") -> Topology:
    """Parse and validate the stack file; its problems are reported under `key_path`."""
    try:
        from regions.validate import load_stack
    except ImportError:  # foundation's loader not merged yet (TEMPORARY, see _load_unvalidated)
        load_stack = _load_unvalidated
    try:
        return load_stack(path)
    except InputError as err:
        raise InputError(
            f"the topology {path} of the experiment is invalid",
            [Problem(f"{key_path} -> {p.path}", p.message, p.fix, p.rule) for p in err.problems]
            or [Problem(key_path, err.summary)],
        ) from None


def _load_unvalidated(path: Path) -> Topology:
    """TEMPORARY stand-in for `regions.validate.load_stack` until it is merged: builds the
    typed topology from a well-formed stack file without the foundation's validation."""
    import yaml

    from regions.residency import Transfer
    from regions.topology import SLO, DRPolicy, JurisdictionConfig, RegionRole, ReplicaBounds, Workload

    raw = yaml.safe_load(Path(path).read_text())["config"]["meridian:topology"]
    jurisdictions = {
        code: JurisdictionConfig(code, tuple(RegionRole(r["region"], r["role"]) for r in j["regions"]),
                                 DRPolicy(**j["dr"]))
        for code, j in raw["jurisdictions"].items()
    }
    workloads = tuple(
        Workload(w["name"], w["instance_type"], tuple(w["data_classes"]), tuple(w["jurisdictions"]),
                 SLO(**w["slo"]), ReplicaBounds(**w["replicas"]), w.get("spot_share", 0.0))
        for w in raw["workloads"]
    )
    transfers = tuple(Transfer(t["from"], t["to"], t["basis"]) for t in raw.get("transfers") or [])
    stack = Path(path).name.removeprefix("Pulumi.").removesuffix(".yaml")
    return Topology(raw["domain"], jurisdictions, workloads, transfers, stack, str(path))
