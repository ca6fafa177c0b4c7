"""Notebook 03's library: its settings, the layer sweep, the whole model per precision, the phases on the roofline,
the verdicts and the text they are explained with (small CPU runs and synthetic numbers; no wall-clock asserts)."""

import math
from pathlib import Path

import pytest
import torch

from vlmkit.bench.dequantization import (
    dequantization_settings,
    measure_model_speeds,
    precision_list,
)
from vlmkit.bench.linear_layers import (
    layer_findings,
    sweep_linear_layers,
    time_unaligned_layers,
    unaligned_costs,
)
from vlmkit.bench.model_speed import ModelRun, ModelSpeed, gpu_busy_clause, place_phases
from vlmkit.bench.query import QuerySetup
from vlmkit.bench.roofline import (
    Ceilings,
    LinearLayerTiming,
    LinearShape,
    MeasuredCeilings,
)
from vlmkit.book.prose import render
from vlmkit.measure.footprint import Footprint
from vlmkit.measure.interleaved import MIN_PAIRS, MIN_WARMUPS, PairedRuns, Rounds
from vlmkit.measure.profiler import PhaseBusy
from vlmkit.measure.records import ResultsStore, load_records, read_measurements
from vlmkit.measure.speedup import Speedup
from vlmkit.runtime.inference import CallStats
from vlmkit.verdicts.precision_speed import (
    compute_bound_outcome,
    dequantization_outcome,
    record_compute_bound_claim,
    record_dequantization_claims,
    record_speed_claims,
)

CPU = torch.device("cpu")
REFERENCE = Path(__file__).resolve().parents[1] / "reference"


def test_settings_resolve_auto_per_device_and_refuse_what_cannot_run():
    s = dequantization_settings("cpu")
    assert (s.model_name, s.layer_set, s.tokens) == ("qwen3-vl-tiny", "tiny", [1, 16, 128])
    assert (s.kernel_ms, s.model_repeats) == (10, MIN_PAIRS)
    assert s.precisions[0] == "bf16" and len(s.precisions) == 10 and s.model_precisions == ["bf16", "int8", "nf4"]
    assert s.query == s.book_query == QuerySetup(64, 8) and s.headline_role == "headline" and not s.on_cuda
    assert s.ceiling_shapes == {"copy_bytes": 64 << 20, "matmul": [128, 256]}
    custom = dequantization_settings("cpu", precisions="nf4, int8,nf4", tokens="128,1", image_size=32, layers="8b")
    assert custom.precisions == ["bf16", "nf4", "int8"] and custom.tokens == [1, 128] and len(custom.shapes) == 7
    assert custom.query == QuerySetup(32, 8) and custom.headline_role == "supporting"
    assert precision_list("bf16") == ["bf16"]
    with pytest.raises(ValueError, match="at least two"):
        dequantization_settings("cpu", tokens="4")
    with pytest.raises(ValueError, match="NEW_TOKENS"):
        dequantization_settings("cpu", new_tokens=1)
    with pytest.raises(ValueError, match="LAYERS"):
        dequantization_settings("cpu", layers="70b")
    with pytest.raises(Exception, match="int3"):
        dequantization_settings("cpu", precisions="int3")


def test_records_keep_the_committed_keys():
    for run in ("nvidia-h200", "cpu-x86_64"):
        results = REFERENCE / run / "results"
        records = {r["experiment"]: r for r in load_records(results / "03_dequantization.json")}
        for kind in (MeasuredCeilings, LinearLayerTiming, ModelSpeed):
            metrics = records[kind.EXPERIMENT]["metrics"]
            assert kind.from_metrics(metrics).metrics() == metrics, (run, kind)
        (bf16, *_) = read_measurements(ModelSpeed, results, "03_dequantization")
        assert bf16.precision == "bf16" and bf16.measurement.query_ms > bf16.measurement.prefill_ms > 0
    ceilings = Ceilings(bandwidth=4e12, flops=8e14, dtype="bfloat16")
    assert MeasuredCeilings.of(ceilings).metrics() == {"bandwidth_bytes_per_s": 4e12, "flops_per_s": 8e14,
                                                       "ridge_flop_per_byte": 200.0}
    assert MeasuredCeilings.of(ceilings).ceilings() == ceilings


def _calls(query_s: float, prefill_s: float, decode_s: float, repeats: int = 3) -> list[CallStats]:
    return [CallStats(prefill_s * (1 + i / 100), decode_s * (1 + i / 100), query_s * (1 + i / 100), 251, 0, 32, 196, 0,
                      "allocator") for i in range(repeats)]


def _footprint(scale: float) -> Footprint:
    return Footprint(bytes_by={"language layers": {"weight": int(14e9 * scale)},
                               "lm_head": {"weight": int(1e9 * scale)}, "vision tower": {"weight": int(1e9 * scale)}},
                     params_by={"language layers": 7_000_000_000, "vision tower": 500_000_000})


def _paired(name: str, slow: float) -> PairedRuns:
    """``name`` timed in 10 interleaved rounds with BF16, ``slow`` times BF16's time in every part."""
    base = {"query": 2.0, "prefill": 0.1, "decode": 0.06}
    rounds = Rounds({"bf16": {k: (v,) * MIN_PAIRS for k, v in base.items()},
                     name: {k: (v * slow,) * MIN_PAIRS for k, v in base.items()}}, MIN_WARMUPS)
    return PairedRuns.of(rounds, "bf16", name)


def _runs(busy: bool, device: str = "cuda", nf4_slowdown: float = 1.1, nf4_kernel: float = 1.0,
          paired: bool = True) -> dict[str, ModelRun]:
    query = QuerySetup(448, 32)
    runs = {}
    for name, scale, slow in (("bf16", 1.0, 1.0), ("int8", 0.5, 3.0), ("nf4", 0.28, nf4_slowdown)):
        b = PhaseBusy(0.25 * (nf4_kernel if name == "nf4" else 1.0), 0.02, 32) if busy else None
        speed = ModelSpeed.of(name, _calls(2.0 * slow, 0.1 * slow, 0.06 * slow), b, int(17e9 * scale))
        runs[name] = ModelRun("qwen3-vl-8b", torch.device(device), query, 3, speed, _footprint(scale), 2, b,
                              None if busy or device == "cpu" else "no CUPTI", {} if name == "nf4" else None,
                              _paired(name, slow) if paired and name != "bf16" else None)
    return runs


def test_model_speed_records_kernel_time_only_where_measured():
    measured = ModelSpeed.of("bf16", _calls(2.0, 0.1, 0.06), PhaseBusy(0.25, 0.02, 32), 17_000_000_000)
    assert measured.query_ms == pytest.approx(2020.0) and measured.weights_gb == pytest.approx(17.0)
    assert measured.gpu_busy_share_prefill == pytest.approx(0.02 / 0.101)
    assert measured.metrics()["busy_decode_s_per_token"] == pytest.approx(0.23 / 31)
    unmeasured = ModelSpeed.of("bf16", _calls(2.0, 0.1, 0.06), None, 1)
    assert "busy_query_s" not in unmeasured.metrics() and unmeasured.metrics()["kernel_ms_per_token"] is None
    assert list(unmeasured.table_row()) == ["precision", "query_ms", "prefill_ms", "decode_ms_per_token", "weights_gb",
                                            "tokens_in", "visual_tokens", "kernel_ms_prefill", "kernel_ms_per_token",
                                            "gpu_busy_share_prefill", "gpu_busy_share_decode"]


def test_phases_are_placed_at_each_cutoff_and_the_kernels_alone():
    runs = _runs(busy=True)
    ceilings = Ceilings(bandwidth=1e12, flops=1e15, dtype="bfloat16")  # decode of BF16 reads 15 GB in 60 ms: 25 %
    placed = place_phases(runs, ceilings)
    decode = placed.phases[("bf16", "decode")]
    assert decode.bandwidth_share == pytest.approx(15e9 / 0.0606 / 1e12, rel=1e-6) and decode.regime == "overhead bound"
    assert placed.changed_cutoffs("bf16", "decode") == {0.10: "memory bound"}
    assert placed.phases[("bf16", "decode kernels")].regime == "memory bound"
    assert [r["precision"] for r in placed.rows] == ["bf16", "int8", "nf4"]
    assert placed.rows[0]["prefill at a 50% cut-off"] == placed.at_cutoffs[("bf16", "prefill")][0.50]
    assert gpu_busy_clause(runs["bf16"], placed).startswith("; the GPU is busy 12% of each decode step")
    assert gpu_busy_clause(_runs(busy=False)["bf16"], place_phases(_runs(busy=False), ceilings)) == ""


def test_verdict_rules():
    assert dequantization_outcome(0.2, 0.18) == ("holds", pytest.approx(0.9))
    assert dequantization_outcome(0.2, 0.1)[0] == "partly" and dequantization_outcome(0.2, 0.01)[0] == "refuted"
    outcome, explained = dequantization_outcome(-0.1, 0.0)
    assert outcome == "refuted" and math.isnan(explained)
    assert compute_bound_outcome("compute bound", "compute bound") == "holds"
    assert compute_bound_outcome("memory bound", "compute bound") == "partly"
    assert compute_bound_outcome("overhead bound", "memory bound") == "refuted"


@pytest.mark.parametrize("busy, device, expected", [(True, "cuda", "mechanism-claim"),
                                                    (False, "cpu", "unmeasured-claim"),
                                                    (False, "cuda", "unmeasured-claim")])
def test_claims_are_recorded_per_precision_and_phase(tmp_path, busy, device, expected):
    runs = _runs(busy, device, nf4_slowdown=1.2, nf4_kernel=2.6)
    store = ResultsStore("03_x", tmp_path, "cpu")
    speedups = record_speed_claims(store, runs, headline_role="headline")
    assert list(speedups) == ["int8", "nf4"] and speedups["nf4"]["query"].ratio == pytest.approx(1 / 1.2)
    mechanisms = record_dequantization_claims(store, runs)
    ceilings = Ceilings(bandwidth=1e12, flops=1e14, dtype="bfloat16")  # prefill: 43 % of the matmul peak
    compute = record_compute_bound_claim(store, runs["bf16"], place_phases(runs, ceilings), ceilings)
    records = store.records()
    assert [r["metrics"]["role"] for r in records if r["experiment"] == "speed-claim"] == ["headline", "supporting",
                                                                                            "supporting"] * 2
    assert all(r["metrics"]["method"] == "interleaved pairs" and r["metrics"]["pairs"] == MIN_PAIRS
               for r in records if r["experiment"] == "speed-claim")
    (dequant,) = [r for r in records if r["metrics"]["claim"] == "int4-dequantization"]
    assert dequant["experiment"] == expected and dequant["precision"] == "nf4"
    if busy:  # kernels: 0.65 s against 0.25 s, wall 2.4 s against 2.0 s: all of the extra time
        assert mechanisms == [dequant["metrics"]] and dequant["metrics"]["verdict"] == "holds"
        assert dequant["metrics"]["explained_share"] == pytest.approx(0.4 / 0.404, rel=1e-3)
    else:
        assert mechanisms == [] and ("CUDA's profiler" in dequant["metrics"]["reason"]) == (device == "cpu")
        assert ("no CUPTI" in dequant["metrics"]["reason"]) == (device == "cuda")
    assert (compute["decode_regime"], compute["prefill_regime"]) == ("overhead bound", "compute bound")
    assert compute["verdict"] == "partly"
    assert compute["measured_text"].startswith("decode overhead bound: 0.9 FLOP/byte")


def test_precisions_timed_apart_are_not_headlines(tmp_path):
    store = ResultsStore("03_x", tmp_path, "cpu")
    speedups = record_speed_claims(store, _runs(False, "cpu", paired=False), headline_role="headline")
    assert speedups["int8"]["query"].method == "medians"  # the ratio of medians, when the two did not fit together
    claims = [r["metrics"] for r in store.records() if r["experiment"] == "speed-claim"]
    assert all(m["role"] == "supporting" for m in claims) and "interleaved pairs" in claims[0]["note"]


def test_sweep_times_every_layer_precision_and_m_and_records_each(tmp_path):
    store = ResultsStore("03_x", tmp_path, "cpu")
    shapes = (LinearShape("a", 128, 64), LinearShape("b", 64, 128))
    sweep = sweep_linear_layers(store, shapes, ["bf16", "nf4", "int8"], [1, 4], CPU, kernel_ms=1, bandwidth=1e10)
    assert len(sweep.rows) == 12 and sweep.clock.startswith("torch.utils.benchmark")
    assert all(r["time_vs_bf16"] == 1.0 for r in sweep.rows if r["precision"] == "bf16")
    assert all(math.isnan(r["dequant_seconds"]) == (r["precision"] != "nf4") for r in sweep.rows)
    (back, *_) = read_measurements(LinearLayerTiming, tmp_path, "03_x")
    assert back.shapes == {"layer": "a", "K": 128, "N": 64, "M": 1} and back.measurement.flops == 2 * 128 * 64
    assert back.measurement.bytes_moved == 2 * 128 * 64 + 2 * (128 + 64) and back.model == "-"
    nf4 = layer_findings(sweep.rows, "nf4", [1, 4])
    assert (nf4.low, nf4.high, nf4.calls, nf4.label) == (1, 4, 4, "NF4") and set(nf4.paths) == {1, 4}
    assert sum(s.layers for s in nf4.unpacking + nf4.fused) == 4  # every call is either unpacked or fused


def _row(layer, precision, m, seconds, path, dense, dequant=math.nan, ops=()):
    return {"layer": layer, "precision": precision, "M": m, "seconds": seconds, "dequant_seconds": dequant,
            "path": path, "dense_weight": dense, "library_ops": ops, "time_vs_bf16": seconds / 1e-5}


def test_layer_findings_name_the_common_path_and_the_exceptions():
    fused, dense = "gemv_4bit; fused", "gemm_4bit; dense"
    rows = [_row("a", "nf4", 1, 2e-5, fused, None, 4e-5), _row("b", "nf4", 1, 2e-5, fused, None, 2e-5),
            _row("c", "nf4", 1, 3e-5, dense, "bfloat16", 6e-5), _row("a", "nf4", 8, 1e-4, dense, "bfloat16", 5e-5),
            _row("a", "int8", 1, 1e-5, "int8_linear_matmul", None, ops=("bitsandbytes::int8_vectorwise_dequant",)),
            _row("a", "int8", 8, 1e-5, "int8_linear_matmul", "float32")]
    nf4 = layer_findings(rows, "nf4", [1, 8])
    assert nf4.paths == {1: "gemv_4bit; fused (c: gemm_4bit; dense)", 8: "gemm_4bit; dense"}
    assert [(s.tokens, s.median, s.layers, s.of) for s in nf4.unpacking] == [(1, 2.0, 1, 3), (8, 0.5, 1, 1)]
    assert [(s.tokens, s.median, s.layers, s.of) for s in nf4.fused] == [(1, 1.5, 2, 3)] and nf4.unpacking_over
    assert nf4.time_vs_bf16 == pytest.approx((2.0, 10.0))
    int8 = layer_findings(rows, "int8", [1, 8])
    assert (int8.outlier_calls, int8.dense_calls, int8.dense_weight, int8.calls) == (1, 1, "float32", 2)
    assert int8.unpacking == [] and int8.fused == []


def test_unaligned_layers_are_timed_against_their_aligned_neighbours(tmp_path):
    store = ResultsStore("03_x", tmp_path, "cpu")
    # bitsandbytes' 4-bit CPU kernels (the fused AVX512-BF16 one) cannot take an unaligned K: time its variants in bf16
    rows = time_unaligned_layers(store, {(80, 32, 64): ["odd"]}, precision="bf16", patches=4, device=CPU, kernel_ms=1,
                                 model="m")
    variants = (("unaligned", 80), ("aligned below", 64), ("aligned above", 128), ("BF16", 80))
    assert [(r["variant"], r["K"], r["M"]) for r in rows] == [(v, k, m) for v, k in variants for m in (1, 4)]
    assert len(store.records()) == 8 and store.records()[0]["metrics"]["model_layers"] == ["odd"]
    fake = [dict(r, **{"µs": us}) for r, us in zip(rows, (10, 20, 4, 8, 6, 12, 1, 1))]
    (cost,) = unaligned_costs(fake)
    assert (cost.k, cost.n, cost.count, cost.patches, cost.precision) == (80, 32, 1, 4, "bf16")
    assert cost.at_tokens == [(1, 10, 5.0), (4, 20, 10.0)] and cost.extra_ms == pytest.approx(0.01)


def test_whole_model_speeds_are_recorded_per_precision(tiny_checkpoint, tmp_path):
    store = ResultsStore("03_x", tmp_path, "cpu")
    runs = measure_model_speeds(store, "qwen3-vl-tiny", ["nf4", "bf16"], CPU, query=QuerySetup(32, 2), repeats=2)
    assert list(runs) == ["bf16", "nf4"] and runs["nf4"].unaligned == {} and runs["bf16"].unaligned is None
    assert all(run.busy is None and run.busy_failure is None and len(run.timings["query"]) == 2
               for run in runs.values())
    (bf16, nf4) = read_measurements(ModelSpeed, tmp_path, "03_x")
    assert bf16.shapes == {"image": [32, 32], "new_tokens": 2, "tokens_in": runs["bf16"].speed.tokens_in}
    assert nf4.measurement.weights_gb < bf16.measurement.weights_gb and bf16.repeats == 2
    (paired,) = read_measurements(PairedRuns, tmp_path, "03_x")  # NF4 timed in rounds with BF16 loaded beside it
    assert paired.measurement.baseline == "bf16" and paired.measurement.variant == "nf4" and runs["nf4"].paired
    assert paired.measurement.rounds["seconds"]["nf4"]["query"] == runs["nf4"].timings["query"]
    query = paired.measurement.speedup("query")
    bf16_s = paired.measurement.rounds["seconds"]["bf16"]["query"]
    assert query.pairs == 2 and query.ratio == pytest.approx(sum(b / v for b, v in zip(bf16_s, runs["nf4"].timings["query"])) / 2)


def test_what_the_numbers_say_follows_the_measurements():
    runs = _runs(busy=True, nf4_slowdown=1.2, nf4_kernel=2.6)
    ceilings = Ceilings(bandwidth=1e12, flops=1e15, dtype="bfloat16")
    placed = place_phases(runs, ceilings)
    gemv = {"weight (MB)": 100.0, "µs per call": 40.0, "weight GB/s": 2500.0, "share of copy bandwidth": 0.004}
    values = dict(low_m=1, largest="down", gemv=gemv, clock="do_bench", runs=runs, ceilings=ceilings, phases=placed,
                  decode=placed.phases[("bf16", "decode")], prefill=placed.phases[("bf16", "prefill")],
                  busy_text=gpu_busy_clause(runs["bf16"], placed), layers=[], overhead_share=0.25, cutoffs=(0.1, 0.5),
                  mechanisms=[{"claim_text": "INT4 is slower", "verdict": "holds", "measured_text": "NF4 takes more"}],
                  unaligned=[], model="m", speedups={p: {k: Speedup(0.5, 0.45, 0.55, "interleaved pairs", 10, 0.98)
                                                         for k in ("query", "prefill", "decode")}
                                                     for p in ("int8", "nf4")})
    text = render("03_dequantization/what_the_numbers_say", **values)
    assert "GB/s, 0.4% of the measured copy bandwidth (do_bench)" in text  # below 1 %: two significant digits
    assert ("- **NF4** answers the query at 0.50x BF16's speed (0.45x to 0.55x, 10 pairs interleaved with BF16; prefill "
            "0.50x, decode 0.50x); it reads 0.28x") in text
    assert ". Its kernels take 20.3 ms per token against BF16's 7.4 ms" in text
    assert "is overhead bound; memory bound at a 10% cut-off" not in text
    assert "The cut-off: BF16 decode (25% of the nearer ceiling) is memory bound at a 10% cut-off: this phase's" in text
    assert '- **"INT4 is slower"**: holds. NF4 takes more.' in text


def test_llm_int8_takes_its_outlier_path_only_on_inputs_with_outlier_features(tmp_path):
    from vlmkit.bench.linear_layers import OUTLIER_MAGNITUDE, OutlierTiming, activations, outlier_features, \
        time_int8_outliers

    assert outlier_features(4096) == [0, 512, 1024, 1536, 2048, 2560, 3072, 3584] and outlier_features(64) == [0]
    x = activations(3, 64, torch.float32, CPU, outliers=True)
    assert x[:, 0].abs().eq(OUTLIER_MAGNITUDE).all() and x[:, 1:].abs().max() < 6  # only the outlier feature
    assert torch.equal(activations(3, 64, torch.float32, CPU)[:, 1:], x[:, 1:])  # the same inputs otherwise
    store = ResultsStore("03_x", tmp_path, "cpu")
    found = time_int8_outliers(store, [LinearShape("a", 128, 64)], [1, 4], CPU, kernel_ms=1)
    assert [(o.M, o.dequantizes_outliers) for o in found] == [(1, True), (4, True)]
    assert all("int8_vectorwise_dequant" not in o.gaussian_path and o.gaussian_us > 0 and o.slowdown > 0
               for o in found)
    (first, _) = read_measurements(OutlierTiming, tmp_path, "03_x")
    assert first.measurement == found[0] and first.shapes == {"layer": "a", "K": 128, "N": 64, "M": 1}
    text = render("03_dequantization/int8_outliers", outliers=found)
    assert text.startswith("With outlier features, 2 of 2 INT8 calls took bitsandbytes' outlier path")
