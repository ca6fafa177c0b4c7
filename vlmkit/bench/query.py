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


def resolve_model(model: str, device: torch.device) -> tuple[str, Path | None]:
    """The model a speed notebook runs, and its checkpoint: ``"auto"`` is qwen3-vl-8b on CUDA and qwen3-vl-tiny on
    CPU; a registry name gets its random-weight checkpoint written (cached), anything else (a checkpoint directory,
    a hub id) is loaded as given (``None``).

    Taught in ``notebooks/05_compile.ipynb``.
    """
    name = model if model != "auto" else ("qwen3-vl-8b" if device.type == "cuda" else "qwen3-vl-tiny")
    return name, (write_checkpoint(name, device=device.type) if name in REGISTRY else None)
