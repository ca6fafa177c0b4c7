"""Emulated cards: the sweep's bookkeeping on CPU (the caps themselves need CUDA and run in notebook 08), and the card
test both decision trees are judged by."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from vlmkit.core.formatting import GIB
from vlmkit.errors import ConfigurationError, DeviceUnavailableError, VLMKitError
from vlmkit.measure.records import read_measurements
from vlmkit.planning import cards
from vlmkit.planning.cards import (
    REFERENCE_CARD_RESULTS,
    CardFit,
    CardTest,
    FitResult,
    PlannerCheck,
    PlannerWeights,
    check_planner,
    decision_settings,
    largest_batch,
    memory_cap,
    sweep_cards,
    sweep_precisions,
)


def test_a_cap_needs_cuda():
    with pytest.raises(DeviceUnavailableError, match="CUDA"), memory_cap(torch.device("cpu"), 8, 0):
        pass


def test_the_sweep_runs_each_query_until_a_card_holds_it_and_implies_the_larger_ones(monkeypatch):
    needs = {(448, 1): 9, (448, 4): 13, (896, 4): 30}  # GiB a query needs, per (image, batch)
    ran = []

    def fake(vlm, *, card_gib, image_size, batch_size, new_tokens, outside_allocator):
        ran.append((card_gib, image_size, batch_size))
        fits = needs[(image_size, batch_size)] <= card_gib
        return FitResult(card_gib, image_size, batch_size, fits, True, int(card_gib * GIB) - outside_allocator,
                         needs[(image_size, batch_size)] * GIB, None if fits else "CUDA out of memory")

    monkeypatch.setattr(cards, "try_query", fake)
    results = sweep_cards(None, cards=(24, 8, 12, 16), image_sizes=(448,), batch_sizes=(1, 4), new_tokens=4,
                          outside_allocator=GIB // 2)
    results += sweep_cards(None, cards=(8, 24), image_sizes=(896,), batch_sizes=(4,), new_tokens=4,
                           outside_allocator=GIB // 2)
    assert ran == [(8, 448, 1), (12, 448, 1), (8, 448, 4), (12, 448, 4), (16, 448, 4), (8, 896, 4), (24, 896, 4)]
    implied = [(r.card_gib, r.image_size, r.batch_size) for r in results if not r.measured]
    assert implied == [(16, 448, 1), (24, 448, 1), (24, 448, 4)] and all(r.fits for r in results if not r.measured)
    assert largest_batch(results, 8, 448) == 0
    assert largest_batch(results, 12, 448) == 1
    assert largest_batch(results, 16, 448) == 4
    assert largest_batch(results, 24, 896) == 0


def test_decision_settings_resolve_auto_on_a_cpu_and_refuse_unknown_names(tmp_path, tiny_checkpoint):
    s = decision_settings("cpu", results_dir=tmp_path)
    assert (s.model_name, s.precisions) == ("qwen3-vl-tiny", ["bf16", "int8", "nf4", "int4"])
    assert s.cards == [8.0, 10.0, 12.0, 16.0, 24.0]
    assert (s.image_sizes, s.batch_sizes, s.new_tokens) == ([64, 128, 256], [1, 2, 4, 8], 8)
    assert (s.check_model, s.on_cuda) == ("qwen3-vl-tiny-tied", False)
    assert s.checkpoint is not None and s.store.path == tmp_path / "08_decision.json"
    assert s.summary() == ("qwen3-vl-tiny on cpu in ['bf16', 'int8', 'nf4', 'int4']; cards [8.0, 10.0, 12.0, 16.0, 24.0] GiB; "
                           "images [64, 128, 256] px; batches [1, 2, 4, 8]; 8 answer tokens")
    s = decision_settings("cpu", precisions="nf4, bf16", cards="24,8", image_sizes="64", check_model="none",
                          results_dir=tmp_path)
    assert (s.precisions, s.cards, s.image_sizes, s.check_model) == (["nf4", "bf16"], [8.0, 24.0], [64], None)
    with pytest.raises(ConfigurationError, match="registry name"):
        decision_settings("cpu", results_dir=tmp_path, check_model="qwen9")
    with pytest.raises(VLMKitError):
        decision_settings("cpu", precisions="bf16,int3", results_dir=tmp_path)


def test_a_cpu_sweep_plans_every_query_and_never_claims_a_fit(tmp_path, tiny_checkpoint):
    s = decision_settings("cpu", precisions="bf16", cards="8,16", image_sizes="64", batch_sizes="1,2",
                          results_dir=tmp_path)
    sweep = sweep_precisions(s)
    [weights] = read_measurements(PlannerWeights, tmp_path, "08_decision")
    assert weights.measurement.outside_allocator_bytes is None and weights.precision == "bf16"
    assert sweep.weights[0]["measured as"] == "tensor bytes" and abs(sweep.weights[0]["error"]) < 0.05
    fits = read_measurements(CardFit, tmp_path, "08_decision")
    assert [f.measurement for f in fits] == sweep.fits and len(fits) == 4  # 1 image x 2 batches x 2 cards
    for f in fits:
        m = f.measurement
        assert m.fits is None and not m.measured and m.result is None and f.repeats == 0  # planned, not measured
        assert f.shapes == {"image": [64, 64], "batch": m.batch, "new_tokens": 8, "card_gib": m.card_gib}
        assert m.planned_fits == (m.plan["peak_bytes"] <= m.card_gib * GIB)
        assert list(m.row()) == list(m.metrics())[:-2] and "card (GiB)" in m.row()
    rows = check_planner(s)
    [check] = read_measurements(PlannerCheck, tmp_path, "08_decision")
    assert [r["quantity"] for r in rows] == ["weights"] and rows[0]["model"] == "qwen3-vl-tiny-tied"
    assert check.measurement.planned_bytes == pytest.approx(check.measurement.measured_bytes, rel=0.05)


# --- the card test -----------------------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]


def _fit(precision, card, image=448, batch=1, *, fits=True, measured=True, planned=GIB, needed=None):
    result = None if needed is None else {"peak_bytes": needed, "allocator_cap_bytes": needed}
    return CardFit(precision, image, batch, card, 1.0, fits, fits, measured, None, 1.0, result,
                   {"allocator_peak_bytes": planned})


def test_the_card_test_answers_from_that_card_then_from_the_cards_that_settle_it():
    test = CardTest.from_fits("m", [_fit("nf4", 8.0, fits=False), _fit("nf4", 12.0), _fit("nf4", 16.0, measured=False),
                                    _fit("int8", 10.0), _fit("int8", 16.0, fits=False),
                                    CardFit("bf16", 448, 1, 8.0, 1.0, True, None, False, None, 1.0, None, {})])
    assert test.verdict("m", "nf4", 8, 448, 1) == (False, "measured")
    assert test.verdict("m", "nf4", 16, 448, 1) == (True, "implied by a smaller card")
    assert test.verdict("m", "nf4", 24, 448, 1) == (True, "from the 16 GiB card, measured")  # the closest that ran
    assert test.verdict("m", "nf4", 6, 448, 1) == (False, "from the 8 GiB card, measured")
    assert test.verdict("m", "nf4", 10, 448, 1) is None  # between a card it missed and one it ran on: not settled
    assert test.verdict("m", "int8", 12, 448, 1) == (False, "from the 16 GiB card, measured")  # out of memory wins
    assert test.verdict("m", "nf4", 12, 448, 2) is None and test.verdict("other", "nf4", 12, 448, 1) is None
    assert test.verdict("m", "bf16", 8, 448, 1) is None  # planned only (fits None): no answer, dropped
    assert CardTest.from_fits("m", test.records[0][1:], source="NVIDIA H200").verdict("m", "nf4", 8, 448, 1) == (
        False, "measured on NVIDIA H200")


def test_the_shortfall_of_an_out_of_memory_query_is_the_cap_it_hit():
    ran = _fit("nf4", 16.0, batch=8, planned=10 * GIB, needed=int(10.5 * GIB))
    oom = _fit("nf4", 12.0, batch=8, fits=False, planned=10 * GIB, needed=11 * GIB)
    far = _fit("nf4", 8.0, batch=8, fits=False, planned=10 * GIB, needed=7 * GIB)  # planned above the cap: no news
    test = CardTest.from_fits("m", [ran, oom, far, _fit("nf4", 24.0, batch=8, measured=False)])
    assert [(s.card_gib, s.fits) for s in test.shortfalls] == [(12.0, False), (16.0, True), (8.0, False)]
    assert test.shortfalls[0].shortfall == pytest.approx(0.1) and test.margin == pytest.approx(0.10)
    assert test.shortfalls[0].describe() == ("NF4 448 px x8 on 12 GiB: out of memory with 11.00 GiB for the "
                                             "allocator, planned 10.00 GiB")
    assert test.margin_text().startswith("10 %: over the 3 queries measured on emulated cards, the planner fell short "
                                         "by at most 10.0 %")
    assert CardTest.from_fits("m", [far]).margin == 0  # never short: no margin needed
    assert CardTest(()).margin is None and "no query was measured" in CardTest(()).margin_text()


def test_the_card_test_of_a_results_folder_without_measured_cards_is_the_h200_references(tmp_path):
    cpu = CardTest.load(REPO / "reference" / "cpu-x86_64" / "results")  # a CPU run plans, it never measures a fit
    h200 = CardTest.load(REFERENCE_CARD_RESULTS)
    assert cpu.file == h200.file == "reference/nvidia-h200/results/08_decision.json" and cpu.source == "NVIDIA H200"
    assert len(cpu.records) == len(h200.records) > 0 and CardTest.load(tmp_path).file == h200.file
    raw = [r for r in json.loads((REFERENCE_CARD_RESULTS / "08_decision.json").read_text())["records"]
           if r["experiment"] == "card-fit" and r["run_id"] == h200.run_id and r["metrics"]["fits"] is not None]
    assert len(h200.records) == len(raw) and len(h200.shortfalls) == sum(r["metrics"]["measured"] for r in raw)


def test_the_card_test_reads_a_results_file_again_once_it_changes(tmp_path):
    shutil.copy(REFERENCE_CARD_RESULTS / "08_decision.json", tmp_path)
    before = CardTest.load(tmp_path)
    assert before.file == str((tmp_path / "08_decision.json").resolve()) and before.source == "NVIDIA H200"
    path = tmp_path / "08_decision.json"
    payload = json.loads(path.read_text())
    worst = before.shortfalls[0]
    for m in (r["metrics"] for r in payload["records"] if r["experiment"] == "card-fit"):
        if (m["precision"], m["image"], m["batch"], m["card (GiB)"]) == (worst.precision, worst.image, worst.batch,
                                                                         worst.card_gib):
            m["result"]["allocator_cap_bytes"] = int(worst.planned_bytes * 1.25)  # the planner 25 % short
    path.write_text(json.dumps(payload))
    after = CardTest.load(tmp_path)
    assert after.margin == pytest.approx(0.25) and before.margin < 0.25
