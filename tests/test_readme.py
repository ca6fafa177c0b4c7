"""The README's H200 table is generated from the committed reference results, never typed."""

import json
from pathlib import Path

from vlmkit.report import memory_table

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "nvidia-h200"


def test_readme_table_matches_the_reference_results():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- h200-memory-table:start -->\n")[1].split("\n<!-- h200-memory-table:end -->")[0]
    assert block == memory_table(REFERENCE)


def test_reference_run_is_a_real_gpu_run_of_every_precision():
    manifest = json.loads((REFERENCE / "run.json").read_text())
    assert manifest["device"]["device"] == "cuda" and manifest["device"]["device_name"] == "NVIDIA H200"
    assert [e["status"] for e in manifest["notebooks"]] == ["ok", "ok"]
    recs = json.loads((REFERENCE / "results" / "01_loading_precisions.json").read_text())["records"]
    loads = {r["precision"]: r for r in recs if r["experiment"] == "load" and r["run_id"] == manifest["run_id"]}
    assert set(loads) >= {"bf16", "fp16", "int8", "int8-t0", "nf4", "fp4", "nf4-dq"}
    for r in loads.values():
        assert r["model"] == "qwen3-vl-8b" and r["provenance"]["device"] == "cuda"
        load = r["metrics"]["load"]
        assert load["weights"]["total_params"] == 8_767_123_696
        assert load["memory"]["kind"] == "cuda-allocator" and load["memory"]["retained_bytes"] > 0
        assert load["memory"]["peak_bytes"] >= load["memory"]["retained_bytes"]
