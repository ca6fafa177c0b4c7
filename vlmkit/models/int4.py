"""INT4 weight-only language layers with torchao: the 4-bit weights that decode reads, in a compilable kernel.

bitsandbytes' NF4 (notebooks 01-03) stores 4-bit weights but transformers does not compile it, so its decode pays
the per-token overhead that notebook 09 removes. torchao's ``quantize_`` swaps the weights of the language model's
decoder Linear layers for tensor subclasses that ``torch.compile`` traces: on CUDA ``Int4WeightOnlyConfig`` with
the ``tile_packed_to_4d`` packing (PyTorch's tinygemm INT4 x BF16 kernel, groups of 128, asymmetric), on a CPU
``IntxWeightOnlyConfig`` with 4-bit groups of 128 (torchao has no packed INT4 kernel for this CPU build: the
weight is dequantized in every call, so the CPU path checks the code, not the speed). The vision tower, the token
embeddings and ``lm_head`` stay BF16, as bitsandbytes leaves ``lm_head``.

Taught in ``notebooks/10_int4_decode.ipynb``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vlmkit.errors import BackendUnavailableError
from vlmkit.measure.records import Measurement
from vlmkit.models.precisions import INT4_GROUP_SIZE, MSLK_PACKINGS, TINYGEMM_PACKING, int4_weight_config


@dataclass(frozen=True)
class Int4Result:
    """What :func:`quantize_language_layers_int4` did: the layers it swapped and the kernel they now use."""

    layers: int
    kernel: str


@dataclass(frozen=True)
class Int4Kernels(Measurement):
    """The ``int4-kernels`` record: one decoder layer's seven Linear layers at one token, BF16 against INT4.

    ``rows`` holds one dict per layer and kind of weight (``layer``, ``shape``, ``weights``, ``stored_bytes``,
    ``median_us`` from a CUDA graph, ``eager_us`` called eagerly, ``bandwidth_share``); the ratios are over all
    seven layers (BF16's time or bytes over INT4's). Taught in ``notebooks/10_int4_decode.ipynb``.
    """

    EXPERIMENT = "int4-kernels"
    rows: list[dict[str, Any]]
    speedup_all_seven: float
    bytes_ratio: float
    eager_speedup_all_seven: float
    kernel: str
    clock: str
    copy_bandwidth: float


@dataclass(frozen=True)
class Int4Verdict(Measurement):
    """The ``int4-verdict`` record: INT4 against BF16 in the same compiled loop, against the goal, in a sentence.

    ``speedup_vs_bf16`` is INT4's tokens per second over BF16's, ``bytes_ratio`` BF16's bytes per token over INT4's
    (what a decode at the speed of memory would gain), ``kernel_speedup`` the same layer's kernels alone.
    Taught in ``notebooks/10_int4_decode.ipynb``.
    """

    EXPERIMENT = "int4-verdict"
    speedup_vs_bf16: float
    goal: float
    outcome: str
    bytes_ratio: float
    kernel_speedup: float
    text: str
    device_type: str


def int4_kernel(device: torch.device, group_size: int = INT4_GROUP_SIZE, packing: str = TINYGEMM_PACKING) -> str:
    """The INT4 kernel torchao gives the decoder layers on ``device`` (groups of ``group_size`` weights, torchao's
    ``packing`` on CUDA), in words. Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    if device.type == "cuda":
        kernel = MSLK_PACKINGS.get(packing, "tinygemm")
        return f"torchao Int4WeightOnly, {packing} ({kernel}), groups of {group_size}"
    return f"torchao IntxWeightOnly int4, groups of {group_size}, dequantized per call (no packed CPU kernel)"


def _quantize_linears(module: nn.Module, device: torch.device) -> None:
    """torchao's ``quantize_`` on every Linear inside ``module``, with the device's INT4 config."""
    config = int4_weight_config(device.type, INT4_GROUP_SIZE)
    from torchao.quantization import quantize_  # importable: int4_weight_config checked it

    quantize_(module, config, filter_fn=lambda m, _: isinstance(m, nn.Linear))


def quantize_language_layers_int4(model: nn.Module) -> Int4Result:
    """Swap, in place, the weight of every Linear layer of the language model's decoder layers for INT4.

    ``model`` is a BF16 Qwen3-VL model (``model.model.language_model.layers``); afterwards it is an INT4 model (load
    it again for BF16). Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    layers = model.model.language_model.layers
    device = next(layers.parameters()).device
    linears = [m for m in layers.modules() if isinstance(m, nn.Linear)]
    bad = [m for m in linears if m.in_features % INT4_GROUP_SIZE]
    if bad:
        raise BackendUnavailableError(f"{len(bad)} decoder Linear layers have input sizes not divisible by the INT4 "
                                      f"group size {INT4_GROUP_SIZE} (e.g. {bad[0].in_features})")
    _quantize_linears(layers, device)
    return Int4Result(len(linears), int4_kernel(device))


def int4_copy(layer: nn.Linear) -> nn.Module:
    """An INT4 copy of one BF16 Linear layer (the original is left as it is), to time the kernel alone.

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    if layer.in_features % INT4_GROUP_SIZE:
        raise BackendUnavailableError(f"input size {layer.in_features} is not divisible by the INT4 group size "
                                      f"{INT4_GROUP_SIZE}")
    twin = copy.deepcopy(layer)
    _quantize_linears(twin, layer.weight.device)
    return twin
