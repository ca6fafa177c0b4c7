"""The whole model per precision: a query's time, its prefill and decode apart, the GPU's kernel time per phase, and
where each phase falls on the roofline.

A query is one image and a question in, a fixed-length answer out (:class:`vlmkit.runtime.inference.CallStats`).
:class:`ModelSpeed` is its ``model-speed`` record: medians in ms, every sample in seconds and, on CUDA, the
profiler's kernel time per phase (:class:`vlmkit.measure.profiler.PhaseBusy`); a quantized precision's speed-up
over BF16 from rounds interleaved with it (the headline method) is its
:class:`vlmkit.measure.interleaved.PairedRuns`. :class:`ModelRun` keeps with it what
the loaded model showed (its footprint, the 4-bit layers its fast kernel cannot take). :func:`place_phases` divides
each phase's FLOPs and bytes by its measured time and places it: compute, memory or overhead bound
(:func:`vlmkit.bench.roofline.classify_phase`). The loop that measures them is
:func:`vlmkit.bench.dequantization.measure_model_speeds`.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vlmkit.bench.query import QuerySetup
from vlmkit.bench.roofline import Ceilings, PhaseBound, classify_phase, decode_step_work
from vlmkit.measure.footprint import Footprint
from vlmkit.measure.interleaved import PairedRuns
from vlmkit.measure.profiler import PhaseBusy
from vlmkit.measure.records import Measurement
from vlmkit.models.precisions import get_precision
from vlmkit.runtime.inference import CallStats

#: The kernel-time metrics of a ``model-speed`` record, written only where the profiler measured them (CUDA).
BUSY_KEYS = ("busy_query_s", "busy_prefill_s", "busy_decode_s_per_token")
#: The cut-offs each phase is placed with besides :data:`vlmkit.bench.roofline.OVERHEAD_SHARE`: a lower and a
#: higher one, to show how far a phase's regime depends on that convention.
OTHER_CUTOFFS = (0.10, 0.50)


@dataclass(frozen=True)
class ModelSpeed(Measurement):
    """A ``model-speed`` record: one precision's whole queries after a warm-up, medians in ms and every sample in s.

    ``kernel_ms_*`` and ``gpu_busy_share_*`` (kernel time over the unprofiled wall time of the phase) are None
    where the profiler measured no kernel time (off CUDA, or a profiler without CUPTI).
    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    EXPERIMENT = "model-speed"
    precision: str
    query_ms: float
    prefill_ms: float
    decode_ms_per_token: float
    weights_gb: float
    tokens_in: int
    visual_tokens: int
    kernel_ms_prefill: float | None
    kernel_ms_per_token: float | None
    gpu_busy_share_prefill: float | None
    gpu_busy_share_decode: float | None
    query_s: list[float]
    prefill_s: list[float]
    decode_s_per_token: list[float]
    busy_query_s: float | None = None
    busy_prefill_s: float | None = None
    busy_decode_s_per_token: float | None = None

    @classmethod
    def of(cls, precision: str, calls: Sequence[CallStats], busy: PhaseBusy | None, weight_bytes: int) -> ModelSpeed:
        """The record of ``calls`` (one per repeat) with the kernel times of ``busy`` and the model's stored bytes."""
        samples = {"query": [c.total_s for c in calls], "prefill": [c.prefill_s for c in calls],
                   "decode": [c.decode_s_per_token for c in calls]}
        median = {k: float(np.median(v)) for k, v in samples.items()}
        b = busy
        return cls(precision, 1e3 * median["query"], 1e3 * median["prefill"], 1e3 * median["decode"],
                   weight_bytes / 1e9, calls[0].tokens_in, calls[0].visual_tokens,
                   kernel_ms_prefill=1e3 * b.prefill_s if b else None,
                   kernel_ms_per_token=1e3 * b.decode_s_per_token if b else None,
                   gpu_busy_share_prefill=b.prefill_s / median["prefill"] if b else None,
                   gpu_busy_share_decode=b.decode_s_per_token / median["decode"] if b else None,
                   query_s=samples["query"], prefill_s=samples["prefill"], decode_s_per_token=samples["decode"],
                   **(b.as_dict() if b else {}))

    def metrics(self) -> dict[str, Any]:
        """The record's metrics; the :data:`BUSY_KEYS` only where measured, as the records have always had them."""
        return {k: v for k, v in super().metrics().items() if k not in BUSY_KEYS or v is not None}

    def table_row(self) -> dict[str, Any]:
        """The medians, sizes and kernel times without the samples: one row of the notebook's table."""
        return {k: v for k, v in super().metrics().items()
                if k not in BUSY_KEYS and k not in ("query_s", "prefill_s", "decode_s_per_token")}


@dataclass(frozen=True)
class ModelRun:
    """One precision's whole-model measurement: its record and what the loaded model showed.

    ``vision_merge``: the vision tower's spatial merge (each visual token merges its square of patches);
    ``busy_failure``: why the profiler measured no kernel time on CUDA; ``unaligned``: for a 4-bit model, its
    layers the fast 4-bit kernel cannot take (:func:`vlmkit.bench.linear_layers.unaligned_4bit_layers`);
    ``paired``: its speed-ups over BF16 from interleaved rounds (None for BF16, or where both did not fit).
    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    model: str
    device: torch.device
    query: QuerySetup
    repeats: int
    speed: ModelSpeed
    weights: Footprint
    vision_merge: int
    busy: PhaseBusy | None = None
    busy_failure: str | None = None
    unaligned: dict[tuple[int, int, int], list[str]] | None = None
    paired: PairedRuns | None = None

    @property
    def precision(self) -> str:
        """The precision's name (``nf4``)."""
        return self.speed.precision

    @property
    def label(self) -> str:
        """The precision's name in tables and text (``NF4``)."""
        return get_precision(self.precision).label

    @property
    def timings(self) -> dict[str, list[float]]:
        """Seconds of each repeat: ``query`` (a whole query), ``prefill`` and ``decode`` (per token)."""
        return {"query": self.speed.query_s, "prefill": self.speed.prefill_s, "decode": self.speed.decode_s_per_token}

    @property
    def step_bytes(self) -> int:
        """Weight bytes one decode step reads (:func:`vlmkit.bench.roofline.decode_step_work`)."""
        return decode_step_work(self.weights)[1]

    def shapes(self) -> dict[str, Any]:
        """The query's image and answer length, as the claim records name them."""
        return {"image": [self.query.image_size, self.query.image_size], "new_tokens": self.query.new_tokens}


@dataclass(frozen=True)
class PlacedPhases:
    """Every precision's prefill and decode on the roofline.

    ``rows``: one table row per precision; ``phases``: by (precision, phase) the :class:`PhaseBound` at
    :data:`vlmkit.bench.roofline.OVERHEAD_SHARE`, with ``"decode kernels"`` and ``"prefill kernels"`` (the kernel
    time instead of the wall time) where measured; ``at_cutoffs``: by (precision, phase) the regime at each of the
    other cut-offs.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    rows: list[dict[str, Any]]
    phases: dict[tuple[str, str], PhaseBound]
    at_cutoffs: dict[tuple[str, str], dict[float, str]]

    def changed_cutoffs(self, precision: str, phase: str) -> dict[float, str]:
        """The other cut-offs at which the phase's regime is not the one it has at the default cut-off."""
        regime = self.phases[(precision, phase)].regime
        return {c: r for c, r in self.at_cutoffs[(precision, phase)].items() if r != regime}


def place_phases(runs: dict[str, ModelRun], ceilings: Ceilings,
                 cutoffs: Sequence[float] = OTHER_CUTOFFS) -> PlacedPhases:
    """Place each precision's decode step and prefill on the measured roofline.

    Decode: two FLOPs per language-layer parameter, every language-layer byte and lm_head's read once
    (:func:`vlmkit.bench.roofline.decode_step_work`). Prefill: the same per prompt token, plus two FLOPs per
    vision-tower parameter per patch, and every weight read once. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    rows, phases, at_cutoffs = [], {}, {}
    for name, run in runs.items():
        m, weights = run.speed, run.weights
        lm_params = weights.params_by.get("language layers", 0)
        vision_params = weights.params_by.get("vision tower", 0)
        step_flops, step_bytes = decode_step_work(weights)
        prefill_flops = 2 * lm_params * m.tokens_in + 2 * vision_params * run.vision_merge**2 * m.visual_tokens
        prefill_bytes = step_bytes + sum(weights.bytes_by.get("vision tower", {}).values())  # every weight read once
        work = {"decode": (step_flops, step_bytes, m.decode_ms_per_token / 1e3, m.kernel_ms_per_token),
                "prefill": (prefill_flops, prefill_bytes, m.prefill_ms / 1e3, m.kernel_ms_prefill)}
        row: dict[str, Any] = {"precision": name}
        for phase, (flops, moved, seconds, kernel_ms) in work.items():
            placed = classify_phase(flops, moved, seconds, ceilings)
            phases[(name, phase)] = placed
            at_cutoffs[(name, phase)] = {c: classify_phase(flops, moved, seconds, ceilings, cutoff=c).regime
                                         for c in cutoffs}
            row |= {f"{phase}": placed.regime, f"{phase} FLOP/byte": placed.intensity,
                    f"{phase} share of bandwidth": placed.bandwidth_share,
                    f"{phase} share of matmul peak": placed.flops_share,
                    **{f"{phase} at a {c:.0%} cut-off": r for c, r in at_cutoffs[(name, phase)].items()},
                    f"GPU busy in {phase}": getattr(m, f"gpu_busy_share_{phase}")}
            if kernel_ms is not None:
                alone = classify_phase(flops, moved, kernel_ms / 1e3, ceilings)
                phases[(name, f"{phase} kernels")] = alone
                row |= {f"{phase} kernels alone": alone.regime,
                        f"{phase} kernels alone, share of bandwidth": alone.bandwidth_share}
        rows.append(row)
    return PlacedPhases(rows, phases, at_cutoffs)


def gpu_busy_clause(run: ModelRun, placed: PlacedPhases) -> str:
    """``"; the GPU is busy 12% of each decode step and 16% of prefill; its decode kernels alone are ..."``, or ``""``
    where the profiler measured no kernel time: the clause the compute-bound verdict and the notebook's text share.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    if run.busy is None:
        return ""
    kernels = placed.phases[(run.precision, "decode kernels")]
    return (f"; the GPU is busy {run.speed.gpu_busy_share_decode:.0%} of each decode step and "
            f"{run.speed.gpu_busy_share_prefill:.0%} of prefill; its decode kernels alone are "
            f"{kernels.regime} ({kernels.bandwidth_share:.0%} of the copy bandwidth)")
