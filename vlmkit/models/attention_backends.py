"""Which attention implementation a model is loaded with, and the one vlmkit registers itself.

- Loading (``notebooks/01_loading_precisions.ipynb``): :func:`choose_attention` resolves the implementation and
  falls back from the flash-attn package to SDPA, saying why; whether a flash-attn package is usable is
  transformers' answer (``is_flash_attn_2_available`` / ``is_flash_attn_4_available``), not a guess.
- Training (``notebooks/02_quality.ipynb``): transformers' Qwen3-VL vision attention hands the packed image
  sequence with its ``cu_seqlens`` only to implementations whose name contains "flash"; every other
  implementation gets one attention call per image and layer. With a training batch of equally sized images
  that loop sets the pace, so :data:`EQUAL_IMAGES_ATTENTION`, registered through transformers' own
  ``AttentionInterface``, takes the packed layout and runs all images as one batched
  ``scaled_dot_product_attention`` (the same attention: tests compare the loss with plain SDPA).

Switching and timing implementations on a running model is :mod:`vlmkit.runtime.attention`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend
from transformers import AttentionInterface, PreTrainedModel
from transformers.utils import is_flash_attn_2_available, is_flash_attn_4_available

from vlmkit.errors import BackendUnavailableError, ConfigurationError

ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2", "flash_attention_4")


#: PyTorch's SDPA backends by the names the book uses.
SDPA_BACKENDS = {
    "math": SDPBackend.MATH,
    "flash": SDPBackend.FLASH_ATTENTION,
    "memory-efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}


#: The flash-attn packages transformers can use: implementation name -> (package label, transformers' check).
FLASH_ATTN_PACKAGES: dict[str, tuple[str, Callable[[], bool]]] = {
    "flash_attention_2": ("flash-attn 2 package", is_flash_attn_2_available),
    "flash_attention_4": ("flash-attn 4 package", is_flash_attn_4_available),
}


@dataclass(frozen=True)
class AttentionChoice:
    """What was asked for, what is used, and why they differ (``note``)."""

    requested: str
    used: str
    note: str = ""


def flash_attn_unavailable_reason(device: torch.device, implementation: str = "flash_attention_2") -> str | None:
    """Why transformers cannot use a flash-attn package (``implementation``) here, or ``None`` if it can.

    Whether the package is installed and usable is asked of transformers (``is_flash_attn_2_available``,
    ``is_flash_attn_4_available``). Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    label, available = FLASH_ATTN_PACKAGES[implementation]
    if device.type != "cuda":
        return f"the {label} runs on CUDA GPUs only, and this run is on {device.type}"
    if not available():
        return (f"transformers reports the {label} unusable here ({available.__name__}() is False: not installed, "
                "or a version it does not support)")
    return None


def choose_attention(
    device: torch.device,
    attn_implementation: str | None = None,
    use_flash_attention: bool = False,
    strict: bool = False,
) -> AttentionChoice:
    """Resolve the attention implementation. ``use_flash_attention`` takes the flash-attn 2 package where transformers
    can use it, else the flash-attn 4 package (Hopper and Blackwell), else falls back to SDPA with a note, or
    raises with ``strict``; ``attn_implementation`` names one implementation instead (both: it must be a flash one).

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    if use_flash_attention and attn_implementation not in (None, *FLASH_ATTN_PACKAGES):
        raise ConfigurationError(
            f"use_flash_attention=True contradicts attn_implementation={attn_implementation!r}: pass only one"
        )
    if attn_implementation is not None and attn_implementation not in ATTENTION_IMPLEMENTATIONS:
        raise ConfigurationError(f"unknown attention implementation {attn_implementation!r}; "
                                 f"choose one of {ATTENTION_IMPLEMENTATIONS}")
    if not use_flash_attention and attn_implementation not in FLASH_ATTN_PACKAGES:
        return AttentionChoice(attn_implementation or "sdpa", attn_implementation or "sdpa")
    candidates = [attn_implementation] if attn_implementation else list(FLASH_ATTN_PACKAGES)
    requested = " or ".join(candidates)
    reasons = {}
    for implementation in candidates:
        reason = flash_attn_unavailable_reason(device, implementation)
        if reason is None:
            skipped = "; ".join(reasons.values())
            return AttentionChoice(requested, implementation, f"{implementation} ({skipped})" if skipped else "")
        reasons[implementation] = reason
    why = "; ".join(dict.fromkeys(reasons.values()))
    if strict:
        raise BackendUnavailableError(f"{requested} was required but {why}")
    fallback = (
        "falling back to SDPA, which may pick PyTorch's built-in flash kernel"
        if device.type == "cuda"
        else "falling back to SDPA's CPU kernels"
    )
    return AttentionChoice(requested, "sdpa", f"{why}; {fallback}")


#: Registered name; "flash" in it makes transformers pass the packed layout (cu_seqlens, max length).
EQUAL_IMAGES_ATTENTION = "flash_layout_equal_images_sdpa"


def equal_images_sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None = None, scaling: float | None = None,
                      dropout: float = 0.0, cu_seq_lens_q: torch.Tensor | None = None,
                      max_length_q: int | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """Attention within each image of a packed ``[1, heads, images * length, dim]`` sequence of equal images.

    Taught in ``notebooks/02_quality.ipynb`` (how the shapes model is trained).
    """
    _, heads, total, dim = query.shape
    images = cu_seq_lens_q.numel() - 1
    if max_length_q * images != total:  # the longest image times the count covers the total only if all are equal
        raise ValueError(f"{EQUAL_IMAGES_ATTENTION} needs images of one size; got {images} images in {total} tokens")

    def per_image(t: torch.Tensor) -> torch.Tensor:
        return t.view(heads, images, max_length_q, dim).transpose(0, 1)

    out = F.scaled_dot_product_attention(per_image(query), per_image(key), per_image(value),
                                         dropout_p=dropout, scale=scaling)
    return out.transpose(1, 2).reshape(1, total, heads, dim), None


AttentionInterface.register(EQUAL_IMAGES_ATTENTION, equal_images_sdpa)


def set_vision_attention(model: PreTrainedModel, implementation: str) -> None:
    """Switch only the vision tower's attention (``"sdpa"`` or :data:`EQUAL_IMAGES_ATTENTION`).

    Taught in ``notebooks/02_quality.ipynb`` (how the shapes model is trained).
    """
    model.set_attn_implementation({"vision_config": implementation})


def attention_for_compiled_decode(model: PreTrainedModel, strict: bool = False) -> str | None:
    """Give the language model an attention that ``torch.compile`` traces whole, for ``use_compile=True``.

    The flash-attn packages break TorchDynamo's graph in decode (their unpadding calls ``.item()``; transformers'
    compiled decode then recompiles per layer until its limit and runs the later layers eagerly), and PyTorch's own
    flash SDPA kernel takes no attention mask, which a static cache's unfilled positions need. So a model loaded with
    a flash-attn package keeps it in the vision tower (the prefill, which runs eagerly) and its language model moves
    to SDPA (PyTorch picks the fused kernel that takes the mask). Returns what was done, in words, or ``None`` when
    the language model already compiles whole; with ``strict`` a flash-attn language model is an error instead.
    Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    used = model.config.text_config._attn_implementation
    if used not in FLASH_ATTN_PACKAGES:
        return None
    label = FLASH_ATTN_PACKAGES[used][0]
    why = (f"the {label} breaks TorchDynamo's graph in decode (.item() in its unpadding) and PyTorch's flash SDPA "
           "kernel takes no mask, which the static cache needs")
    if strict:
        raise ConfigurationError(f"use_compile=True with strict_compile: {why}; load with attn_implementation='sdpa' "
                                 "or pass strict_compile=False (vlmkit then keeps it in the vision tower only)")
    model.set_attn_implementation({"text_config": "sdpa"})
    return f"attention for use_compile: {used} in the vision tower (prefill), sdpa in the language model ({why})"
