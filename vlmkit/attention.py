"""Attention implementations: which one ``from_pretrained`` gets, switching them on a loaded model, and why
eager attention's memory grows with the square of the vision tower's patches.

- Loading (``notebooks/01_loading_precisions.ipynb``): :func:`choose_attention` resolves the implementation and
  falls back from the flash-attn package to SDPA, saying why; whether a flash-attn package is usable is
  transformers' answer (``is_flash_attn_2_available`` / ``is_flash_attn_4_available``), not a guess.
- Comparing (``notebooks/06_attention.ipynb``): transformers switches a loaded model's implementation with
  ``set_attn_implementation`` (no reload); PyTorch's ``sdpa_kernel`` context restricts SDPA to one backend. A
  backend that cannot run a given call raises, and :func:`kernel_refusals` keeps PyTorch's reasons.
- Training (``notebooks/02_quality.ipynb``): transformers' Qwen3-VL vision attention hands the packed image
  sequence with its ``cu_seqlens`` only to implementations whose name contains "flash"; every other
  implementation gets one attention call per image and layer. With a training batch of equally sized images
  that loop sets the pace, so :data:`EQUAL_IMAGES_ATTENTION`, registered through transformers' own
  ``AttentionInterface``, takes the packed layout and runs all images as one batched
  ``scaled_dot_product_attention`` (the same attention: tests compare the loss with plain SDPA).

Taught in ``notebooks/01_loading_precisions.ipynb``, ``notebooks/06_attention.ipynb`` and
``notebooks/02_quality.ipynb``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import AttentionInterface, PreTrainedModel
from transformers.utils import is_flash_attn_2_available, is_flash_attn_4_available

from vlmkit.errors import BackendUnavailableError, ConfigurationError
from vlmkit.memory import MemoryProbe
from vlmkit.timing import TimingStats, time_call

if TYPE_CHECKING:
    from vlmkit.inference import VLMInference

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


@dataclass(frozen=True)
class AttentionVariant:
    """A transformers attention implementation, optionally with SDPA held to one backend."""

    name: str
    implementation: str  # "eager" | "sdpa" | "flash_attention_2" | "flash_attention_4"
    sdpa_backend: str | None = None  # a key of :data:`SDPA_BACKENDS`


def attention_variants(device: torch.device) -> tuple[list[AttentionVariant], dict[str, str]]:
    """The variants to measure on ``device``, and the flash-attn packages left out with transformers' reason.

    Taught in ``notebooks/06_attention.ipynb``.
    """
    variants = [AttentionVariant("eager", "eager"), AttentionVariant("sdpa (PyTorch picks)", "sdpa")]
    variants += [AttentionVariant(f"sdpa: {b}", "sdpa", b) for b in SDPA_BACKENDS]
    left_out = {}
    for implementation, (label, _) in FLASH_ATTN_PACKAGES.items():
        reason = flash_attn_unavailable_reason(device, implementation)
        if reason is None:
            variants.append(AttentionVariant(label, implementation))
        else:
            left_out[label] = reason
    return variants, left_out


@contextmanager
def attention(vlm: VLMInference, variant: AttentionVariant) -> Iterator[None]:
    """Run the block with ``variant``'s implementation (and SDPA backend); restores SDPA afterwards.

    Taught in ``notebooks/06_attention.ipynb``.
    """
    vlm.model.set_attn_implementation(variant.implementation)
    backend = sdpa_kernel([SDPA_BACKENDS[variant.sdpa_backend]]) if variant.sdpa_backend else nullcontext()
    try:
        with backend:
            yield
    finally:
        vlm.model.set_attn_implementation("sdpa")


def _vision_tower_call(vlm: VLMInference, inputs: dict) -> Callable[[], object]:
    model = vlm.model.model

    def run() -> object:
        with torch.inference_mode():
            return model.get_image_features(pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"])

    return run


def time_vision_tower(vlm: VLMInference, inputs: dict, *, warmup: int, repeats: int) -> TimingStats:
    """Time the vision tower alone on already encoded inputs (``VLMInference.encode``).

    Taught in ``notebooks/06_attention.ipynb``.
    """
    return time_call(_vision_tower_call(vlm, inputs), vlm.device, warmup=warmup, repeats=repeats)


def vision_tower_peak_bytes(vlm: VLMInference, inputs: dict) -> int:
    """The peak memory one vision tower call adds above what was allocated before it (see ``MemoryProbe``).

    Taught in ``notebooks/06_attention.ipynb``.
    """
    with MemoryProbe(vlm.device) as probe:
        _vision_tower_call(vlm, inputs)()
    return probe.result.peak_bytes


def eager_score_bytes(dtype: torch.dtype, device: torch.device) -> int:
    """Bytes per score eager attention holds at once: the scores, their float32 softmax and the cast back.

    ``softmax(x, dtype=float32)`` converts its input to float32 first (one more copy), except for float16 on
    CUDA (a fused kernel) and for float32 input; the cast back to the model's dtype comes after that copy is
    freed. bf16: 10 bytes per score, as the H200 measured for the vision tower at 1792 px (notebook 08's planner).
    Taught in ``notebooks/06_attention.ipynb``.
    """
    d, f32 = dtype.itemsize, torch.float32.itemsize
    convert = 0 if dtype == torch.float32 or (dtype == torch.float16 and device.type == "cuda") else f32
    return max(d + convert + f32, d + f32 + (d if dtype != torch.float32 else 0))


@dataclass(frozen=True)
class EagerScores:
    """The attention score matrices eager attention holds for one image, from the inputs' shapes and the config.

    The vision tower attends over the image's *patches* (before the spatial merge), the language model over the
    merged visual tokens plus the text; eager attention stores one ``length x length`` matrix per head and
    takes its softmax in float32 (4 bytes per score); what one layer holds at once is
    :func:`eager_score_bytes` per score. Taught in ``notebooks/06_attention.ipynb``.
    """

    patches: int
    vision_heads: int
    merge: int
    lm_tokens: int
    lm_heads: int
    dtype_bytes: int
    bytes_per_score: int

    @property
    def visual_tokens(self) -> int:
        """The merged tokens the language model receives for the image (patches / merge²)."""
        return self.patches // self.merge**2

    @property
    def vision_fp32_bytes(self) -> int:
        """One float32 softmax of the vision tower's scores: heads x patches² x 4 bytes."""
        return self.vision_heads * self.patches**2 * 4

    @property
    def vision_softmax_bytes(self) -> int:
        """What one vision attention layer holds at once: heads x patches² x :func:`eager_score_bytes`."""
        return self.vision_heads * self.patches**2 * self.bytes_per_score

    @property
    def lm_fp32_bytes(self) -> int:
        """One float32 softmax of the language model's prefill scores: heads x tokens² x 4 bytes."""
        return self.lm_heads * self.lm_tokens**2 * 4


def eager_scores(vlm: VLMInference, inputs: dict) -> EagerScores:
    """The score-matrix sizes of eager attention for these encoded inputs (one image), from ``image_grid_thw``
    and the model config. Taught in ``notebooks/06_attention.ipynb``.
    """
    t, h, w = (int(x) for x in inputs["image_grid_thw"][0])
    config = vlm.model.config
    return EagerScores(patches=t * h * w, vision_heads=int(config.vision_config.num_heads),
                       merge=int(config.vision_config.spatial_merge_size), lm_tokens=int(inputs["input_ids"].shape[1]),
                       lm_heads=int(config.text_config.num_attention_heads),
                       dtype_bytes=vlm.model.dtype.itemsize,
                       bytes_per_score=eager_score_bytes(vlm.model.dtype, vlm.device))


def kernel_refusals(caught: list[warnings.WarningMessage]) -> list[str]:
    """PyTorch's own reasons why an SDPA kernel declined a call, from the warnings it raised meanwhile.

    A forced backend that cannot run says only "No available kernel"; the reasons come as
    warnings just before. Taught in ``notebooks/06_attention.ipynb``.
    """
    reasons = []
    for w in caught:
        text = re.sub(r"\s*\(Triggered internally at .*\)\s*$", "", str(w.message), flags=re.S).strip()
        if "Triggered internally" in str(w.message) and not text.endswith(":") and text not in reasons:
            reasons.append(text)
    return reasons


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
