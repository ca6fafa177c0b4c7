import math

import pytest
import torch

from vlmkit.claims import verdict
from vlmkit.memory import MemoryProbe
from vlmkit.timing import TimingStats, time_call

CPU = torch.device("cpu")


def test_time_call_warms_up_and_repeats():
    calls = []
    stats = time_call(lambda: calls.append(1), CPU, warmup=2, repeats=5)
    assert len(calls) == 7 and len(stats.samples) == 5 and stats.warmup == 2
    assert stats.minimum <= stats.iqr[0] <= stats.median <= stats.iqr[1] <= stats.maximum
    assert stats.as_dict()["repeats"] == 5
    with pytest.raises(ValueError):
        time_call(lambda: None, CPU, repeats=0)


def test_timing_statistics():
    stats = TimingStats((1.0, 2.0, 3.0, 4.0, 10.0), warmup=1)
    assert stats.median == 3.0 and stats.iqr == (2.0, 4.0)
    assert stats.relative_spread == pytest.approx(3.0)
    assert TimingStats((2.0,), 0).iqr == (2.0, 2.0)


def test_memory_probe_sees_a_held_allocation():
    with MemoryProbe(CPU) as probe:
        held = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    assert probe.result.kind == "cpu-rss"
    assert probe.result.retained_bytes >= 48 * 2**20
    assert probe.result.peak_bytes >= probe.result.retained_bytes * 0.9
    del held


def test_memory_probe_sees_a_transient_peak():
    with MemoryProbe(CPU) as probe:
        tmp = torch.ones(128 * 2**20 // 4)
        del tmp
    if probe.result.peak_is_exact:
        assert probe.result.peak_bytes >= 96 * 2**20
    assert probe.result.retained_bytes < 64 * 2**20


@pytest.mark.parametrize("measured, low, high, spread, outcome", [
    (1.0, 0.8, 1.2, None, "holds"),
    (0.5, 0.8, 1.2, None, "below"),
    (1.5, 0.8, 1.2, None, "above"),
    (0.70, 0.8, 1.2, None, "below"),        # under the 10 % tolerance edge (0.72)
    (0.73, 0.8, 1.2, None, "holds"),        # inside it
    (0.6, 0.8, 1.2, (0.5, 0.75), "holds"),  # the spread reaches the widened range
    (0.6, 0.8, 1.2, (0.5, 0.7), "below"),
    (17.7, 16.0, None, None, "above"),
    (16.5, 16.0, None, None, "holds"),
])
def test_verdict(measured, low, high, spread, outcome):
    v = verdict(measured, low, high, spread=spread)
    assert v.outcome == outcome
    assert math.isfinite(v.ratio_to_claim)


def test_verdict_rejects_a_reversed_range():
    with pytest.raises(ValueError):
        verdict(1.0, 2.0, 1.0)
