"""The "70B+ is bandwidth bound" measurement: layer fitting, the verdict rule, and a real (tiny, CPU) run."""

import dataclasses

import pytest
import torch

import vlmkit.bench.bandwidth_scaling as bandwidth_scaling
from vlmkit.bench.bandwidth_scaling import (
    BandwidthBound,
    BandwidthClaim,
    BandwidthScaling,
    DecodeBound,
    fitting_spec,
    judge_bandwidth_claim,
    layer_bytes,
    measure_bandwidth_scaling,
    measure_decode_bound,
)
from vlmkit.bench.query import QuerySetup
from vlmkit.bench.roofline import Ceilings, PhaseBound
from vlmkit.measure.records import ResultsStore, read_measurements
from vlmkit.models.architectures import (
    QWEN3_VL_8B,
    QWEN3_VL_72B_SHAPE,
    QWEN3_VL_TINY,
    QWEN3_VL_TINY_TIED,
    QWEN3_VL_TINY_WIDE,
    count_parameters,
)
from vlmkit.models.loading import build_on_device

GIB = 2**30


def test_layer_bytes_add_up_to_the_whole_model():
    one, rest = layer_bytes(QWEN3_VL_8B)
    assert rest + 36 * one == 2 * count_parameters(QWEN3_VL_8B)
    one72, rest72 = layer_bytes(QWEN3_VL_72B_SHAPE)
    assert 130 * GIB < rest72 + 80 * one72 < 140 * GIB  # a 72B language model and the 8B's vision tower, in BF16


def test_fitting_spec_keeps_every_layer_that_fits_and_says_how_many():
    one, rest = layer_bytes(QWEN3_VL_72B_SHAPE)
    assert fitting_spec(QWEN3_VL_72B_SHAPE, 200 * GIB) is QWEN3_VL_72B_SHAPE
    half = fitting_spec(QWEN3_VL_72B_SHAPE, rest + 40 * one + 3 * GIB, headroom=3 * GIB)
    assert half.text["num_hidden_layers"] == 40 and "40 of 80 layers" in half.name
    with pytest.raises(ValueError, match="even one decoder layer"):
        fitting_spec(QWEN3_VL_72B_SHAPE, 8 * GIB)


def test_layer_bytes_of_a_quantized_precision_bound_what_it_stores():
    one, rest = layer_bytes(QWEN3_VL_72B_SHAPE)
    nf4_layer, nf4_rest = layer_bytes(QWEN3_VL_72B_SHAPE, "nf4")
    assert 0.25 * one < nf4_layer < 0.3 * one and nf4_rest == rest  # 4 bits and absmax per 64; the rest counted BF16
    for precision in ("nf4", "int8"):  # the bound holds for what the model really stores (CPU int4: a byte a weight)
        stored = build_on_device(QWEN3_VL_TINY_WIDE, "cpu", precision=precision).report.weights.bytes_by
        bound, _ = layer_bytes(QWEN3_VL_TINY_WIDE, precision)
        assert sum(stored["language layers"].values()) <= QWEN3_VL_TINY_WIDE.text["num_hidden_layers"] * bound


def test_fitting_spec_keeps_the_layers_every_precision_holds_together():
    sizes = [layer_bytes(QWEN3_VL_72B_SHAPE, p) for p in ("bf16", "nf4", "int4")]
    one, rest = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
    spec = fitting_spec(QWEN3_VL_72B_SHAPE, rest + 20 * one + 3 * GIB, 3 * GIB, ("nf4", "int4", "bf16"))
    assert spec.text["num_hidden_layers"] == 20 and spec.name == "qwen3-vl-72b-shape (20 of 80 layers)"
    with pytest.raises(ValueError, match="in bf16, nf4 needs"):
        fitting_spec(QWEN3_VL_72B_SHAPE, 10 * GIB, precisions=("bf16", "nf4"))


def _bound(regime: str, share: float, layers: int = 80) -> DecodeBound:
    return DecodeBound("m", layers, 80, 1, 1.0, 1, 1.0, 0.1, 0.03, None, PhaseBound(regime, 1.0, share, 0.0), None)


@pytest.mark.parametrize(("small", "large", "expected"), [
    ("overhead bound", "memory bound", "holds"), ("memory bound", "memory bound", "partly"),
    ("overhead bound", "overhead bound", "partly"), ("memory bound", "overhead bound", "refuted")])
def test_the_verdict_needs_both_halves(small, large, expected):
    verdict, text = judge_bandwidth_claim(_bound(small, 0.1), _bound(large, 0.6, layers=72))
    assert verdict == expected and text.count("72 of") == 1


def test_a_real_query_is_placed_on_the_roofline():
    ceilings = Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16")
    loaded = build_on_device(QWEN3_VL_TINY, "cpu")
    assert loaded.report.weights.total_params == count_parameters(QWEN3_VL_TINY)
    bound = measure_decode_bound(loaded, ceilings, image_size=64, new_tokens=3, repeats=2)
    assert bound.layers == bound.published_layers == 3 and bound.kernel_s_per_token is None
    assert bound.query_s > bound.prefill_s > 0 and bound.decode_s_per_token > 0
    assert bound.bound.bandwidth_share == pytest.approx(bound.step_bytes / bound.decode_s_per_token / 1e10)
    assert dataclasses.asdict(bound) == bound.as_dict()
    assert torch.is_grad_enabled()


def test_a_scaling_records_each_model_then_the_claim(tmp_path):
    small = _bound("overhead bound", 0.1)
    large = dataclasses.replace(_bound("memory bound", 0.6, layers=72), model="big (72 of 80 layers)")
    verdict, text = judge_bandwidth_claim(small, large)
    ceilings = Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16")
    store = ResultsStore("11_large_models", tmp_path)
    scaling = BandwidthScaling({"s": small, "l": large}, small, large, verdict, text, QuerySetup(448, 32), ceilings, 3)
    scaling.record(store)
    first, second, claim = store.records()
    assert first["experiment"] == "bandwidth-bound" and first["repeats"] == 3
    assert first["metrics"] == {**small.as_dict(), "ceilings": {"bandwidth": 1e10, "flops": 1e11}}
    assert second["shapes"] == {"image": [448, 448], "new_tokens": 32, "layers": 72, "published_layers": 80}
    assert claim["experiment"] == "bandwidth-claim" and claim["model"] == large.model
    assert claim["metrics"] == {"claim_text": "70B+ models are bandwidth bound, 8B is not", "measured_text": text,
                                "verdict": "holds", "role": "headline"}
    assert BandwidthBound.from_metrics(first["metrics"]) == BandwidthBound.of(small, ceilings)
    row = small.table_row()
    assert row["layers"] == "80 of 80" and row["decode (ms/token)"] == pytest.approx(30.0)
    assert row["kernels (ms/token)"] is None and row["decode is"] == "overhead bound" and row["kernels alone"] is None


def test_the_scaling_measures_both_models_and_judges_them(tmp_path, monkeypatch):
    ceilings = Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16")
    monkeypatch.setattr(bandwidth_scaling, "available_bytes", lambda device: 200 * GIB)  # room for every layer
    store = ResultsStore("11_large_models", tmp_path)
    scaling = measure_bandwidth_scaling(QWEN3_VL_TINY, QWEN3_VL_TINY_TIED, torch.device("cpu"), store, ceilings,
                                        repeats=2)
    assert list(scaling.bounds) == [QWEN3_VL_TINY.name, QWEN3_VL_TINY_TIED.name] and scaling.repeats == 2
    assert scaling.large is scaling.bounds[QWEN3_VL_TINY_TIED.name] and scaling.query == QuerySetup(64, 8)
    assert (scaling.verdict, scaling.text) == judge_bandwidth_claim(scaling.small, scaling.large)
    claims = read_measurements(BandwidthClaim, tmp_path, "11_large_models")
    assert [c.measurement.verdict for c in claims] == [scaling.verdict] and len(store.records()) == 3
