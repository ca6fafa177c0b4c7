import pytest
import torch

from vlmkit.bench.roofline import (
    Ceilings,
    classify_phase,
    linear_cost,
    measure_ceilings,
    weight_bytes,
)
from vlmkit.models.precisions import PRECISIONS


def test_weight_bytes_per_precision():
    k, n = 4096, 4096
    assert weight_bytes(PRECISIONS["bf16"], k, n) == 2 * k * n
    assert weight_bytes(PRECISIONS["fp32"], k, n) == 4 * k * n
    assert weight_bytes(PRECISIONS["int8"], k, n) == k * n + 4 * n
    nf4 = weight_bytes(PRECISIONS["nf4"], k, n)
    assert nf4 == k * n // 2 + 4 * (k * n // 64)
    dq = weight_bytes(PRECISIONS["nf4-dq"], k, n)
    assert k * n // 2 < dq < nf4


def test_linear_cost_and_intensity():
    flops, moved = linear_cost(PRECISIONS["bf16"], 1, 4096, 4096)
    assert flops == 2 * 4096 * 4096
    assert moved == 2 * 4096 * 4096 + 2 * (4096 + 4096)
    # decode is memory bound: about one FLOP per byte in bf16, about four in 4-bit
    assert flops / moved == pytest.approx(1.0, rel=0.01)
    f4, m4 = linear_cost(PRECISIONS["nf4"], 1, 4096, 4096)
    assert 3.0 < f4 / m4 < 4.0
    big_f, big_m = linear_cost(PRECISIONS["bf16"], 4096, 4096, 4096)
    assert big_f / big_m > 1000


def test_ceilings_and_roofline():
    c = Ceilings(bandwidth=4e12, flops=800e12, dtype="bfloat16")
    assert c.ridge_intensity == 200
    assert c.attainable(1.0) == 4e12 and c.attainable(1e4) == 800e12


def test_measure_ceilings_on_cpu():
    c = measure_ceilings(torch.device("cpu"), copy_bytes=1 << 24, matmul_sizes=(64, 128), rep_ms=5.0)
    assert c.bandwidth > 1e8 and c.flops > 1e8


def test_classify_phase_by_intensity_and_by_how_close_it_came():
    c = Ceilings(bandwidth=1e12, flops=100e12, dtype="bfloat16")  # ridge at 100 FLOP/byte
    decode = classify_phase(flops=2e9, bytes_moved=2e9, seconds=2.5e-3, ceilings=c)  # 800 GB/s: 80 % of bandwidth
    assert decode.regime == "memory bound" and decode.bandwidth_share == pytest.approx(0.8)
    prefill = classify_phase(flops=2e12, bytes_moved=2e9, seconds=0.025, ceilings=c)  # 80 TFLOP/s
    assert prefill.regime == "compute bound" and prefill.flops_share == pytest.approx(0.8)
    slow = classify_phase(flops=2e9, bytes_moved=2e9, seconds=0.05, ceilings=c)  # 4 % of bandwidth
    assert slow.regime == "overhead bound"
    assert "ridge 100.0" in decode.describe(c)
    assert decode.best_share == pytest.approx(0.8) and slow.best_share == pytest.approx(0.04)


def test_the_overhead_cutoff_moves_only_phases_between_the_old_and_the_new_value():
    c = Ceilings(bandwidth=1e12, flops=100e12, dtype="bfloat16")
    phase = dict(flops=2e9, bytes_moved=2e9, seconds=2e9 / 0.3e12, ceilings=c)  # 30 % of the bandwidth
    assert classify_phase(**phase).regime == "memory bound"  # above the default quarter
    assert classify_phase(**phase, cutoff=0.5).regime == "overhead bound"
    assert classify_phase(**phase, cutoff=0.1).regime == "memory bound"
