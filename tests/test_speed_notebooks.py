"""The speed notebooks (03-07) under papermill with injected small sizes: their records are asserted.

nbval runs each notebook with its own CPU defaults; these runs check what the records say.
"""

import math

import papermill
import pytest

from vlmkit.book import NOTEBOOK_DIR
from vlmkit.records import load_records


def _run(name: str, tmp_path, **parameters) -> list[dict]:
    papermill.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                               cwd=str(NOTEBOOK_DIR), parameters={"DEVICE": "cpu", "RESULTS_DIR": str(tmp_path),
                                                                  **parameters},
                               kernel_name="python3", progress_bar=False)
    records = load_records(tmp_path / f"{name}.json")
    assert records and len({r["run_id"] for r in records}) == 1
    assert all(r["provenance"]["device"] == "cpu" for r in records)
    return records


def _claims(records: list[dict], key: str) -> list[dict]:
    found = [r["metrics"] for r in records if r["experiment"] == "speed-claim" and r["metrics"]["claim"] == key]
    for m in found:
        assert all(math.isfinite(m[k]) and m[k] > 0 for k in ("ratio", "low", "high")), m
        assert m["low"] <= m["ratio"] <= m["high"] and m["verdict"] in ("holds", "below", "above", "inconclusive")
    return found


def test_dequantization_notebook_records_layers_model_speeds_and_verdicts(tmp_path):
    recs = _run("03_dequantization", tmp_path, PRECISIONS="bf16,int8,nf4", TOKENS="1,32", REPEATS=2,
                MODEL_REPEATS=2, NEW_TOKENS=3, IMAGE_SIZE=32)
    linear = [r for r in recs if r["experiment"] == "linear"]
    assert {(r["precision"], r["shapes"]["M"]) for r in linear} == {(p, m) for p in ("bf16", "int8", "nf4") for m in (1, 32)}
    assert all(r["metrics"]["dequant"]["median_s"] > 0 and r["metrics"]["flops"] > 0 for r in linear)
    speeds = {r["precision"]: r["metrics"] for r in recs if r["experiment"] == "model-speed"}
    assert set(speeds) == {"bf16", "int8", "nf4"}
    assert all(len(m["decode_s_per_token"]) == 2 and m["gpu_busy_share_decode"] is None for m in speeds.values())
    claims = _claims(recs, "int8-speed") + _claims(recs, "int4-speed")
    assert len(claims) == 4  # decode and prefill, for int8 and nf4
    bound = [r["metrics"] for r in recs if r["experiment"] == "bound-claim"]
    assert len(bound) == 1 and bound[0]["verdict"] in ("holds", "holds for prefill only", "refuted")
    assert {bound[0]["decode_regime"], bound[0]["prefill_regime"]} <= {"compute bound", "memory bound", "overhead bound"}
    assert bound[0]["decode_flop_per_byte"] < bound[0]["prefill_flop_per_byte"]


def test_kv_cache_notebook_sweeps_and_judges_every_cell(tmp_path):
    recs = _run("04_kv_cache", tmp_path, IMAGE_SIZES="32,96", ANSWER_TOKENS="1,4", REPEATS=2, FIRST_TOKENS=2)
    claims = _claims(recs, "kv-cache-reuse")
    assert len(claims) == 4
    assert all(m["tokens_in_cached"] < m["tokens_in_uncached"] and m["cache_bytes"] > 0 for m in claims)
    by_size = {}
    for r in recs:
        by_size.setdefault(r["shapes"]["visual_tokens"], r["metrics"]["cache_bytes"])
    small, large = sorted(by_size)
    assert by_size[large] > by_size[small]  # more visual tokens, bigger cache


def test_compile_notebook_separates_warm_up_and_says_what_did_not_compile(tmp_path):
    recs = _run("05_compile", tmp_path, VARIANTS="1,2", NEW_TOKENS=3, REPEATS=2, IMAGE_SIZE=32)  # no compiling: fast
    variants = {r["metrics"]["variant"]: r["metrics"] for r in recs if r["experiment"] == "compile-variant"}
    assert set(variants) == {"eager, dynamic cache", "eager, static cache", "static cache + transformers' compile"}
    assert all(m["warm-up (s)"] > 0 and m["decode (ms/token)"] > 0 for m in variants.values())
    auto = variants["static cache + transformers' compile"]
    assert auto["compiled graphs"] == 0 and "not on cpu" in auto["why not compiled"]
    skipped = [r["metrics"] for r in recs if r["experiment"] == "unmeasured-claim"]
    assert [m["claim"] for m in skipped] == ["torch-compile"] and skipped[0]["verdict"] == "not measured"


def test_attention_notebook_measures_eager_sdpa_and_the_flash_kernel(tmp_path):
    recs = _run("06_attention", tmp_path, IMAGE_SIZES="32,64", NEW_TOKENS=2, REPEATS=2)
    rows = [r["metrics"] for r in recs if r["experiment"] == "attention"]
    measured = {m["variant"] for m in rows if not m.get("unavailable")}
    assert {"eager", "sdpa (PyTorch picks)", "sdpa: math"} <= measured
    assert all(m["prefill (ms)"] > 0 and m["peak memory (MB)"] >= 0 for m in rows if not m.get("unavailable"))
    claims = _claims(recs, "flash-attention")
    skipped = [r for r in recs if r["experiment"] == "unmeasured-claim"]
    assert len(claims) + len(skipped) >= 2  # every image size gets a ratio or a reason


def test_tf32_notebook_measures_tf32_and_reports_transfers_as_not_measured_on_cpu(tmp_path):
    recs = _run("07_tf32_transfers", tmp_path, MATMUL_SIZE=256, NEW_TOKENS=2, REPEATS=2)
    claims = _claims(recs, "tf32")
    assert {m["what"] for m in claims} == {"float32 matmul", "fp32 model prefill", "fp32 model decode",
                                           "bf16 model prefill", "bf16 model decode"}
    skipped = [r["metrics"] for r in recs if r["experiment"] == "unmeasured-claim"]
    assert [m["claim"] for m in skipped] == ["non-blocking"] and "CUDA" in skipped[0]["reason"]
