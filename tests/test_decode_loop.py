"""The static-cache decode loop answers exactly as transformers' generate, and its step compiles whole."""

import numpy as np
import pytest
import torch

from vlmkit.decode_loop import DecodeLoop
from vlmkit.errors import ConfigurationError
from vlmkit.inference import VLMInference


@pytest.fixture(scope="module")
def vlm(tiny_checkpoint):
    return VLMInference(model="qwen3-vl-tiny", device="cpu")


@pytest.fixture(scope="module")
def inputs(vlm):
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    return dict(vlm.encode([image], ["What is in the image?"]))


def _generate_ids(vlm, inputs, n):
    vlm.model.model.rope_deltas = None
    with torch.inference_mode():
        out = vlm.model.generate(**inputs, max_new_tokens=n, min_new_tokens=n)
    return out[:, inputs["input_ids"].shape[1]:]


def test_the_loop_picks_the_tokens_generate_picks(vlm, inputs):
    result = DecodeLoop(vlm.model, max_tokens=128).generate(inputs, 8)
    assert torch.equal(result.tokens, _generate_ids(vlm, inputs, 8))
    assert result.prefill_s > 0 and result.decode_s_per_token > 0
    again = DecodeLoop(vlm.model, max_tokens=128).generate(inputs, 8)  # the cache is emptied for every answer
    assert torch.equal(again.tokens, result.tokens)


def test_the_step_compiles_as_one_graph(vlm, inputs):
    from vlmkit.generation_variants import watch_compiles

    loop = DecodeLoop(vlm.model, max_tokens=128, compile_mode="default", compile_backend="eager")  # fullgraph=True
    with watch_compiles() as activity:
        result = loop.generate(inputs, 6)
        loop.generate(inputs, 6)  # the same shapes: no second compilation
    assert torch.equal(result.tokens, _generate_ids(vlm, inputs, 6))
    assert activity.graphs == 1 and not activity.recompiles


def test_bad_settings_are_refused(vlm, inputs):
    with pytest.raises(ConfigurationError, match="cache positions"):
        DecodeLoop(vlm.model, max_tokens=16).generate(inputs, 8)
    with pytest.raises(ConfigurationError, match="compile_mode"):
        DecodeLoop(vlm.model, max_tokens=128, compile_mode="fast")


def test_every_rung_of_the_ladder_runs_and_is_placed_on_the_roofline(tiny_checkpoint):
    from vlmkit.decode_ladder import climb
    from vlmkit.loading import load_model
    from vlmkit.roofline import Ceilings, decode_step_work

    loaded = load_model("qwen3-vl-tiny", "bf16", device="cpu")
    ceilings = Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16")
    rungs = climb(loaded, ceilings, image_size=64, new_tokens=4, repeats=2, compile_backend="eager")
    assert [r.name for r in rungs] == ["generate, eager, dynamic cache", "generate, use_compile=True",
                                       "static-cache loop, eager step", "static-cache loop, compiled step"]
    for r in rungs:
        assert r.repeats == 2 and r.decode_s_per_token > 0 and r.warmup_s > 0
        assert r.tokens_per_s == pytest.approx(1 / r.decode_s_per_token)
        assert r.bandwidth_share == pytest.approx(r.tokens_per_s * decode_step_work(loaded.report.weights)[1] / 1e10)
    assert rungs[1].note == "0 graph(s) compiled in the first call"  # observed on a CPU, not assumed
    assert "backend=eager" in rungs[3].note
