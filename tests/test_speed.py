"""The speed machinery of notebooks 03-07: speed-ups with spread, verdicts, layers, caches, switches."""

import math

import pytest
import torch

from vlmkit.bench.query import standard_query
from vlmkit.errors import BackendUnavailableError
from vlmkit.measure.speedup import speedup, speedup_of_medians
from vlmkit.measure.timing import TimingStats
from vlmkit.verdicts.claims import SEED_MECHANISM_CLAIMS, SEED_SPEED_CLAIMS
from vlmkit.verdicts.rules import (
    current_verdict,
    judge_speed_claim,
    mechanism_claim,
    speed_verdict,
    unmeasured_claim,
    verdict_rows,
)

CPU = torch.device("cpu")


def _stats(*samples):
    return TimingStats(tuple(samples), 0)


def test_speedup_is_baseline_over_variant_with_the_spread_of_both():
    s = speedup(_stats(2.0, 2.0, 2.0), _stats(1.0, 1.0, 1.0))
    assert (s.ratio, s.low, s.high) == (2.0, 2.0, 2.0)
    noisy = speedup(_stats(1.8, 2.0, 2.2), _stats(0.9, 1.0, 1.1))
    assert noisy.low < noisy.ratio < noisy.high and noisy.ratio == pytest.approx(2.0)
    assert noisy.low == pytest.approx(1.9 / 1.05) and noisy.high == pytest.approx(2.1 / 0.95)
    assert speedup_of_medians([3.0, 3.0], [1.0, 1.0]).ratio == 3.0


@pytest.mark.parametrize("samples, expected", [
    (([3.0] * 3, [1.0] * 3), "holds"),     # 3x inside 3-5x
    (([1.2] * 3, [1.0] * 3), "below"),     # 1.2x under the claim
    (([9.0] * 3, [1.0] * 3), "above"),     # 9x over it
    (([2.0, 3.0, 4.0], [1.0] * 3), "holds"),  # median 3x: holds
    (([1.5, 2.5, 3.5], [1.0] * 3), "holds"),  # median 2.5x but the spread reaches 3x: not refuted
    (([0.5, 0.6, 2.0, 3.6, 4.0], [1.0] * 5), "inconclusive"),  # the spread reaches 3x but also 1x: noise, not evidence
])
def test_speed_claim_verdict_uses_the_spread(samples, expected):
    m = judge_speed_claim("kv-cache-reuse", speedup_of_medians(*samples), baseline="no cache", variant="cache",
                          what="follow-up", role="supporting")
    assert m["verdict"] == expected and m["claimed"] == [3.0, 5.0] and m["role"] == "supporting"
    assert m["claim_text"] == SEED_SPEED_CLAIMS["kv-cache-reuse"].text


def test_a_headline_needs_ten_interleaved_pairs_else_it_is_recorded_as_supporting():
    from vlmkit.measure.interleaved import paired_speedup

    apart = judge_speed_claim("kv-cache-reuse", speedup_of_medians([3.0] * 10, [1.0] * 10), baseline="no cache",
                              variant="cache", what="follow-up", role="headline")
    assert apart["role"] == "supporting" and "interleaved pairs" in apart["note"] and apart["method"] == "medians"
    few = judge_speed_claim("kv-cache-reuse", paired_speedup([3.0] * 9, [1.0] * 9), baseline="no cache",
                            variant="cache", what="follow-up", role="headline")
    assert few["role"] == "supporting" and few["pairs"] == 9
    paired = judge_speed_claim("kv-cache-reuse", paired_speedup([3.0] * 10, [1.0] * 10), baseline="no cache",
                               variant="cache", what="follow-up", role="headline")
    assert paired["role"] == "headline" and "note" not in paired and paired["verdict"] == "holds"
    assert paired["method"] == "interleaved pairs" and paired["coverage"] > 0.95


def test_verdict_rows_come_from_records_headline_first_and_a_skip_is_not_a_pass():
    prov = {"device_name": "CPU"}
    records = [
        {"experiment": "speed-claim", "model": "m", "repeats": 3, "provenance": prov,
         "metrics": judge_speed_claim("tf32", speedup_of_medians([1.0] * 3, [1.0] * 3), baseline="off",
                                      variant="on", what="matmul", role="supporting")},
        {"experiment": "unmeasured-claim", "model": "m", "repeats": 0, "provenance": prov,
         "metrics": unmeasured_claim("non-blocking", "needs CUDA", role="headline")},
        {"experiment": "mechanism-claim", "model": "m", "repeats": 3, "provenance": prov,
         "metrics": mechanism_claim("compute-bound", "decode 1 FLOP/byte", "refuted")},
        {"experiment": "linear", "model": "m", "repeats": 3, "provenance": prov, "metrics": {}},
    ]
    rows = verdict_rows(records)
    assert [(r["verdict"], r["role"]) for r in rows] == [
        ("not measured", "headline"), ("refuted", "headline"), ("below", "supporting")]
    assert "needs CUDA" in rows[0]["measured here"] and "1.00x [1.00, 1.00]" in rows[2]["measured here"]
    assert rows[1]["seed claim"] == SEED_MECHANISM_CLAIMS["compute-bound"]


def test_roles_and_mechanism_verdicts_are_checked():
    measured = speedup_of_medians([1.0] * 3, [1.0] * 3)
    with pytest.raises(ValueError, match="role"):
        judge_speed_claim("tf32", measured, baseline="off", variant="on", what="matmul", role="headline-ish")
    with pytest.raises(ValueError, match="role"):
        unmeasured_claim("tf32", "why", role="")
    with pytest.raises(ValueError, match="holds, partly or refuted"):
        mechanism_claim("int4-dequantization", "text", "below")


def test_the_book_query_is_the_seeds_setup_per_device():
    cuda, cpu = standard_query("cuda"), standard_query("cpu")
    assert (cuda.image_size, cuda.new_tokens) == (448, 32) and cpu.image_size < cuda.image_size
    assert cuda.describe() == "448 px image, 32-token answer"


@pytest.mark.parametrize("precision", ["bf16", "int8", "int8-t0", "nf4", "fp4", "nf4-dq"])
def test_every_linear_precision_computes_close_to_bf16_and_dequantizes(precision):
    from vlmkit.bench.linear_layers import activations, dequantize_weight, make_linear
    from vlmkit.models.precisions import get_precision

    ref = make_linear(get_precision("bf16"), 128, 64, CPU)
    layer = make_linear(get_precision(precision), 128, 64, CPU)
    x = activations(4, 128, torch.bfloat16, CPU)
    with torch.inference_mode():
        y_ref, y = ref(x).float(), layer(x).float()
        dense = dequantize_weight(layer).float()
    assert dense.shape == (64, 128)
    rel = (y - y_ref).norm() / y_ref.norm()
    assert rel < (0.02 if precision == "bf16" else 0.05 if precision.startswith("int8") else 0.2), rel
    assert (dense - ref.weight.float()).norm() / ref.weight.float().norm() < 0.2


def test_follow_up_without_cache_answers_the_same_turn_and_reencodes(tiny_checkpoint):
    from vlmkit.runtime.inference import VLMInference
    from vlmkit.runtime.kv_cache import follow_up_both_ways, kv_cache_bytes

    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu")
    image = (torch.rand(64, 64, 3) * 255).to(torch.uint8).numpy()
    pair = follow_up_both_ways(vlm, image, "what is it?", "and the colour?", first_tokens=3, answer_tokens=4)
    assert pair.cached.stats.tokens_out == pair.uncached.stats.tokens_out == 4
    assert pair.cached.stats.tokens_cached > 0 and pair.uncached.stats.tokens_cached == 0
    assert pair.uncached.stats.tokens_in == pair.cached.stats.tokens_in + pair.cached.stats.tokens_cached
    assert pair.uncached.stats.visual_tokens > 0 and pair.cached.stats.visual_tokens == 0
    cfg = vlm.model.config.text_config
    per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim * 2  # keys + values, bf16
    assert pair.cache_bytes % per_token == 0 and pair.cache_bytes > 0
    assert vlm.kv_cache is None and kv_cache_bytes(None) == 0


def test_cpu_only_switches_refuse_clearly():
    from vlmkit.measure.profiler import device_busy_seconds
    from vlmkit.runtime.transfers import time_copy

    with pytest.raises(BackendUnavailableError, match="CUDA"):
        time_copy({"x": torch.zeros(4)}, CPU, pinned=True)
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        device_busy_seconds(lambda: None, CPU)


def test_attention_and_compile_variants_say_what_cannot_run_here(tiny_checkpoint):
    from vlmkit.runtime.attention import (
        attention_variants,
        time_vision_tower,
        using_attention,
    )
    from vlmkit.runtime.generation_variants import VARIANTS, EagerForwards, use_variant
    from vlmkit.runtime.inference import VLMInference

    variants, left_out = attention_variants(CPU)
    assert [v.name for v in variants[:2]] == ["eager", "sdpa (PyTorch picks)"]
    assert set(left_out) == {"flash-attn 2 package", "flash-attn 4 package"}
    assert all("CUDA" in reason for reason in left_out.values())
    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu")
    inputs = vlm.encode([(torch.rand(64, 64, 3) * 255).to(torch.uint8).numpy()], ["what?"])
    with using_attention(vlm, variants[0]):
        assert vlm.model.config._attn_implementation == "eager"
        t = time_vision_tower(vlm, inputs, warmup=0, repeats=2)
    assert vlm.model.config._attn_implementation == "sdpa" and len(t.samples) == 2 and t.median > 0
    eager = EagerForwards.of(vlm)
    use_variant(vlm, VARIANTS[1], eager)
    assert vlm.model.generation_config.cache_implementation == "static"
    assert vlm.model.generation_config.disable_compile
    use_variant(vlm, VARIANTS[3], eager, backend="eager")
    assert vlm.model.model.language_model.forward != eager.language_model
    use_variant(vlm, VARIANTS[0], eager)
    assert vlm.model.model.language_model.forward == eager.language_model
    assert vlm.model.generation_config.cache_implementation is None
    assert math.isfinite(t.relative_spread)


def test_compile_watch_observes_graphs_and_recompile_reasons():
    import torch._dynamo

    from vlmkit.runtime.compilation import watch_compiles

    torch._dynamo.reset()
    compiled = torch.compile(lambda x, n: x * n, backend="eager")
    with watch_compiles() as nothing:
        pass
    assert nothing.graphs == 0 and nothing.events == []
    with watch_compiles() as activity:
        compiled(torch.ones(2), 2)
        compiled(torch.ones(2), 3)  # a Python int is specialised: a guard on it fails, TorchDynamo compiles again
    torch._dynamo.reset()
    assert activity.graphs >= 2 and len(activity.recompiles) >= 1
    assert all(e.recompile_reason for e in activity.recompiles) and activity.limit_hits == []
    record = activity.as_dict()
    assert record["recompiles"] == len(activity.recompiles) and record["recompile_reasons"]


def test_fresh_compile_cache_is_an_empty_directory_only_while_a_variant_runs():
    import os

    from vlmkit.runtime.compilation import compile_cache

    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with compile_cache("fresh"):
        inside = os.environ["TORCHINDUCTOR_CACHE_DIR"]
        assert inside != before and os.listdir(inside) == []
        assert os.environ["TRITON_CACHE_DIR"].startswith(inside)
    assert os.environ.get("TORCHINDUCTOR_CACHE_DIR") == before and not os.path.exists(inside)
    with compile_cache("machine"):
        assert os.environ.get("TORCHINDUCTOR_CACHE_DIR") == before
    with pytest.raises(ValueError, match="fresh"):
        compile_cache("warm")


def test_kernel_refusals_keep_pytorchs_reasons_once_and_drop_empty_headers():
    import warnings

    from vlmkit.runtime.attention import kernel_refusals

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("Memory efficient kernel not used because: (Triggered internally at sdp_utils.cpp:986.)")
        for _ in range(2):
            warnings.warn("For dense input, both fused kernels require the same num_heads. (Triggered internally at x.h:418.)")
        warnings.warn("an unrelated warning")
    assert kernel_refusals(caught) == ["For dense input, both fused kernels require the same num_heads."]


def test_a_spread_containing_no_change_is_inconclusive_only_where_the_claim_excludes_it():
    assert speed_verdict(0.8, 1.15, (1.1, 1.2)) == "inconclusive"  # TF32-like claim, noisy control
    assert speed_verdict(0.9, 1.1, (0.8, 1.2)) == "holds"  # INT8 0.8-1.2x: no change is part of the claim
    assert speed_verdict(1.12, 1.3, (1.1, 1.2)) == "holds"
    assert speed_verdict(0.7, 0.95, (1.1, 1.2)) == "below" and speed_verdict(1.3, 1.4, (1.1, 1.2)) == "above"
    old_rule = {"experiment": "speed-claim", "metrics": {"low": 0.8, "high": 1.15, "claimed": [1.1, 1.2], "verdict": "holds"}}
    assert current_verdict(old_rule) == "inconclusive"  # runs recorded under the old rule are judged alike
    assert current_verdict({"experiment": "bound-claim", "metrics": {"verdict": "refuted"}}) == "refuted"


def test_readable_log_axis_labels_plain_numbers_and_no_minor_powers():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vlmkit.core.formatting import readable_log_axis

    fig, (a, b) = plt.subplots(1, 2)
    a.plot([196, 3136], [1, 2]); a.set_xscale("log"); readable_log_axis(a.xaxis, [196, 784, 3136])
    b.plot([1.2, 33], [1, 2]); b.set_xscale("log"); readable_log_axis(b.xaxis)
    fig.canvas.draw()
    assert [t.get_text() for t in a.get_xticklabels()] == ["196", "784", "3136"]
    shown = [t.get_text() for t in b.get_xticklabels() if t.get_text()]
    assert {"2", "5", "10", "20"} <= set(shown) and all("^" not in s and "10^" not in s for s in shown)
    assert not any(t.get_text() for t in b.xaxis.get_minorticklabels())
    plt.close(fig)


def _claim_record(run_id: str, ratio: float, *, device: str = "GPU", what: str = "whole query") -> dict:
    from vlmkit.measure.interleaved import paired_speedup

    metrics = judge_speed_claim("int4-speed", paired_speedup([ratio] * 10, [1.0] * 10), baseline="BF16",
                                variant="NF4", what=what, role="headline")
    return {"experiment": "speed-claim", "notebook": "03_x", "run_id": run_id, "precision": "nf4", "metrics": metrics,
            "provenance": {"device_name": device}}


def test_runs_that_disagree_across_a_boundary_make_the_verdict_inconclusive(tmp_path):
    import json

    from vlmkit.measure.records import notebook_runs
    from vlmkit.verdicts.rules import run_ratios, runs_verdict

    latest = _claim_record("b", 0.89)  # 0.6-0.9x: holds on its own
    older = [_claim_record("a", 0.54), _claim_record("a", 0.5, what="decode")]  # another measurement does not count
    other_device = _claim_record("c", 2.0, device="CPU")
    (tmp_path / "03_x.superseded-20261201T000000.json").write_text(json.dumps({"records": older}))
    (tmp_path / "03_x.json").write_text(json.dumps({"records": [other_device, latest]}))
    runs = notebook_runs(tmp_path, "03_x")
    assert [[r["run_id"] for r in run] for run in runs] == [["a", "a"], ["c"], ["b"]]
    assert run_ratios(latest, runs) == [0.54, 0.89]
    assert latest["metrics"]["verdict"] == "holds"
    assert runs_verdict(latest, runs) == "inconclusive (runs disagree: 0.54x to 0.89x over 2 runs)"
    assert runs_verdict(latest, [[latest], [_claim_record("d", 0.7)]]) == "holds"  # both inside the claim
    assert runs_verdict(latest, [[latest]]) == "holds"  # one run: its own interval decides
