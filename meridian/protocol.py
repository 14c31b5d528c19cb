"""The issue-5 evaluation protocol in one command: every policy, every trace, several scales.

For each mean rate R and capacity mode it runs `meridian bench` once per trace used as
`--tune-on` (so each baseline is tuned on every trace in turn), then scores `meridian`
against the targets: SLO window attainment >= the objective's; cost at most the cheapest
baseline tuned on a *different* trace that still reaches it; at most 1.5 x the oracle;
within 1.1 x the best baseline tuned in hindsight on the evaluated trace itself; and, on
spot-mix, attainment and a cost below the cheapest `skyserve-fallback` run that reaches the
target. The oracle stays on on-demand capacity, so on spot-mix "x oracle" is only informative.
It only runs the bench and reads its JSON.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from meridian import cli
from regions.errors import InputError, Problem

TRACES = (
    "azure_llm_2023/AzureLLMInferenceTrace_conv.csv",
    "alibaba_servegen/servegen_aggregate_rate_10min.csv#language/m-large",
    "alibaba_servegen/servegen_aggregate_rate_10min.csv#language/m-mid",
)
BASELINES = ("hpa", "kpa", "skyserve", "skyserve-fallback", "static")
POLICIES = ("meridian", *BASELINES, "oracle")


@dataclass(frozen=True)
class Row:
    capacity: str
    rate: float
    trace: str
    attainment: float
    cost: float
    oracle: float
    hindsight: tuple[str, float] | None  # cheapest baseline tuned on this trace, reaching the target
    cross: tuple[str, str, float] | None  # cheapest baseline tuned on another trace, reaching it
    fallback: float | None  # skyserve-fallback, cheapest run reaching the target (spot-mix)


def run(out: Path, rates: list[float], days: float, spot_rate: float | None, target: float,
        log=lambda msg: print(msg, file=sys.stderr), rescore: bool = False, start_day: float = 0.0) -> list[Row]:
    """Run the benches (or, with `rescore`, read the JSON a previous run left in `out`) and score."""
    missing = [] if rescore else [d for d in (out, *out.parents) if not d.exists()]  # made below, deepest first
    if not rescore:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create --out {out}", [Problem(
                "--out", err.strerror or str(err), "choose a directory you can write to")]) from None
    try:
        return _run(out, rates, days, spot_rate, target, log, rescore, start_day)
    except BaseException:
        if missing and not any(out.iterdir()):  # the first bench was refused: leave no empty --out
            with contextlib.suppress(OSError):  # never hide the error being raised
                for d in missing:
                    d.rmdir()
        raise


def _run(out: Path, rates: list[float], days: float, spot_rate: float | None, target: float,
         log, rescore: bool, start_day: float) -> list[Row]:
    modes = [("on-demand", r) for r in rates] + ([("spot-mix", spot_rate)] if spot_rate else [])
    rows: list[Row] = []
    for capacity, rate in modes:
        runs = {}
        for tune_on in TRACES:
            path = out / f"{capacity}_R{rate:g}_tune-{short_name(tune_on)}.json"
            if not rescore:
                _bench(path, capacity, rate, days, tune_on, log, start_day)
            elif not path.exists():
                raise InputError("nothing to rescore", [Problem(
                    "--rescore", f"{path} is missing", "run without --rescore first, with the same --out")])
            runs[tune_on] = _read(path)
        try:
            rows += [_score(capacity, rate, trace, runs, target) for trace in TRACES]
        except (KeyError, TypeError) as err:  # a run JSON from another command, or cut by hand
            raise _unusable(out / f"{capacity}_R{rate:g}_tune-*.json", f"lacks {err}") from None
    return rows


def _read(path: Path) -> dict[str, dict[str, dict]]:
    """The results of one bench run's JSON; a file that is not one is an input error."""
    try:
        return _results(json.loads(path.read_text()))
    except OSError as err:
        raise _unusable(path, f"cannot be read ({err.strerror or err})") from None
    except ValueError as err:
        raise _unusable(path, f"is not JSON ({err})") from None
    except (KeyError, TypeError, AttributeError) as err:
        raise _unusable(path, f"is not a `meridian bench --json` file (no {err})") from None


def _unusable(path: Path, why: str) -> InputError:
    return InputError("cannot rescore", [Problem(
        "--rescore", f"{path} {why}", "run without --rescore to write it again, with the same --out")])


def _bench(path: Path, capacity: str, rate: float, days: float, tune_on: str, log, start_day: float = 0.0) -> None:
    log(f"[protocol] {capacity} R={rate:g} tuned on {short_name(tune_on)} -> {path}")
    args = ["bench", "--tune-on", tune_on, "--mean-rate", f"{rate:g}", "--days", f"{days:g}",
            "--start-day", f"{start_day:g}",
            "--capacity", capacity, "--policies", ",".join(POLICIES), "--json", str(path)]
    for t in TRACES:
        args += ["--trace", t]
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(args)
    if code != 0:
        raise InputError(f"meridian bench exited {code}", [Problem(
            "bench-protocol", f"{capacity} R={rate:g} tuned on {tune_on} failed (see the messages above)",
            "fix the reported problem and run again")])


def _results(doc: dict) -> dict[str, dict[str, dict]]:
    return {t["trace"]: {r["policy"]: r for r in t["results"]} for t in doc["traces"]}


def _score(capacity: str, rate: float, trace: str, runs: dict, target: float) -> Row:
    own = runs[trace][trace]
    ok = lambda r: r["slo_window_attainment"] >= target  # noqa: E731
    hind = [(b, own[b]["cost_usd"]) for b in BASELINES if b in own and ok(own[b])]
    cross = [(b, short_name(t), runs[t][trace][b]["cost_usd"]) for t in TRACES if t != trace
             for b in BASELINES if b in runs[t][trace] and ok(runs[t][trace][b])]
    fb = [runs[t][trace]["skyserve-fallback"]["cost_usd"] for t in TRACES
          if ok(runs[t][trace]["skyserve-fallback"])]
    m = own["meridian"]
    return Row(capacity, rate, trace, m["slo_window_attainment"], m["cost_usd"], own["oracle"]["cost_usd"],
               min(hind, key=lambda h: h[1]) if hind else None,
               min(cross, key=lambda c: c[2]) if cross else None, min(fb) if fb else None)


def table(rows: list[Row], target: float) -> str:
    head = (f"{'capacity':<10}{'R':>5}  {'trace':<9}{'attain':>8}{'cost $':>11}{'x oracle':>9}"
            f"{'x hindsight':>12}  {'reference (cross-tuned / fallback)':<36}{'verdict'}")
    lines = [head]
    for r in rows:
        checks = [r.attainment >= target]
        hind = f"{r.cost / r.hindsight[1]:.2f}" if r.hindsight else "-"
        cross = f"{r.cross[0]}/{r.cross[1]} {r.cross[2]:,.2f}" if r.cross else "none reaches it"
        if r.capacity == "spot-mix":  # issue 5: below skyserve-fallback at the target
            checks.append(r.fallback is None or r.cost < r.fallback)
            cross = f"skyserve-fallback {r.fallback:,.2f}" if r.fallback is not None else "none reaches it"
        else:  # issue 5, on-demand: <= 1.5 x oracle, <= 1.1 x hindsight, <= cheapest cross-tuned
            checks.append(r.cost <= 1.5 * r.oracle)
            if r.hindsight:
                checks.append(r.cost <= 1.1 * r.hindsight[1])
            if r.cross:
                checks.append(r.cost <= r.cross[2])
        lines.append(f"{r.capacity:<10}{r.rate:>5g}  {short_name(r.trace):<9}{r.attainment:>8.4f}{r.cost:>11,.2f}"
                     f"{r.cost / r.oracle:>9.2f}{hind:>12}  {cross:<36}"
                     f"{'all met' if all(checks) else f'{sum(checks)}/{len(checks)} met'}")
    return "\n".join(lines)


def short_name(trace: str) -> str:
    """azure, m-large or m-mid: a trace's name in tables and file names."""
    return trace.split("#")[-1].split("/")[-1].replace("AzureLLMInferenceTrace_conv.csv", "azure")
