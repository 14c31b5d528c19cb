from pathlib import Path

import pytest

from regions.validate import load_stack

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["Pulumi.dev.yaml", "Pulumi.eu-only.yaml"])
def test_example_stacks_validate(name):
    topo = load_stack(ROOT / name)
    assert topo.stack == name[len("Pulumi."):-len(".yaml")]
    assert topo.workloads and topo.jurisdictions
