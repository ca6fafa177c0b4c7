"""Quantize a model that is already built: the Linear layers ``from_pretrained`` would replace, replaced in place by
the same library's layers with the same settings.

A 72B-shaped VLM is too large to write as a checkpoint and read back through ``from_pretrained`` (about 137 GiB in
BF16), so notebook 11 draws its random weights on the GPU (:func:`vlmkit.models.loading.build_on_device`) and
quantizes them there. Which layers are replaced is transformers' own rule, the one ``from_pretrained`` applies
(``HfQuantizer.get_modules_to_not_convert`` and ``should_convert_module``; for torchao the precision's
``kept_modules``), so a model quantized here stores the same bytes as one loaded in that precision (a test
compares the two on the tiny model): bitsandbytes' ``Linear8bitLt`` (LLM.int8, its threshold) and ``Linear4bit``
(NF4 or FP4, double quantization, the compute dtype) built from the precision's ``BitsAndBytesConfig``, and
torchao's ``quantize_`` with the precision's INT4 config.

Taught in ``notebooks/11_large_models.ipynb``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D
from transformers.quantizers.base import HfQuantizer
from transformers.quantizers.quantizers_utils import should_convert_module

from vlmkit.core.device import bitsandbytes_backend
from vlmkit.models.int4 import int4_kernel
from vlmkit.models.precisions import Precision, int4_weight_config


def modules_kept(model: nn.Module, prec: Precision) -> list[str]:
    """The module names ``prec`` leaves unquantized in ``model``: transformers' rule for bitsandbytes (``lm_head``
    and whatever the model keeps in float32), the precision's ``kept_modules`` for torchao, nothing for 16/32 bit.

    Taught in ``notebooks/08_decision.ipynb`` (the memory planner counts the same layers).
    """
    if prec.library == "torchao":
        return list(prec.kept_modules)
    if prec.is_quantized:
        config = prec.quantization_config()
        return HfQuantizer.get_modules_to_not_convert(model, config.llm_int8_skip_modules,
                                                      getattr(model, "_keep_in_fp32_modules", None))
    return []


def is_replaced(prec: Precision, name: str, module: nn.Module, kept: list[str]) -> bool:
    """Whether ``prec`` replaces the weight of ``module`` (called ``name`` in its model; ``kept`` from
    :func:`modules_kept`): a Linear layer that transformers' rule does not keep.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    return (prec.is_quantized and (type(module) is nn.Linear or isinstance(module, Conv1D))
            and should_convert_module(name, kept))


def _bitsandbytes_layer(linear: nn.Linear, prec: Precision) -> nn.Module:
    """bitsandbytes' layer for ``linear`` in ``prec``, its weight quantized on ``linear``'s device."""
    import bitsandbytes as bnb  # imported on first use, as transformers does

    config = prec.quantization_config()
    device, data = linear.weight.device, linear.weight.data
    bias = linear.bias is not None
    if prec.quantization == "int8":
        layer = bnb.nn.Linear8bitLt(linear.in_features, linear.out_features, bias=bias,
                                    has_fp16_weights=config.llm_int8_has_fp16_weight,
                                    threshold=config.llm_int8_threshold, device="meta")
        # Int8Params quantizes when it moves from the CPU to a device (bitsandbytes 0.50), so the weight goes through
        # host memory, one layer at a time, as in transformers' own loading; on a CPU this copies nothing
        layer.weight = bnb.nn.Int8Params(data.cpu(), requires_grad=False,
                                         has_fp16_weights=config.llm_int8_has_fp16_weight).to(device)
    else:
        layer = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=bias,
                                  compute_dtype=config.bnb_4bit_compute_dtype,
                                  compress_statistics=config.bnb_4bit_use_double_quant,
                                  quant_type=config.bnb_4bit_quant_type, quant_storage=config.bnb_4bit_quant_storage,
                                  device="meta")
        layer.weight = bnb.nn.Params4bit(data, requires_grad=False,
                                         compress_statistics=config.bnb_4bit_use_double_quant,
                                         quant_type=config.bnb_4bit_quant_type,
                                         quant_storage=config.bnb_4bit_quant_storage).to(device)
    if bias:
        layer.bias = linear.bias
    return layer


def quantize_in_place(model: nn.Module, prec: Precision) -> str:
    """Replace, in place, the weight of every Linear layer of ``model`` that ``from_pretrained`` would quantize in
    ``prec`` (:func:`is_replaced`), and return the kernel that now runs them, in words (as a load report says it). ``model`` is a built 16-bit model on its device;
    afterwards it is a ``prec`` model (nothing to undo). 16/32-bit precisions raise ``ValueError``.

    Taught in ``notebooks/11_large_models.ipynb``.
    """
    if not prec.is_quantized:
        raise ValueError(f"{prec.name} is not a quantized precision: nothing to replace")
    kept = modules_kept(model, prec)
    device = next(model.parameters()).device
    if prec.library == "torchao":
        from torchao.quantization import quantize_  # importable: int4_weight_config checks it

        config = int4_weight_config(device.type, prec.group_size, prec.int4_packing)
        quantize_(model, config, filter_fn=lambda module, name: is_replaced(prec, name, module, kept))
        return int4_kernel(device, prec.group_size, prec.int4_packing)
    names = [name for name, module in model.named_modules() if is_replaced(prec, name, module, kept)]
    for name in names:  # by name, so that each 16-bit weight is freed as soon as its layer is replaced
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, _bitsandbytes_layer(getattr(parent, child), prec))
    if device.type == "cuda":
        torch.cuda.empty_cache()  # the 16-bit weights just dropped: give their blocks back for the next model
    return bitsandbytes_backend(device)
