"""How a measurement becomes a verdict: one home for every rule the book judges the seed by.

:func:`verdict` compares a measured value (or spread) with a claimed value or range. A speed claim *holds* when
the measured spread (:class:`vlmkit.measure.speedup.Speedup`) overlaps the claimed range, unless the spread also
contains 1x (no change) and the claim does not: then the measurement cannot tell the claim from no effect, and
the verdict is *inconclusive*. Mechanism claims (why something is fast or slow) are judged holds, partly or
refuted; claims a run could not measure are "not measured", never a pass. The verdict table is built from
records, never typed.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from vlmkit.core.formatting import gib
from vlmkit.measure.interleaved import MIN_PAIRS
from vlmkit.measure.records import Measurement, ResultsStore
from vlmkit.measure.speedup import Speedup
from vlmkit.models.architectures import REGISTRY
from vlmkit.models.loading import LoadMeasurement
from vlmkit.verdicts.claims import (
    SEED_MECHANISM_CLAIMS,
    SEED_MEMORY_CLAIM_MODEL,
    SEED_MEMORY_CLAIM_TEXT,
    SEED_MEMORY_CLAIMS_GIB,
    SEED_SPEED_CLAIMS,
)

#: ``headline``: the claim judged as the seed states it, on a whole query of the VLM (prefill plus the answer
#: tokens, ms per query) at the book's default image and answer length (:func:`standard_query`).
#: ``supporting``: a narrower measurement (one phase, one layer, a matmul or a copy alone) that explains it.
Role = Literal["headline", "supporting"]
#: The verdict of a claim that cannot act in the measured setup (:func:`inapplicable_claim`).
DOES_NOT_APPLY = "does not apply"


def judge_speed_claim(claim_key: str, measured: Speedup, *, baseline: str, variant: str, what: str,
                      role: Role) -> dict[str, Any]:
    """Metrics for a ``speed-claim`` record: the seed's sentence, the measured ratio with spread, the verdict.

    ``what`` names what was timed (e.g. "whole query, ms per query" or "decode time per token"),
    ``baseline`` and ``variant`` the two things compared. ``role`` is ``"headline"`` only for a whole
    query at :func:`standard_query`'s size: the README's summary judges each claim on its headline rows
    alone, and shows the ``"supporting"`` ones beside them. A headline timed otherwise than in interleaved pairs
    (:func:`headline_method`) is recorded as supporting, with a note that says why.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    if role not in ("headline", "supporting"):
        raise ValueError(f"role must be 'headline' or 'supporting', got {role!r}")
    claim = SEED_SPEED_CLAIMS[claim_key]
    note = {}
    if role == "headline" and not headline_method(measured):
        role = "supporting"
        note = {"note": f"not a headline: timed {measured.method} with {measured.pairs or 'no'} pairs (a headline "
                        f"needs interleaved pairs, at least {MIN_PAIRS})"}
    return {"claim": claim.key, "claim_text": claim.text, "claimed": [claim.low, claim.high],
            "what": what, "baseline": baseline, "variant": variant, "role": role, **measured.as_dict(), **note,
            "verdict": speed_verdict(measured.low, measured.high, (claim.low, claim.high))}


def headline_method(measured: Speedup) -> bool:
    """Whether ``measured`` was timed as a headline ratio must be: in interleaved pairs, at least
    :data:`vlmkit.measure.interleaved.MIN_PAIRS` of them. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    return measured.method == "interleaved pairs" and (measured.pairs or 0) >= MIN_PAIRS


def speed_verdict(low: float, high: float, claimed: tuple[float, float] | list[float]) -> str:
    """``holds``, ``below``, ``above`` or ``inconclusive``: a measured spread ``(low, high)`` against a claimed range.

    Inconclusive: the spread overlaps the claim but also contains 1x while the claim does not,
    so the measurement cannot tell the claimed speed-up from none (noise, not evidence).
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    c_lo, c_hi = claimed
    outcome = verdict(low, c_lo, c_hi, tolerance=0.0, spread=(low, high)).outcome
    if outcome == "holds" and low <= 1.0 <= high and not c_lo <= 1.0 <= c_hi:
        return "inconclusive"
    return outcome


def current_verdict(record: dict[str, Any]) -> str:
    """A claim record's verdict under today's rule: speed claims are judged again from their recorded spread.

    Runs recorded before a rule changed (e.g. before *inconclusive* existed) are shown as the
    rule says now, so every run in the README is judged alike. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    m = record["metrics"]
    if record["experiment"] == "speed-claim":
        return speed_verdict(m["low"], m["high"], m["claimed"])
    return m["verdict"]


def same_measurement(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two ``speed-claim`` records measured the same thing: claim, what, baseline, variant, precision and
    device. Taught in ``notebooks/08_decision.ipynb``."""
    keys = ("claim", "what", "baseline", "variant")
    return (a["experiment"] == b["experiment"] == "speed-claim" and a["precision"] == b["precision"]
            and all(a["metrics"].get(k) == b["metrics"].get(k) for k in keys)
            and a["provenance"].get("device_name") == b["provenance"].get("device_name"))


def run_ratios(record: dict[str, Any], runs: list[list[dict[str, Any]]]) -> list[float]:
    """The ratio ``record``'s measurement had in each execution of ``runs`` (:func:`vlmkit.measure.records.
    notebook_runs`) that measured it, one per execution (its last), ``record``'s own included once.
    Taught in ``notebooks/08_decision.ipynb``."""
    ratios = []
    for run in runs:
        found = [r for r in run if same_measurement(r, record)]
        if found:
            ratios.append(found[-1]["metrics"]["ratio"])
    return ratios or [record["metrics"]["ratio"]]


def runs_verdict(record: dict[str, Any], runs: list[list[dict[str, Any]]]) -> str:
    """A claim record's verdict (:func:`current_verdict`), unless separate executions of the same measurement
    (``runs``) put its ratio on both sides of one of the claim's boundaries: then ``inconclusive (runs disagree:
    0.54x to 0.89x over 4 runs)``, however narrow each run's own interval was. Taught in
    ``notebooks/08_decision.ipynb``.
    """
    verdict_now = current_verdict(record)
    if record["experiment"] != "speed-claim":
        return verdict_now
    ratios = run_ratios(record, runs)
    low, high = min(ratios), max(ratios)
    if len(ratios) > 1 and any(low < bound < high for bound in record["metrics"]["claimed"]):
        return f"inconclusive (runs disagree: {low:.2f}x to {high:.2f}x over {len(ratios)} runs)"
    return verdict_now


def headline_text(record: dict[str, Any]) -> str:
    """A claim record in a few words: the ratio with its spread and what was compared, why it was not measured, or
    the measured sentence of a mechanism. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    m = record["metrics"]
    if record["experiment"] == "speed-claim":
        return f"{m['ratio']:.2f}x [{m['low']:.2f}, {m['high']:.2f}] ({m['variant']} vs {m['baseline']}, {m['what']})"
    if record["experiment"] == "unmeasured-claim":
        return f"not measured: {m['reason']}"
    return m["measured_text"]


def verdict_rows(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row per ``speed-claim``, ``mechanism-claim`` or ``unmeasured-claim`` record:
    claim | role | measured | verdict | where, headline rows first.

    Speed claims show the ratio with its spread; a mechanism claim (why something is fast or slow,
    e.g. compute bound, dequantization overhead) carries its measured sentence in ``measured_text``
    and is always a headline of its own. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    rows = []
    for r in records:
        m = r["metrics"]
        if r["experiment"] not in ("speed-claim", "mechanism-claim", "unmeasured-claim"):
            continue
        rows.append({"seed claim": m["claim_text"], "role": m.get("role", "supporting"), "measured here": headline_text(r),
                     "verdict": current_verdict(r),
                     "where": f"{r['model']} on {r['provenance']['device_name']}, median of {r['repeats']}"})
    return sorted(rows, key=lambda row: row["role"] != "headline")


def mechanism_claim(claim_key: str, measured_text: str, verdict_: str) -> dict[str, Any]:
    """Metrics for a ``mechanism-claim`` record: one of the seed's *why* sentences, what was measured, the verdict.

    ``verdict_`` is ``holds``, ``partly`` or ``refuted``; ``measured_text`` says it with the numbers.
    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    if verdict_ not in ("holds", "partly", "refuted"):
        raise ValueError(f"a mechanism verdict is holds, partly or refuted, got {verdict_!r}")
    return {"claim": claim_key, "claim_text": SEED_MECHANISM_CLAIMS[claim_key], "measured_text": measured_text,
            "role": "headline", "verdict": verdict_}


def inapplicable_claim(claim_key: str, evidence: str, *, role: Role) -> dict[str, Any]:
    """Metrics for a claim that cannot act in the setup measured, with the measurement that shows it (e.g. TF32 on
    a BF16 model whose profile ran no float32 matmul of note): verdict ``does not apply``, recorded as a
    ``mechanism-claim``. Never a pass and never a failure of the claim elsewhere. Taught in
    ``notebooks/07_tf32_transfers.ipynb``.
    """
    if role not in ("headline", "supporting"):
        raise ValueError(f"role must be 'headline' or 'supporting', got {role!r}")
    claim = SEED_SPEED_CLAIMS[claim_key]
    return {"claim": claim.key, "claim_text": claim.text, "claimed": [claim.low, claim.high], "measured_text": evidence,
            "role": role, "verdict": DOES_NOT_APPLY}


def unmeasured_claim(claim_key: str, reason: str, *, role: Role) -> dict[str, Any]:
    """Metrics for an ``unmeasured-claim`` record: a claim this run could not measure, and why.

    ``claim_key`` names a speed claim (``SEED_SPEED_CLAIMS``) or a mechanism (``SEED_MECHANISM_CLAIMS``, which
    has no claimed range). The verdict table shows it as "not measured", which never counts as a pass; ``role``
    as in :func:`judge_speed_claim`. Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    if role not in ("headline", "supporting"):
        raise ValueError(f"role must be 'headline' or 'supporting', got {role!r}")
    if claim_key in SEED_MECHANISM_CLAIMS:
        text, claimed = SEED_MECHANISM_CLAIMS[claim_key], None
    else:
        claim = SEED_SPEED_CLAIMS[claim_key]
        text, claimed = claim.text, [claim.low, claim.high]
    return {"claim": claim_key, "claim_text": text, "claimed": claimed, "reason": reason, "role": role,
            "verdict": "not measured"}


def record_claim(store: ResultsStore, metrics: dict[str, Any], *, model: str | None, precision: str | None,
                 shapes: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Write a claim's metrics as its record: ``speed-claim`` (:func:`judge_speed_claim`, a ratio),
    ``unmeasured-claim`` (:func:`unmeasured_claim`, not measured) or ``mechanism-claim`` (:func:`mechanism_claim`).

    Returns the record as written. Taught in ``notebooks/05_compile.ipynb``.
    """
    if "ratio" in metrics:
        experiment = "speed-claim"
    elif metrics["verdict"] == "not measured":
        experiment = "unmeasured-claim"
    else:
        experiment = "mechanism-claim"
    return store.record(experiment, model=model, precision=precision, shapes=shapes, repeats=repeats, metrics=metrics)


@dataclass(frozen=True)
class Verdict:
    """A measured value against a claimed range: ``holds``, ``below`` or ``above`` the claim."""

    measured: float
    claimed_low: float
    claimed_high: float
    tolerance: float
    outcome: str

    @property
    def ratio_to_claim(self) -> float:
        """Measured over the middle of the claimed range."""
        return self.measured / ((self.claimed_low + self.claimed_high) / 2)


def verdict(measured: float, claimed_low: float, claimed_high: float | None = None, *, tolerance: float = 0.10,
            spread: tuple[float, float] | None = None) -> Verdict:
    """Classify a measurement against a claimed value or range.

    The claim holds when the measurement lies within the range widened by
    ``tolerance`` (relative), or when the measured spread ``(low, high)``
    overlaps that widened range: noise that straddles the boundary does not
    refute a claim. Otherwise the measurement is ``below`` or ``above`` it.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    high = claimed_low if claimed_high is None else claimed_high
    if high < claimed_low:
        raise ValueError(f"claimed range is reversed: {claimed_low} > {high}")
    lo_edge, hi_edge = claimed_low * (1 - tolerance), high * (1 + tolerance)
    m_lo, m_hi = spread if spread is not None else (measured, measured)
    if m_hi >= lo_edge and m_lo <= hi_edge:
        outcome = "holds"
    elif measured < lo_edge:
        outcome = "below"
    else:
        outcome = "above"
    return Verdict(measured, claimed_low, high, tolerance, outcome)


#: How the verdict table of notebook 01 says whether a card of the claimed size holds the model (``None``: a CPU run).
FITS_TEXT: dict[bool | None, str] = {True: "fits", False: "does not fit", None: "not measured (no CUDA context on a CPU)"}


@dataclass(frozen=True)
class MemoryClaimMeasurement(Measurement):
    """Notebook 01's ``memory-claim`` record: one precision of the seed's "16 / 8 / 4 GB" read in GiB, the measured
    weights, the :func:`verdict` (within 10 %), and, on CUDA, what a card of that size must hold beside them.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """

    EXPERIMENT = "memory-claim"
    unit: str
    claim_gib: float
    measured_gib: float
    ratio: float
    verdict: str
    claim_text: str
    outside_allocator_gib: float | None
    needed_gib: float | None
    fits_claimed_card: bool | None

    def row(self, precision: str) -> dict[str, Any]:
        """The verdict table's row for ``precision``."""
        return {"claim": f"{precision}: {self.claim_gib:g} GB, read as GiB", "weights (GiB)": round(self.measured_gib, 2),
                "measured / claim": round(self.ratio, 3), "verdict": self.verdict,
                "needed with the CUDA context (GiB)": None if self.needed_gib is None else round(self.needed_gib, 2),
                "a card of the claimed size": FITS_TEXT[self.fits_claimed_card]}


def memory_claims_apply(model: str) -> bool:
    """Whether the seed's memory table is about ``model`` (Qwen3-VL-8B, by registry name or hub id).

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    return model in (SEED_MEMORY_CLAIM_MODEL, REGISTRY[SEED_MEMORY_CLAIM_MODEL].hub_id)


def judge_memory_claims(loads: dict[str, LoadMeasurement]) -> dict[str, MemoryClaimMeasurement]:
    """The seed's memory claim of every precision in ``loads`` that has one, judged on its measured weights.

    A claim holds when the weights (:attr:`LoadMeasurement.weights_bytes`, in GiB) lie within 10 % of it. On CUDA a
    card of the claimed size fits when it holds :attr:`LoadMeasurement.card_need_bytes`: the allocator's peak plus
    what the card kept outside the allocator after the query. Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    judged = {}
    for precision, claimed in SEED_MEMORY_CLAIMS_GIB.items():
        if precision not in loads:
            continue
        load = loads[precision]
        measured = gib(float(load.weights_bytes))
        v = verdict(measured, claimed, tolerance=0.10)
        outside = load.outside_allocator_bytes
        needed = None if outside is None else gib(load.card_need_bytes)
        judged[precision] = MemoryClaimMeasurement(
            unit="GiB", claim_gib=claimed, measured_gib=measured, ratio=v.ratio_to_claim, verdict=v.outcome,
            claim_text=SEED_MEMORY_CLAIM_TEXT, outside_allocator_gib=None if outside is None else gib(outside),
            needed_gib=needed, fits_claimed_card=None if needed is None else needed <= claimed)
    return judged
