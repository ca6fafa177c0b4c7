import math

import pytest
import torch

from vlmkit.errors import BackendUnavailableError
from vlmkit.measure.memory import MemoryProbe
from vlmkit.measure.timing import TimingStats, time_call
from vlmkit.verdicts.rules import verdict

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


def test_time_kernel_on_cpu_uses_torch_benchmark_blocks_and_counts_every_untimed_call():
    from vlmkit.measure.timing import time_kernel

    calls = []
    x = torch.randn(64, 64)
    stats = time_kernel(lambda: calls.append(x @ x), CPU, warmup_ms=1.0, rep_ms=5.0, cpu_samples=4)
    assert len(stats.samples) == 4 and all(s > 0 for s in stats.samples)
    assert stats.warmup >= 1 + 4 * 2  # the warm-up loop, and Timer.timeit's own two (or more) per sample
    timed = len(calls) - stats.warmup
    assert timed >= 4 and timed % 4 == 0  # equal blocks of calls, one sample each
    assert f"{torch.get_num_threads()} thread" in stats.clock and "torch.utils.benchmark" in stats.clock
    assert stats.minimum <= stats.iqr[0] <= stats.median <= stats.iqr[1] <= stats.maximum
    record = stats.as_dict(with_samples=False)
    assert "samples_s" not in record and record["clock"] == stats.clock and record["repeats"] == 4
    assert len(stats.as_dict()["samples_s"]) == 4


def test_time_kernel_on_cuda_asks_do_bench_for_every_sample_in_seconds(monkeypatch):
    import triton.testing

    from vlmkit.measure.timing import time_kernel

    seen = {}

    def fake_do_bench(fn, warmup, rep, return_mode):
        seen.update(warmup=warmup, rep=rep, return_mode=return_mode)
        for _ in range(7):  # do_bench's own untimed calls
            fn()
        for _ in range(3):
            fn()
        return [1.0, 2.0, 4.0]  # milliseconds

    monkeypatch.setattr(triton.testing, "do_bench", fake_do_bench)
    stats = time_kernel(lambda: None, torch.device("cuda"), warmup_ms=5.0, rep_ms=50.0)
    assert seen == {"warmup": 5.0, "rep": 50.0, "return_mode": "all"}
    assert stats.samples == (0.001, 0.002, 0.004) and stats.warmup == 7
    assert "do_bench" in stats.clock and "L2" in stats.clock


@pytest.mark.parametrize("device, kwargs, error", [
    (CPU, {"rep_ms": 0.0}, ValueError),
    (CPU, {"warmup_ms": -1.0}, ValueError),
    (CPU, {"cpu_samples": 0}, ValueError),
    (torch.device("meta"), {}, BackendUnavailableError),
])
def test_time_kernel_refuses_bad_arguments(device, kwargs, error):
    from vlmkit.measure.timing import time_kernel

    with pytest.raises(error):
        time_kernel(lambda: None, device, **kwargs)


@pytest.mark.parametrize("precision, dense, inside, op", [
    ("bf16", "bfloat16", None, None),
    ("nf4", "bfloat16", "bitsandbytes::gemm_4bit", "bitsandbytes::dequantize_4bit"),
    ("int8-t0", None, None, "bitsandbytes::int8_vectorwise_quant"),
])
def test_linear_path_sees_which_operators_ran_and_whether_a_dense_weight_was_built(precision, dense, inside, op):
    from vlmkit.bench.linear_layers import activations, linear_path, make_linear
    from vlmkit.models.precisions import get_precision

    layer = make_linear(get_precision(precision), 128, 64, CPU)
    path = linear_path(layer, activations(2, 128, get_precision(precision).dtype, CPU))
    if getattr(layer, "support_avx512bf16_for_cpu", False):  # this CPU has bitsandbytes' fused 4-bit kernel
        dense, inside, op = None, None, "bitsandbytes::gemv_4bit"
    if op is not None:
        assert op in path.library_ops
    if precision.startswith("int8"):  # CPU: a float32 copy of the int8 weight (no AVX-512) or torch._int_mm (none)
        assert path.dense_weight in (None, "float32") and "int8_linear_matmul" in path.describe()
    else:
        assert (path.dense_weight, path.dense_inside) == (dense, inside)
        assert (dense or "no dense copy of the weight") in path.describe()


def test_busy_time_splits_a_query_into_prefill_and_decode_and_needs_cuda():
    from vlmkit.measure.profiler import PhaseBusy, busy_per_phase

    busy = PhaseBusy(query_s=0.040, prefill_s=0.009, new_tokens=32)
    assert busy.decode_s_per_token == pytest.approx(0.001)
    assert busy.as_dict()["busy_decode_s_per_token"] == pytest.approx(0.001)
    with pytest.raises(ValueError):
        busy_per_phase(lambda n: None, 1, CPU)
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        busy_per_phase(lambda n: None, 8, CPU)


def test_unaligned_4bit_layers_are_found_by_their_inner_dimension():
    from vlmkit.bench.linear_layers import make_linear, unaligned_4bit_layers
    from vlmkit.models.precisions import get_precision

    nf4 = get_precision("nf4")
    model = torch.nn.ModuleDict({"aligned": make_linear(nf4, 128, 32, CPU), "odd": make_linear(nf4, 80, 32, CPU),
                                 "dense": make_linear(get_precision("bf16"), 80, 32, CPU)})
    assert unaligned_4bit_layers(model) == {(80, 32, 64): ["odd"]}


def test_linear_path_without_dtypes_from_an_older_profiler(monkeypatch):
    import vlmkit.bench.linear_layers as bench
    from vlmkit.models.precisions import get_precision

    real = bench.operator_events

    class NoDtypes:  # an event as profilers before FunctionEvent.input_dtypes report it
        def __init__(self, event):
            self.name, self.input_shapes, self.cpu_parent = event.name, event.input_shapes, event.cpu_parent

    monkeypatch.setattr(bench, "operator_events", lambda fn: [NoDtypes(e) for e in real(fn)])
    layer = bench.make_linear(get_precision("nf4"), 128, 64, CPU)
    layer.support_avx512bf16_for_cpu = False  # the unpacking path, whatever this CPU has
    path = bench.linear_path(layer, bench.activations(1, 128, torch.bfloat16, CPU))
    assert path.dense_weight == "floating-point" and path.dense_inside == "bitsandbytes::gemm_4bit"
