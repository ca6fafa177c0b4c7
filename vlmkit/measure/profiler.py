"""What PyTorch's profiler sees of a call: the operators it runs (any device) and how long the GPU is busy (CUDA).

Operators, with their inputs' shapes and dtypes, say which path a library took
(e.g. whether a 4-bit layer unpacked its weight). Wall time of a decode step is
kernel time plus everything the GPU waits for: Python, the framework, kernel
launches. The profiler's kernel times give the busy part; divided by the
*unprofiled* wall time of the same work (the profiler slows the host side, not the
kernels) they give the share of time the GPU works.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.autograd.profiler_util import FunctionEvent
from torch.profiler import ProfilerActivity, profile

from vlmkit.core.device import synchronize
from vlmkit.errors import BackendUnavailableError

#: Kineto, the profiler's tracing library, writes every trace's start and stop (and, without a GPU, a failed GPU
#: count) to stderr, which lands in a notebook's output. A level above all of its severities keeps it quiet; it is
#: read when the process's first trace starts, and a level set by the user is kept.
os.environ.setdefault("KINETO_LOG_LEVEL", "6")


def operator_events(fn: Callable[[], object]) -> list[FunctionEvent]:
    """Every PyTorch operator ``fn`` runs, with its input shapes and dtypes and its parent operator, from one
    profiled call. Operators are recorded on the host, so this works for CPU and CUDA tensors alike.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, acc_events=True) as prof:
        fn()
    return list(prof.events())


def device_busy_seconds(fn: Callable[[], object], device: torch.device) -> float:
    """Total kernel time (seconds) on ``device`` while ``fn`` runs once.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    if device.type != "cuda":
        raise BackendUnavailableError(f"kernel busy time needs a CUDA device; this run is on {device.type}")
    synchronize(device)
    # one profiling cycle; acc_events only keeps torch from warning that a new cycle would clear the events
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], acc_events=True) as prof:
        fn()
        synchronize(device)
    micros = 0.0
    for event in prof.key_averages():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            micros += getattr(event, "self_device_time_total", 0.0) or getattr(event, "self_cuda_time_total", 0.0)
    return micros / 1e6


@dataclass(frozen=True)
class PhaseBusy:
    """Kernel time of one query, split into prefill and decode from two profiled calls.

    ``query_s``: every kernel of a call answering with ``new_tokens`` tokens; ``prefill_s``: every
    kernel of the same call answering with one token (the prefill, up to the first token).
    """

    query_s: float
    prefill_s: float
    new_tokens: int

    @property
    def decode_s_per_token(self) -> float:
        """Kernel time of each answer token after the first."""
        return (self.query_s - self.prefill_s) / (self.new_tokens - 1)

    def as_dict(self) -> dict[str, float]:
        """The three kernel times in seconds, for records."""
        return {"busy_query_s": self.query_s, "busy_prefill_s": self.prefill_s,
                "busy_decode_s_per_token": self.decode_s_per_token}


def busy_per_phase(ask: Callable[[int], object], new_tokens: int, device: torch.device) -> PhaseBusy:
    """Profile ``ask(new_tokens)`` and ``ask(1)`` (a query answered with that many tokens) and split their kernel
    time into prefill and decode. Fails with :class:`BackendUnavailableError` off CUDA, or when the profiler
    reports no kernel time to split (a profiler without CUPTI).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    if new_tokens < 2:
        raise ValueError(f"splitting prefill from decode needs at least 2 new tokens, got {new_tokens}")
    query = device_busy_seconds(lambda: ask(new_tokens), device)
    prefill = device_busy_seconds(lambda: ask(1), device)
    if not query > prefill > 0:
        raise BackendUnavailableError(f"the profiler reported no usable kernel time ({query=:.4f} s, {prefill=:.4f} s)")
    return PhaseBusy(query, prefill, new_tokens)


def kernel_seconds(fn: Callable[[], object], device: torch.device) -> dict[str, float]:
    """Each CUDA kernel's total time (seconds) while ``fn`` runs once, by kernel name (CUDA-graph replays included).

    Taught in ``notebooks/10_int4_decode.ipynb`` (where a decode token's time goes).
    """
    if device.type != "cuda":
        raise BackendUnavailableError(f"kernel times need a CUDA device; this run is on {device.type}")
    synchronize(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], acc_events=True) as prof:
        fn()
        synchronize(device)
    times: dict[str, float] = {}
    for event in prof.key_averages():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            micros = getattr(event, "self_device_time_total", 0.0) or getattr(event, "self_cuda_time_total", 0.0)
            times[event.key] = times.get(event.key, 0.0) + micros / 1e6
    return times


#: The operators that multiply matrices (and convolve): the work TF32 can take over when it runs in float32. Leaf
#: operators only (``aten::matmul`` and ``aten::linear`` call these), so that nothing is counted twice.
MATMUL_OPERATORS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::convolution",
                    "aten::_scaled_dot_product_flash_attention", "aten::_scaled_dot_product_efficient_attention",
                    "aten::_scaled_dot_product_cudnn_attention", "aten::_scaled_dot_product_flash_attention_for_cpu")


#: The profiler's names of input dtypes (C++ spellings) as PyTorch's Python names.
DTYPE_NAMES = {"float": "float32", "c10::BFloat16": "bfloat16", "c10::Half": "float16", "double": "float64",
               "signed char": "int8", "unsigned char": "uint8", "int": "int32", "long int": "int64"}


@dataclass(frozen=True)
class MatmulWork:
    """The matrix multiplications (and convolutions) one call ran, by the dtype of their first input: how many
    operators and how many FLOPs (the profiler's count, 0 for operators it has no formula for).

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """

    operators: dict[str, int]  # dtype -> operators
    flops: dict[str, int]  # dtype -> FLOPs
    float32_operators: dict[str, int]  # operator name -> how many ran in float32

    @property
    def total_operators(self) -> int:
        return sum(self.operators.values())

    @property
    def float32_share(self) -> float:
        """The float32 operators' share of all counted FLOPs (of the operators where no FLOPs are known: 0 or 1)."""
        total = sum(self.flops.values())
        if total:
            return self.flops.get("float32", 0) / total
        return float(self.operators.get("float32", 0) > 0)

    def as_dict(self) -> dict[str, object]:
        """Counts and FLOPs by dtype, and the float32 operators by name, for records."""
        return {"operators": self.operators, "flops": self.flops, "float32_operators": self.float32_operators,
                "float32_flop_share": self.float32_share}


def matmul_work(fn: Callable[[], object]) -> MatmulWork:
    """Profile one call of ``fn`` (shapes, dtypes and FLOPs recorded) and count its :data:`MATMUL_OPERATORS` by the
    dtype of their first input. Works on CPU and CUDA (operators are recorded on the host).

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True, acc_events=True) as prof:
        fn()
    operators: dict[str, int] = {}
    flops: dict[str, int] = {}
    float32: dict[str, int] = {}
    for event in prof.events():
        if event.name not in MATMUL_OPERATORS:
            continue
        dtypes = getattr(event, "input_dtypes", None) or ["unknown"]
        dtype = DTYPE_NAMES.get(dtypes[0], dtypes[0] or "unknown")
        operators[dtype] = operators.get(dtype, 0) + 1
        flops[dtype] = flops.get(dtype, 0) + int(event.flops or 0)
        if dtype == "float32":
            float32[event.name] = float32.get(event.name, 0) + 1
    return MatmulWork(operators, flops, float32)
