"""Pulumi program (Pulumi.yaml: `main: infra/`): read config, validate the topology, wire the
components. Nothing happens at import; Pulumi runs this file as `__main__`, and the offline
plan (`meridian plan`) imports it and calls `main()` under Pulumi's mock runtime."""
from __future__ import annotations

import sys
from pathlib import Path

# Pulumi puts infra/ itself on sys.path; the program imports `infra`, `regions` and
# `controller` from the repository root (or from an installed `pip install -e .`).
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import pulumi  # noqa: E402


def main() -> None:
    from infra.estate import build_estate
    from infra.settings import settings_from_config
    from regions.validate import parse_topology

    config = pulumi.Config("meridian")
    stack = pulumi.get_stack()
    topology = parse_topology(config.require_object("topology"), stack=stack, source=f"Pulumi.{stack}.yaml")
    settings = settings_from_config(config.get, _config_keys())
    estate = build_estate(topology, settings, stack)
    for key, value in estate.outputs.items():
        pulumi.export(key, value)


def _config_keys() -> set[str]:
    """The stack's config keys as the language host handed them to the program."""
    from pulumi.runtime import config as runtime_config

    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


if __name__ == "__main__":
    main()
