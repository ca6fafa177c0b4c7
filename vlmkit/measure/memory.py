"""Honest memory numbers on both devices.

On CUDA: bytes allocated by PyTorch's caching allocator (``memory_allocated``),
its peak since a reset (``max_memory_allocated``) and what it holds from the
driver (``memory_reserved``). On the CPU there is no allocator to ask, so the
process's resident set size (RSS) and its high-water mark (``VmHWM``, reset
through ``/proc/self/clear_refs`` where Linux allows it) stand in, labelled as such.

Whether a model fits a card is a question in GiB (2^30 bytes: GPU memory is sold in
binary units) and counts what the card holds outside PyTorch's allocator too: the
CUDA context, the kernels loaded into it and the libraries' handles.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

from vlmkit.core.device import synchronize
from vlmkit.measure.records import Measurement


def outside_allocator_bytes(device: torch.device) -> int | None:
    """Device memory in use that PyTorch's caching allocator does not hold; ``None`` on a CPU (no CUDA context).

    The driver's used bytes (``torch.cuda.mem_get_info``: total minus free) minus what the allocator has
    reserved (``torch.cuda.memory_reserved``). Right after the context is created this is the CUDA context;
    after a model has run it also holds the kernels loaded since (CUDA loads them lazily) and the libraries'
    handles. Memory of other processes on the same GPU would count too, so measure on a GPU of one's own.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    free, total = torch.cuda.mem_get_info(device)
    return int(total - free - torch.cuda.memory_reserved(device))


def card_need_bytes(load_peak: int, weights: int, call_peak: int, outside_allocator: int) -> int:
    """What a card must hold to load a model and answer one query: the allocator's peak plus what it keeps outside.

    The allocator's peak is the load's high-water mark or the weights plus one query's peak, whichever is
    higher; ``outside_allocator`` is :func:`outside_allocator_bytes` measured after the query (CUDA context,
    loaded kernels). Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    return max(load_peak, weights + call_peak) + outside_allocator


@dataclass(frozen=True)
class CudaContextMeasurement(Measurement):
    """Notebook 01's ``cuda-context`` record: what the card held outside PyTorch's allocator right after the CUDA
    context was created, and after every query of the run (context plus loaded kernels); ``None`` on a CPU.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """

    EXPERIMENT = "cuda-context"
    context_bytes: int | None
    after_queries_bytes: int | None
    method: str


def measure_cuda_context(device: torch.device, context_bytes: int | None) -> CudaContextMeasurement:
    """The memory outside the allocator now (after the queries), beside ``context_bytes``, measured when the context
    was created (:func:`outside_allocator_bytes`). Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    method = ("torch.cuda.mem_get_info used minus torch.cuda.memory_reserved" if device.type == "cuda"
              else "none: no CUDA context on a CPU")
    return CudaContextMeasurement(context_bytes, outside_allocator_bytes(device), method)


def free_memory(device: torch.device) -> None:
    """Collect garbage and return cached CUDA blocks, so the next measurement starts clean."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def available_bytes(device: torch.device) -> int:
    """Memory a new model could take on ``device`` now: the CUDA free memory (after :func:`free_memory`), or the
    memory the operating system calls available on a CPU. Taught in ``notebooks/11_large_models.ipynb``.
    """
    free_memory(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return psutil.virtual_memory().available


def _rss() -> int:
    return psutil.Process().memory_info().rss


def _reset_cpu_peak() -> bool:
    """Reset the kernel's peak-RSS counter; False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _cpu_peak() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return _rss()


@dataclass
class MemoryDelta:
    """Memory during a block of work, relative to just before it.

    ``kind`` says what was measured: ``"cuda-allocator"`` or ``"cpu-rss"``.
    ``peak_bytes`` is the high-water mark over the block minus the starting level;
    ``retained_bytes`` is what is still held after it (say, the loaded weights).
    """

    kind: str
    start_bytes: int = 0
    peak_bytes: int = 0
    retained_bytes: int = 0
    reserved_bytes: int | None = None
    peak_is_exact: bool = True

    def as_dict(self) -> dict:
        """The fields as a plain dict, for records."""
        return dict(self.__dict__)


class MemoryProbe:
    """Context manager that measures the peak and retained memory of the work inside it.

    Taught in ``notebooks/01_loading_precisions.ipynb``::

        with MemoryProbe(device) as probe:
            model = load(...)
        probe.result.peak_bytes
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.result = MemoryDelta(kind="cuda-allocator" if device.type == "cuda" else "cpu-rss")

    def __enter__(self) -> "MemoryProbe":
        # the young generations only: what the last call left behind. A full collection walks every object the
        # libraries made (0.2-0.6 s on a CPU), longer than a tiny model's answer, on every call
        gc.collect(1)
        synchronize(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.result.start_bytes = torch.cuda.memory_allocated(self.device)
        else:
            self.result.peak_is_exact = _reset_cpu_peak()
            self.result.start_bytes = _rss()
        return self

    def __exit__(self, *exc_info) -> None:
        synchronize(self.device)
        start = self.result.start_bytes
        if self.device.type == "cuda":
            self.result.peak_bytes = torch.cuda.max_memory_allocated(self.device) - start
            self.result.retained_bytes = torch.cuda.memory_allocated(self.device) - start
            self.result.reserved_bytes = torch.cuda.memory_reserved(self.device)
        else:
            self.result.peak_bytes = max(_cpu_peak() - start, 0)
            self.result.retained_bytes = _rss() - start
