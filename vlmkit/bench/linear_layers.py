"""One Linear layer in every precision: bf16 ``nn.Linear`` vs bitsandbytes' ``Linear8bitLt`` and ``Linear4bit``.

Each layer gets the same seeded weight, quantized the way ``from_pretrained``
quantizes it (bitsandbytes does it when the parameter moves to the device). The
benchmark times the forward for M tokens, observes which path bitsandbytes took
(:func:`linear_path`: does the call build a dense copy of the whole weight?), and
separately times turning the stored 4-bit weight back into bf16 with bitsandbytes'
own dequantize function, so the "dequantization overhead" can be told apart from
the matmul where the path pays it.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import bitsandbytes as bnb
import bitsandbytes.functional as bnbf
import torch

from vlmkit.measure.profiler import operator_events
from vlmkit.models.precisions import Precision


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

    For a 4-bit layer this is the work its unfused path does on every call. LLM.int8's forward
    never does it (it quantizes the activations and multiplies int8 by int8), so notebook 03
    times it for 4-bit layers only. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    weight = layer.weight
    if isinstance(weight, bnb.nn.Params4bit):
        if getattr(weight.quant_state, "packing_format_for_cpu", False):
            # on CPUs with AVX512-BF16 bitsandbytes repacks the weight at the first inference call for its fused
            # kernel, which never dequantizes: the dense weight it multiplies with is read off an identity input
            eye = torch.eye(layer.in_features, dtype=weight.quant_state.dtype, device=weight.device)
            with torch.inference_mode():
                out = layer(eye) - (layer.bias if layer.bias is not None else 0)
            return out.T.contiguous()
        return bnbf.dequantize_4bit(weight.data, weight.quant_state)
    if isinstance(weight, bnb.nn.Int8Params):
        scales = weight.SCB if weight.SCB is not None else layer.state.SCB
        return bnbf.int8_vectorwise_dequant(weight.data, scales)
    return weight


def activations(tokens: int, in_features: int, dtype: torch.dtype, device: torch.device, seed: int = 1) -> torch.Tensor:
    """Seeded inputs ``x`` of shape (tokens, in_features): M = 1 is one decode step, thousands a large prefill.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(tokens, in_features, generator=generator).to(device, dtype)


#: Operators that multiply two dense matrices, and the position of their right-hand (weight) operand.
_MATMULS = {"aten::linear": 1, "aten::matmul": 1, "aten::mm": 1, "aten::bmm": 1, "aten::addmm": 2}
#: The profiler's names of floating-point dtypes, and torch's.
_FLOAT_DTYPES = {"c10::BFloat16": "bfloat16", "c10::Half": "float16", "float": "float32", "double": "float64"}


@dataclass(frozen=True)
class LinearPath:
    """What one forward call of a Linear layer ran, as PyTorch's profiler saw it.

    ``library_ops``: the bitsandbytes operators called, in order (nested ones included).
    ``dense_weight``: the dtype of a floating-point matmul operand shaped like the whole weight
    (``"floating-point"`` where the profiler does not report dtypes; None: no such matmul, the weight was
    used in its stored form by a fused or integer kernel).
    For a quantized layer such an operand is a copy of the weight built during the call.
    ``dense_inside``: the bitsandbytes operator that ran that matmul (None: PyTorch's own ``linear``).
    """

    library_ops: tuple[str, ...]
    dense_weight: str | None
    dense_inside: str | None

    def describe(self) -> str:
        """E.g. ``"int8_vectorwise_quant → int8_linear_matmul; no dense copy of the weight"``."""
        ops = " → ".join(dict.fromkeys(op.removeprefix("bitsandbytes::") for op in self.library_ops)) or "torch"
        if self.dense_weight is None:
            return f"{ops}; no dense copy of the weight"
        where = f" inside {self.dense_inside.removeprefix('bitsandbytes::')}" if self.dense_inside else ""
        return f"{ops}; a dense {self.dense_weight} weight{where}"


def linear_path(layer: torch.nn.Module, x: torch.Tensor) -> LinearPath:
    """Run ``layer(x)`` once under PyTorch's profiler (operators with their input shapes and dtypes; any device)
    and report which bitsandbytes operators ran and whether a matmul used a dense floating-point (N, K) weight.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    n, k = layer.out_features, layer.in_features
    with torch.inference_mode():
        events = operator_events(lambda: layer(x))
    library_ops, dense, inside = [], None, None
    for event in events:
        if event.name.startswith("bitsandbytes::"):
            library_ops.append(event.name)
        operand = _MATMULS.get(event.name)
        if dense is None and operand is not None and len(event.input_shapes) > operand:
            # older profilers do not report dtypes; these matmuls take floating-point operands only, on these paths
            dtypes = getattr(event, "input_dtypes", None)
            dtype = _FLOAT_DTYPES.get(dtypes[operand]) if dtypes else "floating-point"
            if dtype is not None and list(event.input_shapes[operand]) in ([n, k], [k, n]):
                dense = dtype
                parent = event.cpu_parent
                while parent is not None and not parent.name.startswith("bitsandbytes::"):
                    parent = parent.cpu_parent
                inside = parent.name if parent is not None else None
    return LinearPath(tuple(library_ops), dense, inside)


def unaligned_4bit_layers(model: torch.nn.Module) -> dict[tuple[int, int, int], list[str]]:
    """The model's 4-bit Linear layers whose inner dimension K is not a multiple of their quantization block,
    by ``(K, N, blocksize)``: bitsandbytes' fast 4-bit CUDA kernel cannot take them, so each of their calls
    unpacks the whole weight and runs a 16-bit matmul instead (and warns that it does).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    found: dict[tuple[int, int, int], list[str]] = {}
    for name, module in model.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            blocksize = module.weight.quant_state.blocksize
            if module.in_features % blocksize:
                found.setdefault((module.in_features, module.out_features, blocksize), []).append(name)
    return found
