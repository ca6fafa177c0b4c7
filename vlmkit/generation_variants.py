"""Ways to run ``generate``: dynamic or static KV cache, eager or compiled forward.

transformers compiles the decoding forward by itself when the cache is static,
the device is a GPU and the quantizer (if any) says it can be compiled; a
``torch.compile`` of the model's forward is the other way users try. Whether a
variant really compiled is read off TorchDynamo's graph counter, not assumed.

Taught in ``notebooks/05_compile.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch._dynamo.utils import counters

from vlmkit.inference import VLMInference


@dataclass(frozen=True)
class GenerationVariant:
    """A named way to generate: the cache implementation and who compiles what."""

    name: str
    cache_implementation: str | None  # None: transformers' dynamic cache; "static": a pre-allocated one
    compile: str  # "none" | "auto" (transformers' own, for static caches) | "torch.compile" (the model's forward)


VARIANTS: tuple[GenerationVariant, ...] = (
    GenerationVariant("eager, dynamic cache", None, "none"),
    GenerationVariant("eager, static cache", "static", "none"),
    GenerationVariant("static cache + transformers' compile", "static", "auto"),
    GenerationVariant("torch.compile(forward), dynamic cache", None, "torch.compile"),
)


def compiled_graphs() -> int:
    """How many graphs TorchDynamo has compiled in this process so far."""
    return int(counters["stats"]["unique_graphs"])


def why_not_auto_compiled(vlm: VLMInference) -> str | None:
    """Why transformers will not compile a static-cache ``generate`` of this model, or ``None`` if it will.

    Mirrors the conditions transformers documents for its automatic compilation.
    Taught in ``notebooks/05_compile.ipynb``.
    """
    quantizer = getattr(vlm.model, "hf_quantizer", None)
    if vlm.device.type not in ("cuda", "xpu"):
        return f"transformers compiles a static-cache generate only on GPUs/accelerators, not on {vlm.device.type}"
    if quantizer is not None and not quantizer.is_compileable:
        return f"transformers marks the {type(quantizer).__name__} quantizer as not compileable"
    return None


def use_variant(vlm: VLMInference, variant: GenerationVariant, eager_forward) -> None:
    """Set ``vlm`` up to generate as ``variant`` says (``eager_forward``: the model's original forward).

    Taught in ``notebooks/05_compile.ipynb``.
    """
    config = vlm.model.generation_config
    config.cache_implementation = variant.cache_implementation
    config.disable_compile = variant.compile != "auto"
    vlm.model.forward = torch.compile(eager_forward) if variant.compile == "torch.compile" else eager_forward
