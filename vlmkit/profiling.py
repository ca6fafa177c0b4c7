"""How long the GPU is actually busy during a call, from PyTorch's profiler (CUDA only).

Wall time of a decode step is kernel time plus everything the GPU waits for:
Python, the framework, kernel launches. The profiler's kernel times give the busy
part; divided by the *unprofiled* wall time of the same work (the profiler slows
the host side, not the kernels) they give the share of time the GPU works.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from vlmkit.device import synchronize
from vlmkit.errors import BackendUnavailableError


def device_busy_seconds(fn: Callable[[], object], device: torch.device) -> float:
    """Total kernel time (seconds) on ``device`` while ``fn`` runs once.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    if device.type != "cuda":
        raise BackendUnavailableError(f"kernel busy time needs a CUDA device; this run is on {device.type}")
    synchronize(device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        synchronize(device)
    micros = 0.0
    for event in prof.key_averages():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            micros += getattr(event, "self_device_time_total", 0.0) or getattr(event, "self_cuda_time_total", 0.0)
    return micros / 1e6
