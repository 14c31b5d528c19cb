"""Request-level CSV with named columns (timestamp, prompt tokens, output tokens).

Timestamps may be numbers (in `time_unit`) or `YYYY-MM-DD HH:MM:SS[.fraction]` (UTC assumed).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sim.traces.arrivals import Arrivals, from_requests, refuse, token_count

UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


@dataclass(frozen=True)
class Columns:
    time: str
    prompt: str
    output: str
    time_unit: str = "s"


def parse_time(text: str, unit: float) -> float:
    try:
        return float(text) * unit
    except ValueError:
        pass
    whole, _, frac = text.strip().partition(".")
    stamp = datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return stamp.timestamp() + (float("0." + frac) if frac else 0.0)


def load_csv(path: str | Path, columns: Columns, name: str | None = None) -> Arrivals:
    unit = UNITS[columns.time_unit]
    times, prompts, outputs, lines = [], [], [], []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise refuse(path, 1, "empty file", "pass a CSV with a header row and request rows")
        header = [h.strip() for h in header]
        missing = [c for c in (columns.time, columns.prompt, columns.output) if c not in header]
        if missing:
            raise refuse(path, 1, f"missing column(s) {', '.join(missing)}; header has {', '.join(header)}",
                         "name the columns with --time-column/--prompt-column/--output-column")
        it, ip, io = (header.index(c) for c in (columns.time, columns.prompt, columns.output))
        for line, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < len(header):
                raise refuse(path, line, f"{len(row)} fields, header has {len(header)}",
                             "every row needs a value for every column")
            try:
                times.append(parse_time(row[it], unit))
            except ValueError:
                raise refuse(path, line, f"{columns.time} is not a timestamp: {row[it]!r}",
                             "use seconds, or YYYY-MM-DD HH:MM:SS[.fraction]") from None
            prompts.append(token_count(path, line, columns.prompt, row[ip]))
            outputs.append(token_count(path, line, columns.output, row[io]))
            lines.append(line)
    return from_requests(name or Path(path).name, path, times, prompts, outputs, lines)
