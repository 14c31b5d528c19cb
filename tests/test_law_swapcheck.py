"""`python -m controller.law.swapcheck`: bad arguments are refused whole; on a real rate curve a
swap to a bigger batch brings the fleet down only when the law sees the revision."""
from __future__ import annotations

import re

import pytest

from controller.law import swapcheck


@pytest.mark.parametrize("argv, flag", [
    (["--trace", "m-lage"], "did you mean m-large"),
    (["--trace", "azure"], "--trace"),  # one hour: no day to swap in
    (["--slots", "0"], "--slots"),
    (["--decode-factor", "nan"], "--decode-factor"),
    (["--at-hour", "48"], "--at-hour"),
    (["--mean-rate", "-1"], "--mean-rate"),
])
def test_bad_arguments_exit_2_and_name_the_flag(capsys, argv, flag):
    assert swapcheck.main(argv) == 2
    captured = capsys.readouterr()
    assert flag in captured.err and "Traceback" not in captured.err and captured.out == ""


def test_a_bigger_batch_brings_the_fleet_down_only_when_the_revision_is_seen(capsys):
    assert swapcheck.main(["--trace", "m-large", "--mean-rate", "20", "--slots", "64"]) == 0
    rows = {m.group(1): [float(x.replace(",", "")) for x in m.groups()[1:]]
            for m in re.finditer(r"^(revision seen|blind)\s+([\d.]+)\s+([\d,.]+)\s+([\d.]+)\s+([\d.]+)$",
                                 capsys.readouterr().out, re.M)}
    seen, blind = rows["revision seen"], rows["blind"]
    assert seen[2] == blind[2]  # the same law until the swap
    assert seen[3] < 0.9 * blind[3]  # after it, the seen law finds the bigger batch
    assert seen[1] < blind[1] and min(seen[0], blind[0]) >= 0.99
