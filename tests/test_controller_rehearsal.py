"""Closed-loop rehearsal: the twin plays the cluster and `meridian controller run` (a separate
process) drives it through a real Prometheus and the Kubernetes API stand-in, time compressed.

The policy here is the bench's HPA baseline (`--policy hpa`), so this test checks the loop
itself; `test_rehearsal_with_the_meridian_law` runs the same loop with the control law once
`controller.law.meridian` is in the build."""
from __future__ import annotations

import importlib.util
import shutil

import pytest

from controller.law.types import Objective
from controller.rehearsal import RehearsalConfig, run

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian prometheus not installed")


def _check(result, cfg):
    assert result.controller_exit == 0  # stopped by SIGTERM, gracefully
    assert result.status_writes >= 3
    # the controller acted, through the scale subresource, and the twin obeyed
    assert result.scale_patches >= 1
    assert result.replicas_max > result.replicas_min  # replicas moved
    assert all(cfg.min_replicas <= r.desired_end <= cfg.max_replicas for r in result.rows)
    # replicas follow the load: the busiest minute never has fewer replicas than the quietest
    busiest = max(result.rows, key=lambda r: r.arrival_rps)
    quietest = min(result.rows, key=lambda r: r.arrival_rps)
    assert busiest.replicas_mean >= quietest.replicas_mean
    return result


def test_rehearsal_drives_the_twin_over_http():
    # warm start (the first minute's load at 70 % of slots), then the load grows ~20 %
    cfg = RehearsalConfig(minutes=3, speed=20, policy="hpa", knob=8, objective=Objective(percentile=95, ttft_s=2.0))
    result = _check(run(cfg), cfg)
    assert result.attainment >= 0.9, result.table(cfg.objective)


@pytest.mark.skipif(importlib.util.find_spec("controller.law.meridian") is None,
                    reason="the meridian control law is not in this build yet")
def test_rehearsal_with_the_meridian_law():
    cfg = RehearsalConfig(minutes=3, speed=20, policy="meridian", objective=Objective(percentile=95, ttft_s=2.0))
    result = _check(run(cfg), cfg)
    assert result.attainment >= 0.9, result.table(cfg.objective)
