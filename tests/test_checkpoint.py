import json
import os

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor, Qwen2VLImageProcessor, Qwen3VLProcessor
from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

from vlmkit.errors import CheckpointError
from vlmkit.models.architectures import get_spec
from vlmkit.models.checkpoints import (
    MANIFEST,
    read_manifest,
    validate_checkpoint,
    write_checkpoint,
)
from vlmkit.models.loading import load_model


def test_checkpoint_is_complete(tiny_checkpoint):
    names = set(os.listdir(tiny_checkpoint))
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", MANIFEST} <= names
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["architectures"] == ["Qwen3VLForConditionalGeneration"]
    gen = json.loads((tiny_checkpoint / "generation_config.json").read_text())
    ids = get_spec("qwen3-vl-tiny").special_token_ids()
    assert gen["eos_token_id"] == [ids["<|im_end|>"], ids["<|endoftext|>"]]
    assert read_manifest(tiny_checkpoint)["seed"] == 0


def test_processor_is_the_real_one_and_ids_match(tiny_checkpoint):
    proc = AutoProcessor.from_pretrained(tiny_checkpoint)
    assert isinstance(proc, Qwen3VLProcessor)
    assert isinstance(proc.image_processor, Qwen2VLImageProcessor)
    assert isinstance(proc.video_processor, Qwen3VLVideoProcessor)
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    tok = proc.tokenizer
    assert tok.convert_tokens_to_ids("<|image_pad|>") == config["image_token_id"]
    assert tok.convert_tokens_to_ids("<|vision_start|>") == config["vision_start_token_id"]
    ids = tok("red <|image_pad|> circle", add_special_tokens=False)["input_ids"]
    assert config["image_token_id"] in ids
    assert tok.decode(ids) == "red <|image_pad|> circle"
    prompt = proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
                                      add_generation_prompt=True)
    assert prompt == "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n<|im_start|>assistant\n"


def test_second_request_is_cached(tiny_checkpoint):
    stamp = (tiny_checkpoint / "model.safetensors").stat().st_mtime_ns
    assert write_checkpoint("qwen3-vl-tiny") == tiny_checkpoint
    assert (tiny_checkpoint / "model.safetensors").stat().st_mtime_ns == stamp


def test_same_seed_same_weights_other_seed_other_weights(tiny_checkpoint):
    before = load_file(tiny_checkpoint / "model.safetensors")
    again = load_file(write_checkpoint("qwen3-vl-tiny", force=True) / "model.safetensors")
    other = load_file(write_checkpoint("qwen3-vl-tiny", seed=1) / "model.safetensors")
    assert before.keys() == again.keys()
    assert all(torch.equal(before[k], again[k]) for k in before)
    assert not torch.equal(before["lm_head.weight"], other["lm_head.weight"])


@pytest.fixture
def broken_copy(tiny_checkpoint, tmp_path):
    import shutil

    target = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, target)
    return target


def test_truncated_weights_are_reported(broken_copy):
    weights = broken_copy / "model.safetensors"
    with open(weights, "r+b") as handle:
        handle.truncate(weights.stat().st_size // 2)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        validate_checkpoint(broken_copy)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_model(str(broken_copy), "bf16", device="cpu")


@pytest.mark.parametrize("missing, message", [("config.json", "no config.json"), ("tokenizer.json", "processor files"),
                                              ("model.safetensors", "holds no weights")])
def test_missing_files_are_reported(broken_copy, missing, message):
    (broken_copy / missing).unlink()
    with pytest.raises(CheckpointError, match=message):
        validate_checkpoint(broken_copy)
