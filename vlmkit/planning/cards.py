"""Smaller GPU cards emulated on a large one: does a query fit in 8, 10, 12, 16 or 24 GiB?

``torch.cuda.set_per_process_memory_fraction`` caps PyTorch's caching allocator. A card of ``X`` GiB
holds, besides what the allocator hands out, the CUDA context and the kernels it loads; those are
measured (:func:`vlmkit.measure.memory.outside_allocator_bytes`) and taken off the cap, so the allocator gets
what such a card would leave it. What emulation cannot show: bandwidth, speed and the driver's own
footprint on another card stay the H200's.

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from vlmkit.core.formatting import GIB
from vlmkit.errors import DeviceUnavailableError
from vlmkit.measure.memory import free_memory
from vlmkit.runtime.inference import VLMInference

#: The card sizes the book asks about (GiB), from the seed's 8 GB cards to a 24 GB RTX 4090.
CARD_SIZES_GIB: tuple[int, ...] = (8, 10, 12, 16, 24)


@dataclass(frozen=True)
class FitResult:
    """One query on one emulated card: did it run, how much the allocator needed, and why not."""

    card_gib: float
    image_size: int
    batch_size: int
    fits: bool
    measured: bool  # False: implied by a smaller card on which the same query ran
    allocator_cap_bytes: int
    peak_bytes: int | None  # the allocator's high-water mark during the query (weights included)
    error: str | None

    def as_dict(self) -> dict:
        """A plain dict for records."""
        return asdict(self)


@contextlib.contextmanager
def memory_cap(device: torch.device, card_gib: float, outside_allocator: int) -> Iterator[int]:
    """Cap the caching allocator at what a ``card_gib`` GiB card leaves it; yields the cap in bytes.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    if device.type != "cuda":
        raise DeviceUnavailableError(f"emulating a card needs a CUDA device; this run is on {device.type}")
    total = torch.cuda.get_device_properties(device).total_memory
    cap = int(card_gib * GIB) - outside_allocator
    if cap <= 0:
        raise ValueError(f"a {card_gib} GiB card holds less than the {outside_allocator / GIB:.2f} GiB outside the allocator")
    free_memory(device)
    torch.cuda.set_per_process_memory_fraction(min(cap / total, 1.0), device)
    try:
        yield cap
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
        free_memory(device)


def try_query(vlm: VLMInference, *, card_gib: float, image_size: int, batch_size: int, new_tokens: int,
              outside_allocator: int) -> FitResult:
    """Run one batch of fixed-length answers about ``image_size`` px images under a card's cap; an out-of-memory
    error is a result (the memory is freed and the sweep goes on), never a crash.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    image = (np.random.default_rng(0).random((image_size, image_size, 3)) * 255).astype(np.uint8)
    with memory_cap(vlm.device, card_gib, outside_allocator) as cap:
        torch.cuda.reset_peak_memory_stats(vlm.device)
        error = None
        try:
            inputs = vlm.encode([image] * batch_size, ["What is in the image? Describe it."] * batch_size)
            vlm.model.model.rope_deltas = None
            with torch.inference_mode():
                vlm.model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
            torch.cuda.synchronize(vlm.device)
        except torch.cuda.OutOfMemoryError as exc:
            error = str(exc).splitlines()[0][:200]
        finally:
            inputs = None  # noqa: F841 (drop the batch before the cap is lifted and the cache emptied)
        peak = torch.cuda.max_memory_allocated(vlm.device)
    return FitResult(card_gib, image_size, batch_size, error is None, True, cap, peak, error)


def sweep_cards(vlm: VLMInference, *, cards: Sequence[float], image_sizes: Sequence[int], batch_sizes: Sequence[int],
                new_tokens: int, outside_allocator: int) -> list[FitResult]:
    """Every (image size, batch) on every card, smallest card first; once a query runs on a card, the larger cards
    are recorded as fitting by implication (``measured=False``), not run again.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    results = []
    for image_size in image_sizes:
        for batch in batch_sizes:
            ran_on: FitResult | None = None
            for card in sorted(cards):
                if ran_on is not None:
                    results.append(FitResult(card, image_size, batch, True, False, int(card * GIB) - outside_allocator,
                                             ran_on.peak_bytes, None))
                    continue
                result = try_query(vlm, card_gib=card, image_size=image_size, batch_size=batch,
                                   new_tokens=new_tokens, outside_allocator=outside_allocator)
                results.append(result)
                ran_on = result if result.fits else None
    return results


def largest_batch(results: Sequence[FitResult], card_gib: float, image_size: int) -> int:
    """The largest batch that ran on a card at an image size (0: not even one query fits).

    Taught in ``notebooks/08_decision.ipynb``.
    """
    fitting = [r.batch_size for r in results if r.card_gib == card_gib and r.image_size == image_size and r.fits]
    return max(fitting, default=0)
