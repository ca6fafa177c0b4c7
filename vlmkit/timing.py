"""Timing that is honest on CPU and CUDA: warm-up, repeats, synchronisation, median and spread.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vlmkit.device import synchronize


@dataclass(frozen=True)
class TimingStats:
    """Seconds per repeat: the median, the spread, and every sample."""

    samples: tuple[float, ...]
    warmup: int

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

    def as_dict(self) -> dict:
        """Median, spread and samples as a plain dict, for records."""
        low, high = self.iqr
        return {
            "median_s": self.median,
            "min_s": self.minimum,
            "max_s": self.maximum,
            "p25_s": low,
            "p75_s": high,
            "repeats": len(self.samples),
            "warmup": self.warmup,
            "samples_s": list(self.samples),
        }


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


def time_interleaved(variants: dict[str, Callable[[], object]], device: torch.device, *, warmup: int = 1,
                     repeats: int = 5) -> dict[str, TimingStats]:
    """Time several variants in alternating rounds (A B, B A, A B, ...): drift on a shared machine, and whatever
    the one running first in a round pays or leaves behind, then hit all of them alike.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    for _ in range(warmup):
        for fn in variants.values():
            fn()
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            fn = variants[name]
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            samples[name].append(time.perf_counter() - start)
    return {name: TimingStats(tuple(s), warmup) for name, s in samples.items()}
