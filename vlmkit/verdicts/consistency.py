"""One query, timed by several notebooks: do their numbers agree?

Notebooks 03, 05, 06 and 09 each time BF16 answering the book's standard query through ``generate`` with the
seed's defaults (eager, dynamic KV cache, SDPA as PyTorch picks it) as the baseline of their own comparisons. A
reader expects them to tell one story; on a shared machine they need not (an H200 run once gave 2,022 ms in 03 and
904 ms in 05 for the same query). :func:`same_query_times` collects every notebook's samples of that query from
one run's results folder, and :func:`judge_consistency` says whether their medians agree within
:data:`SAME_QUERY_TOLERANCE` of each other, and which lie outside where they do not. A verdict whose baseline is the
odd one out then rests on a number the rest of the book does not reproduce.

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmkit.bench.decode_ladder import RECIPE_PAIR
from vlmkit.bench.query import standard_query
from vlmkit.measure.records import experiment_records

#: The largest ratio of the slowest to the fastest notebook's median that still counts as the same number: the
#: between-run spread of one shared GPU host (about 20 %, ../shared/device/README.md) and some room.
SAME_QUERY_TOLERANCE = 1.25


@dataclass(frozen=True)
class SameQuery:
    """One notebook's samples of the BF16 standard query through ``generate``: whole query (s) and, where the
    notebook keeps it, decode per token (s)."""

    notebook: str
    measured_as: str
    query_s: list[float]
    decode_s: list[float]

    @property
    def query_ms(self) -> float:
        """The median whole query, in ms."""
        return 1e3 * statistics.median(self.query_s)

    @property
    def decode_ms(self) -> float | None:
        """The median decode per token, in ms (``None`` where not kept)."""
        return 1e3 * statistics.median(self.decode_s) if self.decode_s else None


def _standard(record: dict[str, Any]) -> bool:
    """Whether a record was measured on the book's standard query of its device, in BF16."""
    query = standard_query(record["provenance"]["device"])
    image = record["shapes"].get("image")
    return (record.get("precision") == "bf16" and image == [query.image_size] * 2
            and record["shapes"].get("new_tokens") == query.new_tokens)


def same_query_times(results_dir: str | Path) -> list[SameQuery]:
    """Every notebook's samples of the BF16 standard query with the seed's defaults in one run's results folder, in
    reading order: 03's whole-model run and its BF16 sides of the interleaved pairs, 05's eager variant with the
    dynamic cache, 06's SDPA as PyTorch picks it, 09's seed's defaults in the recipe's interleaved pairs.
    Taught in ``notebooks/08_decision.ipynb``.
    """
    found: list[SameQuery] = []
    for r in experiment_records(results_dir, "03_dequantization", "model-speed"):
        if _standard(r):
            found.append(SameQuery("03", "the model timed alone", r["metrics"]["query_s"],
                                   r["metrics"]["decode_s_per_token"]))
    for r in experiment_records(results_dir, "03_dequantization", "paired-runs"):
        side = r["metrics"]["rounds"]["seconds"].get("bf16")
        if side and _standard({**r, "precision": "bf16"}):
            found.append(SameQuery("03", f"beside {r['metrics']['variant']}, interleaved", side["query"],
                                   side.get("decode", [])))
    for r in experiment_records(results_dir, "05_compile", "compile-variant"):
        if _standard(r) and r["metrics"]["variant"] == "eager, dynamic cache" and r["metrics"]["total_s"]:
            found.append(SameQuery("05", "eager, dynamic cache", r["metrics"]["total_s"], r["metrics"]["decode_s"]))
    for r in experiment_records(results_dir, "06_attention", "attention"):
        m = r["metrics"]
        if _standard({**r, "precision": "bf16"}) and m["variant"] == "sdpa (PyTorch picks)" and m.get("total_s"):
            found.append(SameQuery("06", "SDPA as PyTorch picks it", m["total_s"], m.get("decode_s", [])))
    for r in experiment_records(results_dir, "09_decode_ladder", "paired-runs"):
        side = r["metrics"]["rounds"]["seconds"].get(RECIPE_PAIR[0])
        if side and _standard(r):
            found.append(SameQuery("09", "the seed's defaults beside its recipe, interleaved", side["query"],
                                   side.get("decode", [])))
    return found


@dataclass(frozen=True)
class Consistency:
    """:func:`judge_consistency`'s answer: the slowest over the fastest median, whether that is within the
    tolerance, and the measurements outside it (more than the tolerance away from the median of all)."""

    spread: float
    consistent: bool
    outliers: list[SameQuery]
    text: str


def judge_consistency(times: list[SameQuery], tolerance: float = SAME_QUERY_TOLERANCE) -> Consistency | None:
    """Do the notebooks' medians of the same query agree within ``tolerance`` (slowest over fastest)? ``None`` with
    fewer than two measurements. Taught in ``notebooks/08_decision.ipynb``.
    """
    if len(times) < 2:
        return None
    medians = [t.query_ms for t in times]
    spread = max(medians) / min(medians)
    middle = statistics.median(medians)
    outliers = [t for t in times if not 1 / tolerance <= t.query_ms / middle <= tolerance]
    if spread <= tolerance:
        text = (f"consistent: the {len(times)} measurements of the same query lie within {spread:.2f}x of each "
                f"other (tolerance {tolerance:.2f}x)")
    else:
        odd = ", ".join(f"{t.notebook} ({t.measured_as}: {t.query_ms:,.0f} ms)" for t in outliers) or "none alone"
        text = (f"inconsistent: the slowest median is {spread:.2f}x the fastest (tolerance {tolerance:.2f}x); "
                f"more than {tolerance:.2f}x from the median of all ({middle:,.0f} ms): {odd}")
    return Consistency(spread, spread <= tolerance, outliers, text)
