"""One Linear layer in every precision: bf16 ``nn.Linear`` vs bitsandbytes' ``Linear8bitLt`` and ``Linear4bit``.

Each layer gets the same seeded weight, quantized the way ``from_pretrained``
quantizes it (bitsandbytes does it when the parameter moves to the device). The
benchmark times the forward for M tokens, and separately the cost of turning the
stored weight back into bf16 with bitsandbytes' own dequantize functions, so the
"dequantization overhead" can be told apart from the matmul.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

import bitsandbytes as bnb
import bitsandbytes.functional as bnbf
import torch

from vlmkit.precision import Precision


def make_linear(precision: Precision, in_features: int, out_features: int, device: torch.device,
                seed: int = 0) -> torch.nn.Module:
    """A bias-free Linear of shape (out, in) in ``precision`` on ``device``, from a seeded weight.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(out_features, in_features, generator=generator) * in_features**-0.5
    if precision.quantization == "int8":
        layer = bnb.nn.Linear8bitLt(in_features, out_features, bias=False, has_fp16_weights=False,
                                    threshold=precision.int8_threshold)
        layer.weight = bnb.nn.Int8Params(weight.to(precision.dtype), requires_grad=False, has_fp16_weights=False)
    elif precision.quantization == "4bit":
        layer = bnb.nn.Linear4bit(in_features, out_features, bias=False, compute_dtype=precision.dtype,
                                  compress_statistics=precision.double_quant, quant_type=precision.quant_type)
        layer.weight = bnb.nn.Params4bit(weight.to(precision.dtype), requires_grad=False,
                                         compress_statistics=precision.double_quant, quant_type=precision.quant_type)
    else:
        layer = torch.nn.Linear(in_features, out_features, bias=False, dtype=precision.dtype)
        layer.weight.data.copy_(weight)
    return layer.to(device).eval()


def dequantize_weight(layer: torch.nn.Module) -> torch.Tensor:
    """The layer's weight as a dense tensor, via bitsandbytes' dequantize functions (unquantized: the weight itself).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    weight = layer.weight
    if isinstance(weight, bnb.nn.Params4bit):
        return bnbf.dequantize_4bit(weight.data, weight.quant_state)
    if isinstance(weight, bnb.nn.Int8Params):
        scales = weight.SCB if weight.SCB is not None else layer.state.SCB
        return bnbf.int8_vectorwise_dequant(weight.data, scales)
    return weight


def activations(tokens: int, in_features: int, dtype: torch.dtype, device: torch.device, seed: int = 1) -> torch.Tensor:
    """Seeded inputs ``x`` of shape (tokens, in_features): M = 1 is one decode step, thousands a large prefill."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(tokens, in_features, generator=generator).to(device, dtype)
