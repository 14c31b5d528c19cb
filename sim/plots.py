"""`meridian bench --plot DIR`: PNGs per trace (matplotlib, Agg backend, no display needed).

- `<trace>-replicas.png`: ready and starting replicas over time per policy, with the load;
- `<trace>-ttft.png`: TTFT distribution (CDF) per policy, with the target;
- `<trace>-cost.png`: cost against SLO window attainment per policy.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")


def _save(fig, path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
        plt.close(fig)
    return path


CDF_POINTS = 400


@dataclass
class PlotRun:
    """What the plots need from one run: timelines and a down-sampled TTFT distribution."""

    timelines: dict
    ttft_s: np.ndarray  # CDF_POINTS quantiles of served requests' TTFT
    fraction: np.ndarray  # share of all requests at or below each quantile

    @classmethod
    def of(cls, arrivals, result) -> "PlotRun":
        ok = np.isfinite(result.ttft_s)
        w = arrivals.weight
        v, wv = result.ttft_s[ok], w[ok]
        if len(v) == 0:
            return cls(result.timelines, np.zeros(0), np.zeros(0))
        order = np.argsort(v, kind="stable")
        cum = np.cumsum(wv[order]) / max(w.sum(), 1e-12)
        pick = np.unique(np.linspace(0, len(v) - 1, CDF_POINTS).astype(np.int64))
        return cls(result.timelines, v[order][pick], cum[pick])


def _totals(run: PlotRun) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tls = list(run.timelines.values())
    t = np.asarray(tls[0].time_s) / 3600.0
    ready = np.sum([tl.ready for tl in tls], axis=0)
    starting = np.sum([tl.starting for tl in tls], axis=0)
    load = np.sum([tl.arrival_rps for tl in tls], axis=0)
    return t, ready, starting, load


def write_plots(directory: str, out: dict, runs: dict, cfg) -> list[Path]:
    base = Path(directory)
    written = []
    for entry in out["traces"]:
        spec, slug = entry["trace"], _slug(entry["name"])
        names = [r["policy"] for r in entry["results"]]
        fig, axes = plt.subplots(len(names), 1, figsize=(11, 2.1 * len(names)), sharex=True, squeeze=False)
        for ax, name in zip(axes[:, 0], names):
            t, ready, starting, load = _totals(runs[(spec, name)])
            ax.fill_between(t, 0, ready, step="post", alpha=0.5, label="ready")
            ax.fill_between(t, ready, ready + starting, step="post", alpha=0.4, label="starting")
            ax.set_ylabel(f"{name}\nreplicas")
            twin = ax.twinx()
            twin.plot(t, load, color="black", lw=0.6, label="arrivals req/s")
            twin.set_ylabel("req/s")
        axes[0, 0].legend(loc="upper left", fontsize=7)
        axes[-1, 0].set_xlabel("hours")
        fig.suptitle(f"replicas and load — {entry['name']}")
        written.append(_save(fig, base / f"{slug}-replicas.png"))

        fig, ax = plt.subplots(figsize=(8, 5))
        for name in names:
            run = runs[(spec, name)]
            if len(run.ttft_s):
                ax.plot(run.ttft_s, run.fraction, label=name)
        ax.axvline(out["slo"]["ttft_s"], color="red", ls="--", label="target")
        ax.axhline(out["slo"]["percentile"] / 100.0, color="grey", ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("TTFT (s)")
        ax.set_ylabel("fraction of requests")
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(f"TTFT distribution — {entry['name']}")
        written.append(_save(fig, base / f"{slug}-ttft.png"))

        fig, ax = plt.subplots(figsize=(7, 5))
        for row in entry["results"]:
            ax.scatter(row["slo_window_attainment"], row["cost_usd"], s=40)
            ax.annotate(row["policy"], (row["slo_window_attainment"], row["cost_usd"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        ax.axvline(out["slo"]["target_attainment"], color="red", ls="--")
        ax.set_xlabel("SLO window attainment")
        ax.set_ylabel("cost (USD)")
        ax.set_title(f"cost vs attainment — {entry['name']}")
        written.append(_save(fig, base / f"{slug}-cost.png"))
    return written
