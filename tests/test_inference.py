import numpy as np
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


@pytest.fixture(scope="module")
def compiled_vlm(tiny_checkpoint):
    """``use_compile=True`` in FP32 (greedy picks then match the uncompiled path token for token); the ``eager``
    compile backend checks that the step compiles whole without TorchInductor's minutes of code generation."""
    torch._dynamo.reset()  # a step compiled by an earlier test would make the first call here a cached one
    return VLMInference(model="qwen3-vl-tiny", device="cpu", precision="fp32", use_compile=True,
                        static_cache_tokens=160, compile_backend="eager")


def test_use_compile_decodes_through_the_loop_and_answers_as_generate(compiled_vlm, fp32_vlm, image):
    vlm, plain = compiled_vlm, fp32_vlm
    first = vlm.ask(image, "what?", max_new_tokens=6, min_new_tokens=6)
    assert first.text == plain.ask(image, "what?", max_new_tokens=6, min_new_tokens=6).text
    assert first.stats.compiled_graphs == 1 and first.stats.tokens_out == 6  # the first call compiles the step
    assert vlm.report.compile_warmup_s == first.stats.total_s
    assert any("vlmkit's decode loop" in n and "backend=eager" in n for n in vlm.report.notes)
    for question, tokens in (("and?", 8), ("and then?", 5)):  # follow-ups continue on the static cache
        ours, theirs = vlm.follow_up(question, max_new_tokens=tokens), plain.follow_up(question, max_new_tokens=tokens)
        assert ours.text == theirs.text and ours.stats.compiled_graphs == 0
        assert (ours.stats.tokens_cached, ours.stats.tokens_in) == (theirs.stats.tokens_cached, theirs.stats.tokens_in)
        assert ours.stats.tokens_cached > 0 and ours.stats.visual_tokens == 0
    other = (np.random.default_rng(1).random((96, 128, 3)) * 255).astype(np.uint8)  # a new size, a new question
    again = vlm.ask(other, "how many?", max_new_tokens=12)
    assert again.text == plain.ask(other, "how many?", max_new_tokens=12).text
    assert again.stats.compiled_graphs == 0 and again.stats.tokens_cached == 0  # the same graph, an emptied cache
    with pytest.raises(ConfigurationError, match="static cache holds 160"):
        vlm.follow_up("and?", max_new_tokens=200)


def test_the_compiled_answer_stops_at_the_end_of_text_as_generate_does(compiled_vlm, fp32_vlm, image):
    free = fp32_vlm.ask(image, "what?", max_new_tokens=30, min_new_tokens=30)
    ids = fp32_vlm._conversation.sequences[0, -30:].tolist()
    stop = ids[20]  # make a token the model picks the end of text: generate and the loop must stop at it
    first = ids.index(stop)
    saved = [v.model.generation_config.eos_token_id for v in (compiled_vlm, fp32_vlm)]
    try:
        for v in (compiled_vlm, fp32_vlm):
            v.model.generation_config.eos_token_id = [stop]
        for loop in compiled_vlm._loops._loops.values():
            loop._eos = torch.tensor([stop])
        ours, theirs = (v.ask(image, "what?", max_new_tokens=30) for v in (compiled_vlm, fp32_vlm))
        assert ours.stats.tokens_out == theirs.stats.tokens_out == first + 1
        assert compiled_vlm._conversation.sequences[0, -1] == stop
        late = compiled_vlm.ask(image, "what?", max_new_tokens=30, min_new_tokens=first + 2)  # banned until then
        assert late.stats.tokens_out == (ids.index(stop, first + 1) + 1 if stop in ids[first + 1:] else 30)
        assert int(compiled_vlm.kv_cache.get_seq_length()) == compiled_vlm._conversation.sequences.shape[1] - 1
    finally:
        for v, eos in zip((compiled_vlm, fp32_vlm), saved):
            v.model.generation_config.eos_token_id = eos
        for loop in compiled_vlm._loops._loops.values():
            loop._eos = torch.tensor(saved[0])
    assert free.stats.tokens_out == 30


def test_a_conversation_gets_the_smallest_cache_that_holds_it_and_moves_when_it_outgrows_it(fp32_vlm, image):
    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu", precision="fp32", use_compile=True,
                       static_cache_tokens=700, compile_backend="eager")
    assert vlm._loops.sizes == [256, 512, 700] and "256, 512, 700 positions" in vlm.report.notes[-1]
    first = vlm.ask(image, "what?", max_new_tokens=8, min_new_tokens=8)
    assert first.text == fp32_vlm.ask(image, "what?", max_new_tokens=8, min_new_tokens=8).text
    assert set(vlm._loops._loops) == {256}
    long = vlm.follow_up("and?", max_new_tokens=260, min_new_tokens=260)  # past 256: the next size, copied
    assert long.text == fp32_vlm.follow_up("and?", max_new_tokens=260, min_new_tokens=260).text
    assert set(vlm._loops._loops) == {256, 512}  # (its step may reuse a graph TorchDynamo made dynamic in size)
    assert long.stats.tokens_cached == first.stats.tokens_cached + first.stats.tokens_in + 7
    again = vlm.follow_up("so?", max_new_tokens=4)
    assert again.text == fp32_vlm.follow_up("so?", max_new_tokens=4).text and again.stats.compiled_graphs == 0


def test_int4_compiles_in_the_loop(tiny_checkpoint, image):
    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu", precision="int4", use_compile=True,
                       static_cache_tokens=96, compile_backend="eager")
    answer = vlm.ask(image, "what?", max_new_tokens=4, min_new_tokens=4)
    assert answer.stats.tokens_out == 4 and answer.stats.compiled_graphs >= 1
    assert "torchao" in vlm.report.quant_backend


def test_a_flash_attention_language_model_moves_to_sdpa_for_the_compiled_step(loaded_by_precision):
    from vlmkit.models.attention_backends import attention_for_compiled_decode

    model = loaded_by_precision("bf16").model
    assert attention_for_compiled_decode(model) is None  # SDPA compiles whole: nothing to change
    text = model.config.text_config
    text._attn_implementation = "flash_attention_2"  # as if the package had loaded (no CUDA here)
    try:
        with pytest.raises(ConfigurationError, match="strict_compile"):
            attention_for_compiled_decode(model, strict=True)
        note = attention_for_compiled_decode(model)
        assert note.startswith("attention for use_compile: flash_attention_2 in the vision tower")
        assert text._attn_implementation == "sdpa"
    finally:
        model.set_attn_implementation({"text_config": "sdpa"})


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
