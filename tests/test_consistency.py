"""The same BF16 query as several notebooks timed it: collected from a results folder and judged within a tolerance."""

import json
from pathlib import Path

import pytest

from vlmkit.verdicts.consistency import SAME_QUERY_TOLERANCE, judge_consistency, same_query_times

CPU_QUERY = {"image": [64, 64], "new_tokens": 8}


def _write(folder: Path, notebook: str, records: list[dict]) -> None:
    full = [{"experiment": e, "run_id": "r1", "precision": p, "shapes": s, "metrics": m,
             "provenance": {"device": "cpu"}} for e, p, s, m in records]
    (folder / f"{notebook}.json").write_text(json.dumps({"schema": 1, "records": full}))


def _side(query: list[float]) -> dict:
    return {"query": query, "prefill": [q / 2 for q in query], "decode": [q / 10 for q in query]}


def _results(tmp_path: Path, alone: float) -> Path:
    """A results folder in which 03 timed BF16 alone at ``alone`` seconds a query and everything else at 0.10 s."""
    _write(tmp_path, "03_dequantization", [
        ("model-speed", "bf16", {**CPU_QUERY, "tokens_in": 59}, {"query_s": [alone] * 3, "decode_s_per_token": [0.01]}),
        ("model-speed", "bf16", {"image": [128, 128], "new_tokens": 8}, {"query_s": [9.0], "decode_s_per_token": []}),
        ("model-speed", "int8", {**CPU_QUERY, "tokens_in": 59}, {"query_s": [9.0], "decode_s_per_token": []}),
        ("paired-runs", "nf4", CPU_QUERY, {"baseline": "bf16", "variant": "nf4", "speedups": [],
                                           "rounds": {"seconds": {"bf16": _side([0.10, 0.11]), "nf4": _side([1.0])}}}),
    ])
    _write(tmp_path, "05_compile", [
        ("compile-variant", "bf16", CPU_QUERY, {"variant": "eager, dynamic cache", "total_s": [0.09, 0.1, 0.1],
                                                "decode_s": [0.01]}),
        ("compile-variant", "bf16", CPU_QUERY, {"variant": "eager, static cache", "total_s": [5.0], "decode_s": []}),
    ])
    _write(tmp_path, "06_attention", [
        ("attention", "bf16", {**CPU_QUERY, "visual_tokens": 4}, {"variant": "sdpa (PyTorch picks)",
                                                                  "total_s": [0.1], "decode_s": [0.01]}),
        ("attention", "bf16", {**CPU_QUERY, "visual_tokens": 4}, {"variant": "eager", "total_s": [7.0]}),
    ])
    _write(tmp_path, "09_decode_ladder", [
        ("paired-runs", "bf16", CPU_QUERY, {"baseline": "the seed's defaults", "variant": "the seed's recipe",
                                            "rounds": {"seconds": {"the seed's defaults": _side([0.1]),
                                                                   "the seed's recipe": _side([3.0])}}}),
    ])
    return tmp_path


def test_every_notebooks_bf16_standard_query_with_the_defaults_is_collected_and_nothing_else(tmp_path):
    times = same_query_times(_results(tmp_path, 0.1))
    assert [(t.notebook, t.measured_as) for t in times] == [
        ("03", "the model timed alone"), ("03", "beside nf4, interleaved"), ("05", "eager, dynamic cache"),
        ("06", "SDPA as PyTorch picks it"), ("09", "the seed's defaults beside its recipe, interleaved")]
    assert times[1].query_ms == pytest.approx(105) and times[1].decode_ms == pytest.approx(10.5)
    judged = judge_consistency(times)
    assert judged.consistent and judged.outliers == [] and judged.spread == pytest.approx(0.105 / 0.1)
    assert judged.text.startswith("consistent: the 5 measurements of the same query lie within 1.05x")


def test_a_notebook_far_from_the_others_makes_the_book_inconsistent_and_is_named(tmp_path):
    times = same_query_times(_results(tmp_path, 0.1 * SAME_QUERY_TOLERANCE * 1.2))
    judged = judge_consistency(times)
    assert not judged.consistent and [(t.notebook, t.measured_as) for t in judged.outliers] == [
        ("03", "the model timed alone")]
    assert "inconsistent: the slowest median is 1.50x the fastest (tolerance 1.25x)" in judged.text
    assert "03 (the model timed alone: 150 ms)" in judged.text
    at_the_edge = same_query_times(_results(tmp_path, 0.1 * SAME_QUERY_TOLERANCE * 0.99))
    assert judge_consistency(at_the_edge).consistent
    assert judge_consistency(times[:1]) is None  # one measurement: nothing to compare
