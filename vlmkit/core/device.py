"""Which device runs the book, what it is called, and which bitsandbytes backend serves it.

Taught in ``notebooks/00_environment.ipynb``.
"""

from __future__ import annotations

import platform
import re

import torch

from vlmkit.errors import BackendUnavailableError, DeviceUnavailableError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"`` picks CUDA when there is a GPU, else the CPU; asking for a missing device fails clearly.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise DeviceUnavailableError(f"{device!r} is not a device torch knows ({exc}); use 'cpu', 'cuda' or 'auto'") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "device='cuda' was asked for but this machine has no usable CUDA GPU "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use device='cpu' or 'auto'"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(f"{resolved} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceUnavailableError("device='mps' was asked for but MPS is not available here; use 'cpu' or 'auto'")
    return resolved


def device_name(device: torch.device) -> str:
    """A human name: the GPU's marketing name, or the CPU's model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"CPU {_cpu_model()} ({torch.get_num_threads()} threads)"
    return device.type


def device_slug(device: torch.device) -> str:
    """A folder name for a device's results: ``nvidia-h200``, ``cpu-x86_64``.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    if device.type == "cuda":
        return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")
    return f"{device.type}-{platform.machine().lower()}"


def total_memory_bytes(device: torch.device) -> int:
    """The device's memory: the GPU's, or the machine's RAM for the CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    import psutil

    return psutil.virtual_memory().total


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so that a host clock read after it is honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bitsandbytes_backend(device: torch.device) -> str:
    """Name the bitsandbytes backend that runs 8-bit and 4-bit layers on ``device``.

    Raises ``BackendUnavailableError`` where there is none (bitsandbytes not
    installed, a GPU build without its native library, an unsupported device type).
    Taught in ``notebooks/00_environment.ipynb``.
    """
    try:
        import bitsandbytes
        from bitsandbytes import cextension
    except ImportError as exc:
        raise BackendUnavailableError(
            f"8-bit and 4-bit loading need bitsandbytes, which is not importable here ({exc}); "
            "pip install 'bitsandbytes>=0.49'"
        ) from None
    version = bitsandbytes.__version__
    native = not isinstance(cextension.lib, cextension.ErrorHandlerMockBNBNativeLibrary)
    if device.type == "cpu":
        return f"bitsandbytes {version} CPU ({'native library' if native else 'pure PyTorch'})"
    if device.type == "cuda" and cextension.BNB_BACKEND in ("CUDA", "ROCm"):
        if not native:
            raise BackendUnavailableError(
                f"bitsandbytes {version} found no native {cextension.BNB_BACKEND} library for this GPU; "
                "reinstall bitsandbytes for your CUDA version"
            )
        return f"bitsandbytes {version} {cextension.BNB_BACKEND}"
    if device.type == "xpu" and cextension.BNB_BACKEND == "XPU":
        return f"bitsandbytes {version} XPU"
    raise BackendUnavailableError(
        f"bitsandbytes {version} has no backend for device type {device.type!r}; "
        "8-bit and 4-bit loading run on 'cuda' or 'cpu': choose one of those, or a 16-bit precision"
    )
