"""torchao INT4 weight-only layers: what is swapped, what it stores, and that the decode loop still runs on them."""

import sys

import numpy as np
import pytest
import torch

from vlmkit.errors import BackendUnavailableError
from vlmkit.measure.footprint import measure_footprint
from vlmkit.models.int4 import (
    INT4_GROUP_SIZE,
    int4_copy,
    int4_kernel,
    quantize_language_layers_int4,
)


def test_an_int4_copy_stays_close_to_its_bf16_layer_and_leaves_it_alone():
    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 96, bias=False, dtype=torch.bfloat16)
    before = layer.weight.detach().clone()
    twin = int4_copy(layer)
    x = torch.randn(2, 256, dtype=torch.bfloat16)
    exact, approx = layer(x).float(), twin(x).float()
    # 4-bit groups of 128: about 1/15 of each group's range per step; the output error stays well under 20 %
    assert (approx - exact).norm() / exact.norm() < 0.2
    assert torch.equal(layer.weight, before) and type(layer.weight) is torch.nn.Parameter
    assert hasattr(twin.weight, "__tensor_flatten__")


def test_group_size_must_divide_the_input():
    with pytest.raises(BackendUnavailableError, match="group size"):
        int4_copy(torch.nn.Linear(INT4_GROUP_SIZE + 8, 16, bias=False))


def test_missing_torchao_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao.quantization", None)
    with pytest.raises(BackendUnavailableError, match="pip install torchao"):
        int4_copy(torch.nn.Linear(INT4_GROUP_SIZE, 16, bias=False))


def test_the_kernel_is_named_per_device():
    assert "tinygemm" in int4_kernel(torch.device("cuda"))
    assert "dequantized per call" in int4_kernel(torch.device("cpu"))


def test_swapping_the_decoder_layers_shrinks_what_decode_reads_and_the_loop_still_answers(tiny_checkpoint):
    from vlmkit.bench.decode_ladder import weight_bytes_per_token
    from vlmkit.runtime.decode_loop import DecodeLoop
    from vlmkit.runtime.inference import VLMInference

    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu")
    layers = vlm.model.model.language_model.layers
    bf16_bytes = weight_bytes_per_token(vlm.model)
    linear_bytes = sum(m.weight.numel() * 2 for m in layers.modules() if isinstance(m, torch.nn.Linear))
    result = quantize_language_layers_int4(vlm.model)
    assert result.layers == 7 * len(layers) and "IntxWeightOnly" in result.kernel
    footprint = measure_footprint(vlm.model)
    # on the CPU torchao holds each 4-bit value in a byte: the Linear weights shrink to half, plus scales and zeros
    assert footprint.quantized_layers == {"IntxUnpackedToInt8Tensor": result.layers}
    assert footprint.bytes_by["language layers"]["quantized weights"] == linear_bytes // 2
    assert 0 < footprint.bytes_by["language layers"]["quantization constants"] < linear_bytes // 2 // 32
    assert weight_bytes_per_token(vlm.model) < bf16_bytes
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    inputs = dict(vlm.encode([image], ["What is in the image?"]))
    loop = DecodeLoop(vlm.model, max_tokens=128, compile_mode="default", compile_backend="eager")
    answer = loop.generate(inputs, 4)
    assert answer.tokens.shape == (1, 4) and answer.decode_s_per_token > 0


def test_stored_bytes_counts_a_torchao_weight_by_its_inner_tensors():
    from vlmkit.measure.footprint import stored_bytes

    layer = torch.nn.Linear(256, 96, bias=False, dtype=torch.bfloat16)
    assert stored_bytes(layer.weight) == 256 * 96 * 2
    twin = int4_copy(layer)
    inner = [getattr(twin.weight, name) for name in twin.weight.__tensor_flatten__()[0]]
    assert len(inner) > 1 and stored_bytes(twin.weight) == sum(t.numel() * t.element_size() for t in inner)
    # the footprint walk counts the same bytes: the packed values (one byte each on a CPU), then scales and zeros
    footprint = measure_footprint(twin)
    assert footprint.total_bytes == stored_bytes(twin.weight)
    assert footprint.bytes_by["language layers"]["quantized weights"] == 256 * 96
