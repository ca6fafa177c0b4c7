"""Switch TF32 for float32 matmuls for a block of code, and put the previous setting back.

``torch.set_float32_matmul_precision("high")`` lets float32 matmuls run on TF32
tensor cores (NVIDIA Ampere and newer); ``"highest"`` keeps full float32. Only
float32 matmuls are affected: a bf16 model's matmuls are bf16 either way.

Taught in ``notebooks/07_tf32_transfers.ipynb``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

#: The two settings compared: full float32, and TF32 allowed.
TF32_OFF, TF32_ON = "highest", "high"


@contextmanager
def float32_matmul_precision(mode: str) -> Iterator[None]:
    """Run the block with ``torch.set_float32_matmul_precision(mode)``; restore the previous mode after."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(mode)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
