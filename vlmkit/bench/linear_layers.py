"""One Linear layer in every precision: bf16 ``nn.Linear`` vs bitsandbytes' ``Linear8bitLt`` and ``Linear4bit``,
and torchao's weight-only INT4 (``int4``).

Each layer gets the same seeded weight, quantized the way ``from_pretrained``
quantizes it (bitsandbytes does it when the parameter moves to the device). The
benchmark times the forward for M tokens, observes which path bitsandbytes took
(:func:`linear_path`: does the call build a dense copy of the whole weight?), and
separately times turning the stored 4-bit weight back into bf16 with bitsandbytes'
own dequantize function, so the "dequantization overhead" can be told apart from
the matmul where the path pays it. LLM.int8 is timed once more on inputs with outlier
features (:func:`time_int8_outliers`), the only inputs on which its 16-bit outlier path runs.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import bitsandbytes as bnb
import bitsandbytes.functional as bnbf
import torch

from vlmkit.bench.roofline import (
    LinearLayerTiming,
    LinearShape,
    linear_cost,
    weight_bytes,
)
from vlmkit.core.progress import progress
from vlmkit.measure.memory import free_memory
from vlmkit.measure.profiler import operator_events
from vlmkit.measure.records import Measurement, ResultsStore, metric
from vlmkit.measure.timing import time_kernel
from vlmkit.models.int4 import int4_copy
from vlmkit.models.precisions import Precision, get_precision


def make_linear(precision: Precision, in_features: int, out_features: int, device: torch.device,
                seed: int = 0) -> torch.nn.Module:
    """A bias-free Linear of shape (out, in) in ``precision`` on ``device``, from a seeded weight.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(out_features, in_features, generator=generator) * in_features**-0.5
    if precision.quantization == "int8":
        layer = bnb.nn.Linear8bitLt(in_features, out_features, bias=False, has_fp16_weights=False,
                                    threshold=precision.int8_threshold)
        layer.weight = bnb.nn.Int8Params(weight.to(precision.dtype), requires_grad=False, has_fp16_weights=False)
    elif precision.quantization == "4bit":
        layer = bnb.nn.Linear4bit(in_features, out_features, bias=False, compute_dtype=precision.dtype,
                                  compress_statistics=precision.double_quant, quant_type=precision.quant_type)
        layer.weight = bnb.nn.Params4bit(weight.to(precision.dtype), requires_grad=False,
                                         compress_statistics=precision.double_quant, quant_type=precision.quant_type)
    else:
        layer = torch.nn.Linear(in_features, out_features, bias=False, dtype=precision.dtype)
        layer.weight.data.copy_(weight)
        if precision.quantization == "int4":  # torchao swaps the weight on the device it will run on
            return int4_copy(layer.to(device)).eval()
    return layer.to(device).eval()


def dequantize_weight(layer: torch.nn.Module) -> torch.Tensor:
    """The layer's weight as a dense tensor, via bitsandbytes' dequantize functions (unquantized: the weight itself).

    For a 4-bit layer this is the work its unfused path does on every call. LLM.int8's forward
    never does it (it quantizes the activations and multiplies int8 by int8), so notebook 03
    times it for 4-bit layers only. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    weight = layer.weight
    if isinstance(weight, bnb.nn.Params4bit):
        if getattr(weight.quant_state, "packing_format_for_cpu", False):
            # on CPUs with AVX512-BF16 bitsandbytes repacks the weight at the first inference call for its fused
            # kernel, which never dequantizes: the dense weight it multiplies with is read off an identity input
            eye = torch.eye(layer.in_features, dtype=weight.quant_state.dtype, device=weight.device)
            with torch.inference_mode():
                out = layer(eye) - (layer.bias if layer.bias is not None else 0)
            return out.T.contiguous()
        return bnbf.dequantize_4bit(weight.data, weight.quant_state)
    if isinstance(weight, bnb.nn.Int8Params):
        scales = weight.SCB if weight.SCB is not None else layer.state.SCB
        return bnbf.int8_vectorwise_dequant(weight.data, scales)
    return weight


#: Outlier features as trained transformers have them (Dettmers et al., "LLM.int8()", 2022: a few hidden dimensions,
#: about 0.1 % of them from 6.7B parameters on, whose activations reach magnitudes of 20 and more): this share of
#: the input features, at least one, set to this magnitude, far beyond LLM.int8's threshold of 6.
OUTLIER_SHARE, OUTLIER_MAGNITUDE = 0.002, 20.0


def outlier_features(in_features: int) -> list[int]:
    """The input features :func:`activations` makes outliers: evenly spread, :data:`OUTLIER_SHARE` of them, at
    least one. Taught in ``notebooks/03_dequantization.ipynb``."""
    count = max(1, round(OUTLIER_SHARE * in_features))
    return [i * in_features // count for i in range(count)]


def activations(tokens: int, in_features: int, dtype: torch.dtype, device: torch.device, seed: int = 1, *,
                outliers: bool = False) -> torch.Tensor:
    """Seeded inputs ``x`` of shape (tokens, in_features): M = 1 is one decode step, thousands a large prefill.
    Standard normal, so no value comes near LLM.int8's threshold of 6; with ``outliers`` the features of
    :func:`outlier_features` carry :data:`OUTLIER_MAGNITUDE` (its sign random) in every token, as trained models'
    outlier features do.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, in_features, generator=generator)
    if outliers:
        columns = outlier_features(in_features)
        x[:, columns] = OUTLIER_MAGNITUDE * torch.sign(torch.randn(tokens, len(columns), generator=generator))
    return x.to(device, dtype)


#: Operators that multiply two dense matrices, and the position of their right-hand (weight) operand.
_MATMULS = {"aten::linear": 1, "aten::matmul": 1, "aten::mm": 1, "aten::bmm": 1, "aten::addmm": 2}
#: The profiler's names of floating-point dtypes, and torch's.
_FLOAT_DTYPES = {"c10::BFloat16": "bfloat16", "c10::Half": "float16", "float": "float32", "double": "float64"}


@dataclass(frozen=True)
class LinearPath:
    """What one forward call of a Linear layer ran, as PyTorch's profiler saw it.

    ``library_ops``: the bitsandbytes operators called, in order (nested ones included).
    ``dense_weight``: the dtype of a floating-point matmul operand shaped like the whole weight
    (``"floating-point"`` where the profiler does not report dtypes; None: no such matmul, the weight was
    used in its stored form by a fused or integer kernel).
    For a quantized layer such an operand is a copy of the weight built during the call.
    ``dense_inside``: the bitsandbytes operator that ran that matmul (None: PyTorch's own ``linear``).
    """

    library_ops: tuple[str, ...]
    dense_weight: str | None
    dense_inside: str | None

    def describe(self) -> str:
        """E.g. ``"int8_vectorwise_quant → int8_linear_matmul; no dense copy of the weight"``."""
        ops = " → ".join(dict.fromkeys(op.removeprefix("bitsandbytes::") for op in self.library_ops)) or "torch"
        if self.dense_weight is None:
            return f"{ops}; no dense copy of the weight"
        where = f" inside {self.dense_inside.removeprefix('bitsandbytes::')}" if self.dense_inside else ""
        return f"{ops}; a dense {self.dense_weight} weight{where}"


def linear_path(layer: torch.nn.Module, x: torch.Tensor) -> LinearPath:
    """Run ``layer(x)`` once under PyTorch's profiler (operators with their input shapes and dtypes; any device)
    and report which bitsandbytes operators ran and whether a matmul used a dense floating-point (N, K) weight.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    n, k = layer.out_features, layer.in_features
    with torch.inference_mode():
        events = operator_events(lambda: layer(x))
    library_ops, dense, inside = [], None, None
    for event in events:
        if event.name.startswith("bitsandbytes::"):
            library_ops.append(event.name)
        operand = _MATMULS.get(event.name)
        if dense is None and operand is not None and len(event.input_shapes) > operand:
            # older profilers do not report dtypes; these matmuls take floating-point operands only, on these paths
            dtypes = getattr(event, "input_dtypes", None)
            dtype = _FLOAT_DTYPES.get(dtypes[operand]) if dtypes else "floating-point"
            if dtype is not None and list(event.input_shapes[operand]) in ([n, k], [k, n]):
                dense = dtype
                parent = event.cpu_parent
                while parent is not None and not parent.name.startswith("bitsandbytes::"):
                    parent = parent.cpu_parent
                inside = parent.name if parent is not None else None
    return LinearPath(tuple(library_ops), dense, inside)


def unaligned_4bit_layers(model: torch.nn.Module) -> dict[tuple[int, int, int], list[str]]:
    """The model's 4-bit Linear layers whose inner dimension K is not a multiple of their quantization block,
    by ``(K, N, blocksize)``: bitsandbytes' fast 4-bit CUDA kernel cannot take them, so each of their calls
    unpacks the whole weight and runs a 16-bit matmul instead (and warns that it does).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    found: dict[tuple[int, int, int], list[str]] = {}
    for name, module in model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            blocksize = module.weight.quant_state.blocksize
            if module.in_features % blocksize:
                found.setdefault((module.in_features, module.out_features, blocksize), []).append(name)
    return found


@dataclass(frozen=True)
class LinearSweep:
    """Every (layer, precision, M) of :func:`sweep_linear_layers`: one row each, and the clock that timed them.

    A row holds the median time (``seconds``) and its interquartile range (``p25``, ``p75``), ``dequantize_4bit``
    alone (``dequant_seconds``, NaN where not timed), FLOP/s, bytes/s, intensity, the weight's bytes and share of
    the copy bandwidth, the path, and ``time_vs_bf16`` (above 1: slower than BF16 on the same layer and M).
    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    rows: list[dict[str, Any]]
    clock: str


def sweep_linear_layers(store: ResultsStore, shapes: Sequence[LinearShape], precisions: Sequence[str],
                        tokens: Sequence[int], device: torch.device, *, kernel_ms: float,
                        bandwidth: float) -> LinearSweep:
    """Time one Linear layer of each shape in each precision at each M with the device's clock, and record each
    call as a :class:`vlmkit.bench.roofline.LinearLayerTiming` (``linear``) in ``store``.

    Each call also runs once under the profiler (:func:`linear_path`); a 4-bit layer's ``dequantize_4bit`` is timed
    alone once per layer (LLM.int8's forward never unpacks its weight: not timed). ``bandwidth`` is the measured
    copy bandwidth the weight's share is taken of; ``precisions`` must hold ``bf16``, every ratio's baseline.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    rows, clock = [], ""
    grid = [(s, p) for s in shapes for p in precisions]
    for shape, name in progress(grid, desc="layers x precisions"):
        prec = get_precision(name)
        layer = make_linear(prec, shape.in_features, shape.out_features, device)
        w_bytes = weight_bytes(prec, shape.in_features, shape.out_features, device.type)
        with torch.inference_mode():
            deq = (time_kernel(partial(dequantize_weight, layer), device, warmup_ms=kernel_ms / 4, rep_ms=kernel_ms)
                   if prec.quantization == "4bit" else None)
            for m in tokens:
                x = activations(m, shape.in_features, prec.dtype, device)
                t = time_kernel(partial(layer, x), device, warmup_ms=kernel_ms / 4, rep_ms=kernel_ms)
                path = linear_path(layer, x)
                flops, moved = linear_cost(prec, m, shape.in_features, shape.out_features, device.type)
                rows.append({"layer": shape.name, "precision": name, "M": m, "seconds": t.median, "p25": t.iqr[0],
                             "p75": t.iqr[1], "dequant_seconds": deq.median if deq else math.nan,
                             "flops_per_s": flops / t.median, "bytes_per_s": moved / t.median,
                             "intensity": flops / moved, "weight_bytes": w_bytes,
                             "weight_bandwidth_share": w_bytes / t.median / bandwidth,
                             "path": path.describe(), "dense_weight": path.dense_weight,
                             "library_ops": path.library_ops})
                timing = LinearLayerTiming(
                    time=t.as_dict(with_samples=False), dequant=deq.as_dict(with_samples=False) if deq else None,
                    flops=flops, bytes_moved=moved, weight_bytes=w_bytes,
                    weight_bandwidth_share=w_bytes / t.median / bandwidth, path=path.describe(),
                    library_ops=list(path.library_ops), dense_weight=path.dense_weight)
                store.record_measurement(timing, model="-", precision=name, repeats=len(t.samples),
                                         shapes={"layer": shape.name, "K": shape.in_features,
                                                 "N": shape.out_features, "M": m})
                clock = t.clock  # the same clock for every layer of a run
        del layer
    free_memory(device)
    bf16_time = {(r["layer"], r["M"]): r["seconds"] for r in rows if r["precision"] == "bf16"}
    for r in rows:
        r["time_vs_bf16"] = r["seconds"] / bf16_time[(r["layer"], r["M"])]
    return LinearSweep(rows, clock)


@dataclass(frozen=True)
class DequantShare:
    """``dequantize_4bit`` alone over a layer's whole call, the median over ``layers`` of the ``of`` layers at M.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    tokens: int
    median: float
    layers: int
    of: int


@dataclass(frozen=True)
class LayerFindings:
    """What one precision's Linear layers did at the smallest and the largest M of a sweep.

    ``paths``: by M, the most common path, followed in brackets by the layers that took another.
    ``time_vs_bf16``: the median over the layers of the time relative to BF16, at the smallest and largest M.
    ``unpacking`` / ``fused`` (4-bit): ``dequantize_4bit`` alone where the path unpacks the whole weight (a dense
    copy) / where it does not; ``unpacking_over``: a standalone unpacking took longer than a whole call.
    ``outlier_calls`` (LLM.int8): calls that dequantized outlier columns; ``dense_calls`` and ``dense_weight``:
    calls that built a dense copy of the weight, and its dtype. ``calls`` counts every call of the precision.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    precision: str
    label: str
    low: int
    high: int
    paths: dict[int, str]
    time_vs_bf16: tuple[float, float]
    unpacking: list[DequantShare]
    fused: list[DequantShare]
    unpacking_over: bool
    outlier_calls: int
    dense_calls: int
    dense_weight: str | None
    calls: int


def layer_findings(rows: Sequence[dict[str, Any]], precision: str, tokens: Sequence[int]) -> LayerFindings:
    """:class:`LayerFindings` of ``precision`` from :func:`sweep_linear_layers`' rows, at ``min(tokens)`` and
    ``max(tokens)``.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    low, high = min(tokens), max(tokens)
    mine = [r for r in rows if r["precision"] == precision]
    at = {m: [r for r in mine if r["M"] == m] for m in (low, high)}
    paths = {}
    for m, found in at.items():
        common = Counter(r["path"] for r in found).most_common(1)[0][0]
        others = [r for r in found if r["path"] != common]
        paths[m] = common + ("" if not others else " (" + "; ".join(f"{r['layer']}: {r['path']}" for r in others) + ")")
    unpacking, fused, over = [], [], False
    for m, found in at.items() if get_precision(precision).quantization == "4bit" else ():
        dense = [r for r in found if r["dense_weight"] is not None]
        kept = [r for r in found if r["dense_weight"] is None]
        over |= any(r["dequant_seconds"] > r["seconds"] for r in dense)
        if dense:
            unpacking.append(DequantShare(m, statistics.median(r["dequant_seconds"] / r["seconds"] for r in dense),
                                          len(dense), len(found)))
        if kept:
            fused.append(DequantShare(m, statistics.median(r["dequant_seconds"] / r["seconds"] for r in kept),
                                      len(kept), len(found)))
    dense_all = [r for r in mine if r["dense_weight"] is not None]
    return LayerFindings(
        precision=precision, label=get_precision(precision).label, low=low, high=high, paths=paths,
        time_vs_bf16=tuple(statistics.median(r["time_vs_bf16"] for r in at[m]) for m in (low, high)),
        unpacking=unpacking, fused=fused, unpacking_over=over,
        outlier_calls=sum("bitsandbytes::int8_vectorwise_dequant" in r["library_ops"] for r in mine),
        dense_calls=len(dense_all), dense_weight=dense_all[0]["dense_weight"] if dense_all else None, calls=len(mine))


@dataclass(frozen=True)
class OutlierTiming(Measurement):
    """An ``int8-outliers`` record: one LLM.int8 layer (threshold 6) at M tokens, on standard-normal inputs and on
    inputs with outlier features (:func:`activations`), timed side by side: the path each took and its time.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    EXPERIMENT = "int8-outliers"
    layer: str
    K: int
    N: int
    M: int
    outlier_features: int
    gaussian_us: float
    outliers_us: float
    gaussian_path: str
    outliers_path: str
    outliers_ops: list[str]

    @property
    def slowdown(self) -> float:
        """The outlier inputs' time over the standard-normal inputs' (>1: the outlier path costs more)."""
        return self.outliers_us / self.gaussian_us

    @property
    def dequantizes_outliers(self) -> bool:
        """Whether the call with outliers dequantized weight columns to 16 bit (bitsandbytes' outlier path)."""
        return "bitsandbytes::int8_vectorwise_dequant" in self.outliers_ops

    def row(self) -> dict[str, Any]:
        """The notebook's table row."""
        return {"layer": self.layer, "M": self.M, "outlier features": self.outlier_features,
                "normal inputs (µs)": self.gaussian_us, "with outliers (µs)": self.outliers_us,
                "slow-down": self.slowdown, "outlier columns dequantized": self.dequantizes_outliers}


def time_int8_outliers(store: ResultsStore, shapes: Sequence[LinearShape], tokens: Sequence[int],
                       device: torch.device, *, kernel_ms: float) -> list[OutlierTiming]:
    """LLM.int8 (``int8``, threshold 6) on standard-normal inputs and on inputs with outlier features, for every
    shape and M, timed with the device's clock and profiled (:func:`linear_path`); each recorded as an
    :class:`OutlierTiming`. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    prec, found = get_precision("int8"), []
    for shape in progress(shapes, desc="LLM.int8 with outliers"):
        layer = make_linear(prec, shape.in_features, shape.out_features, device)
        with torch.inference_mode():
            for m in tokens:
                timed = {}
                for outliers in (False, True):
                    x = activations(m, shape.in_features, prec.dtype, device, outliers=outliers)
                    clock = time_kernel(partial(layer, x), device, warmup_ms=kernel_ms / 4, rep_ms=kernel_ms)
                    timed[outliers] = (clock, linear_path(layer, x))
                (plain, plain_path), (odd, odd_path) = timed[False], timed[True]
                record = OutlierTiming(shape.name, shape.in_features, shape.out_features, m,
                                       len(outlier_features(shape.in_features)), 1e6 * plain.median, 1e6 * odd.median,
                                       plain_path.describe(), odd_path.describe(), list(odd_path.library_ops))
                store.record_measurement(record, model="-", precision="int8", repeats=len(odd.samples),
                                         shapes={"layer": shape.name, "K": shape.in_features,
                                                 "N": shape.out_features, "M": m})
                found.append(record)
        del layer
    free_memory(device)
    return found


@dataclass(frozen=True)
class UnalignedLayerTiming(Measurement):
    """An ``unaligned-4bit`` record: a 4-bit layer whose inner dimension the fast kernel cannot take (``variant``
    ``unaligned``), its aligned neighbours (K rounded down and up to whole blocks) or BF16, timed at M tokens.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    EXPERIMENT = "unaligned-4bit"
    unaligned_k: int = metric("unaligned K")
    K: int
    N: int
    variant: str
    precision: str
    M: int
    us: float = metric("µs")
    path: str
    layers_in_the_model: int = metric("layers in the model")
    time: dict[str, Any]
    model_layers: list[str]

    def row(self) -> dict[str, Any]:
        """The record's metrics without the timing and the layer names: one row of the notebook's table."""
        return {k: v for k, v in self.metrics().items() if k not in ("time", "model_layers")}


def time_unaligned_layers(store: ResultsStore, found: dict[tuple[int, int, int], list[str]], *, precision: str,
                          patches: int, device: torch.device, kernel_ms: float, model: str) -> list[dict[str, Any]]:
    """Time each unaligned 4-bit shape of :func:`unaligned_4bit_layers` (``found``) in ``precision`` against its
    aligned neighbours and BF16 at M = 1 and M = ``patches`` (the vision tower's tokens for one image), recording
    each as an :class:`UnalignedLayerTiming`; returns their rows.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    rows = []
    with torch.inference_mode():
        for (k, n, bs), names in found.items():
            low = k // bs * bs
            for label, prec_name, kk in (("unaligned", precision, k), ("aligned below", precision, low),
                                         ("aligned above", precision, low + bs), ("BF16", "bf16", k)):
                prec = get_precision(prec_name)
                layer = make_linear(prec, kk, n, device)
                for m in (1, patches):
                    x = activations(m, kk, prec.dtype, device)
                    t = time_kernel(partial(layer, x), device, warmup_ms=kernel_ms / 4, rep_ms=kernel_ms)
                    timing = UnalignedLayerTiming(k, kk, n, label, prec_name, m, t.median * 1e6,
                                                  linear_path(layer, x).describe(), len(names),
                                                  t.as_dict(with_samples=False), names)
                    rows.append(timing.row())
                    store.record_measurement(timing, model=model, precision=prec_name, repeats=len(t.samples),
                                             shapes={"K": kk, "N": n, "M": m, "blocksize": bs})
                del layer
            free_memory(device)
    return rows


@dataclass(frozen=True)
class UnalignedCost:
    """What one unaligned 4-bit shape costs: by M, its time against the mean of its aligned neighbours', and the
    extra milliseconds its ``count`` layers add to a query at the largest M (``patches``).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    k: int
    n: int
    precision: str
    count: int
    at_tokens: list[tuple[int, float, float]]  # (M, unaligned µs, aligned neighbours' mean µs)
    patches: int
    extra_ms: float


def unaligned_costs(rows: Sequence[dict[str, Any]]) -> list[UnalignedCost]:
    """:class:`UnalignedCost` of each (unaligned K, N) in :func:`time_unaligned_layers`' rows, in order of K and N.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    costs = []
    for k, n in sorted({(r["unaligned K"], r["N"]) for r in rows}):
        group = [r for r in rows if r["unaligned K"] == k and r["N"] == n]
        at = {(r["variant"], r["M"]): r["µs"] for r in group}
        ms = sorted({r["M"] for r in group})
        aligned = {m: (at[("aligned below", m)] + at[("aligned above", m)]) / 2 for m in ms}
        count = group[0]["layers in the model"]
        precision = next(r["precision"] for r in group if r["variant"] == "unaligned")
        costs.append(UnalignedCost(k, n, precision, count, [(m, at[("unaligned", m)], aligned[m]) for m in ms], ms[-1],
                                   count * (at[("unaligned", ms[-1])] - aligned[ms[-1]]) / 1e3))
    return costs
