"""The README's tables are generated from the committed reference results, never typed."""

import json
from pathlib import Path

from vlmkit.records import latest_run, load_records
from vlmkit.report import fill_readme

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "nvidia-h200"


def test_readme_tables_match_the_reference_results():
    readme = (ROOT / "README.md").read_text()
    assert fill_readme(readme, ROOT) == readme  # else: python -m vlmkit.report --update-readme


def test_readme_quotes_the_committed_models_accuracy():
    card = (ROOT / "data" / "shapes-model" / "README.md").read_text()
    overall = card.split("Overall **")[1].split("**")[0]
    assert f"{overall} exact match in BF16" in (ROOT / "README.md").read_text()


def test_reference_run_is_a_real_gpu_run_of_every_precision():
    manifest = json.loads((REFERENCE / "run.json").read_text())
    assert manifest["device"]["device"] == "cuda" and manifest["device"]["device_name"] == "NVIDIA H200"
    assert [(e["notebook"][:2], e["status"]) for e in manifest["notebooks"]] == [(f"{i:02d}", "ok") for i in range(8)]
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


def _speed_records(notebook: str) -> list[dict]:
    records = latest_run(load_records(REFERENCE / "results" / f"{notebook}.json"))
    assert records and all(r["provenance"]["device"] == "cuda" for r in records)
    return records


def test_h200_speed_run_measured_what_only_a_gpu_can():
    speeds = {r["precision"]: r["metrics"] for r in _speed_records("03_dequantization") if r["experiment"] == "model-speed"}
    assert set(speeds) == {"bf16", "int8", "int8-t0", "nf4"}
    assert all(0 < m["gpu_busy_share_decode"] <= 1 for m in speeds.values())  # the profiler really ran
    compiled = [r["metrics"] for r in _speed_records("05_compile") if r["experiment"] == "compile-variant"]
    assert any(m["variant"] == "static cache + transformers' compile" and m["compiled graphs"] > 0 for m in compiled)
    transfers = [r for r in _speed_records("07_tf32_transfers") if r["experiment"].endswith("-claim")
                 and r["metrics"]["claim"] == "non-blocking"]
    assert transfers and all(r["experiment"] == "speed-claim" for r in transfers)  # measured, not skipped
    attention = {r["metrics"]["variant"] for r in _speed_records("06_attention")
                 if r["experiment"] == "attention" and not r["metrics"].get("unavailable")}
    assert {"eager", "sdpa: flash", "sdpa: cudnn"} <= attention


def test_readme_quotes_the_compile_warm_ups_of_both_runs():
    readme = (ROOT / "README.md").read_text()
    for name in ("05_compile.superseded-20261130T233038.json", "05_compile.json"):
        warm = next(r["metrics"]["warm-up (s)"] for r in load_records(REFERENCE / "results" / name)
                    if r["experiment"] == "compile-variant" and r["precision"] == "bf16"
                    and r["metrics"]["variant"] == "static cache + transformers' compile")
        assert f"{warm:.1f} s" in readme
