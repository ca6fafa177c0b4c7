"""Choose the attention implementation ``from_pretrained`` gets, and say what was chosen.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec

import torch

from vlmkit.errors import BackendUnavailableError, ConfigurationError

ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")


@dataclass(frozen=True)
class AttentionChoice:
    """What was asked for, what is used, and why they differ (``note``)."""

    requested: str
    used: str
    note: str = ""


def flash_attn_unavailable_reason(device: torch.device) -> str | None:
    """Why the flash-attn package cannot run here, or ``None`` if it can."""
    if device.type != "cuda":
        return f"flash-attn runs on CUDA GPUs only, and this run is on {device.type}"
    major, minor = torch.cuda.get_device_capability(device)
    if major < 8:
        return f"flash-attn 2 needs compute capability 8.0 or newer; this GPU has {major}.{minor}"
    if find_spec("flash_attn") is None:
        return "the flash-attn package is not installed (pip install --no-build-isolation flash-attn)"
    return None


def choose_attention(
    device: torch.device,
    attn_implementation: str | None = None,
    use_flash_attention: bool = False,
    strict: bool = False,
) -> AttentionChoice:
    """Resolve the attention implementation, falling back from flash-attn to SDPA unless ``strict``.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    if use_flash_attention and attn_implementation not in (None, "flash_attention_2"):
        raise ConfigurationError(
            f"use_flash_attention=True contradicts attn_implementation={attn_implementation!r}: pass only one"
        )
    requested = "flash_attention_2" if use_flash_attention else attn_implementation or "sdpa"
    if requested not in ATTENTION_IMPLEMENTATIONS:
        raise ConfigurationError(f"unknown attention implementation {requested!r}; choose one of {ATTENTION_IMPLEMENTATIONS}")
    if requested != "flash_attention_2":
        return AttentionChoice(requested, requested)
    reason = flash_attn_unavailable_reason(device)
    if reason is None:
        return AttentionChoice(requested, requested)
    if strict:
        raise BackendUnavailableError(f"flash_attention_2 was required but {reason}")
    fallback = (
        "falling back to SDPA, which may pick PyTorch's built-in flash kernel"
        if device.type == "cuda"
        else "falling back to SDPA's CPU kernels"
    )
    return AttentionChoice(requested, "sdpa", f"{reason}; {fallback}")
