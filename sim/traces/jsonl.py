"""Request-level JSON Lines: `{"timestamp": <ms>, "input_length": n, "output_length": m}` per line."""
from __future__ import annotations

import json
from pathlib import Path

from sim.traces.arrivals import Arrivals, from_requests, refuse, token_count

FIELDS = ("timestamp", "input_length", "output_length")


def load_jsonl(path: str | Path) -> Arrivals:
    times, prompts, outputs, lines = [], [], [], []
    with open(path) as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as err:
                raise refuse(path, line, f"not JSON ({err.msg})", "one JSON object per line") from None
            if not isinstance(row, dict):
                raise refuse(path, line, "not a JSON object", "one JSON object per line")
            missing = [k for k in FIELDS if k not in row]
            if missing:
                raise refuse(path, line, f"missing field(s) {', '.join(missing)}",
                             f"every line needs {', '.join(FIELDS)}")
            stamp = row["timestamp"]
            if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
                raise refuse(path, line, f"timestamp is not a number: {stamp!r}", "timestamp in milliseconds")
            times.append(float(stamp) / 1000.0)
            prompts.append(token_count(path, line, "input_length", str(row["input_length"])))
            outputs.append(token_count(path, line, "output_length", str(row["output_length"])))
            lines.append(line)
    return from_requests(Path(path).name, path, times, prompts, outputs, lines)
