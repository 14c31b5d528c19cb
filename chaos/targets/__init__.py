"""Drill targets, one module each behind the `Target` protocol in `chaos.targets.base`.

Imported lazily by name so that validating an experiment never imports boto3,
the Kubernetes client or the twin.
"""
from __future__ import annotations

import importlib


def make_target(name: str, **options):
    """Build target `name` (sim, aws, kube) with its command-line options."""
    module = importlib.import_module(f"chaos.targets.{name}")
    return module.build(**options)
