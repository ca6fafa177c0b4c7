import pytest

from vlmkit.errors import UnknownModelError
from vlmkit.models.architectures import (
    QWEN_SPECIAL_TOKENS,
    REGISTRY,
    count_parameters,
    get_spec,
)


def test_8b_config_is_the_published_one():
    cfg = get_spec("qwen3-vl-8b").config()
    t, v = cfg.text_config, cfg.vision_config
    assert (t.num_hidden_layers, t.hidden_size, t.num_attention_heads, t.num_key_value_heads) == (36, 4096, 32, 8)
    assert (t.head_dim, t.intermediate_size, t.vocab_size) == (128, 12288, 151936)
    assert t.rope_parameters["rope_theta"] == 5_000_000.0
    assert t.rope_parameters["mrope_section"] == [24, 20, 20] and t.rope_parameters["mrope_interleaved"]
    assert cfg.tie_word_embeddings is False
    assert (v.depth, v.hidden_size, v.intermediate_size, v.num_heads, v.out_hidden_size) == (27, 1152, 4304, 16, 4096)
    assert (v.patch_size, v.spatial_merge_size, v.temporal_patch_size) == (16, 2, 2)
    assert list(v.deepstack_visual_indexes) == [8, 16, 24] and v.num_position_embeddings == 2304
    assert (cfg.image_token_id, cfg.video_token_id) == (151655, 151656)
    assert (cfg.vision_start_token_id, cfg.vision_end_token_id) == (151652, 151653)


def test_parameter_counts():
    assert count_parameters(get_spec("qwen3-vl-8b")) == pytest.approx(8.77e9, rel=0.002)
    assert count_parameters(get_spec("qwen3-vl-4b")) == pytest.approx(4.44e9, rel=0.005)
    assert count_parameters(get_spec("qwen3-vl-tiny")) < 5_000_000


def test_tiny_keeps_the_architecture_features():
    tiny, big = get_spec("qwen3-vl-tiny").config(), get_spec("qwen3-vl-8b").config()
    assert type(tiny) is type(big)
    assert tiny.text_config.num_key_value_heads < tiny.text_config.num_attention_heads  # GQA
    assert sum(tiny.text_config.rope_parameters["mrope_section"]) == tiny.text_config.head_dim // 2
    assert len(tiny.vision_config.deepstack_visual_indexes) >= 1
    assert tiny.vision_config.patch_size == 16


def test_special_token_ids_follow_qwen_order():
    for spec in REGISTRY.values():
        ids = spec.special_token_ids()
        assert list(ids) == list(QWEN_SPECIAL_TOKENS)
        assert max(ids.values()) < spec.text["vocab_size"]
    assert get_spec("qwen3-vl-8b").special_token_ids()["<|endoftext|>"] == 151643


def test_unknown_name_lists_the_registry():
    with pytest.raises(UnknownModelError, match="qwen3-vl-8b"):
        get_spec("qwen3-vl-80b")
