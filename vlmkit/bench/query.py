"""The book's standard query: the image size and answer length every headline speed verdict is judged on.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vlmkit.models.architectures import REGISTRY
from vlmkit.models.checkpoints import write_checkpoint
from vlmkit.runtime.inference import Answer, CallStats, VLMInference


#: The question of the book's standard query (about a random image: the speed notebooks measure speed, not answers).
STANDARD_QUESTION = "What is in the image? Describe it."


@dataclass(frozen=True)
class QuerySetup:
    """The book's default query: one square image and a fixed-length answer (the seed's "a query of a VLM")."""

    image_size: int
    new_tokens: int

    def describe(self) -> str:
        """E.g. ``"448 px image, 32-token answer"``, for verdict rows."""
        return f"{self.image_size} px image, {self.new_tokens}-token answer"


def standard_query(device_type: str) -> QuerySetup:
    """The default query every speed notebook judges its headline verdict on: 448 px and 32 answer tokens on
    CUDA (the 8B model), 64 px and 8 tokens on CPU (the tiny model).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    return QuerySetup(448, 32) if device_type == "cuda" else QuerySetup(64, 8)


def standard_image(image_size: int) -> np.ndarray:
    """The random ``image_size`` px RGB image of the standard query (its RNG seeded with 0: the same on every run).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    return (np.random.default_rng(0).random((image_size, image_size, 3)) * 255).astype(np.uint8)


def ask_fixed_length(vlm: VLMInference, image: np.ndarray, new_tokens: int) -> Answer:
    """The book's question about ``image``, answered with exactly ``new_tokens`` tokens (speed, not answer length).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    return vlm.ask(image, STANDARD_QUESTION, max_new_tokens=new_tokens, min_new_tokens=new_tokens)


#: The parts of a query that interleaved timings compare: the whole query, its prefill, and decode per token.
QUERY_PARTS = ("query", "prefill", "decode")


def query_seconds(stats: CallStats) -> dict[str, float]:
    """One call's seconds by :data:`QUERY_PARTS`: a side's run in :func:`vlmkit.measure.interleaved.time_rounds`.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    return {"query": stats.total_s, "prefill": stats.prefill_s, "decode": stats.decode_s_per_token}


def resolve_model(model: str, device: torch.device) -> tuple[str, Path | None]:
    """The model a speed notebook runs, and its checkpoint: ``"auto"`` is qwen3-vl-8b on CUDA and qwen3-vl-tiny on
    CPU; a registry name gets its random-weight checkpoint written (cached), anything else (a checkpoint directory,
    a hub id) is loaded as given (``None``).

    Taught in ``notebooks/05_compile.ipynb``.
    """
    name = model if model != "auto" else ("qwen3-vl-8b" if device.type == "cuda" else "qwen3-vl-tiny")
    return name, (write_checkpoint(name, device=device.type) if name in REGISTRY else None)
