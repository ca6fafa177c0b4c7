"""Shared fixtures. Environment variables are set at import so that notebook kernels started by
nbval and papermill inherit them: a private checkpoint cache, a private results folder, no hub access."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="vlmkit-tests-"))
os.environ["VLMKIT_CACHE"] = str(_SESSION_DIR / "cache")
os.environ["VLMKIT_RESULTS_DIR"] = str(_SESSION_DIR / "results")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["VLMKIT_TEXT_PROGRESS"] = "1"  # executed notebooks print finished text bars
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

TINY = "qwen3-vl-tiny"


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Path:
    from vlmkit.models.checkpoints import write_checkpoint

    return write_checkpoint(TINY)


@pytest.fixture(scope="session")
def loaded_by_precision(tiny_checkpoint):
    """Each precision of the tiny model, loaded once for the whole session."""
    from vlmkit.models.loading import load_model

    cache: dict = {}

    def get(precision: str):
        if precision not in cache:
            cache[precision] = load_model(TINY, precision, device="cpu")
        return cache[precision]

    return get


@pytest.fixture
def image() -> np.ndarray:
    """A 64x96 RGB test image: 4x6 patches of 16 px, 6 visual tokens after the 2x2 merge."""
    return (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
