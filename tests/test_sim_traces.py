"""Trace loaders: good traces load, malformed ones are refused with line number and reason."""
from __future__ import annotations

import json

import numpy as np
import pytest

from meridian.cli import main
from regions.errors import InputError
from sim.traces import TraceOptions, load_trace
from sim.traces.csv_columns import Columns

AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def refused(spec, options=TraceOptions()) -> str:
    with pytest.raises(InputError) as err:
        load_trace(spec, options)
    return err.value.render()


def test_azure_csv_loads_relative_times(tmp_path):
    p = write(tmp_path, "a.csv", AZURE_HEADER + "2023-11-16 18:15:46.6805900,374,44\n"
              "2023-11-16 18:15:50.9951690,396,109\n2023-11-16 18:15:51.0000000,10,0")
    t = load_trace(p)
    assert t.time_s.tolist() == pytest.approx([0.0, 4.314579, 4.319410], abs=1e-5)
    assert t.prompt_tokens.tolist() == [374, 396, 10] and t.output_tokens.tolist() == [44, 109, 0]


@pytest.mark.parametrize("body,line,reason", [
    ("2023-11-16 18:15:46,374,44\n2023-11-16 18:15:40,10,10\n", 3, "backwards"),
    ("2023-11-16 18:15:46,374,44\nyesterday,10,10\n", 3, "not a timestamp"),
    ("2023-11-16 18:15:46,374,44\n2023-11-16 18:15:47,ten,10\n", 3, "not a number"),
    ("2023-11-16 18:15:46,374,-4\n", 2, "negative"),
    ("0,1,1\nnan,1,1\n5,1,1\n", 3, "not a finite number"),
    ("0,1,1\ninf,1,1\n", 3, "not a finite number"),
    ("0,1,1\n1,1,10000000000\n", 3, "more than any model's context"),
])
def test_bad_azure_rows_refused_with_line(tmp_path, body, line, reason):
    msg = refused(write(tmp_path, "bad.csv", AZURE_HEADER + body))
    assert f"bad.csv:{line}" in msg and reason in msg


def test_missing_column_refused(tmp_path):
    msg = refused(write(tmp_path, "m.csv", "TIMESTAMP,ContextTokens\n1,2\n"))
    assert "m.csv:1" in msg and "ContextTokens" in msg


def test_empty_and_header_only_refused(tmp_path):
    assert "empty" in refused(write(tmp_path, "e.csv", ""))
    assert "no requests" in refused(write(tmp_path, "h.csv", AZURE_HEADER))
    assert "no requests" in refused(write(tmp_path, "e.jsonl", ""))


def test_jsonl_loads_and_refuses(tmp_path):
    rows = [{"timestamp": 1000, "input_length": 5, "output_length": 7},
            {"timestamp": 2500, "input_length": 8, "output_length": 1}]
    good = write(tmp_path, "g.jsonl", "\n".join(json.dumps(r) for r in rows))
    t = load_trace(good)
    assert t.time_s.tolist() == [0.0, 1.5] and t.prompt_tokens.tolist() == [5, 8]
    bad = write(tmp_path, "b.jsonl", json.dumps(rows[0]) + "\n{\"timestamp\": \"x\", \"input_length\": 1, "
                "\"output_length\": 1}\n")
    msg = refused(bad)
    assert "b.jsonl:2" in msg and "timestamp" in msg
    unsorted = write(tmp_path, "u.jsonl", "\n".join(json.dumps(r) for r in reversed(rows)))
    assert "u.jsonl:2" in refused(unsorted)
    nan = write(tmp_path, "n.jsonl", json.dumps(rows[0]) + '\n{"timestamp": NaN, "input_length": 1, '
                '"output_length": 1}\n')
    assert "n.jsonl:2" in refused(nan) and "finite" in refused(nan)


def test_generic_csv_with_named_columns(tmp_path):
    p = write(tmp_path, "x.csv", "ts_ms,in,out\n0,10,20\n500,30,40\n")
    t = load_trace(p, TraceOptions(columns=Columns("ts_ms", "in", "out", time_unit="ms")))
    assert t.time_s.tolist() == [0.0, 0.5] and t.output_tokens.tolist() == [20, 40]
    assert "header" in refused(p)  # without column names: refused, with a hint


def test_rate_scale_superposes_shifted_copies(tmp_path):
    rows = "".join(f"2023-11-16 18:00:{i:02d},{i + 1},1\n" for i in range(50))
    p = write(tmp_path, "r.csv", AZURE_HEADER + rows)
    base = load_trace(p)
    tripled = load_trace(p, TraceOptions(rate_scale=3))
    assert tripled.requests == 3 * base.requests
    assert np.all(np.diff(tripled.time_s) >= 0) and tripled.time_s.max() < base.duration_s
    assert sorted(tripled.prompt_tokens.tolist()) == sorted(base.prompt_tokens.tolist() * 3)
    half = load_trace(p, TraceOptions(rate_scale=0.5, seed=3))
    assert 10 < half.requests < 40


def test_a_scale_beyond_the_memory_budget_is_refused_before_copying(tmp_path, monkeypatch):
    # `--mean-rate 1e9` on the Azure hour asked for 1.8e8 copies: it ran until memory ran out
    monkeypatch.setattr("sim.traces.MAX_REQUESTS", 1_000)
    monkeypatch.setattr("sim.traces.scale_requests", lambda *a: pytest.fail("copied anyway"))
    rows = "".join(f"2023-11-16 18:00:{i:02d},{i + 1},1\n" for i in range(50))
    p = write(tmp_path, "r.csv", AZURE_HEADER + rows)
    for options in (TraceOptions(rate_scale=21), TraceOptions(mean_rate=1e9)):
        text = refused(p, options)
        assert "--mean-rate/--rate-scale" in text and "2 GB" in text and "at most" in text


def test_rate_curve_expands_with_rate_and_burstiness(tmp_path):
    lines = ["model,window_start_s,total_rate_rps,active_clients,rate_weighted_cv"]
    lines += [f"a,{i * 600},{2.0 if i % 2 else 6.0},3,1.0" for i in range(6)]
    lines += [f"b,{i * 600},1.0,3,4.0" for i in range(6)]
    lines += [f"c,{i * 600},1.0,3,1.0" for i in range(6)]
    p = write(tmp_path, "curve.csv", "\n".join(lines) + "\n")
    a = load_trace(p + "#a")
    assert not a.cohorts and a.requests == pytest.approx(3600 * 4.0, rel=0.05)
    first = (a.time_s < 600).sum()
    assert first == pytest.approx(3600, rel=0.1)  # window rate 6 req/s
    scaled = load_trace(p + "#a", TraceOptions(mean_rate=1.0, days=1 / 24))
    assert scaled.requests == pytest.approx(3600, rel=0.1)
    # CV 4 (bursty) vs CV 1 (Poisson): per-10 s counts are far more dispersed.
    b = load_trace(p + "#b", TraceOptions(mean_rate=4.0))
    disp = lambda tr: np.var(np.bincount((tr.time_s // 10).astype(int))) / np.mean(  # noqa: E731
        np.bincount((tr.time_s // 10).astype(int)))
    poisson = load_trace(p + "#c", TraceOptions(mean_rate=4.0))
    assert disp(poisson) == pytest.approx(1.0, abs=0.3)  # Poisson: variance = mean
    assert disp(b) > 5 * disp(poisson)


def test_rate_curve_errors(tmp_path):
    p = write(tmp_path, "c.csv", "model,window_start_s,total_rate_rps,active_clients,rate_weighted_cv\n"
              "a,0,1,1,1\na,600,-2,1,1\n")
    assert "c.csv:3" in refused(p + "#a") and "negative" in refused(p + "#a")
    assert "series in file: a" in refused(p + "#zzz")


def test_cli_refuses_bad_trace_with_exit_2(tmp_path, capsys):
    bad = write(tmp_path, "bad.csv", AZURE_HEADER + "2023-11-16 18:15:46,374,44\n2023-11-16 18:15:40,1,1\n")
    assert main(["bench", "--trace", bad, "--policies", "static"]) == 2
    err = capsys.readouterr().err
    assert "bad.csv:3" in err and "Traceback" not in err


def test_rate_curve_without_series_and_days_beyond_it_refused(tmp_path):
    p = write(tmp_path, "c.csv", "model,window_start_s,total_rate_rps,rate_weighted_cv\n"
              "a,0,1,1\na,600,2,1\nb,0,1,1\n")
    assert "PATH#SERIES" in refused(p) and "series in file: a, b" in refused(p)
    err = refused(p + "#a", TraceOptions(days=1))  # the curve lasts 1200 s
    assert "--days" in err and "0.01389 days" in err
    assert load_trace(p + "#a", TraceOptions(days=600 / 86400)).duration_s == 600


def test_binary_file_refused(tmp_path):
    for name in ("b.csv", "b.jsonl"):
        p = tmp_path / name
        p.write_bytes(b"TIMESTAMP,ContextTokens,GeneratedTokens\n\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
        assert "not UTF-8 text" in refused(str(p))


def test_rate_curve_without_traffic_refused(tmp_path):
    p = write(tmp_path, "z.csv", "model,window_start_s,total_rate_rps,rate_weighted_cv\nz,0,0,1\nz,600,0,1\n")
    assert "no requests (every rate is 0)" in refused(p + "#z")


def test_days_cuts_request_logs_longer_than_d_and_keeps_shorter_ones_whole(tmp_path):
    """One --days serves a bench mixing the hour-long Azure log with multi-day rate curves."""
    p = write(tmp_path, "a.csv", AZURE_HEADER + "2023-11-16 18:00:00,10,10\n"
              "2023-11-16 19:00:00,10,10\n2023-11-17 20:00:00,10,10\n")
    assert len(load_trace(p, TraceOptions(days=2)).time_s) == 3  # 26 h < 2 days: whole
    assert len(load_trace(p, TraceOptions(days=0.5)).time_s) == 2  # first 12 h only


def test_bench_refuses_days_when_no_trace_is_a_rate_curve(tmp_path, capsys):
    p = write(tmp_path, "a.csv", AZURE_HEADER + "2023-11-16 18:00:00,10,10\n")
    assert main(["bench", "--trace", p, "--days", "1"]) == 2
    assert "--days" in capsys.readouterr().err


def test_start_day_benches_later_days_of_a_rate_curve(tmp_path):
    """--start-day S selects days the law was never developed on: the windows from S on,
    re-timed to start at 0, and refuses a window that runs past the curve."""
    day = 86400
    rows = [f"a,{i * 21600},{1.0 + 2.0 * (i // 4)},1.0" for i in range(12)]  # 3 days: 1, 3, 5 req/s
    p = write(tmp_path, "c.csv", "model,window_start_s,total_rate_rps,rate_weighted_cv\n" + "\n".join(rows) + "\n")
    first = load_trace(p + "#a", TraceOptions(days=1))
    later = load_trace(p + "#a", TraceOptions(days=1, start_day=2))
    assert first.duration_s == later.duration_s == day
    assert later.time_s.min() >= 0 and later.time_s.max() < day
    assert later.requests == pytest.approx(5.0 * day, rel=0.02)  # day 2's rate is 5 req/s
    assert first.requests == pytest.approx(1.0 * day, rel=0.05)
    half = load_trace(p + "#a", TraceOptions(days=0.5, start_day=1.5))  # days 1.5-2 at 3 req/s
    assert half.requests == pytest.approx(3.0 * day / 2, rel=0.02)
    err = refused(p + "#a", TraceOptions(days=2, start_day=2))
    assert "--days" in err and "from day 2" in err and "--days 1" in err
    assert "--start-day" in refused(p + "#a", TraceOptions(start_day=3))
    assert "--start-day" in refused(p + "#a", TraceOptions(start_day=float("nan")))


def test_start_day_cuts_long_request_logs_and_keeps_short_ones_whole(tmp_path):
    p = write(tmp_path, "a.csv", AZURE_HEADER + "2023-11-16 18:00:00,10,10\n"
              "2023-11-17 19:00:00,10,10\n2023-11-18 20:00:00,10,10\n")
    later = load_trace(p, TraceOptions(start_day=1))  # 50 h log: drop the first 24 h
    assert len(later.time_s) == 2 and later.time_s[0] == pytest.approx(3600)
    assert len(load_trace(p, TraceOptions(start_day=3)).time_s) == 3  # shorter than 3 days: whole


def test_bench_refuses_start_day_without_a_rate_curve_or_negative(tmp_path, capsys):
    p = write(tmp_path, "a.csv", AZURE_HEADER + "2023-11-16 18:00:00,10,10\n")
    assert main(["bench", "--trace", p, "--start-day", "1"]) == 2
    assert "--start-day" in capsys.readouterr().err
    assert main(["bench", "--trace", p + "#a", "--start-day", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--start-day" in err and ">= 0" in err and "Traceback" not in err
