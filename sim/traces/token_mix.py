"""Prompt/output token mix for traces that carry only rates (rate curves).

Rate curves say how many requests arrive, not how long they are. We draw (prompt, output)
pairs jointly from the empirical distribution of the Azure LLM inference conversation
trace (Patel et al., "Splitwise: Efficient generative LLM inference using phase
splitting", ISCA 2024; Azure/AzurePublicDataset `AzureLLMInferenceTrace_conv.csv`,
CC-BY-4.0), read from `../shared/traces` at run time, never copied into the repository.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from regions.errors import InputError, Problem
from sim.traces.arrivals import shared_traces_dir

AZURE_CONV = "azure_llm_2023/AzureLLMInferenceTrace_conv.csv"


@dataclass(frozen=True)
class TokenMix:
    """Request sizes sorted by prompt length, so quantile positions stratify the mix."""

    prompt: np.ndarray
    output: np.ndarray
    source: str

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.integers(0, len(self.prompt), n)
        return self.prompt[idx], self.output[idx]

    def stratified(self, rng: np.random.Generator, steps: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """`k` draws per step, one from each 1/k prompt-length stratum, in random order."""
        u = (np.arange(k)[None, :] + rng.random((steps, k))) / k
        idx = np.minimum((u * len(self.prompt)).astype(np.int64), len(self.prompt) - 1)
        idx = rng.permuted(idx, axis=1)
        return self.prompt[idx], self.output[idx]


@lru_cache(maxsize=1)
def azure_mix() -> TokenMix:
    from sim.traces.azure_csv import load_azure

    path = shared_traces_dir() / AZURE_CONV
    if not path.exists():
        raise InputError("no token mix for the rate curve", [Problem(
            str(path), "the Azure conversation trace, used as the prompt/output token mix, is missing",
            fix="put the shared traces at <repo>/../shared/traces (see SOURCES.md there)")])
    trace = load_azure(path)
    order = np.argsort(trace.prompt_tokens, kind="stable")
    return TokenMix(trace.prompt_tokens[order], trace.output_tokens[order], source=str(path))
