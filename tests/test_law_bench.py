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


def test_speed_benchmark_refuses_a_bad_count(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--decisions", "0"])
    assert exit_.value.code == 2
    assert "--decisions must be > 0" in capsys.readouterr().err
