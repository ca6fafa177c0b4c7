"""Timing that is honest on CPU and CUDA: warm-up, repeats, synchronisation, median and spread.

Two clocks for two kinds of work. A whole ``generate`` call (tens of milliseconds and more) is
timed with the wall clock around a synchronised call (:func:`time_call`). A single kernel or
layer (microseconds) is not: launch and synchronisation alone cost tens of microseconds, so
:func:`time_kernel` times it with the device's own clock over many back-to-back calls
(``triton.testing.do_bench`` on CUDA, ``torch.utils.benchmark`` on CPU).

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from vlmkit.core.device import synchronize
from vlmkit.errors import BackendUnavailableError


@dataclass(frozen=True)
class TimingStats:
    """Seconds per repeat: the median, the spread, and every sample."""

    samples: tuple[float, ...]
    warmup: int
    clock: str = "wall clock, synchronised"

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)

    @property
    def maximum(self) -> float:
        return max(self.samples)

    @property
    def iqr(self) -> tuple[float, float]:
        """The 25th and 75th percentiles (equal to the sample with one repeat)."""
        if len(self.samples) < 2:
            return self.samples[0], self.samples[0]
        q = statistics.quantiles(self.samples, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def relative_spread(self) -> float:
        """(max - min) / median: how far to trust a difference between two variants."""
        return (self.maximum - self.minimum) / self.median if self.median else float("nan")

    def as_dict(self, *, with_samples: bool = True) -> dict:
        """Median, spread, the clock and (unless ``with_samples`` is false: kernel timings have
        hundreds of them) every sample as a plain dict, for records."""
        low, high = self.iqr
        out = {
            "median_s": self.median,
            "min_s": self.minimum,
            "max_s": self.maximum,
            "p25_s": low,
            "p75_s": high,
            "repeats": len(self.samples),
            "warmup": self.warmup,
            "clock": self.clock,
        }
        if with_samples:
            out["samples_s"] = list(self.samples)
        return out


def time_call(fn: Callable[[], object], device: torch.device, *, warmup: int = 1, repeats: int = 5) -> TimingStats:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed, synchronising the device around each.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return TimingStats(tuple(samples), warmup)


def time_kernel(fn: Callable[[], object], device: torch.device, *, warmup_ms: float = 25.0, rep_ms: float = 100.0,
                cpu_samples: int = 5) -> TimingStats:
    """Time a short piece of device work (a kernel, one layer) with the device's own clock.

    On CUDA this is ``triton.testing.do_bench``: CUDA events around each of many back-to-back
    calls, with the L2 cache flushed before each, so that a layer's weight is read from memory
    and launch or synchronisation latency does not set a floor under microsecond kernels. It
    runs ``fn`` untimed for about ``warmup_ms``, then timed for about ``rep_ms``; every call is a
    sample. On CPU it is ``torch.utils.benchmark.Timer`` with this process's thread count:
    ``fn`` runs untimed for at least ``warmup_ms`` (and once), which also estimates its time, then
    ``cpu_samples`` times ``Timer.timeit`` over a block of calls sized to share ``rep_ms`` between
    them (one call at least); each block's time per call is a sample. The result's ``warmup``
    counts every untimed call, the libraries' own included. Keep :func:`time_call` for whole
    ``generate`` calls. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    if warmup_ms < 0 or rep_ms <= 0 or cpu_samples < 1:
        raise ValueError(f"need warmup_ms >= 0, rep_ms > 0 and cpu_samples >= 1, got warmup_ms={warmup_ms}, "
                         f"rep_ms={rep_ms}, cpu_samples={cpu_samples}")
    if device.type not in ("cuda", "cpu"):
        raise BackendUnavailableError(f"kernel timing knows the clocks of CUDA and the CPU, not of {device.type}")
    calls = 0

    def counted() -> None:
        nonlocal calls
        calls += 1
        fn()

    if device.type == "cuda":
        from triton.testing import do_bench

        with torch.cuda.device(-1 if device.index is None else device.index):  # -1: the current GPU
            samples_ms = do_bench(counted, warmup=warmup_ms, rep=rep_ms, return_mode="all")
        samples = tuple(ms / 1e3 for ms in samples_ms)
        return TimingStats(samples, calls - len(samples), "CUDA events, triton do_bench, L2 flushed per call")
    with _quiet_logger("torch.utils.cpp_extension"):  # its import warns "No CUDA runtime is found" on a CPU
        from torch.utils.benchmark import Timer

    threads = torch.get_num_threads()
    start = time.perf_counter()
    counted()
    while (elapsed := time.perf_counter() - start) < warmup_ms / 1e3:
        counted()
    number = max(1, round(rep_ms / 1e3 / cpu_samples / (elapsed / calls)))
    timer = Timer(stmt="counted()", globals={"counted": counted}, num_threads=threads)
    samples = tuple(timer.timeit(number).mean for _ in range(cpu_samples))
    return TimingStats(samples, calls - number * cpu_samples,
                       f"torch.utils.benchmark, {threads} thread{'s' * (threads > 1)}, mean per call of a block")


def time_graphed_kernel(fn: Callable[[], object], device: torch.device, **kwargs: float) -> TimingStats:
    """:func:`time_kernel` of ``fn`` captured once in a CUDA graph and replayed: the kernels' time without the host's
    launch and dispatch work, which for a layer whose weight is a Python tensor subclass (torchao's) can take longer
    than its kernel. ``fn`` runs twice before the capture (lazy set-up, kernel selection). On a CPU, where there are
    no graphs, it is :func:`time_kernel` of ``fn``. Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    if device.type != "cuda":
        return time_kernel(fn, device, **kwargs)
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        fn()
        fn()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    stats = time_kernel(graph.replay, device, **kwargs)
    return TimingStats(stats.samples, stats.warmup + 2, f"{stats.clock}, replayed from a CUDA graph")


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """Raise one logger's level to ERROR for the duration of the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
