"""Emulated cards: the sweep's bookkeeping on CPU (the caps themselves need CUDA and run in notebook 08)."""

import pytest
import torch

import vlmkit.planning.cards as cards
from vlmkit.core.formatting import GIB
from vlmkit.errors import DeviceUnavailableError
from vlmkit.planning.cards import FitResult, largest_batch, memory_cap, sweep_cards


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
