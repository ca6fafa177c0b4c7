"""The static-cache decode loop answers exactly as transformers' generate, and its step compiles whole."""

import numpy as np
import pytest
import torch

from vlmkit.errors import ConfigurationError
from vlmkit.runtime.decode_loop import DecodeLoop
from vlmkit.runtime.inference import VLMInference


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
    from vlmkit.runtime.compilation import watch_compiles

    torch._dynamo.reset()  # a loop compiled by an earlier test would make this one a recompilation
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
    from vlmkit.bench.decode_ladder import climb, weight_bytes_per_token
    from vlmkit.bench.roofline import Ceilings

    default = VLMInference(model="qwen3-vl-tiny", device="cpu")
    recipe = VLMInference(model="qwen3-vl-tiny", device="cpu", use_compile=True, use_flash_attention=True)
    ceilings = Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16")
    rungs = climb(default, recipe, ceilings, image_size=64, new_tokens=4, repeats=2, compile_backend="eager")
    assert [r.name for r in rungs] == ["generate, eager, dynamic cache",
                                       "the seed's recipe: generate, use_compile + use_flash_attention",
                                       "static-cache loop, eager step", "static-cache loop, compiled step"]
    step_bytes = weight_bytes_per_token(default.model)
    for r in rungs:
        assert r.repeats == 2 and r.decode_s_per_token > 0 and r.warmup_s > 0
        assert r.query_s > 3 * r.decode_s_per_token  # prefill and three decoded tokens
        assert r.tokens_per_s == pytest.approx(1 / r.decode_s_per_token)
        assert r.bytes_per_token == step_bytes
        assert r.bandwidth_share == pytest.approx(r.tokens_per_s * step_bytes / 1e10)
    assert rungs[0].note == "attention: sdpa"
    # the recipe's note: the attention that ran and why, and what compiled (observed on a CPU: nothing)
    assert rungs[1].note.startswith("attention: sdpa (the flash-attn 2 package runs on CUDA GPUs only")
    assert rungs[1].note.endswith("0 graph(s) compiled in the first call")
    assert "backend=eager" in rungs[3].note and rungs[3].cached_warmup_s > 0  # warmed up again after a reset
    assert rungs[2].cached_warmup_s is None and rungs[2].note == ""


def test_a_quantized_recipe_says_nothing_was_compiled(tiny_checkpoint):
    from vlmkit.bench.decode_ladder import generate_rung
    from vlmkit.bench.roofline import Ceilings

    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu", load_in_8bit=True, use_compile=True)
    rung = generate_rung("int8 recipe", vlm, Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16"), image_size=64,
                         new_tokens=3, repeats=1)
    assert "transformers does not compile" in rung.note and rung.decode_s_per_token > 0
    with pytest.raises(ValueError, match="at least 2 new tokens"):
        generate_rung("too short", vlm, Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16"), image_size=64,
                      new_tokens=1, repeats=1)
