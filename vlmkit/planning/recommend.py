"""Which precision should I run on my card? Answered from evidence: the memory planner and the measured records.

:func:`recommend_precision` plans each candidate with :func:`vlmkit.planning.planner.plan_memory` (does the query
fit the card?) and reads the book's measured records: which queries ran on notebook 08's emulated cards (the card
test, :class:`vlmkit.planning.cards.CardTest`), how fast a whole query is in each precision, whether compilation
works, which attention to use. Measured evidence comes first: it never recommends a precision that ran out of memory
on the emulated card for that image and batch; where nothing was measured, the planner's peak must fit with the
safety margin the measured queries justify. The seed's own tree is :mod:`vlmkit.planning.seed_tree`.

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vlmkit.bench.model_speed import ModelSpeed
from vlmkit.core.formatting import GIB, gib_text
from vlmkit.errors import ConfigurationError
from vlmkit.measure.memory import CudaContextMeasurement
from vlmkit.measure.records import (
    CHECKOUT,
    Recorded,
    latest_run,
    load_records,
    read_measurements,
)
from vlmkit.models.architectures import ArchitectureSpec
from vlmkit.models.precisions import get_precision
from vlmkit.planning.cards import CardTest
from vlmkit.planning.planner import (
    REFERENCE_LOAD_RESULTS,
    MemoryPlan,
    plan_memory,
    reference_cuda_context_bytes,
)
from vlmkit.planning.seed_tree import check_card_question
from vlmkit.runtime.attention import SDPA_PICKS, AttentionTiming
from vlmkit.runtime.generation_variants import VARIANTS, CompileVariantRun
from vlmkit.verdicts.quality import AccuracyMeasurement

#: The precisions both trees choose from, highest precision first (the order "quality" prefers; of the two 4-bit
#: ones the seed's NF4 first).
CANDIDATES: tuple[str, ...] = ("bf16", "int8", "nf4", "int4")


PRIORITIES: tuple[str, ...] = ("speed", "memory", "quality")


#: The variant names notebook 05 records for transformers' static-cache compilation and for its baseline.
COMPILED_VARIANT = VARIANTS[2].name


EAGER_VARIANT = VARIANTS[0].name


#: Notebook 06's variants for SDPA's own choice of kernel and for its flash kernel.
SDPA_VARIANT, FLASH_VARIANT = SDPA_PICKS.name, "sdpa: flash"


# --- the evidence tree ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """A record a recommendation rests on: the results file, its run and what was taken from it."""

    file: str
    run_id: str
    what: str


@dataclass(frozen=True)
class Recommendation:
    """What :func:`recommend_precision` recommends, and why.

    ``precision`` is ``None`` when nothing fits; ``predicted_peak_bytes`` is then the smallest predicted need.
    ``needs`` holds the planner's need of every candidate precision (bytes, all models and the CUDA context), without
    the margin. ``fit`` says whether each candidate fits the card, ``fit_by`` how that was decided (``"measurement"``:
    the card test ran that query on that card, or on one that settles it; ``"planner"``: the planner's allocator
    peak raised by ``margin`` fits) and ``fit_evidence`` in words. ``margin`` is the safety margin the card test's
    measured queries justify (0.11: 11 %). ``speed_vs_bf16`` is how many times as fast a whole query is as in plain
    BF16 (>1: faster), from the records in ``evidence``; ``None`` where the records do not tell. Sizes in bytes.
    Taught in ``notebooks/08_decision.ipynb``.
    """

    model: str
    precision: str | None
    settings: dict[str, str]
    predicted_peak_bytes: int
    card_bytes: int
    needs: dict[str, int]
    speed_vs_bf16: float | None
    priority: str
    image_size: int
    batch_size: int
    models: int
    evidence: list[Evidence] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    margin: float = 0.0
    fit: dict[str, bool] = field(default_factory=dict)
    fit_by: dict[str, str] = field(default_factory=dict)
    fit_evidence: dict[str, str] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        """Whether anything fits the card (``precision`` is then set)."""
        return self.precision is not None

    @property
    def headroom_bytes(self) -> int:
        """The card's bytes left over at the query's predicted peak (negative: nothing fits by that much)."""
        return self.card_bytes - self.predicted_peak_bytes

    def as_dict(self) -> dict[str, Any]:
        """A plain dict for records: every field, ``fits`` and ``headroom_bytes``."""
        return {**asdict(self), "fits": self.fits, "headroom_bytes": self.headroom_bytes}


def _short(precision: str) -> str:
    return get_precision(precision).short_label


def _resolve_records_dir(records_dir: str | Path) -> Path:
    path = Path(records_dir)
    if path.is_absolute() or path.exists():
        return path
    return CHECKOUT / path  # a relative path that does not exist from the working directory


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(CHECKOUT))
    except ValueError:
        return str(path)


def _context(results: Path) -> tuple[int, Evidence]:
    """The memory outside the allocator, from ``results``' notebook 01 if it measured it, else the planner's default."""
    path = results / "01_loading_precisions.json"
    records = [r for r in load_records(path) if r["experiment"] == CudaContextMeasurement.EXPERIMENT]
    if not records:
        path = REFERENCE_LOAD_RESULTS
        records = [r for r in load_records(path) if r["experiment"] == CudaContextMeasurement.EXPERIMENT]
    context = reference_cuda_context_bytes(path)
    return context, Evidence(_display(path), records[-1]["run_id"], "cuda-context: memory held outside the allocator "
                                                                     "after queries (CUDA context, kernels)")


def _model_speed(results: Path, model: str) -> tuple[dict[str, Recorded[ModelSpeed]], dict[str, Evidence], str | None]:
    """03's ``model-speed`` records of the latest run, by precision: this model's, or another model's if it has none.

    Returns the records, their evidence and the measured model when it is not ``model``.
    """
    path = results / "03_dequantization.json"
    records = read_measurements(ModelSpeed, results, "03_dequantization")
    own = [r for r in records if r.model == model]
    chosen = own or records
    by_precision = {r.precision: r for r in chosen if r.precision in CANDIDATES}
    evidence = {p: Evidence(_display(path), r.run_id, f"model-speed {p}: query_ms (whole query)")
                for p, r in by_precision.items()}
    other = None if own or not chosen else chosen[0].model
    return by_precision, evidence, other


def _compile_gain(results: Path, model: str) -> tuple[float | None, list[Evidence], str]:
    """How many times as fast transformers' static-cache compile makes a BF16 query (notebook 05), and why not."""
    path = results / "05_compile.json"
    variants = {m.variant: (m, r["run_id"]) for r in latest_run(load_records(path))
                if r["precision"] == "bf16" and r["model"] == model and (m := CompileVariantRun.from_record(r))}
    if COMPILED_VARIANT not in variants or EAGER_VARIANT not in variants:
        return None, [], (f"{_display(path)} holds no BF16 {COMPILED_VARIANT!r} and {EAGER_VARIANT!r} records "
                          f"for {model}.")
    (compiled, _), (eager, _) = variants[COMPILED_VARIANT], variants[EAGER_VARIANT]
    if not compiled.compiled_graphs or compiled.whole_query_ms is None:
        why = compiled.why_not_compiled or "no graphs"
        return None, [], f"Notebook 05: transformers' static-cache compile did not compile BF16 ({why})."
    gain = eager.whole_query_ms / compiled.whole_query_ms
    evidence = [Evidence(_display(path), run_id, f"compile-variant bf16 {m.variant!r}: whole query (ms)")
                for m, run_id in (variants[EAGER_VARIANT], variants[COMPILED_VARIANT])]
    return gain, evidence, (f"Notebook 05: static cache + transformers' compile answers a BF16 query in "
                            f"{compiled.whole_query_ms:.0f} ms against {eager.whole_query_ms:.0f} ms "
                            f"eager ({gain:.2f}x as fast).")


def _attention(results: Path, model: str) -> tuple[list[Evidence], str]:
    """The reason for SDPA, from notebook 06: a whole query with SDPA's flash kernel against SDPA's own pick."""
    path = results / "06_attention.json"
    runs: dict[int, dict[str, float]] = {}
    run_id = ""
    for r in latest_run(load_records(path)):
        m = AttentionTiming.from_record(r)
        if m is not None and r["model"] == model and m.whole_query_ms:
            runs.setdefault(m.image, {})[m.variant] = m.whole_query_ms
            run_id = r["run_id"]
    ratios = {image: v[SDPA_VARIANT] / v[FLASH_VARIANT] for image, v in runs.items()
              if SDPA_VARIANT in v and FLASH_VARIANT in v}
    if not ratios:
        return [], (f"Attention: SDPA, the implementation the planner plans for ({_display(path)} has no whole-query "
                    f"time of SDPA's flash kernel beside SDPA's own pick for {model}).")
    evidence = [Evidence(_display(path), run_id, f"attention: whole query (ms), {SDPA_VARIANT!r} and "
                                                 f"{FLASH_VARIANT!r}, {len(ratios)} image sizes")]
    return evidence, (f"Attention: SDPA. Notebook 06 measured a whole query with SDPA's flash kernel forced at "
                      f"{min(ratios.values()):.2f}-{max(ratios.values()):.2f}x the speed of SDPA's own pick over "
                      f"{len(ratios)} image sizes ({min(ratios)}-{max(ratios)} px); vlmkit keeps SDPA, which picks "
                      "its kernel itself and is what the planner plans for.")


def _plans(model: str | Path | ArchitectureSpec, image_size: int, batch_size: int,
           context: int) -> dict[str, MemoryPlan]:
    return {p: plan_memory(model, p, image_size=image_size, batch_size=batch_size, attn_implementation="sdpa",
                           device="cuda", cuda_context_bytes=context) for p in CANDIDATES}


def _fits(test: CardTest, name: str, plans: dict[str, MemoryPlan], needs: dict[str, int], card: int,
          vram_gib: float, image_size: int, batch_size: int, models: int, margin: float, context: int
          ) -> tuple[dict[str, bool], dict[str, str], dict[str, str]]:
    """Whether each candidate fits the card, by what (``"measurement"`` or ``"planner"``) and in words: the card test
    where it ran that query (one model only: it ran one), else the planner's allocator peak raised by ``margin``."""
    fit, by, words = {}, {}, {}
    for p, plan in plans.items():
        found = test.verdict(name, p, vram_gib, image_size, batch_size) if models == 1 else None
        if found is not None:
            fit[p], by[p] = found[0], "measurement"
            words[p] = f"{'runs' if found[0] else 'out of memory'}, {found[1]}"
            continue
        required = models * math.ceil(plan.allocator_peak_bytes * (1 + margin)) + context
        fit[p], by[p] = required <= card, "planner"
        words[p] = f"planned {gib_text(needs[p])}, {gib_text(required)} with the {100 * margin:.0f} % margin"
    return fit, by, words


def recommend_precision(model: str | Path | ArchitectureSpec, vram_gib: float, *, image_size: int, batch_size: int = 1,
           models: int = 1, priority: str = "speed",
           records_dir: str | Path = "reference/nvidia-h200", card_test: CardTest | None = None) -> Recommendation:
    """Recommend a precision (and the settings that go with it) for ``models`` copies of ``model`` on a card.

    Each candidate (BF16, INT8, NF4, INT4) is planned with :func:`vlmkit.plan_memory` on CUDA with SDPA attention, for
    a query of ``batch_size`` images of ``image_size`` px. Assumption for several models: they share one process,
    hence one CUDA context, and may answer at the same time, so the need is ``models`` times the allocator's
    peak plus one context (the context measured by notebook 01 in ``records_dir``).

    Whether a candidate fits is decided by evidence first: ``card_test`` (by default notebook 08's emulated cards in
    ``records_dir``, else the H200 reference's: :meth:`vlmkit.planning.cards.CardTest.load`). A candidate that ran
    out of memory on that card with that image and batch is out, one that ran there is in, whatever the planner
    says (one model only: the cards ran one). Where the cards did not run it, the planner's allocator peak, raised
    by the card test's margin (:attr:`~vlmkit.planning.cards.CardTest.margin`: the most the planner fell short of a
    measured query, rounded up to a whole per cent), plus the context must fit the card. The margin is stated in
    ``reasons``. The card test ran 8-token answers; this plan is for the planner's default answer length.

    Of the candidates that fit, ``priority`` picks: ``"memory"`` the smallest need, ``"quality"`` the
    highest precision (notebook 02 measures what quantization costs), ``"speed"`` the fastest whole query
    measured in ``records_dir`` (notebook 03's ``model-speed`` records; BF16 with transformers' static-cache
    compile where notebook 05 found it compiles: its speed-up over 05's own eager BF16 query). Relative
    ``records_dir`` paths that do not exist from the working directory are read from the repository root. Raises
    ``ConfigurationError`` on bad input.
    Taught in ``notebooks/08_decision.ipynb``.
    """
    check_card_question(vram_gib, models, batch_size)
    if priority not in PRIORITIES:
        raise ConfigurationError(f"unknown priority {priority!r}; choose one of {PRIORITIES}")
    results = _resolve_records_dir(records_dir) / "results"
    context, context_evidence = _context(results)
    plans = _plans(model, image_size, batch_size, context)
    name = next(iter(plans.values())).model
    needs = {p: models * plan.allocator_peak_bytes + context for p, plan in plans.items()}
    card = int(vram_gib * GIB)
    test = card_test if card_test is not None else CardTest.load(results)
    margin = test.margin or 0.0
    fit, fit_by, fit_evidence = _fits(test, name, plans, needs, card, vram_gib, image_size, batch_size, models,
                                      margin, context)
    fitting = [p for p in CANDIDATES if fit[p]]
    evidence = [context_evidence]
    if test.file is not None:
        evidence.append(Evidence(test.file, test.run_id or "", "card-fit: the queries run on emulated cards (which "
                                                               "ran out of memory) and the planner's shortfall"))
    copies = f"{models} copies of " if models > 1 else ""
    reasons = [f"Predicted need for {copies}{name}, a batch of {batch_size} image(s) of {image_size} px: "
               + ", ".join(f"{_short(p)} {gib_text(needs[p])}" for p in CANDIDATES)
               + f" (the CUDA context's {gib_text(context)} counted once) on a {gib_text(card)} card.",
               f"Safety margin on the planner's allocator peak: {test.margin_text()}."]
    common = {"model": name, "card_bytes": card, "needs": needs, "priority": priority, "image_size": image_size,
              "batch_size": batch_size, "models": models, "margin": margin, "fit": fit, "fit_by": fit_by,
              "fit_evidence": fit_evidence}
    if not fitting:
        smallest = min(needs, key=needs.__getitem__)
        reasons.append("Nothing fits: " + "; ".join(f"{_short(p)} {fit_evidence[p]}" for p in CANDIDATES) + ".")
        return Recommendation(precision=None, settings={}, predicted_peak_bytes=needs[smallest], speed_vs_bf16=None,
                              evidence=evidence, reasons=reasons, **common)
    too_big = [f"{_short(p)} ({fit_evidence[p]})" for p in CANDIDATES if p not in fitting]
    reasons.append("Fits the card: " + ", ".join(f"{_short(p)} ({fit_evidence[p]})" for p in fitting)
                   + (f"; not {', '.join(too_big)}." if too_big else " (all of them)."))

    speed_records, speed_evidence, other_model = _model_speed(results, name)
    measured_model = speed_records["bf16"].model if "bf16" in speed_records else name
    gain, compile_evidence, compile_reason = _compile_gain(results, measured_model)
    relative: dict[str, float] = {}
    if "bf16" in speed_records:
        bf16_ms = speed_records["bf16"].measurement.query_ms
        relative = {p: bf16_ms / r.measurement.query_ms for p, r in speed_records.items()}
        if gain is not None:
            relative["bf16"] = gain
    timed = [p for p in fitting if p in relative]

    if priority == "memory":
        choice = min(fitting, key=needs.__getitem__)
        reasons.append(f"Priority memory: {_short(choice)} needs the least, leaving {gib_text(card - needs[choice])} free.")
    elif priority == "quality":
        choice = fitting[0]
        reasons.append(f"Priority quality: {_short(choice)} is the highest precision that fits.")
        reasons += _quality_reasons(results, choice, evidence)
    elif not timed:
        choice = fitting[0]
        reasons.append(f"Priority speed, but {_display(results)} holds no measured whole-query time for the "
                       f"precisions that fit; chose the highest precision that fits, {_short(choice)}.")
    else:
        choice = max(timed, key=relative.__getitem__)
        evidence += [speed_evidence[p] for p in timed]
        shapes = speed_records["bf16"].shapes
        reasons.append(f"Priority speed: of the precisions that fit, {_short(choice)} answers a whole query fastest "
                       "in the records (" + ", ".join(f"{_short(p)} {relative[p]:.2f}x" for p in timed)
                       + f" the speed of plain BF16, measured at {shapes['image'][0]} px, {shapes['new_tokens']} "
                         "answer tokens" + (", BF16 with compile" if "bf16" in timed and gain else "") + ").")
    if choice in relative and other_model:
        reasons.append(f"The speeds were measured on {other_model}; {name} has no model-speed records.")

    settings = {"attn_implementation": "sdpa"}
    attention_evidence, attention_reason = _attention(results, measured_model)
    evidence += attention_evidence
    reasons.append(attention_reason)
    if choice == "bf16" and gain is not None:
        settings.update(cache_implementation="static", compile="transformers' static-cache compile")
        evidence += compile_evidence
        reasons.append(compile_reason + " The planner does not model the memory of compiled graphs.")
    else:
        settings["compile"] = "none"
        if choice == "bf16":
            reasons.append(compile_reason)
    speed = relative.get(choice)
    if speed is not None and priority != "speed":
        evidence += [speed_evidence[p] for p in dict.fromkeys(("bf16", choice)) if speed_evidence[p] not in evidence]
        reasons.append(f"Expected speed: {speed:.2f}x that of plain BF16 (whole query, from the records).")
    return Recommendation(precision=choice, settings=settings, predicted_peak_bytes=needs[choice],
                          speed_vs_bf16=speed, evidence=evidence, reasons=reasons, **common)


def _quality_reasons(results: Path, choice: str, evidence: list[Evidence]) -> list[str]:
    """Notebook 02's accuracy of a quantized ``choice`` beside BF16's (the book's trained tiny model), if measured."""
    path = results / "02_quality.json"
    accuracy = {r.precision: r for r in read_measurements(AccuracyMeasurement, results, "02_quality")}
    if choice == "bf16" or choice not in accuracy or "bf16" not in accuracy:
        return []
    evidence += [Evidence(_display(path), accuracy[p].run_id, f"accuracy {p}: overall") for p in ("bf16", choice)]
    a, b = accuracy[choice].measurement.overall, accuracy["bf16"].measurement.overall
    return [f"Notebook 02 (the book's trained tiny model): {_short(choice)} answers {a:.1%} correctly, BF16 {b:.1%}."]
