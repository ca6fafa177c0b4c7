"""The environment and capability report: what this machine can run, measured rather than assumed.

Taught in ``notebooks/00_environment.ipynb``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel

from vlmkit.core.device import bitsandbytes_backend, resolve_device
from vlmkit.errors import BackendUnavailableError
from vlmkit.measure.records import ResultsStore, provenance
from vlmkit.models.attention_backends import (
    FLASH_ATTN_PACKAGES,
    SDPA_BACKENDS,
    flash_attn_unavailable_reason,
)

#: The experiment name of notebook 00's record of this machine, and the (batch, heads, tokens, head dim) of the
#: attention call each SDPA backend is probed with.
CAPABILITIES_EXPERIMENT = "capabilities"
SDPA_PROBE_SHAPE = (1, 8, 128, 64)


def probe_sdpa_backends(device: torch.device, dtype: torch.dtype | None = None) -> dict[str, str]:
    """Run one small attention call through each SDPA backend; ``"works"`` or the reason it refused.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    q = torch.randn(*SDPA_PROBE_SHAPE, device=device, dtype=dtype)
    results = {}
    for name, backend in SDPA_BACKENDS.items():
        try:
            with sdpa_kernel([backend]):
                F.scaled_dot_product_attention(q, q, q, is_causal=True)
            results[name] = "works"
        except RuntimeError as exc:
            results[name] = f"unavailable: {str(exc).splitlines()[0][:120]}"
    return results


def tf32_status(device: torch.device) -> dict[str, Any]:
    """Whether the device has TF32 tensor cores, and whether PyTorch currently uses them."""
    supported = device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8
    return {
        "supported": supported,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }


def readable_versions(versions: dict[str, str | None], gpu_present: bool) -> dict[str, str]:
    """:func:`vlmkit.measure.records.package_versions` as a learner reads them: ``not installed`` for a missing package
    (not pandas' ``NaN``), and the ``cuda`` entry (the CUDA version torch was built for) saying when no GPU is here.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    readable = {name: "not installed" if found is None else found for name, found in versions.items()}
    if "cuda" in versions:
        cuda = versions["cuda"]
        if cuda is None:
            readable["cuda"] = "none: a CPU-only build of torch"
        elif not gpu_present:
            readable["cuda"] = f"{cuda}: torch's CUDA build; no GPU here"
    return readable


def capability_report(device: str | torch.device | None = None) -> dict[str, Any]:
    """Device, memory, compute capability, quantization backend, attention backends, TF32 and versions.

    ``versions`` are :func:`readable_versions` (each record's provenance keeps the raw ones).

    Taught in ``notebooks/00_environment.ipynb``.
    """
    dev = resolve_device(device)
    try:
        bnb = bitsandbytes_backend(dev)
    except BackendUnavailableError as exc:
        bnb = f"unavailable: {exc}"
    flash = {impl: flash_attn_unavailable_reason(dev, impl) for impl in FLASH_ATTN_PACKAGES}
    report = provenance(dev)
    report.update(
        {
            "versions": readable_versions(report["versions"], torch.cuda.is_available()),
            "cuda_available": torch.cuda.is_available(),
            "gpu_count": torch.cuda.device_count(),
            "torch_threads": torch.get_num_threads(),
            "bitsandbytes_backend": bnb,
            "sdpa_backends": probe_sdpa_backends(dev),
            "flash_attn_package": flash["flash_attention_2"] or "usable",
            "flash_attn_4_package": flash["flash_attention_4"] or "usable",
            "tf32": tf32_status(dev),
            "bf16_supported": dev.type == "cpu" or torch.cuda.is_bf16_supported(),
        }
    )
    return report


def record_capabilities(store: ResultsStore, report: dict[str, Any]) -> dict[str, Any]:
    """Write :func:`capability_report` as this run's ``capabilities`` record; returns the record.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    return store.record(CAPABILITIES_EXPERIMENT, model=None, precision=None,
                        shapes={"sdpa_probe": list(SDPA_PROBE_SHAPE)}, repeats=1, metrics=report)
