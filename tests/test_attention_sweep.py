"""Notebook 06's sweep on the tiny model: settings, the attention records (timings and refusals), the explanation."""

import pytest
import torch

from vlmkit.bench.attention_sweep import attention_settings, sweep_attention
from vlmkit.book.prose import render
from vlmkit.measure.records import ResultsStore, load_records, read_measurements
from vlmkit.models.loading import load_model
from vlmkit.runtime.attention import AttentionRefusal, AttentionTiming
from vlmkit.runtime.inference import VLMInference


def test_settings_resolve_auto_to_the_cpu_defaults_and_refuse_unknown_variants(tiny_checkpoint):
    settings = attention_settings("cpu", "auto", "bf16", "auto", 0, "auto", 0)
    assert (settings.model, settings.sides, settings.new_tokens, settings.role) == ("qwen3-vl-tiny", [64, 256], 8,
                                                                                     "headline")
    assert settings.flash == "sdpa: flash" and "sdpa: math" in [v.name for v in settings.variants]
    assert set(settings.left_out) == {"flash-attn 2 package", "flash-attn 4 package"}
    assert settings.describe().splitlines()[-1].startswith("NOT MEASURED: flash-attn 4 package")
    chosen = attention_settings("cpu", "auto", "bf16", "128", 4, "eager, sdpa: flash", 2)
    assert [v.name for v in chosen.variants] == ["eager", "sdpa: flash"] and chosen.sides == [64, 128]
    assert chosen.role == "supporting" and chosen.repeats == 2
    with pytest.raises(ValueError, match="unknown variants"):
        attention_settings("cpu", "auto", "bf16", "auto", 0, "eager, flash", 0)


def test_the_sweep_records_timings_and_refusals_and_reads_them_back(tiny_checkpoint, tmp_path):
    chosen = "eager,sdpa (PyTorch picks),sdpa: flash,sdpa: cudnn"
    settings = attention_settings("cpu", "auto", "bf16", "64", 2, chosen, 1)
    vlm = VLMInference.from_loaded(load_model(settings.model, "bf16", device="cpu"))
    store = ResultsStore("06_attention", tmp_path, "cpu")
    sweep = sweep_attention(vlm, settings, store)
    assert sweep.refusals().keys() == {"sdpa: cudnn"}  # no cuDNN kernel on a CPU: refused, with PyTorch's reason
    eager = sweep.get(64, "eager")
    assert eager.visual_tokens == sweep.scores[64].visual_tokens and eager.prefill_ms > 0
    assert len(eager.samples("vision")) == 1 and eager.unavailable == "" and sweep.get(64, "sdpa: cudnn") is None
    assert [r["variant"] for r in sweep.rows()] == ["sdpa: cudnn", "eager", "sdpa (PyTorch picks)", "sdpa: flash"]
    records = load_records(store.path)
    timings = [t for t in map(AttentionTiming.from_record, records) if t is not None]
    assert timings == [m for _, m in sweep.outcomes if isinstance(m, AttentionTiming)]
    refusals = [r.measurement for r in read_measurements(AttentionRefusal, tmp_path, "06_attention")]
    assert [r.variant for r in refusals if r.unavailable] == ["sdpa: cudnn"] and len(refusals) == 4
    assert records[1]["shapes"] == {"image": [64, 64], "visual_tokens": eager.visual_tokens, "new_tokens": 2,
                                    "patches": sweep.scores[64].patches}
    assert sweep.claim_shapes(64) == {"image": [64, 64], "visual_tokens": eager.visual_tokens, "new_tokens": 2}
    values = sweep.explanation()
    assert values["whole"]["eager"] == eager.whole_query_ms and values["memory"] is None  # measured memory: CUDA only
    text = render("06_attention/what_the_numbers_say", **values)
    assert "**sdpa: cudnn** did not run here" in text and f"{eager.whole_query_ms:.0f} ms with eager" in text
    assert torch.get_default_dtype() == torch.float32
