"""Notebook 05's benchmark: every generation variant in every precision, the recompile lesson, and what they add up to.

For each precision the model is loaded once and each variant of :data:`vlmkit.runtime.generation_variants.VARIANTS`
answers the book's query (:func:`vlmkit.runtime.generation_variants.ask_as_variant`: a warm-up and the timed
queries, TorchDynamo watched throughout); each is recorded as a ``compile-variant`` record, a variant this stack
cannot run as its failure. Where transformers' compilation ran, the baseline and it are timed again in interleaved
rounds on the same model (``paired-runs``), the pairs the headline ratio comes from. The first precision's
model stays loaded for the lesson, ``torch.compile`` of the
language model with the dynamic cache (a ``compile-lesson`` record), which never enters the verdicts.

Taught in ``notebooks/05_compile.ipynb``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import CompileConfig

from vlmkit.bench.query import (
    STANDARD_QUESTION,
    QuerySetup,
    ask_fixed_length,
    query_seconds,
    resolve_model,
    standard_image,
    standard_query,
)
from vlmkit.core.device import resolve_device
from vlmkit.core.formatting import provenance_line, readable_log_axis
from vlmkit.core.progress import progress
from vlmkit.measure.interleaved import MIN_PAIRS, MIN_WARMUPS, PairedRuns, Rounds, TimedRun, time_rounds
from vlmkit.measure.memory import free_memory
from vlmkit.measure.records import ResultsStore
from vlmkit.measure.speedup import Speedup
from vlmkit.models.loading import load_model
from vlmkit.models.precisions import get_precision
from vlmkit.runtime.compilation import (
    compile_cache,
    quiet_compiler,
    why_nothing_compiled,
)
from vlmkit.runtime.generation_variants import (
    VARIANTS,
    CompileLesson,
    CompileVariantFailure,
    CompileVariantRun,
    EagerForwards,
    GenerationVariant,
    VariantQueries,
    ask_as_variant,
    use_variant,
)
from vlmkit.runtime.inference import VLMInference

#: The backends the lesson may compile with (``"eager"``: TorchDynamo's guards and recompiles, no generated code).
LESSON_BACKENDS = ("inductor", "aot_eager", "eager")


@dataclass(frozen=True)
class CompileSettings:
    """Notebook 05's parameters resolved for this device: what to load, which query, how often, which lesson.

    Taught in ``notebooks/05_compile.ipynb``.
    """

    device: torch.device
    model: str
    checkpoint: Path | None  # the random-weight checkpoint written for a registry model
    precisions: tuple[str, ...]
    setup: QuerySetup
    role: str  # "headline": a whole query at the book's default size; else "supporting"
    repeats: int
    lesson_backend: str | None  # None: no lesson
    compile_cache: str

    @property
    def shapes(self) -> dict[str, Any]:
        """The ``shapes`` of every record: the image's sides and the answer length."""
        return {"image": [self.setup.image_size, self.setup.image_size], "new_tokens": self.setup.new_tokens}

    def describe(self) -> str:
        """The setup's status lines: checkpoint, model, query, repeats, variants and lesson."""
        baseline, control, supported, lesson = VARIANTS
        lines = [f"checkpoint: {self.checkpoint}"] if self.checkpoint else []
        lines.append(f"{self.model} on {self.device}; precisions {list(self.precisions)}; {self.setup.describe()} "
                     f"({self.role}); {self.repeats} timed queries after one warm-up query; compile cache: "
                     f"{self.compile_cache}")
        lines.append(f"variants: {[v.name for v in (baseline, control, supported)]}")
        lines.append("lesson: " + (f"{lesson.name}, backend {self.lesson_backend!r}, in {self.precisions[0]}"
                                   if self.lesson_backend else "off"))
        return "\n".join(lines)


def compile_settings(device: str, model: str, precisions: str, image_size: int, new_tokens: int, repeats: int,
                     lesson: str, cache: str) -> CompileSettings:
    """Resolve notebook 05's parameters (``"auto"`` and ``0`` mean the device's defaults) and prepare the run.

    Unknown precisions, lesson backends and compile caches fail here, before any model is loaded. Preparing means
    quieting TorchDynamo's warnings (its compile events say what they would), showing bitsandbytes' 4-bit slow-path
    warning once, and writing a registry model's checkpoint. Taught in ``notebooks/05_compile.ipynb``.
    """
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    query = standard_query(dev.type)
    names = tuple(get_precision(p.strip()).name for p in
                  (precisions if precisions != "auto" else ("bf16,int8,nf4" if on_cuda else "bf16")).split(","))
    setup = QuerySetup(image_size or query.image_size, new_tokens or query.new_tokens)
    backend = {"auto": "inductor" if on_cuda else "eager", "off": None}.get(lesson, lesson)
    if backend not in (None, *LESSON_BACKENDS):
        raise ValueError(f"LESSON must be auto, inductor, aot_eager, eager or off, got {lesson!r}")
    compile_cache(cache)  # an unknown value fails here, before any model is loaded
    quiet_compiler()  # TorchDynamo's warnings stay out of the outputs: what they say is read off its compile events
    warnings.filterwarnings("once", message=r"inner dimension \(\d+\) is not aligned")  # bitsandbytes' 4-bit slow path
    name, checkpoint = resolve_model(model, dev)
    return CompileSettings(dev, name, checkpoint, names, setup, "headline" if setup == query else "supporting",
                           repeats or 3, backend, cache)


@dataclass(frozen=True)
class PrecisionOutcome:
    """One precision's three measured variants (``None``: it could not run): what the text says about it.

    Taught in ``notebooks/05_compile.ipynb``.
    """

    name: str
    eager: CompileVariantRun | None
    static: CompileVariantRun | None
    compiled: CompileVariantRun | None

    @property
    def paid_back_after(self) -> int | None:
        """Queries after which the compiled query's time saved has paid for its warm-up, ``None`` if not faster."""
        gain = (self.eager.whole_query_ms - self.compiled.whole_query_ms) / 1e3
        if gain <= 0:
            return None
        return math.ceil(max(self.compiled.warm_up_s - self.compiled.whole_query_ms / 1e3, 0) / gain)


@dataclass
class CompileVariants:
    """What :func:`measure_compile_variants` measured, and the model it keeps loaded for the lesson (until
    :func:`run_compile_lesson` frees it).

    Taught in ``notebooks/05_compile.ipynb``.
    """

    settings: CompileSettings
    runs: dict[tuple[str, str], CompileVariantRun]  # (precision, variant name): the variants that ran
    kept: tuple[str, VLMInference, EagerForwards] | None = None
    paired: dict[str, Rounds] = field(default_factory=dict)  # precision: the baseline and the compiled, interleaved

    def paired_speedup(self, precision: str, phase: str) -> Speedup | None:
        """The compiled variant's paired speed-up over the baseline in ``phase`` (``total``, ``prefill`` or
        ``decode``), from the rounds they ran interleaved; ``None`` where they did not (nothing compiled)."""
        rounds = self.paired.get(precision)
        baseline, _, supported, _ = VARIANTS
        part = "query" if phase == "total" else phase  # a variant's samples call the whole query "total"
        return rounds.speedup(baseline.name, supported.name, part) if rounds is not None else None

    def get(self, precision: str, variant: GenerationVariant) -> CompileVariantRun | None:
        """``variant`` in ``precision``, or ``None`` where it could not run."""
        return self.runs.get((precision, variant.name))

    def rows(self) -> list[dict[str, Any]]:
        """The table: one row per variant that ran, in the order measured."""
        return [run.row() for run in self.runs.values()]

    def outcomes(self) -> list[PrecisionOutcome]:
        """Per precision: the baseline, the static cache alone and transformers' compilation."""
        baseline, control, supported, _ = VARIANTS
        return [PrecisionOutcome(p, self.get(p, baseline), self.get(p, control), self.get(p, supported))
                for p in self.settings.precisions]

    def explanation(self) -> dict[str, Any]:
        """The values of ``05_compile/what_the_numbers_say``: the outcomes and transformers' compile mode."""
        mode = CompileConfig().mode
        return {"outcomes": self.outcomes(), "mode": repr(mode), "cuda_graphs": mode == "reduce-overhead"}


def _could_not_run(store: ResultsStore, settings: CompileSettings, precision: str, variant: GenerationVariant,
                   exc: Exception) -> None:
    failure = CompileVariantFailure.from_error(variant, exc)  # a variant this stack cannot run is a finding
    print(f"{precision} / {variant.name}: could not run ({failure.error})")
    store.record_measurement(failure, model=settings.model, precision=precision, shapes=settings.shapes, repeats=0)


def _ask(settings: CompileSettings, vlm: VLMInference, variant: GenerationVariant, eager: EagerForwards,
         backend: str = "inductor") -> VariantQueries:
    return ask_as_variant(vlm, variant, eager, standard_image(settings.setup.image_size), STANDARD_QUESTION,
                          new_tokens=settings.setup.new_tokens, repeats=settings.repeats, cache=settings.compile_cache,
                          backend=backend)


def _interleave(settings: CompileSettings, vlm: VLMInference, eager: EagerForwards,
                variants: tuple[GenerationVariant, GenerationVariant]) -> Rounds:
    """The two variants timed in interleaved rounds on ``vlm``, switching between them before every query (the
    compiled one's graphs stay compiled: TorchDynamo is not reset in between); ``vlm`` ends as the baseline."""
    image = standard_image(settings.setup.image_size)
    n = settings.setup.new_tokens

    def side(variant: GenerationVariant) -> TimedRun:
        def run() -> dict[str, float]:
            use_variant(vlm, variant, eager)
            return query_seconds(ask_fixed_length(vlm, image, n).stats)
        return run

    try:
        with compile_cache(settings.compile_cache):
            return time_rounds({v.name: side(v) for v in variants}, warmup=MIN_WARMUPS,
                               rounds=max(settings.repeats, MIN_PAIRS))
    finally:
        use_variant(vlm, VARIANTS[0], eager)


def measure_compile_variants(settings: CompileSettings, store: ResultsStore) -> CompileVariants:
    """Every variant but the lesson in every precision, each recorded (``compile-variant``) as it finishes; then,
    where transformers' compilation ran, the baseline and the compiled variant again in interleaved rounds
    (``paired-runs``: the headline's pairs).

    Each precision's model is loaded once; a variant that raises is recorded as a :class:`CompileVariantFailure`
    and the others go on. With a lesson, the first precision's model stays loaded for it.
    Taught in ``notebooks/05_compile.ipynb``.
    """
    baseline, control, supported, _ = VARIANTS
    measured = CompileVariants(settings, {})
    for name in progress(settings.precisions, desc="precisions"):
        vlm = VLMInference.from_loaded(load_model(settings.model, name, device=settings.device))
        eager = EagerForwards.of(vlm)
        for variant in (baseline, control, supported):
            try:
                queries = _ask(settings, vlm, variant, eager)
            except Exception as exc:
                _could_not_run(store, settings, name, variant, exc)
                continue
            note = (why_nothing_compiled(vlm, queries.warm_up) or "") if variant is supported else ""
            run = CompileVariantRun.measured(queries, precision=name, variant=variant, why_not_compiled=note,
                                             cache=settings.compile_cache)
            measured.runs[(name, variant.name)] = run
            store.record_measurement(run, model=settings.model, precision=name, shapes=settings.shapes,
                                     repeats=len(queries.calls))
        compiled = measured.get(name, supported)
        if measured.get(name, baseline) is not None and compiled is not None and compiled.total_s:
            measured.paired[name] = _interleave(settings, vlm, eager, (baseline, supported))
            store.record_measurement(PairedRuns.of(measured.paired[name], baseline.name, supported.name),
                                     model=settings.model, precision=name, shapes=settings.shapes,
                                     repeats=measured.paired[name].rounds)
        if name == settings.precisions[0] and settings.lesson_backend:
            measured.kept = (name, vlm, eager)  # the lesson runs on this model
        else:
            del vlm, eager  # the eager forward is a bound method: it holds the model too
            free_memory(settings.device)
    torch._dynamo.reset()
    return measured


@dataclass(frozen=True)
class CompileLessonRun:
    """The lesson as recorded, the eager baseline it is compared with, and the language model's depth.

    Taught in ``notebooks/05_compile.ipynb``.
    """

    lesson: CompileLesson
    base: CompileVariantRun
    layers: int  # the language model's decoder layers


def run_compile_lesson(measured: CompileVariants, store: ResultsStore) -> CompileLessonRun | None:
    """``torch.compile`` of the language model with the dynamic cache on the kept model, recorded
    (``compile-lesson``); then the model is freed. ``None`` without a lesson or where it could not run.

    Taught in ``notebooks/05_compile.ipynb``.
    """
    if measured.kept is None:
        return None
    settings = measured.settings
    (name, vlm, eager), measured.kept = measured.kept, None
    baseline, _, _, lesson_variant = VARIANTS
    try:
        queries = _ask(settings, vlm, lesson_variant, eager, backend=settings.lesson_backend)
    except Exception as exc:
        _could_not_run(store, settings, name, lesson_variant, exc)
        return None
    else:
        base = measured.get(name, baseline)
        lesson = CompileLesson.measured(queries, precision=name, variant=lesson_variant,
                                        backend=settings.lesson_backend,
                                        baseline_whole_query_ms=float(base.whole_query_ms))
        store.record_measurement(lesson, model=settings.model, precision=name, shapes=settings.shapes,
                                 repeats=len(queries.calls))
        return CompileLessonRun(lesson, base, vlm.model.config.text_config.num_hidden_layers)
    finally:
        del vlm, eager
        free_memory(settings.device)
        torch._dynamo.reset()


def plot_compile_variants(measured: CompileVariants, lesson: CompileLessonRun | None, provenance: dict) -> None:
    """Warm-up, whole query and decode per token of every variant (and the lesson) side by side.

    Grey: eager, blue: compiled, orange: the lesson; no bar: not timed. ``provenance``: ``ResultsStore.provenance``.
    Taught in ``notebooks/05_compile.ipynb``.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    settings, lesson_name = measured.settings, VARIANTS[3].name
    shown = measured.rows() + ([lesson.lesson.row()] if lesson else [])
    colours = ["tab:orange" if r["variant"] == lesson_name else "tab:blue" if r["compiled graphs"] else "tab:grey"
               for r in shown]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharey=True)
    y = np.arange(len(shown))
    for ax, col in zip(axes, ("warm-up (s)", "whole query (ms)", "decode (ms/token)")):
        ax.barh(y, [float("nan") if r[col] is None else float(r[col]) for r in shown], color=colours)
        ax.set(title=col, xscale="log" if col == "warm-up (s)" else "linear")
        if col == "warm-up (s)":
            readable_log_axis(ax.xaxis)
    axes[0].set_yticks(y, [f"{r['precision']} · {r['variant']}" for r in shown], fontsize=7)
    fig.suptitle(provenance_line(provenance, settings.model, settings.setup.describe(),
                                 f"median of {settings.repeats} (grey: eager, blue: compiled, orange: the lesson; "
                                 "no bar: not timed)"), fontsize=8)
    plt.tight_layout()
    plt.show()
