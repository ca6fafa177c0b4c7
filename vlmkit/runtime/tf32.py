"""Switch TF32 on or off for a block of code, for matmuls and convolutions alike, and put the previous settings back.

TF32 lets float32 matmuls and convolutions run on tensor cores (NVIDIA Ampere and newer) with a
10-bit mantissa. Two switches govern it: ``torch.set_float32_matmul_precision`` for matmuls
(cuBLAS: ``"highest"`` is full float32, ``"high"`` allows TF32), and cuDNN's own for convolutions,
which PyTorch leaves **on** by default. The vision tower's patch embedding is a ``Conv3d``, so "TF32
off" switches both off: ``torch.backends.cudnn.conv.fp32_precision`` where this torch has it
(2.9 and newer), else the older ``torch.backends.cudnn.allow_tf32``. Only float32 work is affected:
a bf16 model's matmuls and convolutions are bf16 either way.

Float32 kernels are timed with the device's clock over many back-to-back calls
(:func:`vlmkit.measure.timing.time_kernel`), TF32 off and on in alternating rounds.

Taught in ``notebooks/07_tf32_transfers.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from vlmkit.measure.timing import TimingStats, time_kernel


def _cudnn_conv_switch() -> object | None:
    """``torch.backends.cudnn.conv`` where it carries ``fp32_precision`` (torch >= 2.9), else ``None``."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    return conv if conv is not None and hasattr(conv, "fp32_precision") else None


def tf32_switches() -> dict[str, str | bool]:
    """The current TF32 settings, under the names this torch uses for them.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    switches: dict[str, str | bool] = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    conv = _cudnn_conv_switch()
    if conv is not None:
        switches["cudnn.conv.fp32_precision"] = conv.fp32_precision
    else:
        switches["cudnn.allow_tf32"] = torch.backends.cudnn.allow_tf32
    return switches


@contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """Run the block with TF32 allowed (``enabled``) or forbidden for float32 matmuls *and* cuDNN convolutions;
    restore the previous settings after, also when the block raises.

    On torch >= 2.9 the convolutions are switched through ``cudnn.conv.fp32_precision`` (``"tf32"`` or
    ``"ieee"``); inside the block the older ``cudnn.allow_tf32`` flag is then unreadable (torch refuses to
    read it while conv and RNN settings differ), so read :func:`tf32_switches` instead.
    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    matmul = torch.get_float32_matmul_precision()
    conv = _cudnn_conv_switch()
    previous = conv.fp32_precision if conv is not None else torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    if conv is not None:
        conv.fp32_precision = "tf32" if enabled else "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        if conv is not None:
            conv.fp32_precision = previous
        else:
            torch.backends.cudnn.allow_tf32 = previous
        torch.set_float32_matmul_precision(matmul)


def time_tf32_off_on(fn: Callable[[], object], device: torch.device, *, rounds: int = 5) -> dict[bool, TimingStats]:
    """Time ``fn`` with TF32 off (``False``) and on (``True``) in alternating rounds (off-on, on-off, ...).

    Each sample is one round's median of :func:`vlmkit.measure.timing.time_kernel` (the device's clock over many
    back-to-back calls); drift on a shared machine then hits both settings alike.
    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    if rounds < 1:
        raise ValueError(f"need rounds >= 1, got {rounds}")
    samples: dict[bool, list[float]] = {False: [], True: []}
    clock = ""
    for round_ in range(rounds):
        for enabled in (False, True) if round_ % 2 == 0 else (True, False):
            with tf32(enabled):
                timed = time_kernel(fn, device)
            samples[enabled].append(timed.median)
            clock = f"{timed.clock}; the median of each of {rounds} interleaved rounds"
    return {enabled: TimingStats(tuple(s), 0, clock) for enabled, s in samples.items()}
