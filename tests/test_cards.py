"""Emulated cards: the sweep's bookkeeping on CPU (the caps themselves need CUDA and run in notebook 08)."""

import pytest
import torch

import vlmkit.planning.cards as cards
from vlmkit.core.formatting import GIB
from vlmkit.errors import ConfigurationError, DeviceUnavailableError, VLMKitError
from vlmkit.measure.records import read_measurements
from vlmkit.planning.cards import (
    CardFit,
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
    with pytest.raises(DeviceUnavailableError, match="CUDA"):
        with memory_cap(torch.device("cpu"), 8, 0):
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
    assert (s.check_model, s.large_model, s.on_cuda) == ("qwen3-vl-tiny-tied", None, False)
    assert s.checkpoint is not None and s.store.path == tmp_path / "08_decision.json"
    assert s.summary() == ("qwen3-vl-tiny on cpu in ['bf16', 'int8', 'nf4', 'int4']; cards [8.0, 10.0, 12.0, 16.0, 24.0] GiB; "
                           "images [64, 128, 256] px; batches [1, 2, 4, 8]; 8 answer tokens")
    s = decision_settings("cpu", precisions="nf4, bf16", cards="24,8", image_sizes="64", check_model="none",
                          large_model="qwen3-vl-tiny", results_dir=tmp_path)
    assert (s.precisions, s.cards, s.image_sizes, s.check_model) == (["nf4", "bf16"], [8.0, 24.0], [64], None)
    assert s.large_model.name == "qwen3-vl-tiny"
    for bad in (dict(check_model="qwen9"), dict(large_model="qwen9")):
        with pytest.raises(ConfigurationError, match="registry name"):
            decision_settings("cpu", results_dir=tmp_path, **bad)
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
