"""Quantizing a built model in place (notebook 11's 72B shape): the same layers and bytes as ``from_pretrained``."""

import pytest
import torch

from vlmkit.bench.query import ask_fixed_length, standard_image
from vlmkit.errors import ConfigurationError
from vlmkit.models.architectures import QWEN3_VL_TINY
from vlmkit.models.loading import build_on_device
from vlmkit.models.precisions import get_precision
from vlmkit.models.quantize_in_place import quantize_in_place
from vlmkit.runtime.inference import VLMInference


@pytest.mark.parametrize("precision", ["int8", "nf4", "nf4-dq", "fp4", "int4"])
def test_a_model_quantized_in_place_stores_what_from_pretrained_stores(loaded_by_precision, precision):
    loaded = loaded_by_precision(precision)
    built = build_on_device(QWEN3_VL_TINY, "cpu", precision=precision)
    assert built.report.weights.bytes_by == loaded.report.weights.bytes_by
    assert built.report.weights.quantized_layers == loaded.report.weights.quantized_layers
    assert built.report.weights.unquantized_linears == loaded.report.weights.unquantized_linears
    assert built.report.precision == precision and built.report.quant_backend == loaded.report.quant_backend
    assert any("quantized in place" in note for note in built.report.notes)


def test_the_4bit_settings_are_the_precision_s_own():
    built = build_on_device(QWEN3_VL_TINY, "cpu", precision="nf4-dq").model
    state = built.model.language_model.layers[0].mlp.up_proj.weight.quant_state
    assert state.quant_type == "nf4" and state.nested  # double quantization: the absmax is quantized again
    fp4 = build_on_device(QWEN3_VL_TINY, "cpu", precision="fp4").model
    assert fp4.model.language_model.layers[0].mlp.up_proj.weight.quant_state.quant_type == "fp4"
    int8 = build_on_device(QWEN3_VL_TINY, "cpu", precision="int8").model.model.language_model.layers[0].mlp.up_proj
    assert int8.state.threshold == 6.0 and int8.weight.dtype == torch.int8


def test_a_quantized_build_answers_and_refuses_what_it_cannot_draw():
    vlm = VLMInference.from_loaded(build_on_device(QWEN3_VL_TINY, "cpu", precision="nf4"))
    answer = ask_fixed_length(vlm, standard_image(64), 4)
    assert answer.stats.tokens_out == 4
    with pytest.raises(ConfigurationError, match="draws BF16"):
        build_on_device(QWEN3_VL_TINY, "cpu", precision="fp16")
    with pytest.raises(ValueError, match="not a quantized precision"):
        quantize_in_place(vlm.model, get_precision("bf16"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: bitsandbytes quantizes on the GPU there")
@pytest.mark.parametrize(("precision", "stored"), [("int8", torch.int8), ("nf4", torch.uint8)])
def test_on_cuda_the_weights_really_are_quantized_where_they_lie(precision, stored):
    built = build_on_device(QWEN3_VL_TINY, "cuda", precision=precision)
    layer = built.model.model.language_model.layers[0].mlp.up_proj
    assert layer.weight.device.type == "cuda" and layer.weight.dtype == stored
    answer = ask_fixed_length(VLMInference.from_loaded(built), standard_image(64), 4)
    assert answer.stats.tokens_out == 4
