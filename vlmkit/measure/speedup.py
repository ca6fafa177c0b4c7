"""Speed-ups measured side by side: baseline time over variant time, with a spread.

A speed-up is the baseline's median time over the variant's (>1: the variant is faster). Its spread comes from
the interquartile ranges of both: the lowest plausible ratio pairs the baseline's 25th percentile with the
variant's 75th, the highest the other way round. A headline ratio comes from pairs timed interleaved instead
(:mod:`vlmkit.measure.paired`): the median of the paired ratios with an interval of known coverage.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vlmkit.measure.timing import TimingStats


@dataclass(frozen=True)
class Speedup:
    """Baseline time / variant time: the ratio and its spread.

    ``method``: ``"medians"`` (the two sides timed apart: the ratio of medians, the spread from both interquartile
    ranges) or ``"interleaved pairs"`` (:func:`vlmkit.measure.paired.time_paired`: the median paired ratio, the
    interval covering it with probability ``coverage``, from ``pairs`` pairs).
    """

    ratio: float
    low: float
    high: float
    method: str = "medians"
    pairs: int | None = None
    coverage: float | None = None

    def as_dict(self) -> dict[str, float | str | int | None]:
        """The ratio, its spread and how they were measured, for records."""
        return asdict(self)


def speedup(baseline: TimingStats, variant: TimingStats) -> Speedup:
    """How many times as fast ``variant`` is as ``baseline``, with the spread of both.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    (b_lo, b_hi), (v_lo, v_hi) = baseline.iqr, variant.iqr
    return Speedup(baseline.median / variant.median, b_lo / v_hi, b_hi / v_lo)


def speedup_of_medians(baseline: list[float], variant: list[float]) -> Speedup:
    """:func:`speedup` for plain lists of seconds (one sample per repeat)."""
    return speedup(TimingStats(tuple(baseline), 0), TimingStats(tuple(variant), 0))
