"""Variants timed in interleaved rounds: the method behind every headline ratio of the book.

Timing one variant after the other lets anything that drifts on a shared machine (clocks, other tenants, caches,
an allocator growing) land on one side only. :func:`time_rounds` runs every side once per round, in alternating
order (A B, B A, A B, ...), after at least :data:`MIN_WARMUPS` warm-ups each. Each round pairs the sides: the
ratio of two sides' seconds in one round is one paired ratio (baseline over variant, >1: the variant is faster).
:meth:`Rounds.speedup` reports the median of those ratios and a distribution-free interval for it: order
statistics of the paired ratios chosen with the binomial distribution (the sign test's interval), covering the
true median with at least 95 % probability from 6 pairs on (``coverage`` says how much; with :data:`MIN_PAIRS`
= 10 it is the 2nd to the 9th ratio, 97.9 %). An outlier pair (a late warm-up) moves that interval by one rank
at most, where it would widen a mean's.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from vlmkit.core.device import synchronize
from vlmkit.measure.records import Measurement
from vlmkit.measure.speedup import Speedup
from vlmkit.measure.timing import TimingStats

#: The fewest warm-ups each side gets before the rounds start.
MIN_WARMUPS = 2
#: The fewest pairs (rounds) a headline ratio rests on; fewer make a supporting measurement at most.
MIN_PAIRS = 10
#: The interval's target coverage.
COVERAGE = 0.95

#: One run of a side: its seconds, by part ("query", "prefill", ...); :func:`wall_clock` makes one of a plain call.
TimedRun = Callable[[], Mapping[str, float]]


def wall_clock(fn: Callable[[], object], device: torch.device, part: str = "total") -> TimedRun:
    """``fn`` as a :data:`TimedRun`: its wall time, the device synchronised before and after, as ``{part: s}``.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    def run() -> dict[str, float]:
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        return {part: time.perf_counter() - start}

    return run


def median_interval(values: list[float], coverage: float = COVERAGE) -> tuple[float, float, float]:
    """The sign test's interval for the median of ``values``: ``(low, high, coverage reached)``.

    The k-th smallest and k-th largest values, k as large as keeps the binomial probability of the median lying
    outside at most ``1 - coverage``; with fewer than 6 values no pair of ranks reaches 95 % and the interval is
    the whole range, with the (lower) coverage it has. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    if not values:
        raise ValueError("an interval needs at least one value")
    ordered = sorted(values)
    n = len(ordered)
    below = 0.0  # P(Binomial(n, 1/2) < k): the chance that fewer than k values lie below the median
    k = 0
    while k + 1 <= n // 2:
        tail = below + math.comb(n, k) / 2**n
        if 2 * tail > 1 - coverage:
            break
        below, k = tail, k + 1
    if k == 0:
        return ordered[0], ordered[-1], 1 - 2 / 2**n if n > 1 else 0.0
    return ordered[k - 1], ordered[n - k], 1 - 2 * below


def paired_speedup(baseline_s: Sequence[float], variant_s: Sequence[float]) -> Speedup:
    """Baseline over variant seconds, pair by pair (``baseline_s[i]`` ran beside ``variant_s[i]``): the median ratio
    (>1: the variant is faster) with its sign-test interval (:func:`median_interval`).
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    ratios = [b / v for b, v in zip(baseline_s, variant_s, strict=True)]
    low, high, coverage = median_interval(ratios)
    return Speedup(statistics.median(ratios), low, high, method="interleaved pairs", pairs=len(ratios),
                   coverage=coverage)


@dataclass(frozen=True)
class Rounds:
    """The seconds of each part of each side, round by round (``seconds[side][part][i]``: round ``i``).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    seconds: dict[str, dict[str, tuple[float, ...]]]
    warmup: int

    @property
    def rounds(self) -> int:
        """How many rounds ran (each side once per round)."""
        side = next(iter(self.seconds.values()), {})
        return len(next(iter(side.values()), ()))

    def stats(self, side: str, part: str = "total") -> TimingStats:
        """One side's seconds of ``part`` as :class:`TimingStats` (samples in round order)."""
        return TimingStats(self.seconds[side][part], self.warmup, clock="wall clock, synchronised, interleaved")

    def speedup(self, baseline: str, variant: str, part: str = "total") -> Speedup:
        """The median paired ratio of ``part`` with its sign-test interval (:func:`paired_speedup`)."""
        return paired_speedup(self.seconds[baseline][part], self.seconds[variant][part])

    def as_dict(self) -> dict[str, object]:
        """Every sample of every side, for records."""
        return {"warmup": self.warmup, "rounds": self.rounds, "order": "alternating (A B, B A, ...)",
                "seconds": {side: {part: list(v) for part, v in parts.items()} for side, parts in self.seconds.items()}}


@dataclass(frozen=True)
class PairedRuns(Measurement):
    """A ``paired-runs`` record: two sides timed in interleaved rounds (``baseline`` and ``variant``: what each side
    was), the speed-up of each part from the paired ratios, and every sample.

    ``speedups``: part -> :meth:`vlmkit.measure.speedup.Speedup.as_dict`; ``rounds``: :meth:`Rounds.as_dict`.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """

    EXPERIMENT: ClassVar[str] = "paired-runs"
    baseline: str
    variant: str
    speedups: dict[str, dict[str, Any]]
    rounds: dict[str, Any]

    @classmethod
    def of(cls, rounds: Rounds, baseline: str, variant: str) -> PairedRuns:
        """The record of ``rounds`` whose sides are named ``baseline`` and ``variant``, every part of them."""
        parts = rounds.seconds[baseline]
        return cls(baseline, variant, {part: rounds.speedup(baseline, variant, part).as_dict() for part in parts},
                   rounds.as_dict())

    def speedup(self, part: str) -> Speedup:
        """The paired speed-up of ``part``."""
        return Speedup(**self.speedups[part])


def time_rounds(sides: Mapping[str, TimedRun], *, warmup: int = MIN_WARMUPS, rounds: int = MIN_PAIRS,
                on_round: Callable[[], None] | None = None) -> Rounds:
    """Run every side ``warmup`` times (untimed), then ``rounds`` rounds of every side once, the order reversed
    in every other round (A B, B A, ...), keeping every part's seconds. ``on_round`` is called after each round
    (a progress bar). Taught in ``notebooks/03_dequantization.ipynb``.
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"need rounds >= 1 and warmup >= 0, got rounds={rounds}, warmup={warmup}")
    if not sides:
        raise ValueError("time_rounds needs at least one side")
    for _ in range(warmup):
        for run in sides.values():
            run()
    seconds: dict[str, dict[str, list[float]]] = {name: {} for name in sides}
    names = list(sides)
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            for part, s in sides[name]().items():
                seconds[name].setdefault(part, []).append(s)
        if on_round is not None:
            on_round()
    return Rounds({name: {part: tuple(v) for part, v in parts.items()} for name, parts in seconds.items()}, warmup)


def time_interleaved(variants: dict[str, Callable[[], object]], device: torch.device, *, warmup: int = 1,
                     repeats: int = 5) -> dict[str, TimingStats]:
    """Plain calls timed in interleaved rounds (:func:`time_rounds` of their :func:`wall_clock`): each one's
    :class:`TimingStats`, samples in round order. Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    rounds = time_rounds({name: wall_clock(fn, device) for name, fn in variants.items()}, warmup=warmup,
                         rounds=repeats)
    return {name: rounds.stats(name) for name in variants}
