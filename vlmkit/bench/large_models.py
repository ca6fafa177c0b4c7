"""A 70B-class VLM, quantized: "70B+ models: less data = faster, so quantizing them speeds them up", measured.

The 72B shape (:data:`vlmkit.models.architectures.QWEN3_VL_72B_SHAPE`) is drawn with random weights on the GPU once
per precision (BF16, and each quantized precision quantized in place: the layers ``from_pretrained`` replaces,
:func:`vlmkit.models.quantize_in_place.quantize_in_place`), all with the same number of decoder layers: as many as
every model holds together, so that all of them answer the book's standard query side by side, in interleaved
rounds (:func:`vlmkit.measure.interleaved.time_rounds`). The headline is the whole query, each precision against
BF16; decode per token, the bytes each token reads and, on CUDA, how much of each step the GPU is busy support it.
Every decoder layer does the same work, so the ratios do not depend on how many layers fit (the times do).

Notebook 11's settings live here too: on a CPU the same code runs on a CPU-sized stand-in
(:data:`vlmkit.models.architectures.QWEN3_VL_TINY_WIDE`), which checks the code and says nothing about a 70B model.

Taught in ``notebooks/11_large_models.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlmkit.bench.bandwidth_scaling import HEADROOM_BYTES, fitting_spec
from vlmkit.bench.decode_ladder import weight_bytes_per_token
from vlmkit.bench.query import QuerySetup, ask_fixed_length, query_seconds, standard_image, standard_query
from vlmkit.bench.roofline import Ceilings, device_ceilings
from vlmkit.core.device import resolve_device
from vlmkit.core.progress import progress, text_bar
from vlmkit.errors import ConfigurationError
from vlmkit.measure.interleaved import MIN_PAIRS, MIN_WARMUPS, PairedRuns, time_rounds
from vlmkit.measure.memory import available_bytes, free_memory
from vlmkit.measure.profiler import busy_per_phase
from vlmkit.measure.records import Measurement, ResultsStore
from vlmkit.measure.speedup import Speedup
from vlmkit.models.architectures import QWEN3_VL_72B_SHAPE, QWEN3_VL_TINY_WIDE, REGISTRY, ArchitectureSpec
from vlmkit.models.loading import build_on_device
from vlmkit.models.precisions import PRECISIONS, get_precision
from vlmkit.runtime.inference import VLMInference

#: The seed's sentence this module measures.
LARGE_MODEL_CLAIM_TEXT = "70B+ models: less data = faster, so quantizing them speeds them up"

#: The large shapes notebook 11 can draw (none is a registry checkpoint: they are never written to disk).
LARGE_SHAPES: dict[str, ArchitectureSpec] = {s.name: s for s in (QWEN3_VL_72B_SHAPE, QWEN3_VL_TINY_WIDE)}

#: The precisions a large model can be drawn in: BF16 and those quantized from BF16 in place.
LARGE_PRECISIONS: tuple[str, ...] = tuple(p for p, prec in PRECISIONS.items()
                                          if p == "bf16" or (prec.is_quantized and prec.dtype == torch.bfloat16))

@dataclass(frozen=True)
class LargeModelSettings:
    """Notebook 11's parameters, resolved: the device, the small and the large model, the precisions the large one
    is drawn in (BF16 first), the interleaved rounds, the query, the device's ceilings and the results store.

    Taught in ``notebooks/11_large_models.ipynb``.
    """

    device: torch.device
    small: ArchitectureSpec
    large: ArchitectureSpec
    precisions: tuple[str, ...]
    rounds: int
    query: QuerySetup
    ceilings: Ceilings
    store: ResultsStore

    @property
    def on_cuda(self) -> bool:
        """Whether this run is on a CUDA GPU (the only place the 72B shape fits)."""
        return self.device.type == "cuda"

    @property
    def quantized(self) -> tuple[str, ...]:
        """The precisions other than BF16."""
        return self.precisions[1:]

    def summary(self) -> str:
        """One line: the models, the precisions, the query, the rounds and the copy bandwidth."""
        return (f"{self.small.name} and {self.large.name} on {self.device}; {', '.join(self.precisions)}; "
                f"{self.query.describe()}; {self.rounds} interleaved rounds; copy bandwidth "
                f"{self.ceilings.bandwidth / 1e9:,.0f} GB/s")


def large_model_settings(notebook: str = "11_large_models", device: str = "auto", small_model: str = "auto",
                         large_model: str = "auto", precisions: str = "auto", rounds: int = MIN_PAIRS,
                         results_dir: str | Path | None = None) -> LargeModelSettings:
    """Resolve notebook 11's parameters and measure the device's ceilings. ``"auto"``: the 8B and the 72B shape on
    CUDA, the tiny model and :data:`QWEN3_VL_TINY_WIDE` on a CPU; precisions ``bf16,nf4,int4`` (BF16 is always
    first). Unknown names, or fewer rounds than a headline needs, raise ``ConfigurationError``.

    Taught in ``notebooks/11_large_models.ipynb``.
    """
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    small_name = small_model if small_model != "auto" else ("qwen3-vl-8b" if on_cuda else "qwen3-vl-tiny")
    large_name = large_model if large_model != "auto" else (QWEN3_VL_72B_SHAPE.name if on_cuda
                                                            else QWEN3_VL_TINY_WIDE.name)
    if small_name not in REGISTRY:
        raise ConfigurationError(f"SMALL_MODEL must be 'auto' or a registry name {sorted(REGISTRY)}, got "
                                 f"{small_model!r}")
    if large_name not in LARGE_SHAPES:
        raise ConfigurationError(f"LARGE_MODEL must be 'auto' or one of {sorted(LARGE_SHAPES)}, got {large_model!r}")
    names = ["nf4", "int4"] if precisions == "auto" else [p.strip() for p in precisions.split(",") if p.strip()]
    unknown = [p for p in names if p not in LARGE_PRECISIONS]
    if unknown:
        raise ConfigurationError(f"PRECISIONS: {unknown} cannot be drawn in place; choose from {list(LARGE_PRECISIONS)}")
    chosen = ("bf16", *dict.fromkeys(p for p in names if p != "bf16"))
    if len(chosen) < 2:
        raise ConfigurationError("PRECISIONS needs at least one quantized precision to set beside BF16")
    if rounds < MIN_PAIRS:
        raise ConfigurationError(f"ROUNDS must be at least {MIN_PAIRS} (a headline ratio's fewest pairs), got {rounds}")
    store = ResultsStore(notebook, results_dir, dev)
    print("measuring the device's copy bandwidth and matmul peak ...")
    return LargeModelSettings(dev, REGISTRY[small_name], LARGE_SHAPES[large_name], chosen, rounds,
                              standard_query(dev.type), device_ceilings(dev), store)


@dataclass(frozen=True)
class LargePrecisionRun(Measurement):
    """The ``large-precision`` record: the large model in one precision, timed in the interleaved rounds.

    ``step_bytes`` are the weight bytes one decode step reads, ``stored_bytes`` everything the model stores;
    ``query_s`` and ``decode_s_per_token`` are medians over the rounds; ``kernel_s_per_token`` the profiler's GPU
    time per decode token (CUDA only); ``bandwidth_share`` the step's bytes over its wall time, against the
    measured copy bandwidth. Taught in ``notebooks/11_large_models.ipynb``.
    """

    EXPERIMENT = "large-precision"
    model: str
    layers: int
    published_layers: int
    step_bytes: int
    stored_bytes: int
    query_s: float
    prefill_s: float
    decode_s_per_token: float
    kernel_s_per_token: float | None
    bandwidth_share: float
    build_s: float
    quant_backend: str | None

    def table_row(self, precision: str) -> dict[str, Any]:
        """This precision's row in notebook 11's table."""
        return {"precision": get_precision(precision).label, "stored (GiB)": self.stored_bytes / 2**30,
                "read per token (GB)": self.step_bytes / 1e9, "whole query (ms)": 1e3 * self.query_s,
                "decode (ms/token)": 1e3 * self.decode_s_per_token,
                "GPU busy per token (ms)": 1e3 * self.kernel_s_per_token if self.kernel_s_per_token else None,
                "share of copy bandwidth": self.bandwidth_share, "kernel": self.quant_backend or "cuBLAS / PyTorch"}


def precision_outcome(speedup: Speedup) -> str:
    """``faster``, ``slower`` or ``no measurable difference``: a quantized model's whole query against BF16's, by
    its paired interval. Taught in ``notebooks/11_large_models.ipynb``."""
    return "faster" if speedup.low > 1 else "slower" if speedup.high < 1 else "no measurable difference"


def judge_large_model_claim(outcomes: dict[str, str]) -> str:
    """The verdict on "70B+: less data = faster, so quantizing them speeds them up" from each quantized
    precision's outcome (:func:`precision_outcome`): ``holds`` when every one is faster, ``partly`` when some are,
    ``refuted`` when none is and at least one is slower, ``inconclusive`` when none differs measurably; each
    precision's outcome follows. Taught in ``notebooks/11_large_models.ipynb``."""
    values = set(outcomes.values())
    verdict_ = ("holds" if values == {"faster"} else "partly" if "faster" in values else
                "refuted" if "slower" in values else "inconclusive")
    return verdict_ + ": " + ", ".join(f"{get_precision(p).short_label} {o}" for p, o in outcomes.items())


@dataclass(frozen=True)
class LargeModelClaim(Measurement):
    """The ``large-model-claim`` record: "70B+: less data = faster", each quantized precision's whole-query speed-up
    over BF16 (``speedups``: precision -> :meth:`Speedup.as_dict`) and outcome, the measured sentence, the verdict.
    Taught in ``notebooks/11_large_models.ipynb``.
    """

    EXPERIMENT = "large-model-claim"
    model: str
    speedups: dict[str, dict[str, Any]]
    outcomes: dict[str, str]
    measured_text: str
    verdict: str
    claim_text: str = LARGE_MODEL_CLAIM_TEXT
    role: str = "headline"


@dataclass(frozen=True)
class LargeQuantized:
    """The large model in every precision: each one's :class:`LargePrecisionRun`, the rounds, the claim."""

    model: str
    runs: dict[str, LargePrecisionRun]
    paired: dict[str, PairedRuns]
    claim: LargeModelClaim


def _claim_text(model: str, runs: dict[str, LargePrecisionRun], paired: dict[str, PairedRuns], rounds: int) -> str:
    """The measured sentence: each quantized precision's whole query against BF16's, bytes and decode beside it."""
    bf16 = runs["bf16"]
    parts = []
    for p, pair in paired.items():
        s, run = pair.speedup("query"), runs[p]
        parts.append(f"{get_precision(p).short_label} {s.ratio:.2f}x [{s.low:.2f}, {s.high:.2f}] BF16's speed "
                     f"({1e3 * run.query_s:.0f} vs {1e3 * bf16.query_s:.0f} ms), reading "
                     f"{bf16.step_bytes / run.step_bytes:.1f}x fewer bytes per token, decode "
                     f"{pair.speedup('decode').ratio:.2f}x")
    return f"{model}, whole query ({rounds} interleaved rounds): " + "; ".join(parts)


def measure_large_quantized(settings: LargeModelSettings) -> LargeQuantized:
    """Draw the large model in every precision of ``settings`` (the quantized ones first: each briefly holds its
    BF16 weights), all with the layers they hold together (:func:`vlmkit.bench.bandwidth_scaling.fitting_spec`; after an out-of-memory error,
    fewer, said so), time the standard query on all of them in interleaved rounds (:data:`MIN_WARMUPS` warm-ups
    each), profile one query each on CUDA, judge the claim and record it all.

    Taught in ``notebooks/11_large_models.ipynb``.
    """
    dev, spec = settings.device, settings.large
    order = [*settings.quantized, "bf16"]
    published = spec.text["num_hidden_layers"]
    vlms: dict[str, VLMInference] = {}
    for headroom in (HEADROOM_BYTES, 4 * HEADROOM_BYTES):
        fitted = fitting_spec(spec, available_bytes(dev), headroom, order)
        try:
            for p in progress(order, desc=f"drawing {fitted.name}"):
                vlms[p] = VLMInference.from_loaded(build_on_device(fitted, dev, precision=p))
            break
        except torch.OutOfMemoryError as exc:
            print(f"{fitted.name}: out of memory ({str(exc).splitlines()[0][:120]}); trying fewer layers")
            vlms.clear()
            free_memory(dev)
    else:
        raise torch.OutOfMemoryError(f"{spec.name} in {', '.join(order)} did not fit even with "
                                     f"{4 * HEADROOM_BYTES / 2**30:.0f} GiB kept free")
    image, n = standard_image(settings.query.image_size), settings.query.new_tokens
    with text_bar(total=settings.rounds, desc="interleaved rounds") as bar:
        rounds = time_rounds({p: (lambda v=vlms[p]: query_seconds(ask_fixed_length(v, image, n).stats))
                              for p in settings.precisions}, warmup=MIN_WARMUPS, rounds=settings.rounds,
                             on_round=lambda: bar.update(1))
    runs = {}
    for p in settings.precisions:
        vlm = vlms[p]
        kernel = (busy_per_phase(lambda k, v=vlm: ask_fixed_length(v, image, k), n, dev).decode_s_per_token
                  if settings.on_cuda else None)
        step = weight_bytes_per_token(vlm.model)
        decode = float(np.median(rounds.seconds[p]["decode"]))
        runs[p] = LargePrecisionRun(
            model=fitted.name, layers=fitted.text["num_hidden_layers"], published_layers=published, step_bytes=step,
            stored_bytes=vlm.report.weights.total_bytes, query_s=float(np.median(rounds.seconds[p]["query"])),
            prefill_s=float(np.median(rounds.seconds[p]["prefill"])), decode_s_per_token=decode,
            kernel_s_per_token=kernel, bandwidth_share=step / decode / settings.ceilings.bandwidth,
            build_s=vlm.report.load_seconds, quant_backend=vlm.report.quant_backend)
    vlms.clear()
    free_memory(dev)
    paired = {p: PairedRuns.of(rounds, "bf16", p) for p in settings.quantized}
    outcomes = {p: precision_outcome(pair.speedup("query")) for p, pair in paired.items()}
    claim = LargeModelClaim(fitted.name, {p: pair.speedups["query"] for p, pair in paired.items()}, outcomes,
                            _claim_text(fitted.name, runs, paired, settings.rounds), judge_large_model_claim(outcomes))
    result = LargeQuantized(fitted.name, runs, paired, claim)
    _record(settings, result)
    return result


def _record(settings: LargeModelSettings, result: LargeQuantized) -> None:
    """One ``large-precision`` record per precision, one ``paired-runs`` record per quantized one, then the claim."""
    image = [settings.query.image_size] * 2
    any_run = next(iter(result.runs.values()))
    shapes = {"image": image, "new_tokens": settings.query.new_tokens, "layers": any_run.layers,
              "published_layers": any_run.published_layers}
    for p, run in result.runs.items():
        settings.store.record_measurement(run, model=result.model, precision=p, shapes=shapes,
                                          repeats=settings.rounds)
    for p, pair in result.paired.items():
        settings.store.record_measurement(pair, model=result.model, precision=p, shapes=shapes,
                                          repeats=settings.rounds)
    settings.store.record_measurement(result.claim, model=result.model, precision=None, shapes=shapes,
                                      repeats=settings.rounds)
