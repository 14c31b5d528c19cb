"""Closed-loop rehearsal: the twin plays the cluster and `meridian controller run` (a separate
process) drives it through a real Prometheus and the Kubernetes API stand-in, time compressed.

The policy is the meridian control law (`controller.law.meridian`); the baselines go through
the same `--policy` path, checked here only for their flag handling (a second run would
double this file's time)."""
from __future__ import annotations

import shutil

import pytest

from controller.law.types import Limits, Objective
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


def test_baseline_policies_need_their_knob():
    from meridian.commands.controller_cmd import policy_factory
    from regions.errors import InputError

    with pytest.raises(InputError):
        policy_factory("hpa", None)
    with pytest.raises(InputError):
        policy_factory("no-such-policy", 1.0)
    policy = policy_factory("hpa", 8.0)(Objective(), Limits())
    assert policy.name and policy.interval_s > 0


def test_rehearsal_with_the_meridian_law():
    # One replica short of the warm start (70 % of the first minute's slots: 10) while the
    # load climbs from 22 to 26 req/s: the law has to scale up. From the warm start itself the
    # fleet has room for the climb at a 2 s objective, and whether the law adds a replica
    # within a few minutes is then a matter of scrape timing, not of the loop working.
    cfg = RehearsalConfig(minutes=4, speed=20, policy="meridian", initial_replicas=9,
                          objective=Objective(percentile=95, ttft_s=2.0))
    result = _check(run(cfg), cfg)
    assert result.attainment >= 0.9, result.table(cfg.objective)
