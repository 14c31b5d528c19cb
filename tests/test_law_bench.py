"""`python -m controller.law.bench` prints its figures (no timing is asserted)."""
from __future__ import annotations

import pytest

from controller.law import bench


def test_speed_benchmark_prints_decisions_per_second(capsys):
    assert bench.main(["--decisions", "300"]) == 0
    out = capsys.readouterr().out
    assert "decisions        300" in out
    assert "decisions/s" in out and "cpu seconds" in out
    final = int(out.rsplit("final replicas", 1)[1].split()[0])
    assert 1 <= final <= 500


@pytest.mark.parametrize("argv, says", [
    (["--decisions", "0"], "--decisions must be > 0"),
    (["--decisions", "10000000000000"], "--decisions must be at most"),  # was a MemoryError traceback
    (["--seed", "-1"], "--seed must be >= 0"),  # was numpy's ValueError traceback
])
def test_speed_benchmark_refuses_bad_arguments(capsys, argv, says):
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
