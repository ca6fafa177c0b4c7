"""The interleaved-rounds method behind every headline ratio (vlmkit.measure.interleaved)."""

from __future__ import annotations

import math

import pytest
import torch

from vlmkit.measure.interleaved import (
    MIN_PAIRS,
    MIN_WARMUPS,
    median_interval,
    paired_speedup,
    time_interleaved,
    time_rounds,
    wall_clock,
)

CPU = torch.device("cpu")


def _binomial_coverage(n: int, k: int) -> float:
    """P(the k-th smallest <= median <= the k-th largest) for n values: 1 - 2 P(Binomial(n, 1/2) < k)."""
    return 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2**n


def test_ten_pairs_give_the_second_to_ninth_ratio_at_97_9_percent():
    values = [float(v) for v in range(1, 11)]  # already ordered: rank r holds r
    low, high, coverage = median_interval(values)
    assert (low, high) == (2.0, 9.0)
    assert coverage == pytest.approx(_binomial_coverage(10, 2)) == pytest.approx(0.9785, abs=1e-4)


@pytest.mark.parametrize("n", [6, 7, 10, 15, 20, 40])
def test_interval_is_the_widest_rank_pair_that_reaches_95_percent(n):
    low, high, coverage = median_interval([float(v) for v in range(1, n + 1)])
    k = int(low)
    assert high == n + 1 - k  # symmetric ranks
    assert coverage >= 0.95
    assert _binomial_coverage(n, k + 1) < 0.95  # one rank narrower would fall short


def test_fewer_than_six_values_give_the_whole_range_with_its_lower_coverage():
    low, high, coverage = median_interval([3.0, 1.0, 2.0, 5.0, 4.0])
    assert (low, high) == (1.0, 5.0)
    assert coverage == pytest.approx(1 - 2 / 2**5) and coverage < 0.95
    with pytest.raises(ValueError):
        median_interval([])


def test_rounds_alternate_the_order_after_the_warmups():
    order = []
    sides = {name: (lambda name=name: order.append(name) or {"total": 1.0}) for name in ("a", "b", "c")}
    rounds = time_rounds(sides, warmup=2, rounds=3)
    assert order == ["a", "b", "c"] * 2 + ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert rounds.rounds == 3 and rounds.warmup == 2
    assert MIN_WARMUPS >= 2 and MIN_PAIRS >= 10  # the minimum for a headline ratio
    with pytest.raises(ValueError):
        time_rounds(sides, rounds=0)
    with pytest.raises(ValueError):
        time_rounds({})


def test_paired_ratio_keeps_every_part_and_shrugs_off_one_outlier_pair():
    # the variant is 2x faster in every pair but one, where a late warm-up made it 10x slower
    base = iter([0.2] * 10)
    var = iter([0.1] * 4 + [2.0] + [0.1] * 5)
    rounds = time_rounds({"bf16": lambda: {"query": next(base), "decode": 0.02},
                          "int4": lambda: {"query": next(var), "decode": 0.01}}, warmup=0, rounds=10)
    query = rounds.speedup("bf16", "int4", "query")
    assert query.ratio == pytest.approx(2.0)
    assert query.low == pytest.approx(2.0) and query.high == pytest.approx(2.0)  # the outlier is the 1st rank only
    assert query.method == "interleaved pairs" and query.pairs == 10 and query.coverage > 0.97
    assert rounds.speedup("bf16", "int4", "decode").ratio == pytest.approx(2.0)
    with pytest.raises(ValueError):
        paired_speedup([1.0, 2.0], [1.0])  # pairs need both sides
    assert rounds.stats("int4", "query").samples[4] == 2.0
    recorded = rounds.as_dict()
    assert recorded["rounds"] == 10 and len(recorded["seconds"]["int4"]["query"]) == 10


def test_pairs_cancel_a_drift_that_timing_apart_would_count():
    # the machine slows down steadily; both sides cost the same: the paired ratios stay near 1
    clock = {"t": 1.0}

    def side() -> dict[str, float]:
        clock["t"] *= 1.05
        return {"total": clock["t"]}

    rounds = time_rounds({"a": side, "b": side}, warmup=0, rounds=10)
    assert 0.9 < rounds.speedup("a", "b").ratio < 1.1
    apart = [1.05**i for i in range(1, 11)], [1.05**i for i in range(11, 21)]  # a's 10 runs, then b's
    assert sorted(apart[1])[5] / sorted(apart[0])[5] > 1.5  # what timing one after the other would have shown


def test_wall_clock_and_time_interleaved_time_plain_calls():
    run = wall_clock(lambda: sum(range(1000)), CPU, "query")
    assert set(run()) == {"query"} and run()["query"] > 0
    order = []
    stats = time_interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, CPU,
                             warmup=1, repeats=3)
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert {k: len(v.samples) for k, v in stats.items()} == {"a": 3, "b": 3}
