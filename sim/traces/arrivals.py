"""The one shape every trace loader produces: arrivals as parallel numpy arrays."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from regions.errors import InputError, Problem


@dataclass
class Arrivals:
    """Requests (or cohorts standing for many requests) sorted by arrival time.

    `weight` is 1 for request logs; rate curves too large to enumerate produce a few
    representative rows per time step whose weights sum to that step's arrival count.
    `home` is the index into `jurisdictions` of each row's users (one jurisdiction unless
    the trace was split by a topology).
    """

    name: str
    time_s: np.ndarray
    weight: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    duration_s: float
    cohorts: bool = False  # True when rows are representative cohorts, not requests
    home: np.ndarray | None = None
    jurisdictions: tuple[str, ...] = ("us",)
    notes: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # derived per-step arrays

    @property
    def requests(self) -> float:
        return float(self.weight.sum())

    @property
    def mean_rate_rps(self) -> float:
        return self.requests / max(self.duration_s, 1e-9)

    def homes(self) -> np.ndarray:
        return self.home if self.home is not None else np.zeros(len(self.time_s), dtype=np.int32)

    def take(self, mask: np.ndarray, **changes) -> "Arrivals":
        home = None if self.home is None else self.home[mask]
        return replace(self, time_s=self.time_s[mask], weight=self.weight[mask],
                       prompt_tokens=self.prompt_tokens[mask], output_tokens=self.output_tokens[mask],
                       home=home, cache={}, **changes)


def shared_traces_dir() -> Path:
    """`<repo root>/../shared/traces`, where the real traces live (never copied into the repo)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "traces"


def refuse(path: str | Path, line: int | None, reason: str, fix: str) -> InputError:
    where = f"{path}:{line}" if line is not None else str(path)
    return InputError(f"malformed trace {path}", [Problem(where, reason, fix=fix, rule="trace")])


def from_requests(name: str, path: str | Path, times: list[float], prompts: list[float],
                  outputs: list[float], lines: list[int]) -> Arrivals:
    """Check order and emptiness once for every request-level loader, then build arrays."""
    if not times:
        raise refuse(path, None, "no requests (empty file or header only)",
                     "pass a trace with at least one request row")
    t = np.asarray(times, dtype=np.float64)
    odd = np.flatnonzero(~np.isfinite(t))
    if odd.size:
        i = int(odd[0])
        raise refuse(path, lines[i], f"timestamp is not a finite number ({t[i]})",
                     "give every request a finite timestamp")
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise refuse(path, lines[i], f"timestamp goes backwards ({t[i]:.3f} s after {t[i - 1]:.3f} s)",
                     "sort the trace by timestamp")
    t = t - t[0]
    return Arrivals(name=name, time_s=t, weight=np.ones(len(t)),
                    prompt_tokens=np.asarray(prompts, dtype=np.float64),
                    output_tokens=np.asarray(outputs, dtype=np.float64),
                    duration_s=float(t[-1]) + 1.0)


# No request can be longer than the largest context window any published model serves:
# 10 million tokens (Meta, "The Llama 4 herd", April 2025: Llama 4 Scout). A larger count is
# a corrupt row, and one such row would make the queue's release ring (sized by the longest
# service time) take gigabytes.
MAX_TOKENS = 10_000_000


def token_count(path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise refuse(path, line, f"{column} is not a number: {text!r}", "token counts must be numbers") from None
    if not np.isfinite(value) or value < 0:
        raise refuse(path, line, f"{column} is negative or not finite: {text!r}",
                     "token counts must be finite and >= 0")
    if value > MAX_TOKENS:
        raise refuse(path, line, f"{column} is {value:,.0f}, more than any model's context ({MAX_TOKENS:,})",
                     "fix or drop the row")
    return value
