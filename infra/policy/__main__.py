"""Serve meridian's policies to the Pulumi CLI: `pulumi preview --policy-pack infra/policy`."""
import sys
from pathlib import Path

# The policies import `infra` and `regions` from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from infra.policy.policies import POLICIES  # noqa: E402

PolicyPack(name="meridian-residency", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
