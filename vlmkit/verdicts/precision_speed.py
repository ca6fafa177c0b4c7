"""The seed's speed claims for INT8 and INT4, and its two *why* sentences, judged on the whole model per precision.

Speed: each quantized precision's whole query (the headline, at the book's query), prefill and decode against BF16
(``speed-claim`` records, :func:`vlmkit.verdicts.rules.judge_speed_claim`). *Because of dequantization overhead*:
dequantization is GPU work, so if it explained INT4's extra time, the extra time would be extra kernel time; the
claim holds when kernel time explains at least :data:`EXPLAINS_HOLDS` of it, is refuted at most at
:data:`EXPLAINS_REFUTED` (or when INT4 is not slower at all), and holds partly in between; without the profiler's
kernel times it is not measured. *Compute bound, not memory bound*: holds when BF16's prefill and decode are both
compute bound, partly when one is, refuted when neither is (:func:`vlmkit.bench.model_speed.place_phases`).

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vlmkit.bench.model_speed import ModelRun, PlacedPhases, gpu_busy_clause
from vlmkit.bench.roofline import OVERHEAD_SHARE, Ceilings
from vlmkit.measure.records import ResultsStore
from vlmkit.measure.speedup import Speedup, speedup_of_medians
from vlmkit.models.precisions import get_precision
from vlmkit.verdicts.rules import (
    Role,
    judge_speed_claim,
    mechanism_claim,
    record_claim,
    unmeasured_claim,
)

#: The seed's speed claim each quantization is judged against.
SPEED_CLAIM_OF = {"int8": "int8-speed", "4bit": "int4-speed"}
#: The share of the 4-bit model's extra wall time over BF16 that extra kernel time must explain for "because of
#: dequantization overhead" to hold; at most the second, it is refuted.
EXPLAINS_HOLDS, EXPLAINS_REFUTED = 0.75, 0.25


def record_speed_claims(store: ResultsStore, runs: dict[str, ModelRun], *,
                        headline_role: Role) -> dict[str, dict[str, Speedup]]:
    """One ``speed-claim`` record per quantized precision of ``runs`` and per phase (``query``, ``prefill``,
    ``decode``) against ``runs["bf16"]``; the whole query is ``headline_role``, the phases are supporting. The
    ratio is the paired one (:attr:`vlmkit.bench.model_speed.ModelRun.paired`) where the two were timed in
    interleaved rounds, else the ratio of medians of the two timed apart (which :func:`judge_speed_claim` marks).

    Returns the speed-ups by precision and phase. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    base, speedups = runs["bf16"], {}
    for name, run in runs.items():
        prec = get_precision(name)
        if prec.quantization not in SPEED_CLAIM_OF:
            continue
        speedups[name] = {}
        for phase, what, role in (("query", f"whole query, ms per query ({run.query.describe()})", headline_role),
                                  ("prefill", "prefill time", "supporting"),
                                  ("decode", "decode time per token", "supporting")):
            measured = speedups[name][phase] = (run.paired.speedup(phase) if run.paired is not None
                                                else speedup_of_medians(base.timings[phase], run.timings[phase]))
            metrics = judge_speed_claim(SPEED_CLAIM_OF[prec.quantization], measured, baseline="BF16",
                                        variant=prec.label, what=what, role=role)
            record_claim(store, metrics, model=run.model, precision=name, shapes=run.shapes(), repeats=run.repeats)
    return speedups


def dequantization_outcome(extra_wall_s: float, extra_kernel_s: float) -> tuple[str, float]:
    """``holds``, ``partly`` or ``refuted`` for "INT4 is slower because of dequantization overhead", and the share of
    the extra wall time that extra kernel time explains (NaN where INT4 is not slower).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    explained = extra_kernel_s / extra_wall_s if extra_wall_s > 0 else math.nan
    outcome = ("refuted" if extra_wall_s <= 0 or explained <= EXPLAINS_REFUTED else
               "holds" if explained >= EXPLAINS_HOLDS else "partly")
    return outcome, explained


def record_dequantization_claims(store: ResultsStore, runs: dict[str, ModelRun]) -> list[dict[str, Any]]:
    """For each 4-bit precision of ``runs``: a ``mechanism-claim`` record judging "because of dequantization
    overhead" from the kernel times (:func:`dequantization_outcome`), or, without them, an ``unmeasured-claim`` with
    the reason. Returns the mechanism records' metrics.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    base, judged = runs["bf16"], []
    for name, run in runs.items():
        if get_precision(name).quantization != "4bit":
            continue
        if run.busy is None or base.busy is None:
            reason = (f"GPU kernel time needs CUDA's profiler; this run is on {run.device.type}"
                      if run.device.type != "cuda" else "the profiler could not measure kernel time: "
                      + "; ".join(f"{r.precision}: {r.busy_failure}" for r in (base, run) if r.busy_failure is not None))
            record_claim(store, unmeasured_claim("int4-dequantization", reason, role="headline"), model=run.model,
                         precision=name, shapes=run.shapes(), repeats=run.repeats)
            continue
        wall = {p: float(np.median(runs[p].timings["query"])) for p in ("bf16", name)}
        extra_wall, extra_kernel = wall[name] - wall["bf16"], run.busy.query_s - base.busy.query_s
        outcome, explained = dequantization_outcome(extra_wall, extra_kernel)
        text = (f"{run.label} takes {1e3 * wall[name]:.0f} ms per query against BF16's {1e3 * wall['bf16']:.0f} ms; "
                f"its kernels take {1e3 * run.busy.query_s:.0f} ms against {1e3 * base.busy.query_s:.0f} ms")
        if extra_wall > 0:
            text += f", so kernel time explains {explained:.0%} of the extra {1e3 * extra_wall:.0f} ms"
        text += (f"; per decode token: kernels {1e3 * run.busy.decode_s_per_token:.1f} vs "
                 f"{1e3 * base.busy.decode_s_per_token:.1f} ms, wall {run.speed.decode_ms_per_token:.1f} vs "
                 f"{base.speed.decode_ms_per_token:.1f} ms")
        metrics = {**mechanism_claim("int4-dequantization", text, outcome), "extra_wall_s": extra_wall,
                   "extra_kernel_s": extra_kernel, "explained_share": None if math.isnan(explained) else explained,
                   "rule": f"holds >= {EXPLAINS_HOLDS:.0%}, refuted <= {EXPLAINS_REFUTED:.0%} explained"}
        record_claim(store, metrics, model=run.model, precision=name, shapes=run.shapes(), repeats=run.repeats)
        judged.append(metrics)
    return judged


def compute_bound_outcome(decode_regime: str, prefill_regime: str) -> str:
    """``holds`` when both phases are compute bound, ``partly`` when one is, ``refuted`` when neither is.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    regimes = (decode_regime, prefill_regime)
    return "holds" if regimes.count("compute bound") == 2 else "partly" if "compute bound" in regimes else "refuted"


def record_compute_bound_claim(store: ResultsStore, run: ModelRun, placed: PlacedPhases,
                               ceilings: Ceilings) -> dict[str, Any]:
    """A ``mechanism-claim`` record judging "the 8B model is compute bound, not memory bound" from where ``run``'s
    (BF16's) decode and prefill fall on the roofline (:func:`compute_bound_outcome`); returns its metrics.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    decode, prefill = placed.phases[(run.precision, "decode")], placed.phases[(run.precision, "prefill")]
    text = f"decode {decode.describe(ceilings)}; prefill {prefill.describe(ceilings)}{gpu_busy_clause(run, placed)}"
    metrics = {**mechanism_claim("compute-bound", text, compute_bound_outcome(decode.regime, prefill.regime)),
               "decode_regime": decode.regime, "prefill_regime": prefill.regime,
               "decode_flop_per_byte": decode.intensity, "prefill_flop_per_byte": prefill.intensity,
               "decode_best_share": decode.best_share, "prefill_best_share": prefill.best_share,
               "overhead_cutoff": OVERHEAD_SHARE, "ridge": ceilings.ridge_intensity}
    record_claim(store, metrics, model=run.model, precision=run.precision, shapes=run.shapes(), repeats=run.repeats)
    return metrics
