"""Notebook 03's run: its settings resolved for this device, and the whole model timed in each precision.

The notebook's parameters say ``"auto"`` (or 0) for "what this device should measure": on CUDA the 8B model's
Linear shapes up to M = 4096 and the 8B model itself, on a CPU the tiny model's, where a run takes seconds.
:func:`dequantization_settings` turns them into one :class:`DequantizationSettings` and fails early, and clearly,
on a value it cannot run. :func:`measure_model_speeds` answers the book's query in each precision, each quantized one in rounds interleaved
with BF16, and records a :class:`vlmkit.bench.model_speed.ModelSpeed` per precision and a
:class:`vlmkit.measure.interleaved.PairedRuns` per pair.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from vlmkit.bench.query import ask_fixed_length, query_seconds, standard_image
from vlmkit.bench.linear_layers import unaligned_4bit_layers
from vlmkit.bench.model_speed import ModelRun, ModelSpeed
from vlmkit.bench.query import QuerySetup, standard_query
from vlmkit.bench.roofline import QWEN3_VL_8B_LINEARS, LinearShape
from vlmkit.core.device import resolve_device
from vlmkit.core.progress import progress
from vlmkit.measure.interleaved import MIN_PAIRS, MIN_WARMUPS, PairedRuns, time_rounds
from vlmkit.measure.memory import free_memory
from vlmkit.measure.profiler import busy_per_phase
from vlmkit.measure.records import ResultsStore
from vlmkit.models.loading import LoadedModel, load_model
from vlmkit.models.precisions import PRECISION_NAMES, get_precision
from vlmkit.runtime.inference import Answer, CallStats, VLMInference

#: The Linear shapes a layer sweep can take: the 8B model's, or two 256/768-wide ones (the tiny model's widths).
LAYER_SETS: dict[str, tuple[LinearShape, ...]] = {
    "8b": QWEN3_VL_8B_LINEARS,
    "tiny": (LinearShape("256→768", 256, 768), LinearShape("768→256", 768, 256)),
}


def precision_list(spec: str) -> list[str]:
    """Known precision names with bf16 first (every ratio is against BF16); unknown names fail here, clearly.

    ``spec``: ``"all"`` or comma-separated names. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    names = list(PRECISION_NAMES) if spec == "all" else [get_precision(p.strip()).name for p in spec.split(",")]
    return ["bf16"] + [p for p in dict.fromkeys(names) if p != "bf16"]


@dataclass(frozen=True)
class DequantizationSettings:
    """What one run of notebook 03 measures on its device.

    Layer sweep: ``shapes`` (the ``layer_set``) in ``precisions`` at each M of ``tokens``, about ``kernel_ms`` of
    timed calls per measurement. Ceilings: a copy of ``copy_bytes`` and square matmuls of ``matmul_sizes``. Whole
    model: ``model_name`` in ``model_precisions``, ``model_repeats`` queries of ``query`` after a warm-up;
    ``book_query`` is the book's standard query, which a headline verdict needs.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    device: torch.device
    model_name: str
    precisions: list[str]
    model_precisions: list[str]
    layer_set: str
    shapes: tuple[LinearShape, ...]
    tokens: list[int]
    kernel_ms: float
    copy_bytes: int
    matmul_sizes: tuple[int, ...]
    query: QuerySetup
    book_query: QuerySetup
    model_repeats: int

    @property
    def on_cuda(self) -> bool:
        """Whether the run is on a CUDA GPU (kernel time, the unaligned 4-bit layer and the 8B model need one)."""
        return self.device.type == "cuda"

    @property
    def headline_role(self) -> str:
        """``"headline"`` when the query is the book's (a headline verdict needs it), else ``"supporting"``."""
        return "headline" if self.query == self.book_query else "supporting"

    @property
    def ceiling_shapes(self) -> dict[str, object]:
        """The ceilings record's shapes: the bytes copied and the matmul sizes."""
        return {"copy_bytes": self.copy_bytes, "matmul": list(self.matmul_sizes)}


def dequantization_settings(device: str | torch.device = "auto", model: str = "auto", *, precisions: str = "auto",
                            model_precisions: str = "auto", layers: str = "auto", tokens: str = "auto",
                            kernel_ms: float = 0, image_size: int = 0, new_tokens: int = 0,
                            model_repeats: int = 0) -> DequantizationSettings:
    """Resolve notebook 03's parameters: ``"auto"`` and 0 become this device's defaults, bad values fail clearly.

    CUDA: ``qwen3-vl-8b``; layers ``8b`` in bf16, int8, int8-t0, nf4, nf4-dq and fp4 at M = 1, 256 and 4096;
    50 ms per measurement. CPU: ``qwen3-vl-tiny``; layers ``tiny`` in every precision at M = 1, 16 and 128; 10 ms.
    Both: :data:`vlmkit.measure.interleaved.MIN_PAIRS` queries (rounds paired with BF16). The whole model runs in bf16, int8 and nf4, on the book's standard query
    (:func:`vlmkit.bench.query.standard_query`) unless ``image_size`` or ``new_tokens`` say otherwise.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    layer_set = layers if layers != "auto" else ("8b" if on_cuda else "tiny")
    if layer_set not in LAYER_SETS:
        raise ValueError(f"LAYERS must be 'auto' or one of {sorted(LAYER_SETS)}, got {layers!r}")
    sweep = sorted({int(t) for t in str(tokens if tokens != "auto" else ("1,256,4096" if on_cuda else "1,16,128"))
                    .split(",")})
    if len(sweep) < 2:
        raise ValueError(f"TOKENS needs at least two M values to compare, got {sweep}")
    book = standard_query(dev.type)
    query = QuerySetup(image_size or book.image_size, new_tokens or book.new_tokens)
    if query.new_tokens < 2:
        raise ValueError(f"NEW_TOKENS must be at least 2 (prefill and decode are timed apart), got {query.new_tokens}")
    copy_bytes, matmul_sizes = ((1 << 30), (4096, 8192)) if on_cuda else ((64 << 20), (128, 256))
    return DequantizationSettings(
        device=dev, model_name=model if model != "auto" else ("qwen3-vl-8b" if on_cuda else "qwen3-vl-tiny"),
        precisions=precision_list(precisions if precisions != "auto" else
                                  ("bf16,int8,int8-t0,nf4,nf4-dq,fp4" if on_cuda else "all")),
        model_precisions=precision_list(model_precisions if model_precisions != "auto" else "bf16,int8,nf4"),
        layer_set=layer_set, shapes=LAYER_SETS[layer_set], tokens=sweep, kernel_ms=kernel_ms or (50 if on_cuda else 10),
        copy_bytes=copy_bytes, matmul_sizes=matmul_sizes, query=query, book_query=book,
        model_repeats=model_repeats or MIN_PAIRS)


def measure_model_speeds(store: ResultsStore, model: str, precisions: Sequence[str], device: torch.device, *,
                         query: QuerySetup, repeats: int) -> dict[str, ModelRun]:
    """Load ``model`` in each precision and answer ``query`` (a fixed-length answer about a seeded random image):
    BF16 first, warmed up and timed ``repeats`` times alone; then each other precision loaded beside it and timed
    in ``repeats`` interleaved rounds with it (:func:`vlmkit.measure.interleaved.time_rounds`, 2 warm-ups each),
    its speed-up over BF16 from those pairs. A precision that does not fit beside BF16 (CUDA out of memory) is
    timed alone after BF16 is unloaded, its speed-up then a ratio of medians, and says so. On CUDA the kernel time
    of prefill and decode is profiled too (:func:`vlmkit.measure.profiler.busy_per_phase`; a profiler that cannot
    start leaves them empty and says why).

    Records one :class:`vlmkit.bench.model_speed.ModelSpeed` per precision (its own samples) and, per paired
    precision, a :class:`vlmkit.measure.interleaved.PairedRuns`; returns the runs by precision.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    side, new_tokens = query.image_size, query.new_tokens
    image = standard_image(side)
    order = sorted(precisions, key=lambda name: name != BASELINE)  # BF16 first: every pair needs it loaded
    runs: dict[str, ModelRun] = {}
    base: _LoadedPrecision | None = None
    shapes = {"image": [side, side], "new_tokens": new_tokens}
    for name in progress(order, desc=f"{model} precisions"):
        try:
            loaded = _LoadedPrecision.load(model, name, device, image)
        except torch.cuda.OutOfMemoryError:
            if base is None:
                raise
            print(f"{name} does not fit beside {BASELINE} on this card: timed alone, its speed-up a ratio of medians")
            base = None
            free_memory(device)
            loaded = _LoadedPrecision.load(model, name, device, image)
        paired = None
        if base is None or name == BASELINE:
            loaded.ask(new_tokens)  # warm-up
            calls = [loaded.ask(new_tokens).stats for _ in range(repeats)]
        else:
            calls, paired = _paired_with(base, loaded, new_tokens, repeats)
            store.record_measurement(paired, model=model, precision=name, repeats=repeats, shapes=shapes)
        busy, failure = None, None
        if device.type == "cuda":
            try:
                busy = busy_per_phase(loaded.ask, new_tokens, device)
            except RuntimeError as exc:  # a profiler that cannot start (no CUPTI) leaves the kernel times empty
                failure = str(exc).splitlines()[0][:160]
                print(f"{name}: kernel time not measured ({failure})")
        speed = ModelSpeed.of(name, calls, busy, loaded.loaded.report.weights.total_bytes)
        store.record_measurement(speed, model=model, precision=name, repeats=repeats,
                                 shapes={**shapes, "tokens_in": calls[0].tokens_in})
        runs[name] = ModelRun(model, device, query, repeats, speed, loaded.loaded.report.weights,
                              loaded.loaded.model.config.vision_config.spatial_merge_size, busy, failure,
                              loaded.unaligned, paired)
        if name == BASELINE:
            base = loaded
        del loaded
        free_memory(device)
    return runs


#: The precision every other one is paired with.
BASELINE = "bf16"


@dataclass
class _LoadedPrecision:
    """A loaded precision ready to answer the book's query (``ask(new_tokens)``)."""

    name: str
    loaded: LoadedModel
    ask: Callable[[int], Answer]
    unaligned: dict[tuple[int, int, int], list[str]] | None

    @classmethod
    def load(cls, model: str, name: str, device: torch.device, image: np.ndarray) -> _LoadedPrecision:
        loaded = load_model(model, name, device=device)
        unaligned = unaligned_4bit_layers(loaded.model) if get_precision(name).quantization == "4bit" else None
        return cls(name, loaded, partial(ask_fixed_length, VLMInference.from_loaded(loaded), image), unaligned)


def _paired_with(base: _LoadedPrecision, other: _LoadedPrecision, new_tokens: int,
                 rounds: int) -> tuple[list[CallStats], PairedRuns]:
    """``other``'s calls from ``rounds`` interleaved rounds with ``base``, and the paired speed-ups they give."""
    calls: list[CallStats] = []

    def side(loaded: _LoadedPrecision, keep: bool) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            stats = loaded.ask(new_tokens).stats
            if keep:
                calls.append(stats)
            return query_seconds(stats)
        return run

    warm = {base.name: side(base, False), other.name: side(other, False)}
    for _ in range(MIN_WARMUPS):
        for run in warm.values():
            run()
    timed = time_rounds({base.name: side(base, False), other.name: side(other, True)}, warmup=0, rounds=rounds)
    return calls, PairedRuns.of(timed, base.name, other.name)
