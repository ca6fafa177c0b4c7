"""The two decision trees: the seed's advice as a function, and ``recommend_precision`` from the planner and the book's records.

Fast: the 8B plans come from the meta device (no weights); the speeds come from the committed H200 records.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import vlmkit
from vlmkit.core.formatting import GIB
from vlmkit.errors import ConfigurationError
from vlmkit.measure.records import ResultsStore, load_records, read_measurements
from vlmkit.planning.advice import (
    SEED_ADVICE_IMAGES,
    SeedEvidence,
    compare_trees,
    judge_seed_advice,
    seed_evidence,
)
from vlmkit.planning.cards import CARD_SIZES_GIB, CardFit, DecisionSettings
from vlmkit.planning.explorer import explorer_view
from vlmkit.planning.planner import plan_memory, reference_cuda_context_bytes
from vlmkit.planning.recommend import (
    CANDIDATES,
    COMPILED_VARIANT,
    EAGER_VARIANT,
    Recommendation,
    recommend_precision,
)
from vlmkit.planning.seed_tree import SEED_CARD_ADVICE, seed_tree
from vlmkit.verdicts.statements import SeedAdvice, TreeDecision

REPO = Path(__file__).resolve().parents[1]
H200 = REPO / "reference" / "nvidia-h200"
MODEL = "qwen3-vl-8b"


def need(precision: str, *, image_size: int, batch_size: int = 1, models: int = 1) -> int:
    """The planner's need for ``models`` copies in one process (one CUDA context), computed here independently."""
    context = reference_cuda_context_bytes(H200 / "results" / "01_loading_precisions.json")
    plan = plan_memory(MODEL, precision, image_size=image_size, batch_size=batch_size, attn_implementation="sdpa",
                       device="cuda", cuda_context_bytes=context)
    return models * plan.allocator_peak_bytes + context


def measured_speed_vs_bf16(results: Path) -> dict[str, float]:
    """Whole-query speed relative to plain BF16, read straight from 03's model-speed and 05's compile records."""
    query_ms = {r["precision"]: r["metrics"]["query_ms"] for r in load_records(results / "03_dequantization.json")
                if r["experiment"] == "model-speed" and r["model"] == MODEL}
    speed = {p: query_ms["bf16"] / ms for p, ms in query_ms.items()}
    compiled = {r["metrics"]["variant"]: r["metrics"] for r in load_records(results / "05_compile.json")
                if r["experiment"] == "compile-variant" and r["precision"] == "bf16"}
    if compiled.get(COMPILED_VARIANT, {}).get("compiled graphs"):
        speed["bf16"] = compiled[EAGER_VARIANT]["whole query (ms)"] / compiled[COMPILED_VARIANT]["whole query (ms)"]
    return speed


def test_exported_from_vlmkit():
    assert vlmkit.recommend_precision is recommend_precision and vlmkit.seed_tree is seed_tree
    assert vlmkit.Recommendation is Recommendation
    assert {"recommend_precision", "seed_tree", "Recommendation"} <= set(vlmkit.__all__)


@pytest.mark.parametrize("row", SEED_CARD_ADVICE, ids=lambda r: f"{r.card}-{r.vram_gib:g}GB")
def test_seed_tree_reproduces_its_own_table(row):
    assert seed_tree(row.vram_gib) in row.picks


def test_seed_tree_follows_the_seeds_sentences():
    assert seed_tree(24) == "bf16" and seed_tree(80) == "bf16"  # don't quantize on large GPUs
    assert seed_tree(24, models=2) == "int8"  # two INT8 models need 16 GB, which fits a 4090
    assert seed_tree(24, batch_size=2) == "bf16" and seed_tree(24, batch_size=4) == "int8"  # batch 4 instead of 2
    assert seed_tree(16) == "bf16" and seed_tree(16, complex_images=True) == "int8"  # BF16 needs 16 GB; may OOM
    assert seed_tree(10) == "int8" and seed_tree(10, complex_images=True) == "int8"  # INT8 comfortable on 10 GB
    assert seed_tree(12) != seed_tree(8)  # the RTX 3060 contradiction: 12 GB -> INT8, 8 GB -> INT4
    assert seed_tree(8) == "nf4"


@pytest.mark.parametrize("card", (*CARD_SIZES_GIB, 2))
@pytest.mark.parametrize("priority", ("speed", "memory", "quality"))
@pytest.mark.parametrize(("image_size", "batch_size", "models"), [(448, 1, 1), (1344, 4, 1), (448, 1, 2)])
def test_decide_never_picks_what_the_planner_says_will_not_fit(card, priority, image_size, batch_size, models):
    rec = recommend_precision(MODEL, card, image_size=image_size, batch_size=batch_size, models=models, priority=priority)
    expected = {p: need(p, image_size=image_size, batch_size=batch_size, models=models) for p in CANDIDATES}
    assert rec.needs == expected and rec.card_bytes == card * GIB
    fitting = [p for p in CANDIDATES if expected[p] <= card * GIB]
    if fitting:
        assert rec.precision in fitting and rec.predicted_peak_bytes == expected[rec.precision] <= rec.card_bytes
        assert rec.headroom_bytes == rec.card_bytes - expected[rec.precision] >= 0
    else:
        assert rec.precision is None and not rec.fits
    assert f"{expected['nf4'] / GIB:.2f} GiB" in rec.reasons[0]  # the sentences carry the plan's numbers


def test_large_card_by_priority():
    assert recommend_precision(MODEL, 24, image_size=448, priority="quality").precision == "bf16"
    assert recommend_precision(MODEL, 24, image_size=448, priority="memory").precision == "nf4"


@pytest.mark.parametrize("priority", ("speed", "memory", "quality"))
def test_8_gib_card_is_not_bf16(priority):
    rec = recommend_precision(MODEL, 8, image_size=448, priority=priority)
    assert rec.precision != "bf16" and rec.needs["bf16"] > rec.card_bytes


def test_impossible_card_says_nothing_fits():
    rec = recommend_precision(MODEL, 2, image_size=448)
    assert rec.precision is None and not rec.fits and rec.settings == {} and rec.speed_vs_bf16 is None
    assert rec.predicted_peak_bytes == min(rec.needs.values()) > rec.card_bytes and rec.headroom_bytes < 0
    assert any(r.startswith("Nothing fits") for r in rec.reasons)


@pytest.mark.parametrize("card", (24, 16, 12, 10, 8))
def test_speed_picks_the_fastest_that_fits_according_to_the_records(card):
    speed = measured_speed_vs_bf16(H200 / "results")
    rec = recommend_precision(MODEL, card, image_size=448, priority="speed")
    fitting = [p for p in CANDIDATES if need(p, image_size=448) <= card * GIB]
    assert rec.precision == max((p for p in fitting if p in speed), key=speed.__getitem__)  # untimed: not chosen
    assert rec.speed_vs_bf16 == pytest.approx(speed[rec.precision])
    assert rec.settings["attn_implementation"] == "sdpa"
    assert (rec.settings["compile"] != "none") == (rec.precision == "bf16")  # 05 compiled BF16 only
    for e in rec.evidence:  # every record it names exists in the file it names
        assert any(r["run_id"] == e.run_id for r in load_records(REPO / e.file))
    assert {e.file for e in rec.evidence} >= {"reference/nvidia-h200/results/03_dequantization.json"}


def test_speed_follows_the_records_not_a_fixed_order(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(H200 / "results", results)
    (results / "05_compile.json").unlink()  # no compile records: BF16 is plain BF16
    path = results / "03_dequantization.json"
    payload = json.loads(path.read_text())
    for r in payload["records"]:
        if r["experiment"] == "model-speed" and r["precision"] == "int8":
            r["metrics"]["query_ms"] = 1.0  # make INT8 the fastest
    path.write_text(json.dumps(payload))
    rec = recommend_precision(MODEL, 24, image_size=448, priority="speed", records_dir=tmp_path)
    assert rec.precision == "int8" and rec.speed_vs_bf16 == pytest.approx(measured_speed_vs_bf16(results)["int8"])
    bf16 = recommend_precision(MODEL, 24, image_size=448, priority="quality", records_dir=tmp_path)
    assert bf16.precision == "bf16" and bf16.settings["compile"] == "none" and bf16.speed_vs_bf16 == 1.0


def test_speed_without_speed_records_takes_the_highest_precision_that_fits(tmp_path):
    (tmp_path / "results").mkdir()
    shutil.copy(H200 / "results" / "01_loading_precisions.json", tmp_path / "results")
    rec = recommend_precision(MODEL, 12, image_size=448, priority="speed", records_dir=tmp_path)
    fitting = [p for p in CANDIDATES if rec.needs[p] <= rec.card_bytes]
    assert rec.precision == fitting[0] and rec.speed_vs_bf16 is None


def test_relative_records_dir_is_found_from_another_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert recommend_precision(MODEL, 12, image_size=448).precision == recommend_precision(MODEL, 12, image_size=448, records_dir=H200).precision


@pytest.mark.parametrize("kwargs", [{"vram_gib": 0}, {"vram_gib": -8}, {"priority": "fast"}, {"models": 0},
                                    {"batch_size": 0}])
def test_bad_inputs_raise(kwargs):
    args = {"vram_gib": 12, "image_size": 448} | kwargs
    with pytest.raises(ConfigurationError):
        recommend_precision(MODEL, **args)


@pytest.mark.parametrize("kwargs", [{"vram_gib": 0}, {"vram_gib": 12, "models": 0}, {"vram_gib": 12, "batch_size": 0}])
def test_seed_tree_bad_inputs_raise(kwargs):
    with pytest.raises(ConfigurationError):
        seed_tree(**kwargs)


@pytest.mark.parametrize(("card", "image_size", "batch_size", "models", "priority"),
                         [(10, 1344, 2, 1, "quality"), (24, 448, 1, 2, "speed"), (2, 448, 1, 1, "memory")])
def test_explorer_view(card, image_size, batch_size, models, priority):
    view = explorer_view(MODEL, card, image_size, batch_size, models, priority)
    rec = view["recommendation"]
    assert rec == recommend_precision(MODEL, card, image_size=image_size, batch_size=batch_size, models=models, priority=priority)
    assert view["seed_pick"] == seed_tree(card, models=models, batch_size=batch_size, complex_images=image_size > 448)
    assert view["card_gib"] == card
    assert [(p, fits) for p, _, fits in view["bars"]] == [(p, rec.needs[p] <= rec.card_bytes) for p in CANDIDATES]
    assert [gib for _, gib, _ in view["bars"]] == pytest.approx([rec.needs[p] / GIB for p in CANDIDATES])
    markdown = view["markdown"]
    assert ("Nothing fits" in markdown) == (rec.precision is None)
    assert ("**does not fit**" in markdown) == (rec.needs[view["seed_pick"]] > rec.card_bytes)
    assert all(e.run_id in markdown for e in rec.evidence)


# --- the seed's advice, judged (notebook 08, section 3) and both trees on the grid (section 4) -------------------
@pytest.mark.parametrize(("run", "measured_here"), [("nvidia-h200", True), ("cpu-x86_64", False)])
def test_the_advice_rule_gives_the_reference_runs_verdicts(run, measured_here):
    """From the committed card-fit records (measured on the H200, planned on the CPU), the same seven rows."""
    results = REPO / "reference" / run / "results"
    fits = read_measurements(CardFit, results, "08_decision")
    advice = read_measurements(SeedAdvice, results, "08_decision")
    evidence = SeedEvidence([f.measurement for f in fits], measured_here, advice[0].shapes["images"],
                            fits[0].shapes["new_tokens"])
    assert judge_seed_advice(evidence, sorted({f.shapes["batch"] for f in fits})) == [a.measurement for a in advice]


def _fit(precision: str, card: float, image: int, batch: int, *, fits: bool = True, measured: bool = True) -> CardFit:
    return CardFit(precision, image, batch, card, 1.0, fits, fits, measured, 1.0 if fits else None, 1.0, None, {})


def test_the_advice_rule_on_cards_that_hold_every_query():
    fits = [_fit(p, c, s, b) for p in CANDIDATES for c in (8.0, 10.0, 12.0, 24.0) for s in (448, 896)
            for b in (1, 2, 4)]
    advice = {a.says: a for a in judge_seed_advice(SeedEvidence(fits, True, [448, 896], 8), [1, 2, 4])}
    assert len(advice) == 7
    assert advice["BF16 may OOM on a 10 GB card on complex images"].verdict == "refuted"
    assert advice["INT8 fits comfortably on a 10 GB card"].verdict == "holds"
    eight = advice["8 GB cards need INT8 or INT4"]
    assert eight.evidence == "on 8 GiB at 448 px: INT8 runs (measured), NF4 runs (measured)"
    batch = advice["INT8 frees memory for batch 4 instead of 2"]
    assert batch.verdict == "inconclusive (both reach the largest batch tried)"
    assert "(batches tried: [1, 2, 4])" in batch.evidence
    assert advice["RTX 3060 (12 GB) -> INT8; RTX 3060 (8 GB) -> INT4"].verdict == "holds for both cards"
    assert advice["don't quantize on large GPUs (RTX 4090, 24 GB -> BF16)"].verdict == "holds"
    assert advice["two INT8 models need 16 GB, which fits a 4090 (24 GB)"].evidence.startswith("planned: ")


def test_the_evidence_says_how_each_answer_is_known():
    evidence = SeedEvidence([_fit("int8", 10.0, 448, 1, measured=False), _fit("nf4", 8.0, 448, 1, fits=False)], True,
                            [448], 8)
    assert evidence.runs("int8", 10, 448) == (True, "implied by a smaller card")
    assert evidence.runs("nf4", 8, 448) == (False, "measured")
    planned = plan_memory(MODEL, "bf16", image_size=448, new_tokens=8, device="cuda").peak_bytes <= 24 * GIB
    assert evidence.runs("bf16", 24, 448) == (planned, f"planned for {MODEL}")  # not swept: the planner answers
    assert SeedEvidence(evidence.fits, False, [448], 8).runs("int8", 10, 448)[1] == f"planned for {MODEL}"


def _settings(tmp_path, model: str = "qwen3-vl-tiny", cards: list[float] | None = None) -> DecisionSettings:
    return DecisionSettings(torch.device("cpu"), model, ["bf16"], cards or [8.0, 24.0], [64], [1], 8, None, None,
                            ResultsStore("08_decision", tmp_path), None)


def test_seed_evidence_is_measured_only_for_the_seeds_model_on_cuda(tmp_path):
    tiny = seed_evidence(_settings(tmp_path), [])
    assert (tiny.measured_here, tiny.images, tiny.model, tiny.new_tokens) == (False, list(SEED_ADVICE_IMAGES), MODEL, 8)
    cpu_8b = seed_evidence(_settings(tmp_path, MODEL), [])
    assert not cpu_8b.measured_here and cpu_8b.images == [64]  # the seed's model swept: its images, planned on a CPU


def test_both_trees_are_asked_about_every_card_image_and_batch(tmp_path):
    settings = _settings(tmp_path)
    evidence = SeedEvidence([], False, [448], 8)
    rows = compare_trees(evidence, settings)
    assert [(r["card (GiB)"], r["image"], r["batch"]) for r in rows] == [(8.0, 448, 1), (8.0, 448, 4), (24.0, 448, 1),
                                                                         (24.0, 448, 4)]
    decisions = read_measurements(TreeDecision, tmp_path, "08_decision")
    for row, d in zip(rows, decisions, strict=True):
        card, batch = row["card (GiB)"], row["batch"]
        assert d.measurement.seed_pick == row["seed's tree"] == seed_tree(card, batch_size=batch)
        fits, how = evidence.runs(row["seed's tree"], card, 448, batch)
        assert (d.measurement.seed_pick_fits, d.measurement.seed_pick_evidence) == (fits, how)
        assert row["seed's pick fits"] == f"{'yes' if fits else 'NO'} ({how})"
        rec = recommend_precision(MODEL, card, image_size=448, batch_size=batch, priority="speed")
        assert d.measurement.recommendation == rec.as_dict() and d.precision == rec.precision
        assert d.shapes == {"card_gib": card, "image": [448, 448], "batch": batch} and d.repeats == 0


def test_the_explorer_redraws_its_one_chart_from_the_same_answer_as_its_text():
    import re

    from vlmkit.planning.explorer import Explorer

    explorer = Explorer("qwen3-vl-8b")
    for name, value in (("vram_gib", 24.0), ("image_size", 1792), ("batch_size", 4), ("models", 2),
                        ("priority", "memory")):
        explorer.controls[name].value = value  # each control, as a learner moves it
        text_needs = re.findall(r"(?:BF16|INT8|NF4|INT4) (\d+\.\d\d GiB)", explorer.text.value)[:len(CANDIDATES)]
        bar_labels = re.findall(r">(\d+\.\d\d GiB)<", explorer.chart.value)
        assert bar_labels == text_needs and len(bar_labels) == len(CANDIDATES), (name, bar_labels, text_needs)
        assert explorer.view == explorer_view("qwen3-vl-8b", **explorer.values())
    assert "24.00 GiB card" in explorer.text.value or "of 24.00 GiB" in explorer.text.value
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "static copy" in bundle["text/html"] and "<svg" in bundle["text/html"]  # a viewer without widgets
