"""Notebook 04's sweep in vlmkit: its settings, one cell of follow-ups, its records and what they say."""

import json
from pathlib import Path

import numpy as np
import pytest

from vlmkit.book.reference_status import reference_status
from vlmkit.measure.interleaved import MIN_PAIRS
from vlmkit.runtime.inference import Answer, CallStats
from vlmkit.runtime.kv_cache import (
    FollowUpCell,
    FollowUpPair,
    KVCacheClaimMeasurement,
    follow_up_cell,
    follow_up_findings,
    kv_cache_settings,
)

REFERENCE = Path(__file__).resolve().parent.parent / "reference"
#: The fields of a ``speed-claim`` record that ``judge_speed_claim`` writes.
JUDGED = ("claim", "claim_text", "claimed", "what", "baseline", "variant", "role", "ratio", "low", "high", "verdict")


def test_settings_put_the_headline_cell_into_the_sweep_and_refuse_nonsense():
    from vlmkit.errors import ConfigurationError

    cpu = kv_cache_settings("cpu", (64, 8))
    assert (cpu.model, cpu.precision.name, cpu.sides, cpu.lengths, cpu.repeats) == (
        "qwen3-vl-tiny", "bf16", [64, 128, 256], [1, 8], MIN_PAIRS)
    chosen = kv_cache_settings("cpu", (64, 8), "qwen3-vl-8b", "nf4", "100, 32", "2", 5)
    assert (chosen.sides, chosen.lengths, chosen.repeats) == ([32, 64, 100], [2, 8], 5)
    assert chosen.cells == [(32, 2), (32, 8), (64, 2), (64, 8), (100, 2), (100, 8)]
    assert [chosen.role(*c) for c in chosen.cells].count("headline") == 1 and chosen.role(64, 8) == "headline"
    with pytest.raises(ConfigurationError, match="image sizes"):
        kv_cache_settings("cpu", (64, 8), image_sizes="0,64")
    with pytest.raises(ConfigurationError, match="repeats"):
        kv_cache_settings("cpu", (64, 8), repeats=-1)
    with pytest.raises(ConfigurationError, match="unknown precision"):
        kv_cache_settings("cpu", (64, 8), precision="int3")


def test_a_cell_times_both_follow_ups_and_records_under_the_committed_keys(tiny_checkpoint):
    from vlmkit.runtime.inference import VLMInference
    from vlmkit.verdicts.rules import judge_speed_claim

    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu")
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    cell = follow_up_cell(vlm, image, 64, "what is it?", "and the colour?", 3, 2, repeats=2, role="headline")
    assert len(cell.pairs) == 2 and len(cell.cached_s) == len(cell.uncached_s) == 2
    assert cell.shapes == {"image": [64, 64], "visual_tokens": cell.visual_tokens, "answer_tokens": 2, "first_tokens": 3}
    assert cell.visual_tokens > 0 and cell.what.endswith(f"({cell.visual_tokens} visual tokens), 2-token answer")
    row = cell.row()
    assert row["tokens without cache"] == row["tokens with cache"] + row["cached tokens"]
    ratios = sorted(u / c for u, c in zip(cell.uncached_s, cell.cached_s))  # paired: each pair's own ratio
    assert row["speed-up"] == pytest.approx(sum(ratios) / 2) and (row["low"], row["high"]) == tuple(ratios)
    assert cell.ttft_speedup.ratio == pytest.approx(
        sum(u / c for u, c in zip(cell.uncached_ttft_s, cell.cached_ttft_s)) / 2)
    assert row["TTFT speed-up"] > row["speed-up"] > 0  # the answer's decode costs the same either way
    assert all(t < w for t, w in zip(cell.cached_ttft_s, cell.cached_s))
    judged = judge_speed_claim("kv-cache-reuse", cell.speedup, baseline="b", variant="v", role=cell.role, what=cell.what)
    m = KVCacheClaimMeasurement.of(cell, judged)
    assert m.cache_bytes == cell.pairs[0].cache_bytes > 0 and m.tokens_in_cached < m.tokens_in_uncached
    committed = json.loads((REFERENCE / "cpu-x86_64" / "results" / "04_kv_cache.json").read_text())["records"]
    assert set(m.metrics()) == set(committed[-1]["metrics"])
    assert KVCacheClaimMeasurement.from_metrics(m.metrics()) == m
    assert m.method == "interleaved pairs" and m.pairs == 2 and m.ttft_speedup["ratio"] == cell.ttft_speedup.ratio


def _stats(seconds: float, tokens_in: int, visual: int, first_token: float | None = None) -> CallStats:
    return CallStats(prefill_s=seconds if first_token is None else first_token, decode_s_per_token=None,
                     total_s=seconds, tokens_in=tokens_in, tokens_cached=0,
                     tokens_out=1, visual_tokens=visual, peak_memory_bytes=0, memory_kind="test")


@pytest.mark.parametrize("run", ["nvidia-h200", "cpu-x86_64"])
def test_the_reference_sweeps_replayed_give_their_records_and_their_explanation(run):
    """Cells rebuilt from a reference run's records (the times and tokens they recorded) give back the same records,
    and the findings, filled into the template, are the explanation the reference notebook showed."""
    import nbformat

    from vlmkit.bench.query import standard_query
    from vlmkit.book.prose import render
    from vlmkit.measure.records import read_measurements

    cells, claims = [], []
    for r in read_measurements(KVCacheClaimMeasurement, REFERENCE / run / "results", "04_kv_cache"):
        m, shapes = r.measurement, r.shapes

        def pair(cached: float, uncached: float, ttft: tuple[float, float] | None) -> FollowUpPair:
            first = ttft or (cached, uncached)
            return FollowUpPair(Answer("", _stats(cached, m.tokens_in_cached, 0, first[0])),
                                Answer("", _stats(uncached, m.tokens_in_uncached, shapes["visual_tokens"], first[1])),
                                m.cache_bytes)

        ttfts = list(zip(m.cached_ttft_s, m.uncached_ttft_s)) if m.cached_ttft_s else [None] * len(m.cached_s)
        cells.append(FollowUpCell(shapes["image"][0], shapes["answer_tokens"], shapes["first_tokens"], m.role,
                                  pair(m.warmup_cached_s, m.warmup_uncached_s, None),
                                  tuple(pair(c, u, t) for c, u, t in zip(m.cached_s, m.uncached_s, ttfts))))
        claims.append(m)
        assert cells[-1].shapes == shapes
        if m.method != "interleaved pairs":  # recorded before the pairs were interleaved: a ratio of medians
            continue
        judged = {k: getattr(m, k) for k in (*JUDGED, "method", "pairs", "coverage", "note")}
        assert KVCacheClaimMeasurement.of(cells[-1], judged) == m
        assert (cells[-1].what, cells[-1].speedup.ratio) == (m.what, pytest.approx(m.ratio))
    if not next(s for s in reference_status(REFERENCE / run) if s.notebook == "04_kv_cache.ipynb").current:
        return  # a stale reference shows the explanation of older code
    query = standard_query("cuda" if run.startswith("nvidia") else "cpu")
    text = render("04_kv_cache/what_the_numbers_say", query=query.describe(), **follow_up_findings(cells, claims))
    shown = [o["data"]["text/markdown"].strip() for c in nbformat.read(REFERENCE / run / "04_kv_cache.ipynb",
                                                                      as_version=4).cells
             if c.cell_type == "code" for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
    assert text.strip() in shown


def test_findings_name_no_cell_where_the_claim_never_holds():
    from vlmkit.book.prose import render

    def cell(side: int, visual: int, n: int, cached: float, uncached: float, role: str) -> FollowUpCell:
        pair = FollowUpPair(Answer("", _stats(cached, 5, 0)), Answer("", _stats(uncached, 5 + visual, visual)), 64)
        return FollowUpCell(side, n, 1, role, pair, (pair, pair))

    cells = [cell(64, 4, 1, 0.010, 0.015, "supporting"), cell(64, 4, 1, 0.010, 0.012, "headline")]
    found = follow_up_findings(cells, [KVCacheClaimMeasurement(*["x"] * 11, [0.01], [0.01], 64, 0.1, 0.1, 5, 9)] * 2)
    assert found["held"] == [] and found["one"] == found["longest"] == 1 and found["head"] is cells[1]
    assert found["warmup_cached"] == (pytest.approx(1.0), pytest.approx(1.0))
    text = render("04_kv_cache/what_the_numbers_say", query="64 px image, 1-token answer", **found)
    assert "Each further answer token" not in text  # one answer length: nothing to say about decode
    assert text.endswith("two to four times everything else in the call: in none of the measured cells.\n")
