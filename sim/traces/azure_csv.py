"""Azure LLM inference trace (Patel et al., "Splitwise", ISCA 2024; Azure/AzurePublicDataset):
`TIMESTAMP, ContextTokens, GeneratedTokens`, one row per request."""
from __future__ import annotations

from pathlib import Path

from sim.traces.arrivals import Arrivals
from sim.traces.csv_columns import Columns, load_csv

AZURE_COLUMNS = Columns(time="TIMESTAMP", prompt="ContextTokens", output="GeneratedTokens")


def looks_like_azure(header: list[str]) -> bool:
    return {AZURE_COLUMNS.time, AZURE_COLUMNS.prompt, AZURE_COLUMNS.output} <= {h.strip() for h in header}


def load_azure(path: str | Path) -> Arrivals:
    return load_csv(path, AZURE_COLUMNS)
