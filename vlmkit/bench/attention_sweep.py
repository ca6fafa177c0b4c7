"""Notebook 06's benchmark: every attention variant at every image size, on one loaded model.

Per image size and variant: the vision tower timed alone, its peak memory, a warm-up query (a backend that cannot
run fails here, with PyTorch's reasons), then the timed queries in alternating rounds over the variants that ran.
Each variant at each size becomes an ``attention`` record (:class:`vlmkit.runtime.attention.AttentionTiming`, or
:class:`vlmkit.runtime.attention.AttentionRefusal` with the reason).

Taught in ``notebooks/06_attention.ipynb``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlmkit.bench.query import STANDARD_QUESTION, QuerySetup, ask_fixed_length, resolve_model, standard_query
from vlmkit.core.device import resolve_device
from vlmkit.core.formatting import human_bytes
from vlmkit.core.progress import progress
from vlmkit.measure.records import ResultsStore
from vlmkit.measure.interleaved import MIN_PAIRS, MIN_WARMUPS, time_interleaved
from vlmkit.models.precisions import Precision, get_precision
from vlmkit.runtime.attention import (
    EAGER_ATTENTION,
    SDPA_PICKS,
    AttentionRefusal,
    AttentionTiming,
    AttentionVariant,
    EagerScores,
    attention_variants,
    eager_scores,
    kernel_refusals,
    time_vision_tower,
    using_attention,
    vision_tower_peak_bytes,
)
from vlmkit.runtime.inference import CallStats, VLMInference

#: The names of the flash kernel's two baselines.
EAGER, SDPA = EAGER_ATTENTION.name, SDPA_PICKS.name


@dataclass(frozen=True)
class AttentionSettings:
    """Notebook 06's parameters resolved for this device: model, image sizes, answer length, variants.

    Taught in ``notebooks/06_attention.ipynb``.
    """

    device: torch.device
    model: str
    checkpoint: Path | None  # the random-weight checkpoint written for a registry model
    precision: Precision
    query: QuerySetup  # the book's default query: its image size is the headline's
    sides: list[int]  # image sides in px, the default query's included
    new_tokens: int
    role: str  # "headline" at the book's answer length, else "supporting"
    repeats: int
    variants: list[AttentionVariant]
    left_out: dict[str, str]  # flash-attn packages transformers cannot use here, and why
    flash: str  # the flash kernel judged: the flash-attn 2 package where it runs, else SDPA's flash backend

    def rounds(self, side: int) -> int:
        """The interleaved rounds of timed queries at ``side`` px: at the headline's size at least
        :data:`vlmkit.measure.interleaved.MIN_PAIRS` (a headline ratio's pairs), elsewhere ``repeats``."""
        return max(self.repeats, MIN_PAIRS) if side == self.query.image_size else self.repeats

    def describe(self) -> str:
        """The setup's status lines: checkpoint, model, sizes, variants and what is not measured here."""
        lines = [f"checkpoint: {self.checkpoint}"] if self.checkpoint else []
        lines.append(f"{self.model} in {self.precision.label} on {self.device}; images {self.sides} px; "
                     f"{self.new_tokens} answer tokens; {self.repeats} interleaved rounds per size "
                     f"({self.rounds(self.query.image_size)} at {self.query.image_size} px), after "
                     f"{MIN_WARMUPS} warm-up queries; the headline: a whole query at {self.query.image_size} px "
                     f"({self.role})")
        lines.append(f"variants: {[v.name for v in self.variants]} | the flash kernel judged: {self.flash}")
        lines += [f"NOT MEASURED: {name}: {reason}" for name, reason in self.left_out.items()]
        return "\n".join(lines)


def attention_settings(device: str, model: str, precision: str, image_sizes: str, new_tokens: int, variants: str,
                       repeats: int) -> AttentionSettings:
    """Resolve notebook 06's parameters (``"auto"`` and ``0`` mean the device's defaults); write the checkpoint.

    ``variants``: ``"auto"`` (every variant but ``"sdpa: math"`` on CUDA, the slowest), ``"all"`` or names; an
    unknown name fails here, with the choices. Taught in ``notebooks/06_attention.ipynb``.
    """
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    query = standard_query(dev.type)
    asked = image_sizes if image_sizes != "auto" else ("448,896,1344,1792" if on_cuda else "64,256")
    sides = sorted({query.image_size, *(int(s) for s in str(asked).split(","))})
    tokens = new_tokens or query.new_tokens
    every_variant, left_out = attention_variants(dev)
    if variants == "auto":
        chosen = [v for v in every_variant if not (on_cuda and v.name == "sdpa: math")]
    else:
        names = [v.name for v in every_variant] if variants == "all" else [s.strip() for s in variants.split(",")]
        unknown = set(names) - {v.name for v in every_variant}
        if unknown:
            raise ValueError(f"unknown variants {sorted(unknown)}; choose from {[v.name for v in every_variant]}")
        chosen = [v for v in every_variant if v.name in names]
    flash = "flash-attn 2 package" if any(v.name == "flash-attn 2 package" for v in chosen) else "sdpa: flash"
    name, checkpoint = resolve_model(model, dev)
    return AttentionSettings(dev, name, checkpoint, get_precision(precision), query, sides, tokens,
                             "headline" if tokens == query.new_tokens else "supporting", repeats or 3, chosen,
                             left_out, flash)


@dataclass
class AttentionSweep:
    """What :func:`sweep_attention` measured: each variant at each size, in the order recorded, and the sizes of
    eager attention's score matrices per size.

    Taught in ``notebooks/06_attention.ipynb``.
    """

    settings: AttentionSettings
    scores: dict[int, EagerScores] = field(default_factory=dict)
    outcomes: list[tuple[int, AttentionTiming | AttentionRefusal]] = field(default_factory=list)

    def get(self, side: int, variant: str) -> AttentionTiming | None:
        """``variant`` (a name) at ``side`` px, or ``None`` where it did not run."""
        return next((m for s, m in self.outcomes
                     if s == side and isinstance(m, AttentionTiming) and m.variant == variant), None)

    def rows(self) -> list[dict[str, Any]]:
        """The sweep table: a timing's row, or a refusal's image, variant and reason."""
        return [m.row() if isinstance(m, AttentionTiming) else {"image": side, "variant": m.variant,
                                                                 "unavailable": m.unavailable}
                for side, m in self.outcomes]

    def refusals(self) -> dict[str, str]:
        """Each variant that did not run, with PyTorch's reason at the first size it refused."""
        found: dict[str, str] = {}
        for _, m in self.outcomes:
            if isinstance(m, AttentionRefusal):
                found.setdefault(m.variant, m.unavailable)
        return found

    def claim_shapes(self, side: int) -> dict[str, Any]:
        """The ``shapes`` of a claim judged at ``side`` px."""
        return {"image": [side, side], "visual_tokens": self.scores[side].visual_tokens,
                "new_tokens": self.settings.new_tokens}

    def explanation(self) -> dict[str, Any]:
        """The values of ``06_attention/what_the_numbers_say``: each paragraph's numbers, ``None`` where they were
        not measured."""
        s, flash = self.settings, self.settings.flash
        small, large, book = min(s.sides), max(s.sides), s.query.image_size

        def ms(side: int, variant: str, column: str) -> float | None:
            m = self.get(side, variant)
            return None if m is None else getattr(m, column)

        values: dict[str, Any] = {"flash": flash, "new_tokens": s.new_tokens, "large": large, "whole": None,
                                  "prefill": None, "memory": None, "decode": None, "picks": None,
                                  "unavailable": self.refusals()}
        if all(ms(book, v, "whole_query_ms") for v in (EAGER, SDPA, flash)):
            values["whole"] = {"query": QuerySetup(book, s.new_tokens).describe(),
                               "tokens": self.scores[book].visual_tokens,
                               **{k: ms(book, v, "whole_query_ms") for k, v in (("eager", EAGER), ("sdpa", SDPA),
                                                                                  ("flash", flash))},
                               "eager_prefill": ms(book, EAGER, "prefill_ms"),
                               "flash_prefill": ms(book, flash, "prefill_ms")}
        if ms(small, flash, "prefill_ms") is not None and ms(large, flash, "prefill_ms") is not None:
            sizes = [{"eager": ms(x, EAGER, "prefill_ms"), "flash": ms(x, flash, "prefill_ms"),
                      "tokens": self.scores[x].visual_tokens,
                      "gain": ms(x, EAGER, "prefill_ms") / ms(x, flash, "prefill_ms")} for x in (small, large)]
            values["prefill"] = {"sizes": sizes, "grows": sizes[1]["gain"] > sizes[0]["gain"],
                                 "vision_eager": ms(large, EAGER, "vision_tower_ms"),
                                 "vision_flash": ms(large, flash, "vision_tower_ms")}
        big = self.scores[large]
        values["scores"] = big
        values["bytes"] = {k: human_bytes(v) for k, v in (("vision_fp32", big.vision_fp32_bytes),
                                                          ("vision_softmax", big.vision_softmax_bytes),
                                                          ("lm_fp32", big.lm_fp32_bytes))}
        if s.device.type == "cuda" and ms(large, EAGER, "peak_memory_mb") is not None \
                and ms(large, flash, "peak_memory_mb") is not None:
            values["memory"] = {f"{who}_{what}": human_bytes(1e6 * ms(large, variant, column))
                                for who, variant in (("eager", EAGER), ("flash", flash))
                                for what, column in (("query", "peak_memory_mb"), ("vision", "vision_tower_peak_mb"))}
        if ms(large, flash, "decode_ms_per_token") is not None:
            eager, fused = ms(large, EAGER, "decode_ms_per_token"), ms(large, flash, "decode_ms_per_token")
            values["decode"] = {"eager": eager, "flash": fused, "ratio": eager / fused,
                                "tokens": self.scores[large].visual_tokens}
        picks = [ms(x, SDPA, "prefill_ms") / ms(x, flash, "prefill_ms") for x in s.sides
                 if ms(x, SDPA, "prefill_ms") and ms(x, flash, "prefill_ms")]
        if picks:
            values["picks"] = {"low": min(picks), "high": max(picks)}
        return values


def _asker(vlm: VLMInference, variant: AttentionVariant, image: np.ndarray, new_tokens: int,
           calls: list[CallStats]) -> Callable[[], None]:
    def ask() -> None:
        with using_attention(vlm, variant):
            calls.append(ask_fixed_length(vlm, image, new_tokens).stats)
    return ask


def sweep_attention(vlm: VLMInference, settings: AttentionSettings, store: ResultsStore) -> AttentionSweep:
    """Every variant of ``settings`` at every image size, each recorded as an ``attention`` record.

    Per size (a random image, seeded): the vision tower alone (one warm-up, ``repeats`` timed calls), its peak
    memory over one more call and a warm-up query per variant, a variant that raises kept as a refusal with
    PyTorch's reasons; then one more warm-up round and the timed queries in alternating rounds (A B C, C B A, ...),
    so that drift on a shared machine hits all variants alike; round ``i`` of two variants is a pair
    (:func:`vlmkit.measure.interleaved.paired_speedup`), :meth:`AttentionSettings.rounds` of them. Taught in ``notebooks/06_attention.ipynb``.
    """
    n, sweep, rng = settings.new_tokens, AttentionSweep(settings), np.random.default_rng(0)
    for side in progress(settings.sides, desc="image sizes"):
        image = (rng.random((side, side, 3)) * 255).astype(np.uint8)
        inputs = vlm.encode([image], [STANDARD_QUESTION])
        sweep.scores[side] = eager_scores(vlm, inputs)
        ran, calls = {}, {}
        for variant in settings.variants:
            try:
                with warnings.catch_warnings(record=True) as caught:  # PyTorch explains a refused kernel in warnings
                    warnings.simplefilter("always")
                    with using_attention(vlm, variant):
                        vision = time_vision_tower(vlm, inputs, warmup=1, repeats=settings.repeats)
                        vision_peak = vision_tower_peak_bytes(vlm, inputs)
                        ask_fixed_length(vlm, image, n)  # warm-up query
            except RuntimeError as exc:  # e.g. "No available kernel": the backend cannot run this call here
                refusal = AttentionRefusal(variant.name, "; ".join([str(exc).splitlines()[0][:160],
                                                                    *kernel_refusals(caught)]))
                sweep.outcomes.append((side, refusal))
                store.record_measurement(refusal, model=settings.model, precision=settings.precision.name,
                                         shapes={"image": [side, side]}, repeats=0)
                continue
            ran[variant.name], calls[variant.name] = (variant, vision, vision_peak), []
        time_interleaved({name: _asker(vlm, variant, image, n, calls[name]) for name, (variant, _, _) in ran.items()},
                         settings.device, warmup=MIN_WARMUPS - 1, repeats=settings.rounds(side))  # + the one above
        for name in calls:
            del calls[name][:MIN_WARMUPS - 1]  # the warm-ups' calls: not timed
        for name, (variant, vision, vision_peak) in ran.items():
            timing = AttentionTiming.measured(side, variant, calls[name], vision, vision_peak)
            sweep.outcomes.append((side, timing))
            store.record_measurement(timing, model=settings.model, precision=settings.precision.name,
                                     shapes={"image": [side, side], "visual_tokens": timing.visual_tokens,
                                             "new_tokens": n, "patches": sweep.scores[side].patches},
                                     repeats=settings.repeats)
    return sweep
