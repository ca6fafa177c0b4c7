"""Ways to run ``generate``: dynamic or static KV cache, eager or compiled (by transformers, or by wrapping the
language model in ``torch.compile``), set up on one loaded model in turn. What TorchDynamo really did during a
call is :mod:`vlmkit.runtime.compilation`.

Taught in ``notebooks/05_compile.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vlmkit.runtime.inference import VLMInference


@dataclass(frozen=True)
class GenerationVariant:
    """A named way to generate: the cache implementation and who compiles what."""

    name: str
    cache_implementation: str | None  # None: transformers' dynamic cache; "static": a pre-allocated one
    compile: str  # "none" | "transformers" (its own compile of a static-cache generate) | "torch.compile-lm"


#: The baseline, the static cache alone (to separate the cache from the compiler), the supported way to
#: compile, and the known-broken way users try (shown as a lesson, never as evidence about the claim).
VARIANTS: tuple[GenerationVariant, ...] = (
    GenerationVariant("eager, dynamic cache", None, "none"),
    GenerationVariant("eager, static cache", "static", "none"),
    GenerationVariant("static cache + transformers' compile", "static", "transformers"),
    GenerationVariant("torch.compile(language model), dynamic cache", None, "torch.compile-lm"),
)






@dataclass(frozen=True)
class EagerForwards:
    """The language model's original forward, to compile or to restore."""

    language_model: Callable[..., object]

    @classmethod
    def of(cls, vlm: VLMInference) -> "EagerForwards":
        """Take it from a freshly loaded model."""
        return cls(vlm.model.model.language_model.forward)


def use_variant(vlm: VLMInference, variant: GenerationVariant, eager: EagerForwards, *,
                backend: str = "inductor") -> None:
    """Set ``vlm`` up to generate as ``variant`` says.

    ``"transformers"`` leaves the compilation to ``generate`` (``disable_compile=False``; it decides);
    ``"torch.compile-lm"`` wraps the language model, the decoder every decode step runs, in ``torch.compile``
    with ``backend`` (``"eager"`` captures graphs and guards without generating code: the same recompiles,
    cheaply). Taught in ``notebooks/05_compile.ipynb``.
    """
    config = vlm.model.generation_config
    config.cache_implementation = variant.cache_implementation
    config.disable_compile = variant.compile != "transformers"
    language_model = vlm.model.model.language_model
    language_model.forward = (torch.compile(eager.language_model, backend=backend)
                              if variant.compile == "torch.compile-lm" else eager.language_model)
