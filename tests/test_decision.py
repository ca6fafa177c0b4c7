"""The two decision trees: the seed's tree as written, and ``recommend_precision`` from the emulated cards, the planner
and the book's records.

Fast: the 8B plans come from the meta device (no weights); the measured cards and speeds come from the committed
H200 records, read here straight from the JSON (independently of ``CardTest``) where a test needs the truth.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

import vlmkit
from vlmkit.core.formatting import GIB
from vlmkit.errors import ConfigurationError
from vlmkit.measure.records import (
    ResultsStore,
    latest_run,
    load_records,
    read_measurements,
)
from vlmkit.planning.advice import (
    SEED_ADVICE_IMAGES,
    SeedEvidence,
    compare_trees,
    judge_seed_advice,
    judge_seed_tree,
    seed_evidence,
)
from vlmkit.planning.cards import CARD_SIZES_GIB, CardFit, CardTest, DecisionSettings
from vlmkit.planning.explorer import explorer_view
from vlmkit.planning.planner import plan_memory, reference_cuda_context_bytes
from vlmkit.planning.recommend import (
    CANDIDATES,
    COMPILED_VARIANT,
    EAGER_VARIANT,
    Recommendation,
    recommend_precision,
)
from vlmkit.planning.seed_tree import QUANTIZE, SEED_CARD_ADVICE, seed_tree
from vlmkit.verdicts.statements import SeedAdvice, TreeDecision, seed_statements

REPO = Path(__file__).resolve().parents[1]
H200 = REPO / "reference" / "nvidia-h200"
MODEL = "qwen3-vl-8b"


def plan(precision: str, *, image_size: int, batch_size: int = 1):
    context = reference_cuda_context_bytes(H200 / "results" / "01_loading_precisions.json")
    return plan_memory(MODEL, precision, image_size=image_size, batch_size=batch_size, attn_implementation="sdpa",
                       device="cuda", cuda_context_bytes=context)


def need(precision: str, *, image_size: int, batch_size: int = 1, models: int = 1) -> int:
    """The planner's need for ``models`` copies in one process (one CUDA context), computed here independently."""
    p = plan(precision, image_size=image_size, batch_size=batch_size)
    return models * p.allocator_peak_bytes + p.cuda_context_bytes


def h200_card_fits() -> list[dict]:
    """The H200 reference's card-fit metrics of its latest run whose answer is known, straight from the JSON."""
    records = latest_run(load_records(H200 / "results" / "08_decision.json"))
    return [r["metrics"] for r in records if r["experiment"] == "card-fit" and r["metrics"]["fits"] is not None]


def h200_margin() -> float:
    """The margin the H200 measurements justify, computed here from the JSON: the planner's largest shortfall (a query
    that ran: its peak; one out of memory: the allocator's cap) over its plan, rounded up to a whole per cent."""
    worst = max((m["result"]["peak_bytes"] if m["fits"] else m["result"]["allocator_cap_bytes"])
                / m["plan"]["allocator_peak_bytes"] - 1 for m in h200_card_fits() if m["measured"])
    return math.ceil(round(100 * worst, 6)) / 100


def h200_fits(precision: str, card: float, image: int, batch: int) -> bool | None:
    """What the H200 reference's card-fit record of exactly this query says (``None``: no record)."""
    found = [m["fits"] for m in h200_card_fits()
             if (m["precision"], m["card (GiB)"], m["image"], m["batch"]) == (precision, card, image, batch)]
    return found[0] if found else None


def expected_fit(precision: str, card: float, image_size: int, batch_size: int = 1, models: int = 1) -> bool:
    """Measured first (one model: the cards ran one), else the planner's allocator peak with the H200 margin."""
    measured = h200_fits(precision, float(card), image_size, batch_size) if models == 1 else None
    if measured is not None:
        return measured
    p = plan(precision, image_size=image_size, batch_size=batch_size)
    return models * math.ceil(p.allocator_peak_bytes * (1 + h200_margin())) + p.cuda_context_bytes <= card * GIB


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


def _fit(precision: str, card: float, image: int, batch: int, *, fits: bool = True, measured: bool = True,
         planned: int = GIB, needed: int | None = None) -> CardFit:
    """A card-fit record: ``planned`` the planner's allocator peak, ``needed`` the measured peak (ran) or the cap
    (out of memory); no result when ``needed`` is None."""
    result = None if needed is None else {"peak_bytes": needed, "allocator_cap_bytes": needed}
    return CardFit(precision, image, batch, card, 1.0, fits, fits, measured, 1.0 if fits else None, 1.0, result,
                   {"allocator_peak_bytes": planned})


def test_exported_from_vlmkit():
    assert vlmkit.recommend_precision is recommend_precision and vlmkit.seed_tree is seed_tree
    assert vlmkit.Recommendation is Recommendation
    assert {"recommend_precision", "seed_tree", "Recommendation"} <= set(vlmkit.__all__)


@pytest.mark.parametrize(("vram", "oom", "expected"), [
    (8, True, QUANTIZE), (10, True, QUANTIZE), (24, True, QUANTIZE), (80, True, QUANTIZE),  # OOM errors? -> quantize
    (8, False, "int8"), (11.5, False, "int8"),  # < 12 GB VRAM? -> INT8
    (12, False, "bf16"), (24, False, "bf16"), (80, False, "bf16"),  # else BF16
])
def test_seed_tree_asks_its_two_questions_as_written(vram, oom, expected):
    assert QUANTIZE == "nf4"  # the book's reading of "quantize": 4-bit, the seed's INT4
    assert seed_tree(vram, oom_errors=oom) == expected
    assert seed_tree(vram, oom_errors=oom, batch_size=8, models=3) == expected  # the tree asks nothing about them
    assert seed_tree(vram, oom_errors=oom, quantize="int8") == ("int8" if oom else expected)  # the other reading


def test_seed_tree_is_not_the_seeds_card_table():
    """The seed's table says "RTX 3060 (12 GB) -> INT8"; its tree, without OOM errors, answers BF16 for 12 GB."""
    row = next(r for r in SEED_CARD_ADVICE if r.vram_gib == 12)
    assert row.picks == ("int8",) and seed_tree(12) == "bf16" and seed_tree(12, oom_errors=True) == "nf4"


def test_seed_tree_refuses_an_unknown_reading_of_quantize():
    with pytest.raises(ConfigurationError, match="quantize"):
        seed_tree(8, oom_errors=True, quantize="fp4")


@pytest.mark.parametrize("card", (*CARD_SIZES_GIB, 2))
@pytest.mark.parametrize("priority", ("speed", "memory", "quality"))
@pytest.mark.parametrize(("image_size", "batch_size", "models"), [(448, 1, 1), (1344, 4, 1), (1792, 1, 1), (448, 1, 2)])
def test_decide_never_picks_what_ran_out_of_memory_nor_what_the_planner_with_its_margin_says_will_not_fit(
        card, priority, image_size, batch_size, models):
    rec = recommend_precision(MODEL, card, image_size=image_size, batch_size=batch_size, models=models, priority=priority)
    expected = {p: need(p, image_size=image_size, batch_size=batch_size, models=models) for p in CANDIDATES}
    assert rec.needs == expected and rec.card_bytes == card * GIB  # the planner's needs, without the margin
    fitting = [p for p in CANDIDATES if expected_fit(p, card, image_size, batch_size, models)]
    assert [p for p in CANDIDATES if rec.fit[p]] == fitting
    if fitting:
        assert rec.precision in fitting and rec.predicted_peak_bytes == expected[rec.precision]
        assert rec.headroom_bytes == rec.card_bytes - expected[rec.precision]
    else:
        assert rec.precision is None and not rec.fits
    assert f"{expected['nf4'] / GIB:.2f} GiB" in rec.reasons[0]  # the sentences carry the plan's numbers
    assert rec.margin == pytest.approx(h200_margin()) and f"{100 * h200_margin():.0f} %" in rec.reasons[1]


@pytest.mark.parametrize(("image_size", "batch_size"), [(896, 4), (1792, 1)])
def test_decide_no_longer_picks_nf4_where_it_ran_out_of_memory_on_the_8_gib_card(image_size, batch_size):
    """The two cases ``recommend_precision`` once answered NF4 for: the emulated 8 GiB card ran out of memory."""
    assert h200_fits("nf4", 8.0, image_size, batch_size) is False  # the measurement
    rec = recommend_precision(MODEL, 8, image_size=image_size, batch_size=batch_size)
    assert rec.precision is None and not rec.fit["nf4"] and rec.fit_by["nf4"] == "measurement"
    assert rec.fit_evidence["nf4"].startswith("out of memory, measured")
    assert any(r.startswith("Nothing fits") and "NF4 out of memory" in r for r in rec.reasons)
    assert any(e.file == "reference/nvidia-h200/results/08_decision.json" for e in rec.evidence)


def test_decide_excludes_a_precision_measured_out_of_memory_even_where_the_planner_says_it_fits():
    test = CardTest.from_fits(MODEL, [_fit("nf4", 24.0, 448, 1, fits=False)])  # no result: no shortfall, no margin
    rec = recommend_precision(MODEL, 24, image_size=448, priority="memory", card_test=test)
    assert rec.needs["nf4"] < 8 * GIB < rec.card_bytes  # the planner: NF4 fits three times over
    assert not rec.fit["nf4"] and rec.fit_by["nf4"] == "measurement" and rec.precision != "nf4"
    assert rec.precision == min((p for p in CANDIDATES if p != "nf4"), key=rec.needs.__getitem__)
    assert rec.margin == 0 and all(rec.fit_by[p] == "planner" for p in CANDIDATES if p != "nf4")
    smaller = recommend_precision(MODEL, 20, image_size=448, priority="memory", card_test=test)
    assert not smaller.fit["nf4"] and "from the 24 GiB card" in smaller.fit_evidence["nf4"]  # a smaller card neither
    two = recommend_precision(MODEL, 24, image_size=448, models=2, priority="memory", card_test=test)
    assert two.fit["nf4"] and two.fit_by["nf4"] == "planner"  # the cards ran one model, not two


def test_decide_takes_a_measured_fit_over_the_planner():
    test = CardTest.from_fits(MODEL, [_fit("bf16", 8.0, 448, 1, fits=True)])
    rec = recommend_precision(MODEL, 8, image_size=448, priority="quality", card_test=test)
    assert rec.needs["bf16"] > 2 * rec.card_bytes and rec.fit["bf16"] and rec.precision == "bf16"


@pytest.mark.parametrize("short", [0.073, 0.12])
def test_the_margin_is_computed_from_the_measured_cases(short):
    """A planner that fell X short on a measured query gets a margin of at least X, which decides unmeasured cards."""
    planned = 10 * GIB
    ran = _fit("int8", 16.0, 896, 2, planned=planned, needed=int(planned * (1 + short)))  # ran, peaking X above
    oom = _fit("int8", 12.0, 896, 2, fits=False, planned=planned, needed=int(planned * (1 + short / 2)))  # cap
    test = CardTest.from_fits("some-other-model", [ran, oom, _fit("int8", 24.0, 896, 2, measured=False)])
    assert [s.shortfall for s in test.shortfalls] == pytest.approx([short, short / 2], abs=1e-9)  # implied: left out
    assert short <= test.margin < short + 0.01 and test.margin == pytest.approx(math.ceil(100 * short) / 100)
    out_of_memory = CardTest.from_fits("m", [_fit("nf4", 8.0, 448, 1, fits=False, planned=planned,
                                                  needed=int(planned * (1 + short)))])
    assert out_of_memory.margin >= short  # an out-of-memory query needed more than the cap it hit
    nf4 = plan("nf4", image_size=448)
    card = (nf4.allocator_peak_bytes * (1 + test.margin / 2) + nf4.cuda_context_bytes) / GIB  # fits only without it
    rec = recommend_precision(MODEL, card, image_size=448, priority="memory", card_test=test)
    assert rec.needs["nf4"] <= rec.card_bytes and not rec.fit["nf4"] and rec.fit_by["nf4"] == "planner"
    assert f"{100 * test.margin:.0f} % margin" in rec.fit_evidence["nf4"] and f"{100 * test.margin:.0f} %" in rec.reasons[1]
    no_margin = recommend_precision(MODEL, card, image_size=448, priority="memory", card_test=CardTest(()))
    assert no_margin.fit["nf4"] and no_margin.precision == "nf4" and no_margin.margin == 0


def test_the_h200_margin_covers_every_measured_query():
    margin = CardTest.load(H200 / "results").margin
    assert margin == pytest.approx(h200_margin()) and margin > 0.10  # NF4 1792 px x8 ran out of memory on 16 GiB
    for m in h200_card_fits():
        if m["measured"]:
            needed = m["result"]["peak_bytes"] if m["fits"] else m["result"]["allocator_cap_bytes"]
            assert m["plan"]["allocator_peak_bytes"] * (1 + margin) >= needed, m


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
    fitting = [p for p in CANDIDATES if expected_fit(p, card, 448)]
    assert rec.precision == max((p for p in fitting if p in speed), key=speed.__getitem__)  # untimed: not chosen
    assert rec.speed_vs_bf16 == pytest.approx(speed[rec.precision])
    assert rec.settings["attn_implementation"] == "sdpa"
    assert (rec.settings["compile"] != "none") == (rec.precision == "bf16")  # 05 compiled BF16 only
    for e in rec.evidence:  # every record it names exists in the file it names
        assert any(r["run_id"] == e.run_id for r in load_records(REPO / e.file))
    assert {e.file for e in rec.evidence} >= {"reference/nvidia-h200/results/03_dequantization.json",
                                              "reference/nvidia-h200/results/08_decision.json"}


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
    fitting = [p for p in CANDIDATES if expected_fit(p, 12, 448)]  # no 08 here: the H200 reference's cards
    assert rec.precision == fitting[0] and rec.speed_vs_bf16 is None and rec.fit_by["int8"] == "measurement"


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
    bf16_runs = expected_fit("bf16", card, image_size, batch_size, models)  # the seed's "OOM errors?"
    assert view["seed_pick"] == seed_tree(card, oom_errors=not bf16_runs)
    assert view["card_gib"] == card
    assert [(p, fits) for p, _, fits in view["bars"]] == [(p, expected_fit(p, card, image_size, batch_size, models))
                                                          for p in CANDIDATES]
    assert [gib for _, gib, _ in view["bars"]] == pytest.approx([rec.needs[p] / GIB for p in CANDIDATES])
    markdown = view["markdown"]
    assert ("Nothing fits" in markdown) == (rec.precision is None)
    assert ("**does not fit**" in markdown) == (not rec.fit[view["seed_pick"]])
    assert f"OOM errors? {'no' if bf16_runs else 'yes'}" in markdown
    assert all(e.run_id in markdown for e in rec.evidence)


# --- the seed's advice, judged (notebook 08, section 3) and both trees on the grid (section 4) -------------------
@pytest.mark.parametrize(("run", "measured_here"), [("nvidia-h200", True), ("cpu-x86_64", False)])
def test_the_advice_rule_gives_the_reference_runs_verdicts(run, measured_here):
    """From the committed card-fit records (measured on the H200, planned on the CPU), the same seven rows, where the
    reference ran with today's vlmkit (a stale one was judged by older rules)."""
    from vlmkit.book.reference_status import reference_status

    if not next(s for s in reference_status(REPO / "reference" / run) if s.notebook == "08_decision.ipynb").current:
        pytest.skip(f"{run}'s notebook 08 is stale: its advice was judged by an older rule (not a pass)")
    results = REPO / "reference" / run / "results"
    fits = read_measurements(CardFit, results, "08_decision")
    advice = read_measurements(SeedAdvice, results, "08_decision")
    evidence = SeedEvidence([f.measurement for f in fits], measured_here, advice[0].shapes["images"],
                            fits[0].shapes["new_tokens"])
    assert judge_seed_advice(evidence, sorted({f.shapes["batch"] for f in fits})) == [a.measurement for a in advice]


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
    assert batch.verdict == "inconclusive (BF16 reaches the largest batch tried at every image size)"
    assert "(batches tried: [1, 2, 4]; per image: 448 px BF16 4 / INT8 4, 896 px BF16 4 / INT8 4)" in batch.evidence


@pytest.mark.parametrize(("int8_batches", "expected"), [((1, 2, 4, 8), "holds"), ((1, 2, 4), "refuted")])
def test_the_batch_claim_is_judged_where_bf16_is_memory_limited(int8_batches, expected):
    # 448 px: both reach batch 8; 1792 px: BF16 stops at 4 (the H200 card table's case), INT8 at the given batches
    fits = [_fit(p, 24.0, 448, b) for p in CANDIDATES for b in (1, 2, 4, 8)]
    fits += [_fit("bf16", 24.0, 1792, b, fits=b <= 4) for b in (1, 2, 4, 8)]
    fits += [_fit("int8", 24.0, 1792, b, fits=b in int8_batches) for b in (1, 2, 4, 8)]
    fits += [_fit(p, c, s, 1) for p in CANDIDATES for c in (8.0, 10.0, 12.0) for s in (448, 1792)]
    advice = {a.says: a for a in judge_seed_advice(SeedEvidence(fits, True, [448, 1792], 8), [1, 2, 4, 8])}
    batch = advice["INT8 frees memory for batch 4 instead of 2"]
    assert batch.verdict == expected
    assert batch.evidence.startswith("at 1792 px, the smallest image where BF16's batch is limited by memory on a "
                                     f"24 GiB card: largest batch BF16 4, INT8 {max(int8_batches)}")
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
    return DecisionSettings(torch.device("cpu"), model, ["bf16"], cards or [8.0, 24.0], [64], [1], 8, None,
                            ResultsStore("08_decision", tmp_path), None)


def test_seed_evidence_is_measured_only_for_the_seeds_model_on_cuda(tmp_path):
    tiny = seed_evidence(_settings(tmp_path), [])
    assert (tiny.measured_here, tiny.images, tiny.model, tiny.new_tokens) == (False, list(SEED_ADVICE_IMAGES), MODEL, 8)
    cpu_8b = seed_evidence(_settings(tmp_path, MODEL), [])
    assert not cpu_8b.measured_here and cpu_8b.images == [64]  # the seed's model swept: its images, planned on a CPU


def test_both_trees_are_asked_about_every_card_image_and_batch(tmp_path):
    settings = _settings(tmp_path)
    evidence = SeedEvidence([], False, [448], 8)  # this run did not put the 8B on a card: the H200 reference's cards
    rows = compare_trees(evidence, settings)
    assert [(r["card (GiB)"], r["image"], r["batch"]) for r in rows] == [(8.0, 448, 1), (8.0, 448, 4), (24.0, 448, 1),
                                                                         (24.0, 448, 4)]
    assert [r["seed's tree"] for r in rows] == ["nf4", "nf4", "bf16", "bf16"]  # BF16 OOM on 8 GiB, runs on 24 GiB
    decisions = read_measurements(TreeDecision, tmp_path, "08_decision")
    for row, d in zip(rows, decisions, strict=True):
        card, batch = row["card (GiB)"], row["batch"]
        bf16 = h200_fits("bf16", card, 448, batch)
        assert row["BF16 runs (else: OOM errors)"].startswith("yes" if bf16 else "NO")
        assert d.measurement.seed_pick == row["seed's tree"] == seed_tree(card, oom_errors=not bf16)
        fits = h200_fits(row["seed's tree"], card, 448, batch)
        assert d.measurement.seed_pick_fits == fits and d.measurement.seed_pick_evidence.endswith("on NVIDIA H200")
        assert row["seed's pick fits"] == f"{'yes' if fits else 'NO'} ({d.measurement.seed_pick_evidence})"
        rec = recommend_precision(MODEL, card, image_size=448, batch_size=batch, priority="speed")
        assert d.measurement.recommendation == rec.as_dict() and d.precision == rec.precision
        assert row["recommend_precision's pick fits"].startswith("yes")
        assert d.shapes == {"card_gib": card, "image": [448, 448], "batch": batch} and d.repeats == 0


def _tree_evidence(bf16_runs_from: float, nf4_runs_from: float, int8_runs_from: float) -> SeedEvidence:
    """Constructed emulated cards (8, 10, 12, 24 GiB, 448 px): each precision runs from the card given on."""
    fits = [_fit(p, c, 448, b, fits=c >= start) for p, start in (("bf16", bf16_runs_from), ("nf4", nf4_runs_from),
                                                                 ("int8", int8_runs_from))
            for c in (8.0, 10.0, 12.0, 24.0) for b in (1, 4)]
    return SeedEvidence(fits, True, [448], 8)


def test_the_seed_tree_is_judged_by_the_card_test_through_its_three_branches():
    evidence = _tree_evidence(bf16_runs_from=10.0, nf4_runs_from=10.0, int8_runs_from=12.0)
    cases = {(c.card_gib, c.batch): c for c in judge_seed_tree(evidence, [8.0, 10.0, 12.0, 24.0])}
    assert len(cases) == 8
    eight = cases[(8.0, 1)]  # BF16 out of memory: quantize (NF4), which ran out of memory too
    assert (eight.bf16, eight.pick, eight.pick_fits) == ((False, "measured"), "nf4", (False, "measured"))
    ten = cases[(10.0, 1)]  # no OOM errors, < 12 GB: INT8, which does not fit a 10 GiB card here
    assert (ten.bf16[0], ten.pick, ten.pick_fits[0]) == (True, "int8", False)
    assert (cases[(12.0, 4)].pick, cases[(24.0, 1)].pick) == ("bf16", "bf16")  # else BF16
    int8 = {(c.card_gib, c.batch): c for c in judge_seed_tree(evidence, [8.0], quantize="int8")}
    assert int8[(8.0, 1)].pick == "int8" and not int8[(8.0, 1)].pick_fits[0]
    assert judge_seed_tree(evidence, [9.0])[0].bf16[1] == f"planned for {MODEL}"  # OOM on 8, runs on 10: unsettled
    other = _tree_evidence(bf16_runs_from=12.0, nf4_runs_from=8.0, int8_runs_from=12.0)
    between = judge_seed_tree(other, [9.0])[0]  # no 9 GiB card: settled by the 10 GiB and the 8 GiB ones
    assert between.bf16 == (False, "from the 10 GiB card, measured") and between.pick == "nf4"
    assert between.pick_fits == (True, "from the 8 GiB card, measured")


def _row(results: Path) -> str:
    [row] = [s for s in seed_statements(results) if "decision tree" in s.statement]
    assert row.statement == "the seed's decision tree: OOM errors? -> quantize; < 12 GB VRAM? -> INT8; else BF16"
    return row


def test_the_statement_counts_the_seed_trees_misses_and_recommend_precisions_on_the_h200_cards(tmp_path):
    """Both trees on the H200 reference's measured cards, recorded as notebook 08 does, then the seed report's row; the
    expected counts come from the tree as written applied to the raw card-fit records."""
    fits = read_measurements(CardFit, H200 / "results", "08_decision")
    evidence = SeedEvidence([f.measurement for f in fits], True, [448, 896, 1344, 1792], 8)
    settings = _settings(tmp_path, MODEL, cards=[8.0, 10.0, 12.0, 16.0, 24.0])
    rows = compare_trees(evidence, settings)
    wrong = 0
    for r in rows:
        card, image, batch = r["card (GiB)"], r["image"], r["batch"]
        pick = "nf4" if not h200_fits("bf16", card, image, batch) else "int8" if card < 12 else "bf16"
        assert r["seed's tree"] == pick
        wrong += not h200_fits(pick, card, image, batch)
        chosen = r["recommend_precision (speed)"]
        assert chosen == "nothing fits" or h200_fits(chosen, card, image, batch) is not False, r
    assert len(rows) == 40 and wrong > 0
    row = _row(tmp_path)
    assert row.verdict == "refuted"
    assert f"in {wrong} of 40 card / image / batch cases ({wrong} of them measured" in row.measured
    assert "`vlmkit.recommend_precision` on the same cases: 0 (" in row.measured
    assert f"{100 * h200_margin():.0f} % margin" in row.measured


def test_the_statement_holds_when_every_pick_fits_and_gives_no_verdict_for_records_of_the_old_tree(tmp_path):
    store = ResultsStore("08_decision", tmp_path)
    rec = {"precision": "nf4", "fit": {"nf4": True}, "fit_by": {"nf4": "planner"}, "margin": 0.07}
    for pick in ("nf4", "bf16"):
        store.record_measurement(TreeDecision(pick, True, "measured", rec), model=MODEL, precision="nf4", shapes={},
                                 repeats=0)
    row = _row(tmp_path)
    assert row.verdict == "holds" and "in 0 of 2" in row.measured and "planner with the 7 % margin in 2" in row.measured
    old = tmp_path / "old"
    store = ResultsStore("08_decision", old)
    store.record_measurement(TreeDecision("int8", False, "measured", None), model=MODEL, precision="nf4", shapes={},
                             repeats=0)
    stale = _row(old)
    assert stale.verdict.startswith("not judged here") and "re-run notebook 08" in stale.measured


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
