"""Host-to-GPU copies: plain ``.to(device)`` from pageable memory vs pinned memory with ``non_blocking=True``.

A copy from pageable memory goes through a staging buffer the driver pins on
the fly; from pinned memory the GPU reads it directly, and ``non_blocking``
lets the host continue while it does. :func:`time_copy` synchronises after the
copy, so it measures the copy alone; :func:`copy_and_answer` is the whole query
the seed's claim is about: the processor's output copied to the GPU, then the
answer generated.

Taught in ``notebooks/07_tf32_transfers.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vlmkit.errors import BackendUnavailableError
from vlmkit.measure.timing import TimingStats, time_call
from vlmkit.runtime.inference import VLMInference


def pinned_copies_unavailable(device: torch.device) -> str | None:
    """Why pinned, non-blocking copies cannot be measured on ``device``, or ``None`` on CUDA.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    if device.type == "cuda":
        return None
    return f"pinned memory and non_blocking copies need a CUDA device; this run is on {device.type}"


def _require_cuda(device: torch.device) -> None:
    reason = pinned_copies_unavailable(device)
    if reason is not None:
        raise BackendUnavailableError(reason)


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


def copy_and_answer(vlm: VLMInference, host_inputs: dict[str, torch.Tensor], *, pinned: bool,
                    new_tokens: int) -> Callable[[], torch.Tensor]:
    """A whole query from the processor's output on the host: copy it to the GPU, then generate ``new_tokens``.

    ``pinned``: the inputs sit in memory pinned beforehand (as a ``DataLoader(pin_memory=True)`` does off the
    critical path) and are copied with ``non_blocking=True`` (CUDA only); else plain ``.to(device)`` from
    pageable memory. Returns the call to time (e.g. with :func:`vlmkit.measure.timing.time_interleaved`, which
    synchronises around it); it returns ``generate``'s token ids.
    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    device = vlm.device
    if pinned:
        _require_cuda(device)
    sources = {k: t.pin_memory() for k, t in host_inputs.items()} if pinned else dict(host_inputs)

    def query() -> torch.Tensor:
        inputs = {k: t.to(device, non_blocking=pinned) for k, t in sources.items()}
        with torch.inference_mode():
            return vlm.model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens)

    return query
