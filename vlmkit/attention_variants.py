"""Attention implementations to compare: eager, SDPA (with each of its backends forced) and flash-attn.

transformers switches a loaded model's implementation with ``set_attn_implementation``
(no reload); PyTorch's ``sdpa_kernel`` context restricts SDPA to one backend. A
backend that cannot run a given call raises, and the notebook records why.

Taught in ``notebooks/06_attention.ipynb``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch.nn.attention import sdpa_kernel

from vlmkit.attention import flash_attn_unavailable_reason
from vlmkit.environment import SDPA_BACKENDS
from vlmkit.inference import VLMInference
from vlmkit.timing import TimingStats, time_call


@dataclass(frozen=True)
class AttentionVariant:
    """A transformers attention implementation, optionally with SDPA held to one backend."""

    name: str
    implementation: str  # "eager" | "sdpa" | "flash_attention_2"
    sdpa_backend: str | None = None  # a key of ``vlmkit.environment.SDPA_BACKENDS``


def attention_variants(device: torch.device) -> tuple[list[AttentionVariant], dict[str, str]]:
    """The variants to measure on ``device``, and the ones left out with the reason.

    Taught in ``notebooks/06_attention.ipynb``.
    """
    variants = [AttentionVariant("eager", "eager"), AttentionVariant("sdpa (PyTorch picks)", "sdpa")]
    variants += [AttentionVariant(f"sdpa: {b}", "sdpa", b) for b in SDPA_BACKENDS]
    left_out = {}
    reason = flash_attn_unavailable_reason(device)
    if reason is None:
        variants.append(AttentionVariant("flash-attn package", "flash_attention_2"))
    else:
        left_out["flash-attn package"] = reason
    return variants, left_out


@contextmanager
def attention(vlm: VLMInference, variant: AttentionVariant) -> Iterator[None]:
    """Run the block with ``variant``'s implementation (and SDPA backend); restores SDPA afterwards."""
    vlm.model.set_attn_implementation(variant.implementation)
    backend = sdpa_kernel([SDPA_BACKENDS[variant.sdpa_backend]]) if variant.sdpa_backend else nullcontext()
    try:
        with backend:
            yield
    finally:
        vlm.model.set_attn_implementation("sdpa")


def time_vision_tower(vlm: VLMInference, inputs: dict, *, warmup: int, repeats: int) -> TimingStats:
    """Time the vision tower alone on already encoded inputs (``VLMInference.encode``).

    Taught in ``notebooks/06_attention.ipynb``.
    """
    model = vlm.model.model

    def run() -> object:
        with torch.inference_mode():
            return model.get_image_features(pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"])

    return time_call(run, vlm.device, warmup=warmup, repeats=repeats)


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
