"""The "70B+ is bandwidth bound" measurement: layer fitting, the verdict rule, and a real (tiny, CPU) run."""

import dataclasses

import pytest
import torch

from vlmkit.bench.bandwidth_scaling import (
    DecodeBound,
    fitting_spec,
    judge_bandwidth_claim,
    layer_bytes,
    measure_decode_bound,
)
from vlmkit.bench.roofline import Ceilings, PhaseBound
from vlmkit.models.architectures import (
    QWEN3_VL_8B,
    QWEN3_VL_72B_SHAPE,
    QWEN3_VL_TINY,
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
