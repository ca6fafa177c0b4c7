"""Attention on a running model: switching implementations and SDPA backends, timing the vision tower, and why
eager attention's memory grows with the square of the vision tower's patches.

transformers switches a loaded model's implementation with ``set_attn_implementation`` (no reload); PyTorch's
``sdpa_kernel`` context restricts SDPA to one backend (:func:`using_attention`). A backend that cannot run a
given call raises, and :func:`kernel_refusals` keeps PyTorch's reasons. Which implementation a model is
*loaded* with is :mod:`vlmkit.models.attention_backends`. Notebook 06 records each variant at each image size as an
``attention`` record: :class:`AttentionTiming` where it ran, :class:`AttentionRefusal` where it could not.

Taught in ``notebooks/06_attention.ipynb``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn.attention import sdpa_kernel

from vlmkit.measure.memory import MemoryProbe
from vlmkit.measure.records import Measurement, metric
from vlmkit.measure.timing import TimingStats, time_call
from vlmkit.models.attention_backends import (
    FLASH_ATTN_PACKAGES,
    SDPA_BACKENDS,
    flash_attn_unavailable_reason,
)
from vlmkit.runtime.inference import CallStats, VLMInference


@dataclass(frozen=True)
class AttentionVariant:
    """A transformers attention implementation, optionally with SDPA held to one backend."""

    name: str
    implementation: str  # "eager" | "sdpa" | "flash_attention_2" | "flash_attention_4"
    sdpa_backend: str | None = None  # a key of :data:`SDPA_BACKENDS`


#: The flash kernel's two baselines: transformers' eager attention, and SDPA as PyTorch picks its kernel (the default).
EAGER_ATTENTION = AttentionVariant("eager", "eager")
SDPA_PICKS = AttentionVariant("sdpa (PyTorch picks)", "sdpa")


def attention_variants(device: torch.device) -> tuple[list[AttentionVariant], dict[str, str]]:
    """The variants to measure on ``device``, and the flash-attn packages left out with transformers' reason.

    Taught in ``notebooks/06_attention.ipynb``.
    """
    variants = [EAGER_ATTENTION, SDPA_PICKS]
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
def using_attention(vlm: VLMInference, variant: AttentionVariant) -> Iterator[None]:
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


@dataclass(frozen=True)
class AttentionRefusal(Measurement):
    """An ``attention`` record of a variant that could not run at one image size, with PyTorch's reason.

    Every ``attention`` record carries these two metrics (``unavailable`` is ``""`` where the variant ran), so any
    of them reads back through this class: which variants ran, and why the others did not.
    Taught in ``notebooks/06_attention.ipynb``.
    """

    EXPERIMENT: ClassVar[str] = "attention"

    variant: str
    unavailable: str


@dataclass(frozen=True)
class AttentionTiming(Measurement):
    """An ``attention`` record of a variant that ran at one image size: medians of the timed queries and vision
    tower calls, peak memory above what was allocated before, and every sample.

    Taught in ``notebooks/06_attention.ipynb``.
    """

    EXPERIMENT: ClassVar[str] = "attention"

    image: int  # the square image's side in px
    visual_tokens: int = metric("visual tokens")
    variant: str
    whole_query_ms: float = metric("whole query (ms)")
    vision_tower_ms: float = metric("vision tower (ms)")
    prefill_ms: float = metric("prefill (ms)")
    decode_ms_per_token: float = metric("decode (ms/token)")
    peak_memory_mb: float = metric("peak memory (MB)")  # the peak of a query, the highest of the timed ones
    vision_tower_peak_mb: float = metric("vision tower peak (MB)")
    unavailable: str  # always "": it ran (see AttentionRefusal)
    total_s: list[float]
    prefill_s: list[float]
    decode_s: list[float]
    vision_s: list[float]
    memory_kind: str  # CallStats.memory_kind: the CUDA allocator, or the process's peak RSS

    @classmethod
    def measured(cls, image: int, variant: AttentionVariant, calls: list[CallStats], vision: TimingStats,
                 vision_peak_bytes: int) -> "AttentionTiming":
        """The record of ``variant``'s timed queries, its vision tower timing and its vision tower peak."""
        total, prefill = [c.total_s for c in calls], [c.prefill_s for c in calls]
        decode = [c.decode_s_per_token for c in calls]
        return cls(image=image, visual_tokens=calls[0].visual_tokens, variant=variant.name,
                   whole_query_ms=1e3 * float(np.median(total)), vision_tower_ms=1e3 * vision.median,
                   prefill_ms=1e3 * float(np.median(prefill)), decode_ms_per_token=1e3 * float(np.median(decode)),
                   peak_memory_mb=max(c.peak_memory_bytes for c in calls) / 1e6,
                   vision_tower_peak_mb=vision_peak_bytes / 1e6, unavailable="", total_s=total, prefill_s=prefill,
                   decode_s=decode, vision_s=list(vision.samples), memory_kind=calls[0].memory_kind)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "AttentionTiming | None":
        """A record's typed metrics, or ``None`` for another experiment or an :class:`AttentionRefusal`."""
        if record["experiment"] != cls.EXPERIMENT or AttentionRefusal.from_metrics(record["metrics"]).unavailable:
            return None
        return cls.from_metrics(record["metrics"])

    def row(self) -> dict[str, Any]:
        """The sweep table's row: the medians and peaks, without the samples."""
        return {f.metadata.get("key", f.name): getattr(self, f.name) for f in fields(self)
                if f.name not in ("total_s", "prefill_s", "decode_s", "vision_s", "memory_kind")}

    def samples(self, phase: str) -> list[float]:
        """Seconds per timed call of ``phase``: ``"total"``, ``"prefill"``, ``"decode"`` (per token) or ``"vision"``."""
        return getattr(self, f"{phase}_s")
