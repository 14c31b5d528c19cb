"""Load the topology a drill runs against from a Pulumi stack file.

The foundation's `regions.validate.load_stack` is the one parser and validator of
`meridian:topology`; this module only resolves the path the experiment gives
(relative to the experiment file, then to the working directory).
"""
from __future__ import annotations

from pathlib import Path

from regions.errors import InputError, Problem
from regions.topology import Topology
from regions.validate import load_stack


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
        return load_stack(path)
    except InputError as err:
        raise InputError(
            f"the topology {path} of the experiment is invalid",
            [Problem(f"{key_path} -> {p.path}", p.message, p.fix, p.rule) for p in err.problems]
            or [Problem(key_path, err.summary)],
        ) from None

