"""`meridian regions` prints the catalog as a table and as JSON."""
import json

import pytest

from meridian.cli import main
from regions.catalog import load_catalog


def test_regions_table_lists_every_region_with_its_cheapest_gpu(capsys):
    assert main(["regions"]) == 0
    out = capsys.readouterr().out
    catalog = load_catalog()
    for region in catalog.regions.values():
        line = next(l for l in out.splitlines() if f" {region.code} " in l)
        assert line.startswith(region.jurisdiction)
        assert region.cheapest_gpu().type in line
    assert f"{len(catalog.regions)} regions" in out


def test_regions_json_round_trips(capsys):
    assert main(["regions", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {r["code"] for r in doc["regions"]} == set(load_catalog().regions)
    assert doc["source"]["as_of"]


def test_log_level_is_case_insensitive_and_checked(capsys):
    from meridian.cli import main

    assert main(["--log-level", "info", "regions", "--json"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["--log-level", "chatty", "regions"])
    assert exc.value.code == 2
    assert "chatty" in capsys.readouterr().err.lower()
