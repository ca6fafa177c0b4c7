"""Host-to-GPU copies: plain ``.to(device)`` from pageable memory vs pinned memory with ``non_blocking=True``.

A copy from pageable memory goes through a staging buffer the driver pins on
the fly; from pinned memory the GPU reads it directly, and ``non_blocking``
lets the host continue while it does. Timings synchronise after the copy, so
they measure the copy itself; the overlap ``non_blocking`` allows comes on top
only where the host has other work to do meanwhile.

Taught in ``notebooks/07_tf32_transfers.ipynb``.
"""

from __future__ import annotations

import torch

from vlmkit.errors import BackendUnavailableError
from vlmkit.timing import TimingStats, time_call


def _require_cuda(device: torch.device) -> None:
    if device.type != "cuda":
        raise BackendUnavailableError(f"pinned memory and non_blocking copies need a CUDA device; this run is on {device.type}")


def time_copy(tensors: dict[str, torch.Tensor], device: torch.device, *, pinned: bool, include_pinning: bool = False,
              warmup: int = 2, repeats: int = 10) -> TimingStats:
    """Time copying every tensor of ``tensors`` (e.g. a processor's output) to ``device``.

    ``pinned``: copy from pinned memory with ``non_blocking=True`` (else plain ``.to(device)``);
    ``include_pinning``: count the ``pin_memory()`` call too, as a per-query pipeline would pay it.
    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    _require_cuda(device)
    if pinned and not include_pinning:
        sources = {k: t.pin_memory() for k, t in tensors.items()}
        return time_call(lambda: [t.to(device, non_blocking=True) for t in sources.values()], device,
                         warmup=warmup, repeats=repeats)
    if pinned:
        return time_call(lambda: [t.pin_memory().to(device, non_blocking=True) for t in tensors.values()], device,
                         warmup=warmup, repeats=repeats)
    return time_call(lambda: [t.to(device) for t in tensors.values()], device, warmup=warmup, repeats=repeats)
