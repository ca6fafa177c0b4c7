"""Every seed statement gets a row; a row without measurements never carries a verdict of the book's own."""

import json
from pathlib import Path

import pytest

from vlmkit.measure.records import ResultsStore
from vlmkit.verdicts.statements import (
    NOT_TESTABLE_HERE,
    SLOWER_CLAIM,
    Statement,
    seed_statement_table,
    seed_statements,
    statement_table,
)

ROOT = Path(__file__).resolve().parent.parent
MEASURED_VERDICTS = ("holds", "refuted", "partly", "below", "above", "inconclusive")


def test_the_h200_report_covers_every_statement_once():
    rows = seed_statements(ROOT / "reference" / "nvidia-h200" / "results")
    texts = [r.statement for r in rows]
    assert len(texts) == len(set(texts)) >= 20
    for needed in ("INT8 -> dequantize", "70B+ models", "TensorRT INT8", "ONNX Runtime INT8", "Windows",
                   "10-40 % slower", "torch.compile", "Flash Attention", "TF32", "KV-cache", "pinned memory",
                   "max speed", "decision tree", "dequantization overhead", "compute bound"):
        assert any(needed in t for t in texts), needed
    assert all(r.verdict and r.measured and r.notebook for r in rows)
    table = seed_statement_table(ROOT / "reference" / "nvidia-h200")
    assert table.count("\n") == len(rows) + 1


def test_untestable_statements_cite_sources_and_claim_no_measurement():
    for row in NOT_TESTABLE_HERE:
        assert row.verdict.startswith("not testable here") and "https://" in row.measured and row.notebook == "-"


def test_an_empty_results_folder_gives_no_verdict_of_its_own(tmp_path):
    rows = seed_statements(tmp_path)
    own = [r for r in rows if r not in NOT_TESTABLE_HERE]
    assert own and all(not r.verdict.startswith(MEASURED_VERDICTS) for r in own), [r.verdict for r in own]


def _speed_records(path: Path, ratios: dict[str, float]) -> None:
    records = [{"schema": 1, "notebook": "03_dequantization", "experiment": "speed-claim", "run_id": "r", "model": "m",
                "precision": p, "shapes": {}, "repeats": 5, "provenance": {"device_name": "x"},
                "metrics": {"claim": "int8-speed" if p == "int8" else "int4-speed", "claim_text": "t", "role": "headline",
                            "ratio": r, "low": r, "high": r, "claimed": [0.6, 0.9], "variant": p, "baseline": "bf16",
                            "what": "whole query"}} for p, r in ratios.items()]
    path.write_text(json.dumps({"schema": 1, "records": records}))


@pytest.mark.parametrize(("ratios", "expected"), [({"int8": 0.28, "nf4": 0.75}, "partly"),
                                                  ({"int8": 0.85, "nf4": 0.7}, "holds"),
                                                  ({"int8": 0.3, "nf4": 1.1}, "refuted")])
def test_ten_to_forty_percent_slower_is_judged_from_the_headline_ratios(tmp_path, ratios, expected):
    _speed_records(tmp_path / "03_dequantization.json", ratios)
    row = next(r for r in seed_statements(tmp_path) if r.statement == SLOWER_CLAIM[0])
    assert row.verdict == expected
    assert ("faster" in row.measured) == any(r > 1 for r in ratios.values())


def _write(path: Path, notebook: str, entries: list[tuple[str, str, dict]]) -> None:
    records = [{"schema": 1, "notebook": notebook, "experiment": experiment, "run_id": "r", "model": "m",
                "precision": precision, "shapes": {"image": [448, 448], "new_tokens": 32}, "repeats": 3,
                "provenance": {"device_name": "x", "timestamp": "2026-12-01T00:00:00+00:00",
                               "versions": {"torch": "2", "transformers": "5", "bitsandbytes": "0"}},
                "metrics": metrics} for experiment, precision, metrics in entries]
    path.write_text(json.dumps({"schema": 1, "records": records}))


def _rung(name: str, query_s: float | None, tokens_per_s: float | None, note: str = "") -> dict:
    """A rung's metrics as notebook 09 records them (a failed rung: no numbers)."""
    ran = tokens_per_s is not None
    return {"name": name, "decode_s_per_token": 1 / tokens_per_s if ran else None, "tokens_per_s": tokens_per_s,
            "bandwidth_share": 0.5 if ran else None, "bytes_per_token": 10**9 if ran else 0, "query_s": query_s,
            "warmup_s": 2.0 if ran else None, "repeats": 3 if ran else 0, "cached_warmup_s": None, "note": note,
            "copy_bandwidth": 1e12, "compile_backend": "inductor"}


@pytest.mark.parametrize(("recipe_query_s", "expected"), [(2.0, "refuted: slower than the defaults"),
                                                          (0.5, "holds: faster than the defaults"),
                                                          (1.01, "no measurable gain over the defaults")])
def test_the_recipe_is_judged_as_one_call_per_query(tmp_path, recipe_query_s, expected):
    recipe = "the seed's recipe: VLMInference(use_compile, use_flash_attention)"
    _write(tmp_path / "09_decode_ladder.json", "09_decode_ladder", [
        ("decode-rung", "bf16", _rung("generate, eager, dynamic cache", 1.0, 30.0)),
        ("decode-rung", "bf16", _rung(recipe, recipe_query_s, 20.0, "attention: flash_attention_4; 42 graph(s)")),
        ("recipe-precision", "nf4", {**_rung("nf4: default", 2.0, 10.0), "variant": "default"}),
        ("recipe-precision", "nf4", {**_rung("nf4: the seed's recipe", 2.5, 8.0), "variant": "the seed's recipe"})])
    row = next(r for r in seed_statements(tmp_path) if r.statement.startswith("max speed"))
    assert row.verdict == expected and "09" in row.notebook
    assert f"{1 / recipe_query_s:.2f}x the seed's defaults per query" in row.measured
    assert "0.67x per decoded token" in row.measured and "NF4: 0.80x per query" in row.measured
    assert "42 graph(s)" in row.measured  # what ran is said, not assumed


def test_a_failed_recipe_gives_its_error_and_no_verdict(tmp_path):
    _write(tmp_path / "09_decode_ladder.json", "09_decode_ladder", [
        ("decode-rung", "bf16", _rung("generate, eager, dynamic cache", 1.0, 30.0)),
        ("decode-rung", "bf16", _rung("the seed's recipe: VLMInference(use_compile, use_flash_attention)", None, None,
                                      "failed: RuntimeError: no kernel"))])
    row = next(r for r in seed_statements(tmp_path) if r.statement.startswith("max speed"))
    assert row.verdict == "not measured as one recipe" and "failed: RuntimeError: no kernel" in row.measured


@pytest.mark.parametrize(("device_type", "speedup", "expected"), [
    ("cuda", 1.28, "refuted in the compiled loop: INT4 faster"), ("cuda", 0.7, "holds in the compiled loop"),
    ("cpu", 3.0, "not measured here")])
def test_int4_on_the_compiled_loop_is_a_supporting_row_and_a_cpu_run_judges_nothing(tmp_path, device_type, speedup,
                                                                                    expected):
    _write(tmp_path / "10_int4_decode.json", "10_int4_decode", [
        ("int4-verdict", "int4", {"speedup_vs_bf16": speedup, "goal": 1.5, "outcome": "not reached", "bytes_ratio": 3.0,
                                  "kernel_speedup": 1.5, "text": f"INT4 runs at {speedup}x", "device_type": device_type})])
    row = next(r for r in seed_statements(tmp_path) if "once decode's per-token overhead" in r.statement)
    assert row.verdict == expected and row.notebook == "10"
    assert ("supporting" in row.measured) == (device_type == "cuda")


def test_the_decode_table_has_a_row_per_rung_and_marks_a_failed_one(tmp_path):
    from vlmkit.book.readme_tables import decode_table

    h200 = decode_table(ROOT / "reference" / "nvidia-h200")
    rungs = [line for line in h200.splitlines() if line.startswith("| 09 ") or line.startswith("| 10 ")]
    assert len(rungs) == 11 and "INT4 (torchao), compiled step" in h200
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    failed = {**_rung("the seed's recipe: x", None, None, "failed: E"), "bandwidth_share": None, "warmup_s": None,
              "cached_warmup_s": None}
    _write(run / "results" / "09_decode_ladder.json", "09_decode_ladder", [("decode-rung", "bf16", failed)])
    assert "| 09 | the seed's recipe: x (failed: see the notebook) | – | – | – | – | – |" in decode_table(run)


def test_the_statement_table_bolds_verdicts_on_request_and_each_row_is_a_record(tmp_path):
    rows = seed_statements(tmp_path / "results")
    plain, bold = statement_table(rows), statement_table(rows, bold_verdicts=True)
    assert plain == seed_statement_table(tmp_path) and plain.count("\n") == len(rows) + 1
    assert bold.count("**") == 2 * len(rows) and bold.replace("**", "") == plain
    store = ResultsStore("08_decision", tmp_path)
    store.record_measurement(rows[0], model=None, precision=None, shapes={}, repeats=0)
    record = store.records()[0]
    assert record["experiment"] == "seed-statement" and record["metrics"] == rows[0].as_dict()
    assert Statement.from_metrics(record["metrics"]) == rows[0]
