"""Every seed statement gets a row; a row without measurements never carries a verdict of the book's own."""

import json
from pathlib import Path

import pytest

from vlmkit.seed_report import NOT_TESTABLE_HERE, SLOWER_CLAIM, seed_statement_table, seed_statements

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
