"""Speed-ups measured side by side, judged against the seed's speed claims, and the verdict table.

A speed-up is the baseline's median time over the variant's (>1: the variant is
faster). Its spread comes from the interquartile ranges of both: the lowest
plausible ratio pairs the baseline's 25th percentile with the variant's 75th,
the highest the other way round. A claim *holds* when that spread overlaps the
claimed range, unless the spread also contains 1x (no change) and the claim does
not: then the measurement cannot tell the claim from no effect, and the verdict is
*inconclusive*. The verdict table is built from records, never typed.

Taught in ``notebooks/03_dequantization.ipynb``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vlmkit.claims import SEED_SPEED_CLAIMS, verdict
from vlmkit.timing import TimingStats


@dataclass(frozen=True)
class Speedup:
    """Baseline time / variant time: the median ratio and its spread."""

    ratio: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        """The ratio and its spread, for records."""
        return asdict(self)


def speedup(baseline: TimingStats, variant: TimingStats) -> Speedup:
    """How many times as fast ``variant`` is as ``baseline``, with the spread of both.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    (b_lo, b_hi), (v_lo, v_hi) = baseline.iqr, variant.iqr
    return Speedup(baseline.median / variant.median, b_lo / v_hi, b_hi / v_lo)


def speedup_of_medians(baseline: list[float], variant: list[float]) -> Speedup:
    """:func:`speedup` for plain lists of seconds (one sample per repeat)."""
    return speedup(TimingStats(tuple(baseline), 0), TimingStats(tuple(variant), 0))


def judge_speed_claim(claim_key: str, measured: Speedup, *, baseline: str, variant: str, what: str) -> dict[str, Any]:
    """Metrics for a ``speed-claim`` record: the seed's sentence, the measured ratio with spread, the verdict.

    ``what`` names what was timed (e.g. "decode, tokens/s"), ``baseline`` and
    ``variant`` the two things compared. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    claim = SEED_SPEED_CLAIMS[claim_key]
    return {"claim": claim.key, "claim_text": claim.text, "claimed": [claim.low, claim.high],
            "what": what, "baseline": baseline, "variant": variant, **measured.as_dict(),
            "verdict": speed_verdict(measured.low, measured.high, (claim.low, claim.high))}


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


def verdict_rows(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row per ``speed-claim``, ``bound-claim`` or ``unmeasured-claim`` record: claim | measured | verdict | where.

    Speed claims show the ratio with its spread; a bound claim (compute or memory bound)
    carries its measured sentence in ``measured_text``. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    rows = []
    for r in records:
        m = r["metrics"]
        if r["experiment"] == "speed-claim":
            measured = (f"{m['ratio']:.2f}x [{m['low']:.2f}, {m['high']:.2f}] ({m['variant']} vs {m['baseline']}, "
                        f"{m['what']})")
        elif r["experiment"] == "bound-claim":
            measured = m["measured_text"]
        elif r["experiment"] == "unmeasured-claim":
            measured = f"not measured here: {m['reason']}"
        else:
            continue
        rows.append({"seed claim": m["claim_text"], "measured here": measured, "verdict": current_verdict(r),
                     "where": f"{r['model']} on {r['provenance']['device_name']}, median of {r['repeats']}"})
    return rows


def unmeasured_claim(claim_key: str, reason: str) -> dict[str, Any]:
    """Metrics for an ``unmeasured-claim`` record: a claim this run could not measure, and why.

    The verdict table shows it as "not measured", which never counts as a pass.
    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    claim = SEED_SPEED_CLAIMS[claim_key]
    return {"claim": claim.key, "claim_text": claim.text, "claimed": [claim.low, claim.high], "reason": reason,
            "verdict": "not measured"}
