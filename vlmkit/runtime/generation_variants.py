"""Ways to run ``generate``: dynamic or static KV cache, eager or compiled (by transformers, or by wrapping the
language model in ``torch.compile``), set up on one loaded model in turn. What TorchDynamo really did during a
call is :mod:`vlmkit.runtime.compilation`. :func:`ask_as_variant` times one variant; what notebook 05 records of it
are :class:`CompileVariantRun` (``compile-variant``, or :class:`CompileVariantFailure` where it could not run) and
:class:`CompileLesson` (``compile-lesson``).

Taught in ``notebooks/05_compile.ipynb``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import torch

from vlmkit.measure.records import Measurement, metric
from vlmkit.runtime.compilation import CompileActivity, compile_cache, watch_compiles
from vlmkit.runtime.inference import CallStats, VLMInference


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


@dataclass(frozen=True)
class VariantQueries:
    """One variant's queries: the warm-up (compilation included), the timed ones, and what TorchDynamo did in each.

    Taught in ``notebooks/05_compile.ipynb``.
    """

    warm: CallStats
    calls: list[CallStats]  # empty where a compiling variant compiled nothing in its warm-up (it ran eagerly)
    warm_up: CompileActivity
    steady: CompileActivity

    def samples(self) -> dict[str, list[float]]:
        """Seconds per timed query: ``total_s``, ``prefill_s`` and ``decode_s`` (per token), as records keep them."""
        return {"total_s": [c.total_s for c in self.calls], "prefill_s": [c.prefill_s for c in self.calls],
                "decode_s": [c.decode_s_per_token for c in self.calls]}


def ask_as_variant(vlm: VLMInference, variant: GenerationVariant, eager: EagerForwards, image: np.ndarray,
                   question: str, *, new_tokens: int, repeats: int, cache: str,
                   backend: str = "inductor") -> VariantQueries:
    """A fresh TorchDynamo state, a warm-up query and ``repeats`` timed ones (skipped where a compiling variant
    compiled nothing), watched by TorchDynamo's counters; ``vlm`` is set back to the baseline after.

    ``cache`` is :func:`vlmkit.runtime.compilation.compile_cache`'s; every answer has ``new_tokens`` tokens.
    Taught in ``notebooks/05_compile.ipynb``.
    """
    def ask() -> CallStats:
        return vlm.ask(image, question, max_new_tokens=new_tokens, min_new_tokens=new_tokens).stats

    torch._dynamo.reset()
    use_variant(vlm, variant, eager, backend=backend)
    try:
        with compile_cache(cache):
            with watch_compiles() as warm_up:
                warm = ask()
            with watch_compiles() as steady:
                calls = [ask() for _ in range(repeats)] if variant.compile == "none" or warm_up.graphs else []
    finally:
        use_variant(vlm, VARIANTS[0], eager)
    return VariantQueries(warm, calls, warm_up, steady)


def _median_ms(seconds: list[float]) -> float | None:
    return 1e3 * float(np.median(seconds)) if seconds else None


@dataclass(frozen=True)
class VariantRow(Measurement):
    """One variant in one precision as notebook 05's table shows it: graphs compiled, warm-up, medians.

    The times are medians of the timed queries, ``None`` where none was timed. Taught in ``notebooks/05_compile.ipynb``.
    """

    precision: str
    variant: str
    compiled_graphs: int = metric("compiled graphs")
    recompiles: int
    warm_up_s: float = metric("warm-up (s)")
    whole_query_ms: float | None = metric("whole query (ms)")
    prefill_ms: float | None = metric("prefill (ms)")
    decode_ms_per_token: float | None = metric("decode (ms/token)")
    why_not_compiled: str = metric("why not compiled")

    def row(self) -> dict[str, Any]:
        """The table row: the metrics this class names, not the subclasses' samples and compile details."""
        return {f.metadata.get("key", f.name): getattr(self, f.name) for f in fields(VariantRow)}

    def samples(self, phase: str) -> list[float]:
        """Seconds per timed query of ``phase``: ``"total"``, ``"prefill"`` or ``"decode"`` (per token)."""
        return getattr(self, f"{phase}_s")


def _row_values(queries: VariantQueries, precision: str, variant: GenerationVariant, note: str) -> dict[str, Any]:
    samples = queries.samples()
    return dict(precision=precision, variant=variant.name,
                compiled_graphs=queries.warm_up.graphs + queries.steady.graphs,
                recompiles=len(queries.warm_up.recompiles) + len(queries.steady.recompiles),
                warm_up_s=queries.warm.total_s, whole_query_ms=_median_ms(samples["total_s"]),
                prefill_ms=_median_ms(samples["prefill_s"]), decode_ms_per_token=_median_ms(samples["decode_s"]),
                why_not_compiled=note)


@dataclass(frozen=True)
class CompileVariantRun(VariantRow):
    """A ``compile-variant`` record: one variant in one precision, its compile activity and every timed query.

    Taught in ``notebooks/05_compile.ipynb``.
    """

    EXPERIMENT: ClassVar[str] = "compile-variant"

    compile_cache: str = metric("compile cache")
    compile_activity: dict[str, Any] = metric("compile activity")  # CompileActivity.as_dict of the warm-up
    total_s: list[float]
    prefill_s: list[float]
    decode_s: list[float]

    @classmethod
    def measured(cls, queries: VariantQueries, *, precision: str, variant: GenerationVariant, why_not_compiled: str,
                 cache: str) -> "CompileVariantRun":
        """The record of :func:`ask_as_variant`'s queries (``why_not_compiled``: ``""`` where nothing needs saying)."""
        return cls(**_row_values(queries, precision, variant, why_not_compiled), compile_cache=cache,
                   compile_activity=queries.warm_up.as_dict(), **queries.samples())

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "CompileVariantRun | None":
        """A record's typed metrics, or ``None`` for another experiment or a :class:`CompileVariantFailure`."""
        if record["experiment"] != cls.EXPERIMENT or CompileVariantFailure.KEY in record["metrics"]:
            return None
        return cls.from_metrics(record["metrics"])


@dataclass(frozen=True)
class CompileVariantFailure(Measurement):
    """A ``compile-variant`` record of a variant this stack could not run: a finding, with the error.

    Taught in ``notebooks/05_compile.ipynb``.
    """

    EXPERIMENT: ClassVar[str] = "compile-variant"
    KEY: ClassVar[str] = "error"  # the metric only a failure's record has

    variant: str
    error: str

    @classmethod
    def from_error(cls, variant: GenerationVariant, exc: BaseException) -> "CompileVariantFailure":
        """The failure of ``variant``: the exception's type and the first line of its message."""
        return cls(variant.name, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")


@dataclass(frozen=True)
class CompileLesson(VariantRow):
    """The ``compile-lesson`` record: ``torch.compile`` of the language model with the dynamic cache, as TorchDynamo
    recorded it during the warm-up query (``recompiles`` counts the warm-up's), beside the eager baseline.

    Taught in ``notebooks/05_compile.ipynb``.
    """

    EXPERIMENT: ClassVar[str] = "compile-lesson"

    backend: str
    graphs: int
    compile_events: int
    recompiles_per_function: dict[str, int]
    recompile_reasons: list[str]
    recompile_limit: int
    limit_hits: list[str]
    recompiles_in_timed_queries: int = metric("recompiles in timed queries")
    baseline_whole_query_ms: float = metric("baseline whole query (ms)")
    total_s: list[float]
    prefill_s: list[float]
    decode_s: list[float]

    @classmethod
    def measured(cls, queries: VariantQueries, *, precision: str, variant: GenerationVariant, backend: str,
                 baseline_whole_query_ms: float) -> "CompileLesson":
        """The record of the lesson's queries (:func:`ask_as_variant` with ``backend``)."""
        activity = queries.warm_up.as_dict()
        values = _row_values(queries, precision, variant, "") | {"recompiles": activity["recompiles"]}
        return cls(**values, backend=backend, **{k: v for k, v in activity.items() if k != "recompiles"},
                   recompiles_in_timed_queries=len(queries.steady.recompiles),
                   baseline_whole_query_ms=baseline_whole_query_ms, **queries.samples())

    def row(self) -> dict[str, Any]:
        """The table row beside the variants': recompiles of the warm-up and the timed queries, and the backend."""
        return super().row() | {"recompiles": self.recompiles + self.recompiles_in_timed_queries,
                                "backend": self.backend}

    @property
    def failed_guard(self) -> str:
        """A guard that failed on the dynamic cache (one naming ``past_key_values``), else the first recorded."""
        return next((r for r in self.recompile_reasons if "past_key_values" in r),
                    (self.recompile_reasons or ["none recorded"])[0])
