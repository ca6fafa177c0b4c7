import pytest
import torch

from vlmkit.errors import ConfigurationError
from vlmkit.runtime.inference import VLMInference


@pytest.mark.parametrize("flags", [{}, {"load_in_8bit": True}, {"load_in_4bit": True}])
def test_ask_returns_answer_and_stats(tiny_checkpoint, image, flags):
    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu", **flags)
    answer = vlm.ask(image, "What is in the image?", max_new_tokens=5, min_new_tokens=5)
    assert isinstance(answer.text, str)
    s = answer.stats
    assert s.tokens_out == 5 and s.visual_tokens == 6 and s.tokens_cached == 0
    assert s.tokens_in > s.visual_tokens
    assert s.prefill_s > 0 and s.decode_s_per_token > 0 and s.total_s >= s.prefill_s
    assert s.memory_kind == "cpu-rss"
    expected = {"": "bf16", "load_in_8bit": "int8", "load_in_4bit": "nf4"}[next(iter(flags), "")]
    assert vlm.report.precision == expected


@pytest.fixture(scope="module")
def fp32_vlm(tiny_checkpoint):
    return VLMInference(model="qwen3-vl-tiny", device="cpu", precision="fp32")


def test_follow_up_reuses_the_cache(fp32_vlm, image):
    vlm = fp32_vlm
    vision_calls, lm_inputs = [], []
    h1 = vlm.model.model.visual.register_forward_hook(lambda *a: vision_calls.append(1))
    h2 = vlm.model.model.language_model.embed_tokens.register_forward_hook(lambda m, args, out: lm_inputs.append(args[0].shape[1]))
    try:
        first = vlm.ask(image, "What shape is red?", max_new_tokens=4, min_new_tokens=4)
        assert len(vision_calls) == 1 and lm_inputs[0] == first.stats.tokens_in
        vision_calls.clear(), lm_inputs.clear()
        second = vlm.follow_up("And the blue one?", max_new_tokens=4, min_new_tokens=4)
    finally:
        h1.remove(), h2.remove()
    assert vision_calls == []  # the image is not encoded again
    assert lm_inputs[0] == second.stats.tokens_in  # only the new turn goes through at prefill
    assert second.stats.tokens_cached >= first.stats.tokens_in + 3
    assert second.stats.visual_tokens == 0

    # the same answer as re-encoding image and whole conversation without a cache
    full = vlm._conversation.sequences
    prompt = full[:, : full.shape[1] - 4]
    pixels = vlm.processor(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[image], return_tensors="pt")
    mm = (prompt == vlm.model.config.image_token_id).long()
    with torch.inference_mode():
        vlm.model.model.rope_deltas = None
        again = vlm.model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), mm_token_type_ids=mm,
                                   pixel_values=pixels["pixel_values"], image_grid_thw=pixels["image_grid_thw"],
                                   max_new_tokens=4, min_new_tokens=4)
    assert torch.equal(again[0, -4:], full[0, -4:])


def test_second_ask_starts_a_new_conversation(fp32_vlm, image):
    fp32_vlm.ask(image, "first?", max_new_tokens=2, min_new_tokens=2)
    again = fp32_vlm.ask(image, "second?", max_new_tokens=2, min_new_tokens=2)
    assert again.stats.tokens_cached == 0


def test_inputs_of_every_kind(fp32_vlm, image, tmp_path):
    from PIL import Image

    path = tmp_path / "img.png"
    Image.fromarray(image).save(path)
    for given in (Image.fromarray(image), path, str(path), image, image / 255.0, image[..., 0]):
        assert fp32_vlm.ask(given, "what?", max_new_tokens=1).stats.visual_tokens == 6


def test_use_compile_gives_a_static_cache_and_reports_what_compiled(tiny_checkpoint, image):
    plain = VLMInference(model="qwen3-vl-tiny", device="cpu")
    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu", use_compile=True, static_cache_tokens=128)
    first, again = (v.ask(image, "what?", max_new_tokens=4, min_new_tokens=4) for v in (plain, vlm))
    assert again.text == first.text and first.stats.compiled_graphs is None
    assert again.stats.compiled_graphs == 0  # observed: transformers compiles only on CUDA
    assert any("compiled nothing" in note and "static cache, uncompiled" in note for note in vlm.report.notes)
    follow, follow_plain = vlm.follow_up("and?", max_new_tokens=4), plain.follow_up("and?", max_new_tokens=4)
    assert follow.text == follow_plain.text and follow.stats.tokens_cached == follow_plain.stats.tokens_cached > 0
    assert vlm.ask(image, "what?", max_new_tokens=4, min_new_tokens=4).stats.tokens_cached == 0  # emptied for a new one
    with pytest.raises(ConfigurationError, match="static cache holds 128"):
        vlm.follow_up("and?", max_new_tokens=200)


def test_use_compile_on_a_model_transformers_will_not_compile(loaded_by_precision, image):
    nf4 = VLMInference.from_loaded(loaded_by_precision("nf4"), use_compile=True)
    assert "is_compileable is False" in nf4.report.notes[-1]
    assert nf4.ask(image, "what?", max_new_tokens=2).stats.compiled_graphs is None  # uncompiled, dynamic cache
    with pytest.raises(ConfigurationError, match="does not compile NF4"):
        VLMInference.from_loaded(loaded_by_precision("nf4"), use_compile=True, strict_compile=True)


def test_an_uncompiled_generate_is_explained_by_what_transformers_says(loaded_by_precision):
    from vlmkit.runtime.compilation import CompileActivity, why_nothing_compiled

    bf16 = VLMInference.from_loaded(loaded_by_precision("bf16"))
    nf4 = VLMInference.from_loaded(loaded_by_precision("nf4"))
    assert why_nothing_compiled(bf16.model, CompileActivity(graphs=3)) is None
    assert why_nothing_compiled(bf16.model, CompileActivity()).endswith("on cpu (observed: 0 graphs)")
    assert nf4.model.hf_quantizer.is_compileable is False  # transformers' own statement, quoted by the reason
    assert "Bnb4BitHfQuantizer says is_compileable=False" in why_nothing_compiled(nf4.model, CompileActivity())
