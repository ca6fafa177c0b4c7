"""Roofline arithmetic: bytes and FLOPs of a Linear layer in each precision, and the device's measured ceilings.

A Linear layer ``y = x W^T`` with ``x`` of shape (M, K) and ``W`` of shape (N, K)
does 2·M·K·N floating-point operations and must move at least the weight once
plus the activations in and out. Which of the two takes longer on a device decides
whether the layer is compute bound or memory bound. At decode (M = 1) every
precision is memory bound; at prefill of a large image (M in the thousands) the
matmul dominates. The ceilings are measured on the device, not taken from a datasheet.

The records of both are typed here: :class:`LinearLayerTiming` (``linear``, written by
:func:`vlmkit.bench.linear_layers.sweep_linear_layers`) and :class:`MeasuredCeilings` (``ceilings``); this module
needs no bitsandbytes, so the readers of the records (the README tables, the exercises) do not load it.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vlmkit.core.device import synchronize
from vlmkit.measure.footprint import Footprint
from vlmkit.measure.records import Measurement, metric
from vlmkit.measure.timing import time_kernel
from vlmkit.models.precisions import Precision

#: bitsandbytes' 4-bit block size on CUDA and CPU (one absmax per 64 weights).
BLOCKSIZE_4BIT = 64
#: Double quantization stores absmax in 8 bit, with one fp32 constant per 256 of them.
DQ_BLOCKSIZE = 256


@dataclass(frozen=True)
class LinearShape:
    """A Linear layer of the model: ``in_features`` K, ``out_features`` N, and where it sits."""

    name: str
    in_features: int
    out_features: int


#: The 8B model's real layer shapes (language model and vision tower).
QWEN3_VL_8B_LINEARS: tuple[LinearShape, ...] = (
    LinearShape("q_proj / o_proj 4096→4096", 4096, 4096),
    LinearShape("k_proj / v_proj 4096→1024", 4096, 1024),
    LinearShape("gate / up 4096→12288", 4096, 12288),
    LinearShape("down 12288→4096", 12288, 4096),
    LinearShape("vision qkv 1152→3456", 1152, 3456),
    LinearShape("vision fc1 1152→4304", 1152, 4304),
    LinearShape("vision fc2 4304→1152", 4304, 1152),
)


def weight_bytes(precision: Precision, in_features: int, out_features: int, device_type: str = "cuda") -> int:
    """Bytes of one Linear weight in ``precision`` on a ``device_type`` device, quantization constants included
    (only ``int4`` depends on the device: packed for tinygemm on CUDA, one int8 per weight on a CPU).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    n = in_features * out_features
    if precision.quantization == "int4":
        groups = -(-n // precision.group_size)
        return n // 2 + 4 * groups if device_type == "cuda" else n + 3 * groups
    if precision.quantization == "int8":
        return n + 4 * out_features  # int8 weights + one fp32 scale per output row
    if precision.quantization == "4bit":
        blocks = -(-n // BLOCKSIZE_4BIT)
        if precision.double_quant:
            absmax = blocks + 4 * -(-blocks // DQ_BLOCKSIZE)
        else:
            absmax = 4 * blocks
        return n // 2 + absmax
    return n * torch.finfo(precision.dtype).bits // 8


def linear_cost(precision: Precision, tokens: int, in_features: int, out_features: int,
                device_type: str = "cuda") -> tuple[float, float]:
    """(FLOPs, minimum bytes moved) of one Linear call on ``tokens`` rows: weight once, activations in and out.

    Activations are in the compute dtype (bf16 for quantized layers).
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    act = torch.finfo(precision.dtype).bits // 8
    flops = 2.0 * tokens * in_features * out_features
    moved = weight_bytes(precision, in_features, out_features, device_type) + act * tokens * (in_features + out_features)
    return flops, float(moved)


@dataclass(frozen=True)
class LinearLayerTiming(Measurement):
    """A ``linear`` record: one Linear layer's call on M tokens in one precision, timed with the device's clock.

    ``time`` and ``dequant`` (``dequantize_4bit`` alone, 4-bit layers only) are
    :meth:`vlmkit.measure.timing.TimingStats.as_dict` without samples; ``flops`` and ``bytes_moved`` are
    :func:`linear_cost`'s, ``weight_bandwidth_share`` the weight's bytes per second over the measured copy
    bandwidth; ``path``, ``library_ops`` and ``dense_weight`` what the profiler saw the call run
    (:class:`vlmkit.bench.linear_layers.LinearPath`). Taught in ``notebooks/03_dequantization.ipynb``.
    """

    EXPERIMENT = "linear"
    time: dict[str, Any]
    dequant: dict[str, Any] | None
    flops: float
    bytes_moved: float = metric("bytes")
    weight_bytes: int
    weight_bandwidth_share: float
    path: str
    library_ops: list[str]
    dense_weight: str | None


@dataclass(frozen=True)
class Ceilings:
    """The device's measured memory bandwidth (bytes/s) and matrix throughput (FLOP/s); ``samples``: the fewest
    timed samples behind any of the medians they come from."""

    bandwidth: float
    flops: float
    dtype: str
    samples: int = 0

    @property
    def ridge_intensity(self) -> float:
        """FLOP per byte above which a kernel at both ceilings is compute bound."""
        return self.flops / self.bandwidth

    def attainable(self, intensity: float) -> float:
        """The roofline: the highest FLOP/s a kernel of this arithmetic intensity can reach."""
        return min(self.flops, self.bandwidth * intensity)


def measure_ceilings(device: torch.device, copy_bytes: int = 1 << 30, matmul_sizes: tuple[int, ...] = (4096, 8192),
                     dtype: torch.dtype = torch.bfloat16, rep_ms: float = 100.0) -> Ceilings:
    """Measure a large device copy (bytes read plus written) and square matmuls on random data.

    Both are timed with the device's clock (:func:`vlmkit.measure.timing.time_kernel`, about ``rep_ms``
    of timed calls each). The FLOP ceiling is the best any of ``matmul_sizes`` reached (on CPUs
    without bf16 units, larger bf16 matmuls can be slower per FLOP than smaller ones).
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    src = torch.empty(copy_bytes // 2, dtype=torch.bfloat16, device=device).normal_()
    dst = torch.empty_like(src)
    copy = time_kernel(lambda: dst.copy_(src), device, warmup_ms=rep_ms / 4, rep_ms=rep_ms)
    del src, dst
    best, samples = 0.0, len(copy.samples)
    for size in matmul_sizes:
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        mm = time_kernel(lambda: a @ b, device, warmup_ms=rep_ms / 4, rep_ms=rep_ms)
        best, samples = max(best, 2 * size**3 / mm.median), min(samples, len(mm.samples))
        del a, b
    synchronize(device)
    return Ceilings(bandwidth=2 * copy_bytes / copy.median, flops=best, dtype=str(dtype).removeprefix("torch."),
                    samples=samples)


def device_ceilings(device: torch.device) -> Ceilings:
    """The ceilings a notebook measures beside its own run, in a few seconds: a 1 GiB copy and 4096/8192 matmuls on
    CUDA; on a CPU a 64 MiB copy and small matmuls (large BF16 matmuls take minutes on a CPU without BF16 units).

    Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    if device.type == "cuda":
        return measure_ceilings(device, rep_ms=50)
    return measure_ceilings(device, copy_bytes=64 << 20, matmul_sizes=(128, 256), rep_ms=10)


@dataclass(frozen=True)
class MeasuredCeilings(Measurement):
    """A ``ceilings`` record: the measured copy bandwidth (bytes/s), the best BF16 matmul (FLOP/s) and their ridge.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    EXPERIMENT = "ceilings"
    bandwidth_bytes_per_s: float
    flops_per_s: float
    ridge_flop_per_byte: float

    @classmethod
    def of(cls, ceilings: Ceilings) -> MeasuredCeilings:
        """The record of :func:`measure_ceilings`' result."""
        return cls(ceilings.bandwidth, ceilings.flops, ceilings.ridge_intensity)

    def ceilings(self) -> Ceilings:
        """The recorded ceilings as :class:`Ceilings` (BF16 matmuls, as :func:`measure_ceilings` times them)."""
        return Ceilings(bandwidth=self.bandwidth_bytes_per_s, flops=self.flops_per_s, dtype="bfloat16")


@dataclass(frozen=True)
class PhaseBound:
    """What limits one phase (prefill or decode): its intensity and how close it came to each ceiling."""

    regime: str  # "compute bound" | "memory bound" | "overhead bound"
    intensity: float  # FLOP per byte moved
    bandwidth_share: float  # achieved bytes/s over the measured bandwidth
    flops_share: float  # achieved FLOP/s over the measured matmul ceiling

    @property
    def best_share(self) -> float:
        """The larger of the two shares: the phase is overhead bound for any cut-off above it, and not below it."""
        return max(self.bandwidth_share, self.flops_share)

    def describe(self, ceilings: Ceilings) -> str:
        """One line with the numbers behind the regime."""
        return (f"{self.regime}: {self.intensity:,.1f} FLOP/byte (ridge {ceilings.ridge_intensity:,.1f}), "
                f"{self.bandwidth_share:.0%} of the copy bandwidth, {self.flops_share:.0%} of the matmul peak")


#: Below this share of both ceilings, a phase is limited by neither: launch and framework overhead.
#: Why a quarter: work that one ceiling limits reaches a large share of it (cuBLAS's matrix-vector
#: kernels about three quarters of the copy bandwidth, large matmuls most of the matmul peak; notebook 03
#: measures both), so a phase below a quarter of both spends at least three quarters of its time on
#: something else. The value is a convention, not a measurement: notebook 03 prints each phase's
#: :attr:`PhaseBound.best_share` so a reader sees how far from it the verdict is.
OVERHEAD_SHARE = 0.25


def classify_phase(flops: float, bytes_moved: float, seconds: float, ceilings: Ceilings, *,
                   cutoff: float = OVERHEAD_SHARE) -> PhaseBound:
    """Place one measured phase on the roofline: compute, memory or overhead bound.

    A phase that reaches less than ``cutoff`` (:data:`OVERHEAD_SHARE`) of both ceilings is
    overhead bound whatever its intensity; otherwise the side of the ridge decides.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    intensity = flops / bytes_moved
    bw_share = bytes_moved / seconds / ceilings.bandwidth
    fl_share = flops / seconds / ceilings.flops
    if max(bw_share, fl_share) < cutoff:
        regime = "overhead bound"
    elif intensity < ceilings.ridge_intensity:
        regime = "memory bound"
    else:
        regime = "compute bound"
    return PhaseBound(regime, intensity, bw_share, fl_share)


def decode_step_work(weights: Footprint) -> tuple[float, int]:
    """FLOPs and bytes of one decode step (one new token) from a model's measured footprint: two FLOPs per
    language-layer parameter, and every language-layer byte plus lm_head's (tied: the embedding table) read once.

    The KV cache read is left out (a few MB at the book's prompt lengths, against GBs of weights).
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    by = weights.bytes_by
    head = sum(by.get("lm_head", {}).values()) or sum(by.get("token embeddings", {}).values())
    return 2.0 * weights.params_by.get("language layers", 0), sum(by.get("language layers", {}).values()) + head
