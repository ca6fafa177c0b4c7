"""Ways to run ``generate``: dynamic or static KV cache, eager or compiled forward.

transformers compiles the decoding forward by itself when the cache is static,
the device is a GPU and the quantizer (if any) says it can be compiled; a
``torch.compile`` of the model (or of its decoder alone) is the other way users try. Whether a
variant really compiled is read off TorchDynamo's graph counter, not assumed.

Taught in ``notebooks/05_compile.ipynb``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch._dynamo.utils import counters
from torch._inductor.utils import fresh_inductor_cache

from vlmkit.inference import VLMInference


@dataclass(frozen=True)
class GenerationVariant:
    """A named way to generate: the cache implementation and who compiles what."""

    name: str
    cache_implementation: str | None  # None: transformers' dynamic cache; "static": a pre-allocated one
    compile: str  # "none" | "auto" (transformers' own, static caches) | "torch.compile" (whole forward) | "torch.compile-lm"


VARIANTS: tuple[GenerationVariant, ...] = (
    GenerationVariant("eager, dynamic cache", None, "none"),
    GenerationVariant("eager, static cache", "static", "none"),
    GenerationVariant("static cache + transformers' compile", "static", "auto"),
    GenerationVariant("torch.compile(model forward), dynamic cache", None, "torch.compile"),
    GenerationVariant("torch.compile(language model), dynamic cache", None, "torch.compile-lm"),
)


def compiled_graphs() -> int:
    """How many graphs TorchDynamo has compiled in this process so far."""
    return int(counters["stats"]["unique_graphs"])


COMPILE_CACHES = ("fresh", "machine")


def compile_cache(kind: str) -> contextlib.AbstractContextManager[None]:
    """Where compiled kernels go while a variant runs: ``"fresh"`` or ``"machine"``.

    ``"fresh"``: an empty TorchInductor and Triton cache (PyTorch's ``fresh_inductor_cache``), so a warm-up
    time is a first compilation; ``"machine"``: the machine's on-disk cache, which a later process reuses
    (its warm-up then mostly loads kernels compiled before). Taught in ``notebooks/05_compile.ipynb``.
    """
    if kind not in COMPILE_CACHES:
        raise ValueError(f"unknown compile cache {kind!r}; choose one of {COMPILE_CACHES}")
    return fresh_inductor_cache() if kind == "fresh" else contextlib.nullcontext()


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


@dataclass(frozen=True)
class EagerForwards:
    """The model's and its language model's original forwards, to compile or to restore."""

    model: Callable[..., object]
    language_model: Callable[..., object]

    @classmethod
    def of(cls, vlm: VLMInference) -> "EagerForwards":
        """Take them from a freshly loaded model."""
        return cls(vlm.model.forward, vlm.model.model.language_model.forward)


def use_variant(vlm: VLMInference, variant: GenerationVariant, eager: EagerForwards) -> None:
    """Set ``vlm`` up to generate as ``variant`` says.

    ``torch.compile`` wraps either the whole forward (what most users write; the VLM
    forward breaks into dozens of graphs: image handling, rope indices) or only the
    language model, the decoder every decode step runs. Taught in ``notebooks/05_compile.ipynb``.
    """
    config = vlm.model.generation_config
    config.cache_implementation = variant.cache_implementation
    config.disable_compile = variant.compile != "auto"
    vlm.model.forward = torch.compile(eager.model) if variant.compile == "torch.compile" else eager.model
    language_model = vlm.model.model.language_model
    language_model.forward = torch.compile(eager.language_model) if variant.compile == "torch.compile-lm" \
        else eager.language_model
