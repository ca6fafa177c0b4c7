"""Plan the memory of a Qwen3-VL query from the architecture alone: no weights are loaded.

``plan_memory(model, precision, image_size=...)`` predicts what the book measures in notebooks 01 and 06:

- **Weights, by storage kind.** The model is built on PyTorch's ``meta`` device (shapes and dtypes, no memory)
  and every parameter and buffer is counted as ``vlmkit.measure.footprint.measure_footprint`` counts a loaded model.
  Which layers bitsandbytes replaces is transformers' own rule (``HfQuantizer.get_modules_to_not_convert`` and
  ``should_convert_module``: every ``nn.Linear`` except ``lm_head``; one home,
  :func:`vlmkit.models.quantize_in_place.is_replaced`); a replaced layer stores its weight in 8 bits
  (LLM.int8, plus one float32 scale per output row) or packed two per byte (4-bit, plus one float32 absmax per
  block of bitsandbytes' block size and the 16-entry code; with double quantization the absmax is stored in 8
  bits with a float32 absmax per 256 of them, a 256-entry code and an offset). Everything else stays in the
  precision's dtype (token embeddings, ``lm_head``, norms, biases, the patch embedding), and the rotary
  frequencies in float32. ``int4`` (torchao) replaces the weights of the language model's Linear layers (the
  precision's ``kept_modules`` stay BF16: the vision tower, and for ``int4`` also ``lm_head``): on CUDA packed two
  per byte with a BF16 scale and zero point per group of 128; on a CPU one int8 per weight with a BF16 scale and an
  int8 zero point per group.
- **KV cache**: keys and values of every layer for ``batch_size`` sequences of the prompt (text and visual
  tokens, counted by the model's processor) plus the answer.
- **Activation peaks**, counted from the tensors transformers' Qwen3-VL code keeps alive at its most expensive
  moment: in the vision tower the rotary embedding (computed in float32) of every patch, or, with eager
  attention, the ``heads x patches²`` score matrix of one image with its float32 softmax; in the language model
  the SwiGLU MLP of every prompt token, or the eager score matrix of every head; bitsandbytes' temporaries
  (a 4-bit layer dequantizes its whole weight for any input of more than one row; LLM.int8 dequantizes the
  weight columns of outlier features, all of them in the worst case).
- **Logits** of generate's last step (the model's and two float32 copies), and on CUDA the memory the card holds
  outside PyTorch's allocator (CUDA context, kernels, library handles): measured, never assumed.

The query's peak is the largest of three phases (vision tower, prefill, decode) on top of the weights and the
inputs. :func:`compare_with_records` sets the plan beside what notebooks 01 and 06 measured, with the error.

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import chain
from numbers import Integral
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoProcessor,
    ProcessorMixin,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
)

from vlmkit.core.device import resolve_device
from vlmkit.core.formatting import GIB
from vlmkit.errors import ConfigurationError, UnknownModelError
from vlmkit.measure.footprint import COMPONENTS, STORAGE_KINDS, component_of
from vlmkit.measure.memory import CudaContextMeasurement
from vlmkit.measure.records import CHECKOUT, load_records
from vlmkit.models.architectures import QWEN_SPECIAL_TOKENS, REGISTRY, ArchitectureSpec
from vlmkit.models.attention_backends import ATTENTION_IMPLEMENTATIONS, choose_attention
from vlmkit.models.images import visual_tokens
from vlmkit.models.loading import LoadMeasurement
from vlmkit.models.precisions import Precision, get_precision
from vlmkit.models.quantize_in_place import is_replaced, modules_kept
from vlmkit.models.processor import build_processor
from vlmkit.runtime.attention import AttentionTiming, eager_score_bytes

#: The question notebook 01 asks after each load; the plan counts its tokens with the model's processor.
DEFAULT_QUESTION = "What is in this image?"
#: The H200 reference run of notebook 01, whose ``cuda-context`` record gives the default CUDA reserve.
REFERENCE_LOAD_RESULTS = (CHECKOUT / "reference" / "nvidia-h200" / "results"
                          / "01_loading_precisions.json")
#: bitsandbytes' double quantization compresses the 4-bit absmax in blocks of 256 (``quantize_4bit`` calls
#: ``quantize_blockwise(absmax, blocksize=256)``; the CPU tests check the resulting bytes against loaded models).
NESTED_BLOCKSIZE = 256
#: Gather taps of the vision tower's position-embedding resampling, by its interpolation mode.
_INTERPOLATION_TAPS = {"bilinear": 4, "bicubic": 16}
_F32 = torch.float32.itemsize
_BF16 = torch.bfloat16.itemsize
_I64 = torch.int64.itemsize


@dataclass(frozen=True)
class _QuantizedLinear:
    """One layer bitsandbytes replaces: where it is and its shape (``merged``: it sees the merged visual tokens)."""

    component: str
    out_features: int
    in_features: int
    merged: bool


@dataclass(frozen=True)
class _Architecture:
    """What a plan needs from a model: a name, its config and its processor (image grid, chat template, tokens)."""

    name: str
    config: Qwen3VLConfig
    processor: ProcessorMixin


@dataclass(frozen=True)
class _Weights:
    """Weight bytes by component and kind, the layers bitsandbytes replaces, the position-resampling taps."""

    bytes_by: dict[str, dict[str, int]]
    quantized: tuple[_QuantizedLinear, ...]
    interpolation_taps: int


@dataclass(frozen=True)
class MemoryPlan:
    """The predicted memory of one query (``batch_size`` images and questions, ``new_tokens`` answer tokens).

    ``weights_by[component][storage kind]`` has the structure of ``Footprint.bytes_by``. ``phase_bytes`` holds
    what each phase needs above the weights and the inputs; the query's peak is the largest of them
    (``peak_phase``). The parts (``kv_cache_bytes``, ``vision_activation_bytes``, ...) are what the phases are
    made of: ``vision_activation_bytes`` is the vision tower's peak above its inputs (the eager score matrices
    included, ``vision_scores_bytes`` of it), ``lm_activation_bytes`` the language model's prefill peak above the
    KV cache and the visual features (``lm_scores_bytes`` of it score matrices: eager, or SDPA's math backend),
    ``quantization_transient_bytes`` the largest temporary a bitsandbytes layer adds (dequantized weight or
    outlier columns). Sizes in bytes.
    Taught in ``notebooks/08_decision.ipynb``.
    """

    model: str
    precision: str
    device: str
    attn_implementation: str
    image_size: tuple[int, int]
    batch_size: int
    new_tokens: int
    patches: int
    visual_tokens: int
    prompt_tokens: int
    weights_by: dict[str, dict[str, int]]
    inputs_bytes: int
    kv_cache_bytes: int
    visual_features_bytes: int
    vision_activation_bytes: int
    vision_scores_bytes: int
    lm_activation_bytes: int
    lm_scores_bytes: int
    quantization_transient_bytes: int
    logits_bytes: int
    cuda_context_bytes: int
    phase_bytes: dict[str, int]

    @property
    def weights_bytes(self) -> int:
        """All weight bytes (every storage kind and component)."""
        return sum(sum(kinds.values()) for kinds in self.weights_by.values())

    def bytes_of_kind(self, kind: str) -> int:
        """Weight bytes of one storage kind (``vlmkit.measure.footprint.STORAGE_KINDS``) over all components."""
        return sum(kinds.get(kind, 0) for kinds in self.weights_by.values())

    @property
    def peak_phase(self) -> str:
        """The phase of the query whose memory is the peak: ``vision tower``, ``prefill`` or ``decode``."""
        return max(self.phase_bytes, key=self.phase_bytes.__getitem__)

    @property
    def query_bytes(self) -> int:
        """What the query adds to the weights at its peak: the inputs and the largest phase."""
        return self.inputs_bytes + self.phase_bytes[self.peak_phase]

    @property
    def allocator_peak_bytes(self) -> int:
        """The PyTorch allocator's predicted peak: weights plus the query."""
        return self.weights_bytes + self.query_bytes

    @property
    def peak_bytes(self) -> int:
        """What the device must hold: the allocator's peak plus, on CUDA, the memory outside it."""
        return self.allocator_peak_bytes + self.cuda_context_bytes

    def describe(self) -> list[dict[str, Any]]:
        """One row per part (bytes and GiB), then each phase and the peak: a table for ``pandas.DataFrame``.

        Taught in ``notebooks/08_decision.ipynb``.
        """
        parts = [(f"weights: {kind}", self.bytes_of_kind(kind)) for kind in STORAGE_KINDS]
        parts += [
            ("inputs (pixels, token ids)", self.inputs_bytes),
            ("KV cache", self.kv_cache_bytes),
            ("visual features (merged, deepstack)", self.visual_features_bytes),
            ("vision tower activations (peak)", self.vision_activation_bytes),
            ("  of which eager score matrices", self.vision_scores_bytes),
            ("language model prefill activations (peak)", self.lm_activation_bytes),
            ("  of which eager score matrices", self.lm_scores_bytes),
            ("bitsandbytes temporaries (largest)", self.quantization_transient_bytes),
            ("logits of the last step", self.logits_bytes),
            ("outside the allocator (CUDA context, kernels)", self.cuda_context_bytes),
        ]
        parts += [(f"phase: {phase} (above weights and inputs)", n) for phase, n in self.phase_bytes.items()]
        parts += [("weights", self.weights_bytes), (f"peak (during {self.peak_phase})", self.peak_bytes)]
        return [{"part": part, "bytes": int(n), "GiB": n / GIB} for part, n in parts]

    def as_dict(self) -> dict[str, Any]:
        """A plain dict for records: every field and the derived totals."""
        return {
            **asdict(self),
            "image_size": list(self.image_size),
            "weights_bytes": self.weights_bytes,
            "bytes_by_kind": {kind: self.bytes_of_kind(kind) for kind in STORAGE_KINDS},
            "query_bytes": self.query_bytes,
            "allocator_peak_bytes": self.allocator_peak_bytes,
            "peak_bytes": self.peak_bytes,
            "peak_phase": self.peak_phase,
        }


def reference_cuda_context_bytes(path: str | Path = REFERENCE_LOAD_RESULTS, *, after_queries: bool = True) -> int:
    """The memory a CUDA device holds outside PyTorch's allocator, from notebook 01's ``cuda-context`` record.

    ``after_queries`` (the default) takes what was held after the run's queries: the context plus the kernels
    and library handles the queries loaded, which is what a card must hold beside the allocator while it
    answers (``vlmkit.measure.memory.card_need_bytes`` adds the same). ``after_queries=False`` takes the bare context,
    measured right after it was created. Taught in ``notebooks/08_decision.ipynb``.
    """
    records = [r for r in load_records(path) if r["experiment"] == CudaContextMeasurement.EXPERIMENT]
    context = CudaContextMeasurement.from_metrics(records[-1]["metrics"]) if records else None
    measured = None if context is None else context.after_queries_bytes if after_queries else context.context_bytes
    if not measured:
        key = "after_queries_bytes" if after_queries else "context_bytes"
        raise ConfigurationError(
            f"{path} holds no measured cuda-context record ({key}); run notebooks/01_loading_precisions.ipynb on "
            "CUDA, or pass cuda_context_bytes= yourself"
        )
    return int(measured)


def _spec_from_config(config: Qwen3VLConfig, name: str) -> ArchitectureSpec:
    """An ``ArchitectureSpec`` that gives a bare config vlmkit's processor (byte-level tokenizer, default pixel budget)."""
    vision = config.vision_config
    start = config.vision_start_token_id - QWEN_SPECIAL_TOKENS.index("<|vision_start|>")
    return ArchitectureSpec(
        name=name, description="from a config", special_tokens_start=start,
        text={"vocab_size": config.text_config.vocab_size},
        vision={"patch_size": vision.patch_size, "temporal_patch_size": vision.temporal_patch_size,
                "spatial_merge_size": vision.spatial_merge_size},
    )


def _resolve(model: str | Path | ArchitectureSpec | Qwen3VLConfig) -> _Architecture:
    if isinstance(model, ArchitectureSpec):
        return _Architecture(model.name, model.config(), build_processor(model))
    if isinstance(model, Qwen3VLConfig):
        return _Architecture("Qwen3VLConfig", model, build_processor(_spec_from_config(model, "Qwen3VLConfig")))
    if isinstance(model, (str, Path)):
        text = str(model)
        if text in REGISTRY:
            return _resolve(REGISTRY[text])
        path = Path(text).expanduser()
        if (path / "config.json").is_file():
            config = AutoConfig.from_pretrained(path)
            if not isinstance(config, Qwen3VLConfig):
                raise ConfigurationError(f"{path} holds a {type(config).__name__}; the planner knows Qwen3-VL only")
            try:
                processor = AutoProcessor.from_pretrained(path)
            except (OSError, ValueError):  # a config without processor files: vlmkit's processor rule
                processor = build_processor(_spec_from_config(config, text))
            return _Architecture(text, config, processor)
        raise UnknownModelError(
            f"cannot plan {text!r}: not a registry name {sorted(REGISTRY)} and not a directory with a config.json"
        )
    raise ConfigurationError(
        f"model must be a registry name, an ArchitectureSpec, a checkpoint directory or a Qwen3VLConfig, "
        f"got {type(model).__name__}"
    )


def _blocksize_4bit() -> int:
    """bitsandbytes' default 4-bit block size on this platform (what ``Linear4bit`` gets from transformers)."""
    import bitsandbytes as bnb

    return bnb.nn.Params4bit(torch.empty(0, device="meta"), requires_grad=False).blocksize


def _quantized_bytes(prec: Precision, linear: nn.Module, device_type: str) -> tuple[int, int]:
    """(weight bytes, constant bytes) bitsandbytes or torchao stores for one replaced layer on ``device_type``."""
    import bitsandbytes.functional as bnb_functional

    n = linear.out_features * linear.in_features
    if prec.quantization == "int4":
        groups = math.ceil(n / prec.group_size)
        if device_type == "cuda":  # tinygemm: two weights a byte, a bf16 (scale, zero point) pair per group
            return math.ceil(n / 2), groups * 2 * _BF16
        return n, groups * (_BF16 + 1)  # unpacked: an int8 per weight, a bf16 scale and an int8 zero point
    if prec.quantization == "int8":  # int8 weight, one float32 scale (SCB) per output row
        return n, linear.out_features * _F32
    blocksize = _blocksize_4bit()
    blocks = math.ceil(n / blocksize)
    code = bnb_functional.get_4bit_type(prec.quant_type, device="cpu").numel() * _F32
    if not prec.double_quant:
        return math.ceil(n / 2), blocks * _F32 + code
    nested = math.ceil(blocks / NESTED_BLOCKSIZE) * _F32 + bnb_functional.create_dynamic_map().numel() * _F32 + _F32
    return math.ceil(n / 2), blocks + nested + code


_WEIGHTS_CACHE: dict[tuple[str, str, str], _Weights] = {}


def _weights(config: Qwen3VLConfig, prec: Precision, device_type: str) -> _Weights:
    """Count the weights of ``config`` in ``prec`` on the meta device, as ``measure_footprint`` counts a loaded model
    on a ``device_type`` device."""
    key = (config.to_json_string(), prec.name, device_type if prec.library == "torchao" else "")
    if key in _WEIGHTS_CACHE:
        return _WEIGHTS_CACHE[key]
    with torch.device("meta"):
        net = Qwen3VLForConditionalGeneration._from_config(config, dtype=prec.dtype)
    kept = modules_kept(net, prec)
    bytes_by = {c: dict.fromkeys(STORAGE_KINDS, 0) for c in COMPONENTS}
    quantized = []
    seen: set[int] = set()
    for module_name, module in net.named_modules():
        replaced = is_replaced(prec, module_name, module, kept)
        for name, tensor in chain(module.named_parameters(recurse=False), module.named_buffers(recurse=False)):
            if id(tensor) in seen:  # tied weights are one tensor
                continue
            seen.add(id(tensor))
            component = component_of(f"{module_name}.{name}")
            if replaced and name == "weight":
                weight, constants = _quantized_bytes(prec, module, device_type)
                bytes_by[component]["quantized weights"] += weight
                bytes_by[component]["quantization constants"] += constants
                quantized.append(_QuantizedLinear(component, module.out_features, module.in_features,
                                                  merged="merger" in module_name))
            else:
                bytes_by[component]["unquantized tensors"] += tensor.numel() * tensor.element_size()
    taps = _INTERPOLATION_TAPS[net.model.visual.interpolation_mode]
    _WEIGHTS_CACHE[key] = result = _Weights(bytes_by, tuple(quantized), taps)
    return result


def _prompt_text_tokens(processor: ProcessorMixin, question: str) -> int:
    """Tokens of the chat prompt ``VLMInference.encode`` builds, without the image's visual tokens."""
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}], add_generation_prompt=True)
    ids = processor.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    image_pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return len(ids) - ids.count(image_pad)


def _sdpa_uses_math(dtype: torch.dtype, device: torch.device, heads: int, kv_heads: int) -> bool:
    """Whether PyTorch's SDPA falls back to its math backend (which holds the score matrix) on CUDA.

    Grouped-query attention (fewer key/value heads than query heads) runs fused only in the flash kernel, which
    takes 16-bit inputs only; the memory-efficient and cuDNN kernels refuse unequal head counts (notebook 06
    records their reasons). So a float32 model with grouped-query attention gets the math backend.
    """
    return device.type == "cuda" and dtype == torch.float32 and heads != kv_heads


def _layer_transient(prec: Precision, layer: _QuantizedLinear, rows: int, outlier_fraction: float,
                   device: torch.device) -> int:
    """The largest temporary one quantized layer allocates for an input of ``rows`` rows on ``device``.

    INT4 (torchao): nothing on CUDA (tinygemm reads the packed weight), the dequantized weight on a CPU.

    4-bit: one row takes the fused matrix-vector kernel (nothing extra); more rows dequantize the whole weight to
    the compute dtype (plus the float32 absmax with double quantization). LLM.int8: the input cast to float16
    and quantized to int8, the int32 product, and for threshold > 0 the weight columns of outlier features
    (int8 copy, float32 dequantized, cast to the compute dtype).
    """
    d = prec.dtype.itemsize
    n = layer.out_features * layer.in_features
    if prec.quantization == "int4":  # tinygemm reads the packed weight; the CPU path dequantizes it for every call
        return 0 if device.type == "cuda" else n * d
    if prec.quantization == "4bit":
        if rows == 1:
            return 0
        return n * d + (math.ceil(n / _blocksize_4bit()) * _F32 if prec.double_quant else 0)
    f16, i8 = torch.float16.itemsize, torch.int8.itemsize
    columns = math.ceil(outlier_fraction * layer.in_features) if prec.int8_threshold > 0 else 0
    inputs = rows * layer.in_features * (f16 + i8) + rows * layer.out_features * torch.int32.itemsize
    outliers = rows * columns * d + layer.out_features * columns * max(i8 + _F32, _F32 + d)
    return inputs + outliers


@dataclass(frozen=True)
class _Query:
    """The shapes of one planned query, and what they imply for the kernels."""

    prec: Precision
    device: torch.device
    attention: str
    batch: int
    patches_per_image: int
    tokens_per_image: int
    prompt: int
    new_tokens: int
    outlier_fraction: float

    @property
    def d(self) -> int:
        """Bytes per element of the model's dtype (the compute dtype of quantized models)."""
        return self.prec.dtype.itemsize

    @property
    def upcast(self) -> int:
        """What a float32 copy of one element costs: nothing when the model is float32 already."""
        return _F32 if self.d != _F32 else 0


def _largest_transient(weights: _Weights, q: _Query, vision: bool, rows: int, merged_rows: int) -> int:
    """The largest quantized layer's temporary among the vision tower's (or the language model's) replaced layers."""
    if not q.prec.is_quantized:
        return 0
    return max((_layer_transient(q.prec, layer, merged_rows if layer.merged else rows, q.outlier_fraction, q.device)
                for layer in weights.quantized if (layer.component == "vision tower") == vision), default=0)


def _vision_tower(config: Qwen3VLConfig, weights: _Weights, q: _Query) -> dict[str, int]:
    """The vision tower's peak above its inputs, its eager scores and the deepstack features it leaves behind.

    While the blocks run, the forward keeps the float32 position embeddings, the rotary cos/sin (float32), the
    resampling indices and weights and the deepstack features. One block's largest moment is the float32
    rotary embedding of q and k (beside the block's input, its norm and the qkv projection), the MLP, or with
    eager attention one image's ``heads x patches²`` scores; before the blocks, the position-embedding gather.
    """
    v, d, P = config.vision_config, q.d, q.batch * q.patches_per_image
    H, taps, merged = v.hidden_size, weights.interpolation_taps, P // v.spatial_merge_size**2
    deepstack = len(v.deepstack_visual_indexes) * merged * v.out_hidden_size * d
    kept = P * (H * _F32 + 2 * (H // v.num_heads) * _F32 + taps * (_I64 + _F32) + 2 * _I64) + deepstack
    before_blocks = P * (H * d + taps * H * (d + _F32) + H * _F32)
    rotary = P * (5 * H * d + 4 * H * _F32 + 2 * H * q.upcast)
    mlp = P * (3 * H * d + 2 * v.intermediate_size * d)
    scores = v.num_heads * q.patches_per_image**2 * eager_score_bytes(q.prec.dtype, q.device) if q.attention == "eager" else 0
    eager = P * 7 * H * d + scores if scores else 0  # block input, norm, qkv, rotated q and k, one image's scores
    transient = _largest_transient(weights, q, True, P, merged)
    quantized = P * (3 * H * d + v.intermediate_size * d) + transient if q.prec.is_quantized else 0
    peak = max(before_blocks, kept + max(rotary, mlp, eager, quantized))
    return {"peak": peak, "scores": scores, "deepstack": deepstack, "transient": transient}


def _language_model(config: Qwen3VLConfig, weights: _Weights, q: _Query, deepstack: int) -> dict[str, int]:
    """KV cache, prefill and decode of the language model (bytes above the weights and the inputs).

    Prefill keeps the visual features (the merged features, split views and their concatenation; deepstack;
    the tower's last hidden state, which the vision output object holds), the input embeddings, rotary cos/sin,
    position ids and (eager, math SDPA) a causal mask, the prompt's KV cache, and one layer's largest moment:
    the SwiGLU MLP, an RMSNorm in float32, attention (eager or math SDPA: repeated key/value heads and the
    scores of every head) or a bitsandbytes layer's temporary. Decode keeps the whole cache, one layer's keys and
    values copied as the cache grows, one token's layer and the last step's logits.
    """
    text, vision, d, B = config.text_config, config.vision_config, q.d, q.batch
    h, inter, heads, kv_heads = text.hidden_size, text.intermediate_size, text.num_attention_heads, text.num_key_value_heads
    head_dim = getattr(text, "head_dim", None) or h // heads
    t, positions = B * q.prompt, q.prompt + q.new_tokens - 1
    kv_per_position = text.num_hidden_layers * 2 * kv_heads * head_dim * d
    visual_features = (2 * B * q.tokens_per_image * vision.out_hidden_size * d + deepstack
                       + B * q.patches_per_image * vision.hidden_size * d)
    if q.attention == "eager":  # a causal mask in the model's dtype; each head's scores with their softmax
        mask, scores = B * q.prompt**2 * d, B * heads * q.prompt**2 * eager_score_bytes(q.prec.dtype, q.device)
    elif q.attention == "sdpa" and _sdpa_uses_math(q.prec.dtype, q.device, heads, kv_heads):
        # SDPA's math backend: a boolean and a float causal mask, scores, softmax, its -inf mask and the masked copy
        mask, scores = q.prompt**2 * (1 + _F32), B * heads * q.prompt**2 * (_F32 + _F32 + 1 + _F32)
    else:  # fused kernels hold no score matrix
        mask, scores = 0, 0
    kept = t * h * d + 2 * t * head_dim * d + 4 * t * _I64 + mask
    logits = B * text.vocab_size * (d + 2 * _F32)  # the model's logits, generate's float32 copy, the processed scores
    transient = _largest_transient(weights, q, False, t, t)
    moments = [
        t * (3 * h * d + 3 * inter * d),  # layer input, residual sum, norm; gate (activated), up and their product
        t * (2 * h * d + h * q.upcast + h * _F32),  # RMSNorm in float32
        t * (2 * h * d + max(heads * head_dim * (d + q.upcast + _F32), (3 * heads + 2 * kv_heads) * head_dim * d)),
        t * (2 * h * d + (3 * heads + 2 * kv_heads) * head_dim * d) + scores if scores else 0,
        t * (3 * h * d + 2 * inter * d) + transient if q.prec.is_quantized else 0,
        t * h * d + logits,  # the final norm's output and the logits of the last position
    ]
    prefill_activations = kept + max(moments)
    decode_transient = _largest_transient(weights, q, False, B, B)
    decode = (positions * B * kv_per_position + B * positions * 2 * kv_heads * head_dim * d + logits
              + B * (3 * h * d + 3 * inter * d) + decode_transient) if q.new_tokens > 1 else 0
    return {"kv_cache": positions * B * kv_per_position, "visual_features": visual_features,
            "activations": prefill_activations, "scores": scores, "logits": logits,
            "transient": max(transient, decode_transient),
            "prefill": visual_features + q.prompt * B * kv_per_position + prefill_activations, "decode": decode}


def plan_memory(
    model: str | Path | ArchitectureSpec | Qwen3VLConfig,
    precision: str | Precision,
    *,
    image_size: int | tuple[int, int],
    batch_size: int = 1,
    new_tokens: int = 32,
    attn_implementation: str | None = None,
    device: str | torch.device | None = None,
    question: str = DEFAULT_QUESTION,
    text_tokens: int | None = None,
    cuda_context_bytes: int | None = None,
    int8_outlier_fraction: float = 1.0,
) -> MemoryPlan:
    """Predict the memory of ``batch_size`` queries (one ``image_size`` image and ``question`` each, a
    ``new_tokens`` answer) on ``model`` in ``precision``, from the architecture alone.

    ``model``: a registry name, an ``ArchitectureSpec``, a checkpoint directory (its ``config.json`` and
    processor) or a ``Qwen3VLConfig`` (vlmkit's processor rule for its tokens). ``image_size``: a side in px or
    ``(height, width)``; the visual tokens are the image processor's own count. ``text_tokens`` overrides the
    prompt's text tokens (else counted for ``question`` with the model's chat template and tokenizer).
    ``attn_implementation``: ``None`` is what ``load_model`` picks (SDPA), or ``"eager"``, ``"sdpa"``,
    ``"flash_attention_2"``. ``device``: ``None`` is this machine's; a CUDA plan adds ``cuda_context_bytes``, by
    default what the H200 reference run of notebook 01 measured outside the allocator after its queries
    (:func:`reference_cuda_context_bytes`: the ``cuda-context`` record's ``after_queries_bytes``; the bare
    context, its ``context_bytes``, is smaller because the kernels the queries load are not in it yet).
    ``int8_outlier_fraction``: the share of input features LLM.int8 treats as outliers in its worst layer (1.0,
    the default, is the bound: every column; data decide the real share).
    Taught in ``notebooks/08_decision.ipynb``.
    """
    prec = precision if isinstance(precision, Precision) else get_precision(precision)
    dev = resolve_device(device) if device in (None, "auto") else torch.device(device)
    if attn_implementation is not None and attn_implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ConfigurationError(f"unknown attention implementation {attn_implementation!r}; "
                                 f"choose one of {ATTENTION_IMPLEMENTATIONS}")
    height, width = (image_size, image_size) if isinstance(image_size, Integral) else tuple(image_size)
    if min(height, width, batch_size, new_tokens) < 1 or not 0 <= int8_outlier_fraction <= 1:
        raise ConfigurationError("image sides, batch_size and new_tokens must be >= 1 and "
                                 "int8_outlier_fraction within [0, 1]")
    arch = _resolve(model)
    weights = _weights(arch.config, prec, dev.type)
    tokens_per_image = visual_tokens(arch.processor.image_processor, height, width)
    text = text_tokens if text_tokens is not None else _prompt_text_tokens(arch.processor, question)
    q = _Query(prec=prec, device=dev, attention=attn_implementation or choose_attention(dev).used, batch=batch_size,
               patches_per_image=tokens_per_image * arch.config.vision_config.spatial_merge_size**2,
               tokens_per_image=tokens_per_image, prompt=text + tokens_per_image, new_tokens=new_tokens,
               outlier_fraction=int8_outlier_fraction)
    vision = _vision_tower(arch.config, weights, q)
    language = _language_model(arch.config, weights, q, vision["deepstack"])
    v = arch.config.vision_config
    pixel_values = v.in_channels * v.temporal_patch_size * v.patch_size**2
    # inputs: pixel values in the model's dtype; token ids, attention mask, token types and image grid (int64)
    inputs = batch_size * (q.patches_per_image * pixel_values * q.d + 3 * q.prompt * _I64 + 3 * _I64)
    context = 0
    if dev.type == "cuda":
        context = reference_cuda_context_bytes() if cuda_context_bytes is None else int(cuda_context_bytes)
    return MemoryPlan(
        model=arch.name, precision=prec.name, device=dev.type, attn_implementation=q.attention,
        image_size=(int(height), int(width)), batch_size=batch_size, new_tokens=new_tokens,
        patches=q.patches_per_image, visual_tokens=tokens_per_image, prompt_tokens=q.prompt,
        weights_by={c: dict(kinds) for c, kinds in weights.bytes_by.items()}, inputs_bytes=inputs,
        kv_cache_bytes=language["kv_cache"], visual_features_bytes=language["visual_features"],
        vision_activation_bytes=vision["peak"], vision_scores_bytes=vision["scores"],
        lm_activation_bytes=language["activations"], lm_scores_bytes=language["scores"],
        quantization_transient_bytes=max(vision["transient"], language["transient"]),
        logits_bytes=language["logits"], cuda_context_bytes=context,
        phase_bytes={"vision tower": vision["peak"], "prefill": language["prefill"], "decode": language["decode"]},
    )


#: How notebook 06 names its attention variants -> the implementation whose memory the plan models. SDPA's
#: fused backends and the flash-attn packages hold no score matrix; SDPA's math backend does (not planned).
_VARIANT_IMPLEMENTATION = {"eager": "eager", "sdpa (PyTorch picks)": "sdpa", "sdpa: flash": "sdpa",
                           "sdpa: memory-efficient": "sdpa", "sdpa: cudnn": "sdpa",
                           "flash-attn 2 package": "flash_attention_2", "flash-attn 4 package": "flash_attention_2"}


def _row(record: dict, plan: MemoryPlan, quantity: str, predicted: int, measured: float, measured_as: str) -> dict:
    return {"model": record["model"], "precision": record["precision"], "image": plan.image_size[0],
            "batch": plan.batch_size, "new tokens": plan.new_tokens, "attention": plan.attn_implementation,
            "quantity": quantity, "predicted": int(predicted), "measured": int(measured), "measured as": measured_as,
            "error": predicted / measured - 1 if measured else math.nan}


def compare_with_records(records: list[dict], *, model_root: str | Path | None = None,
                         question: str = DEFAULT_QUESTION) -> list[dict[str, Any]]:
    """The plan beside what the book measured, with the relative error (predicted / measured - 1).

    From notebook 01's ``load`` records: the weights (the CUDA allocator's retained bytes after the load, or on a
    CPU vlmkit's tensor count ``weights.total_bytes``) and, on CUDA, the query's peak above what was allocated
    before it (``ask.peak_memory_bytes``: compared with the plan's query less its inputs, which were allocated
    before the measurement started), the allocator's peak (weights plus that query) and what a card must hold
    (``vlmkit.measure.memory.card_need_bytes``, the plan's ``peak_bytes``; the memory outside the allocator is the
    plan's measured ``cuda_context_bytes``, not a prediction). The prompt's text tokens are the record's
    (``ask.tokens_in`` less its visual tokens). From notebook 06's ``attention`` records (CUDA): the vision
    tower's peak and the query's peak per attention variant, with ``question``'s text tokens (06 records no
    prompt length). CPU peaks are process RSS, not the allocator's, and are not compared. Relative model paths
    are resolved against ``model_root`` (default: the ``notebooks`` folder the runs started in).
    Taught in ``notebooks/08_decision.ipynb``.
    """
    root = Path(model_root) if model_root is not None else CHECKOUT / "notebooks"
    rows = []
    for r in records:
        model = r["model"] if r["model"] in REGISTRY else str((root / r["model"]).resolve())
        shapes, m = r["shapes"], r["metrics"]
        on_cuda = r["provenance"]["device"] == "cuda"
        if r["experiment"] == LoadMeasurement.EXPERIMENT:
            measured = LoadMeasurement.from_metrics(m)
            load, ask = measured.load, measured.ask
            plan = plan_memory(model, r["precision"], image_size=tuple(shapes["image"]), new_tokens=shapes["new_tokens"],
                               attn_implementation=load["attention"]["used"], device=r["provenance"]["device"],
                               text_tokens=ask["tokens_in"] - ask["visual_tokens"],
                               cuda_context_bytes=measured.outside_allocator_bytes if on_cuda else None)
            if not on_cuda:
                rows.append(_row(r, plan, "weights", plan.weights_bytes, load["weights"]["total_bytes"], "tensor bytes"))
                continue
            retained, call = load["memory"]["retained_bytes"], ask["peak_memory_bytes"]
            rows += [
                _row(r, plan, "weights", plan.weights_bytes, retained, "allocator, retained after load"),
                _row(r, plan, "query peak", plan.query_bytes - plan.inputs_bytes, call, "allocator, peak of ask"),
                _row(r, plan, "allocator peak", plan.allocator_peak_bytes, retained + call, "retained + peak of ask"),
                _row(r, plan, "card need", plan.peak_bytes, measured.card_need_bytes, "card_need_bytes"),
            ]
        elif on_cuda and (a := AttentionTiming.from_record(r)) is not None and a.variant in _VARIANT_IMPLEMENTATION:
            plan = plan_memory(model, r["precision"], image_size=tuple(shapes["image"]), new_tokens=shapes["new_tokens"],
                               attn_implementation=_VARIANT_IMPLEMENTATION[a.variant], device="cuda",
                               question=question, cuda_context_bytes=0)
            rows += [
                _row(r, plan, "vision tower peak", plan.vision_activation_bytes, 1e6 * a.vision_tower_peak_mb,
                     f"allocator, {a.variant}"),
                _row(r, plan, "query peak", plan.query_bytes - plan.inputs_bytes, 1e6 * a.peak_memory_mb,
                     f"allocator, {a.variant}"),
            ]
    return rows
