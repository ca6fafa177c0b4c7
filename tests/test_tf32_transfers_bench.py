"""Notebook 07's benchmark on a CPU: settings, TF32 timings of kernels and queries, copies (CUDA only), the text."""

import pytest
import torch

from vlmkit.bench.query import QuerySetup
from vlmkit.bench.tf32_transfers import (
    TF32_REACH_SHARE,
    CopyTiming,
    Transfers,
    tf32_queries,
    tf32_reach,
    tf32_settings,
    tf32_transfers_explanation,
    time_float32_kernels,
    time_transfers,
)
from vlmkit.book.prose import render
from vlmkit.errors import BackendUnavailableError
from vlmkit.measure.interleaved import MIN_PAIRS
from vlmkit.measure.timing import TimingStats
from vlmkit.runtime.inference import VLMInference
from vlmkit.runtime.tf32 import tf32_switches
from vlmkit.runtime.transfers import pinned_copies_unavailable


@pytest.fixture(scope="module")
def settings(tiny_checkpoint):
    return tf32_settings("cpu", "auto", 64, 256, False, "auto", 1)


@pytest.fixture(scope="module")
def vlm(settings):
    return VLMInference(model=settings.model, device="cpu")


def test_settings_resolve_auto_to_the_cpu_defaults(tiny_checkpoint, settings):
    defaults = tf32_settings("cpu", "auto", 0, 0, True, "auto", 0)
    assert (defaults.matmul_size, defaults.matvec_size, defaults.repeats) == (512, 4096, 3)
    assert defaults.precisions == ("bf16", "fp32") and defaults.sides == [64, 448, 896, 1344]
    assert defaults.query == QuerySetup(64, 8) and defaults.query_shapes == {"image": [64, 64], "new_tokens": 8}
    assert not defaults.has_tf32 and defaults.switches_at_start == tf32_switches()
    assert defaults.describe().splitlines()[0] == f"checkpoint: {tiny_checkpoint}"
    assert settings.precisions == ("bf16",) and settings.sides == [64, 448, 896, 1344]


def test_kernels_and_queries_are_timed_off_and_on_and_explained(settings, vlm):
    kernels = time_float32_kernels(settings)
    assert kernels.matmul.what == "float32 matmul 64x64x64" and kernels.matmul.model == "torch matmul 64x64x64"
    assert kernels.matvec.model == "torch matrix-vector product (M = 1)"
    assert kernels.matvec.shape == {"M": 1, "K": 256, "N": 256} and len(kernels.matvec.off.samples) == 1
    assert kernels.matvec_bound["off"].intensity == pytest.approx(0.5, rel=0.01)  # 2 FLOP per 4-byte weight
    row = kernels.matmul.row()
    assert row["speed-up"] == pytest.approx(row["TF32 off (ms)"] / row["TF32 on (ms)"])
    parts = tf32_queries(vlm, settings, "bf16")
    assert [p.role for p in parts] == ["headline", "supporting", "supporting"]
    assert parts[0].what == "BF16 model, whole query, ms per query (64 px image, 8-token answer)"
    assert all(len(p.off.samples) == len(p.on.samples) == MIN_PAIRS for p in parts)  # a headline's pairs at least
    assert parts[0].speedup.method == "interleaved pairs" and parts[0].speedup.pairs == MIN_PAIRS
    assert tf32_switches() == settings.switches_at_start
    assert [p.role for p in tf32_queries(vlm, settings, "bf16", headline=False)] == ["supporting"] * 3
    reach = tf32_reach(vlm, settings, "bf16")  # the rotary embedding's float32 products are all there is
    assert not reach.applies and 0 < reach.float32_flop_share < TF32_REACH_SHARE
    assert reach.operators["bfloat16"] > reach.operators["float32"] > 0 and set(reach.float32_operators) == {"aten::bmm"}
    assert reach.evidence().startswith("profile of one whole BF16 query: ")
    records = [{"experiment": "speed-claim", "metrics": {"what": t.what, "verdict": "inconclusive"}}
               for t in [kernels.matmul, kernels.matvec, *parts]]
    records.append({"experiment": "tf32-reach", "precision": "bf16", "metrics": reach.metrics()})
    timings = [kernels.matmul, kernels.matvec, *parts]
    text = render("07_tf32_transfers/what_the_numbers_say",
                  **tf32_transfers_explanation(settings, timings, kernels, None, records))
    assert text.startswith("- This cpu has no TF32 tensor cores") and "**does not apply**" in text
    assert "(inconclusive against 10-20 %)" in text and "Headline, transfers" not in text


def test_copies_need_cuda_and_their_timings_add_up(settings, vlm):
    assert "CUDA" in pinned_copies_unavailable(torch.device("cpu"))
    assert pinned_copies_unavailable(torch.device("cuda")) is None
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        time_transfers(vlm, settings)
    ms = lambda *s: TimingStats(tuple(x / 1e3 for x in s), 0)  # noqa: E731
    copy = CopyTiming(64, 2_000_000, ms(2.0), ms(0.5), ms(3.0))
    assert copy.what == "the copy alone: one 64 px query's inputs (2.0 MB)"
    assert copy.row() == {"image": 64, "MB": 2.0, "pageable (ms)": 2.0, "pinned (ms)": 0.5, "pin + copy (ms)": 3.0}
    transfers = Transfers(QuerySetup(64, 8), [copy], ms(100.0, 102.0, 98.0), ms(99.0, 102.0, 98.0))
    assert transfers.at_query is copy and transfers.copy_share == pytest.approx(0.02)
    assert transfers.speedup.ratio == pytest.approx(1.0)  # the median of the paired ratios 100/99, 1, 1
    assert transfers.samples()["pinned_s"] == [0.099, 0.102, 0.098]
    assert transfers.what.startswith("whole query, ms per query (64 px image, 8-token answer)")
