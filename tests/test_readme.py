"""The README's H200 table is generated from the committed reference results, never typed."""

import json
from pathlib import Path

from vlmkit.report import memory_table, quality_table

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "nvidia-h200"


def _block(name: str) -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split(f"<!-- {name}:start -->\n")[1].split(f"\n<!-- {name}:end -->")[0]


def test_readme_tables_match_the_reference_results():
    assert _block("h200-memory-table") == memory_table(REFERENCE)
    assert _block("h200-quality-table") == quality_table(REFERENCE)


def test_readme_quotes_the_committed_models_accuracy():
    card = (ROOT / "data" / "shapes-model" / "README.md").read_text()
    overall = card.split("Overall **")[1].split("**")[0]
    assert f"{overall} exact match in BF16" in (ROOT / "README.md").read_text()


def test_reference_run_is_a_real_gpu_run_of_every_precision():
    manifest = json.loads((REFERENCE / "run.json").read_text())
    assert manifest["device"]["device"] == "cuda" and manifest["device"]["device_name"] == "NVIDIA H200"
    assert [(e["notebook"][:2], e["status"]) for e in manifest["notebooks"]] == [("00", "ok"), ("01", "ok"), ("02", "ok")]
    recs = json.loads((REFERENCE / "results" / "01_loading_precisions.json").read_text())["records"]
    loads = {r["precision"]: r for r in recs if r["experiment"] == "load" and r["run_id"] == manifest["run_id"]}
    assert set(loads) >= {"bf16", "fp16", "int8", "int8-t0", "nf4", "fp4", "nf4-dq"}
    for r in loads.values():
        assert r["model"] == "qwen3-vl-8b" and r["provenance"]["device"] == "cuda"
        load = r["metrics"]["load"]
        assert load["weights"]["total_params"] == 8_767_123_696
        assert load["memory"]["kind"] == "cuda-allocator" and load["memory"]["retained_bytes"] > 0
        assert load["memory"]["peak_bytes"] >= load["memory"]["retained_bytes"]


def test_reference_run_measured_quality_in_every_precision_on_the_gpu():
    manifest = json.loads((REFERENCE / "run.json").read_text())
    recs = json.loads((REFERENCE / "results" / "02_quality.json").read_text())["records"]
    recs = [r for r in recs if r["run_id"] == manifest["run_id"]]
    assert all(r["provenance"]["device"] == "cuda" for r in recs)
    accuracy = {r["precision"]: r["metrics"]["overall"] for r in recs if r["experiment"] == "accuracy"}
    assert set(accuracy) == {"fp32", "bf16", "fp16", "int8", "int8-t0", "nf4", "fp4", "nf4-dq"}
    assert accuracy["bf16"] >= 0.90
    large = {r["precision"] for r in recs if r["experiment"] == "logit-fidelity" and r["model"] == "qwen3-vl-8b"}
    assert large == set(accuracy) - {"bf16"}


def test_readme_speed_verdicts_match_the_cpu_reference():
    from vlmkit.report import speed_verdict_table

    assert _block("cpu-speed-verdicts") == speed_verdict_table(ROOT / "reference" / "cpu-x86_64")
