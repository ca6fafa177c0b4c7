"""The training code cannot rot: a short run on CPU lowers the loss and saves a loadable model."""

import json

from vlmkit.runtime.inference import VLMInference
from vlmkit.tiny.training import TrainConfig, train_shapes_model


def test_a_short_training_run_learns_saves_and_continues_from_its_checkpoint(tmp_path):
    first = TrainConfig(steps=16, batch_size=16, n_train_images=120, curriculum_steps=4, warmup_steps=2, eval_every=8)
    start = train_shapes_model(tmp_path / "a", first, device="cpu", progress=False)
    losses = [h["loss"] for h in start.history]
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < 0.75 * sum(losses[:4]) / 4  # it learns
    assert "val" in start.history[7] and "val" in start.history[-1]
    manifest = json.loads((tmp_path / "a" / "vlmkit_checkpoint.json").read_text())
    assert manifest["train_config"]["steps"] == 16 and manifest["init_device"] == "cpu"

    more = TrainConfig(steps=2, batch_size=16, n_train_images=120, curriculum_steps=0, warmup_steps=1, eval_every=2,
                       init_from=str(tmp_path / "a"))
    cont = train_shapes_model(tmp_path / "b", more, device="cpu", progress=False)
    assert cont.history[0]["loss"] < 0.75 * start.history[0]["loss"]  # it starts where the first run ended
    assert "initialised from" not in (tmp_path / "b" / "vlmkit_checkpoint.json").read_text()
    assert json.loads((tmp_path / "b" / "vlmkit_checkpoint.json").read_text())["train_config"]["init_from"]

    vlm = VLMInference(model=str(tmp_path / "b"), device="cpu", load_in_4bit=True)  # what it saved loads and answers
    from vlmkit.tiny.shapes import make_split, render

    ex = make_split("test", 2, seed=0, questions_per_image=1)
    answers = vlm.ask_batch([render(e.scene) for e in ex], [e.questions[0].text for e in ex], max_new_tokens=3)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)


def test_equal_images_attention_gives_the_loss_of_plain_sdpa():
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    from vlmkit.models.architectures import get_spec
    from vlmkit.models.attention_backends import (
        EQUAL_IMAGES_ATTENTION,
        set_vision_attention,
    )
    from vlmkit.models.processor import build_processor
    from vlmkit.tiny.shapes import make_split, vocabulary
    from vlmkit.tiny.training import _batch, build_tensors

    spec = get_spec("qwen3-vl-tiny")
    data = build_tensors(make_split("train", 12, seed=3, with_caption=True), build_processor(spec, words=vocabulary()))
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration._from_config(spec.config(), dtype=torch.float32)
    batch = _batch(data, torch.arange(12), model.config.image_token_id, torch.device("cpu"))
    losses = {}
    for impl in ("sdpa", EQUAL_IMAGES_ATTENTION):
        set_vision_attention(model, impl)
        assert model.config.vision_config._attn_implementation == impl
        assert model.config.text_config._attn_implementation == "sdpa"
        losses[impl] = model(**batch).loss.item()
    assert abs(losses["sdpa"] - losses[EQUAL_IMAGES_ATTENTION]) < 1e-5, losses


def test_equal_images_attention_refuses_images_of_different_sizes():
    import pytest
    import torch

    from vlmkit.models.attention_backends import equal_images_sdpa

    q = torch.zeros(1, 2, 10, 4)
    with pytest.raises(ValueError, match="one size"):
        equal_images_sdpa(None, q, q, q, cu_seq_lens_q=torch.tensor([0, 4, 10]), max_length_q=6)


def test_the_card_takes_its_command_from_the_manifest_and_its_step_rates_from_timings(tmp_path):
    from vlmkit.tiny.training import (
        command_for,
        measure_step_rate,
        record_step_rate,
        write_model_card,
    )

    cfg = TrainConfig(steps=3, batch_size=8, n_train_images=60, curriculum_steps=0, warmup_steps=1, eval_every=3)
    train_shapes_model(tmp_path / "m", cfg, device="cpu", progress=False)
    rate = measure_step_rate(cfg, 3, "cpu")
    assert rate["steps_timed"] == 2 and rate["steps_per_second"] > 0 and rate["batch_size"] == 8
    record_step_rate(tmp_path / "m", rate)
    card = write_model_card(tmp_path / "m", {"overall": 0.5, "n": 2, "by_family": {"colour": 0.5}},
                            {"colour": 0.25}, evaluated_on="CPU").read_text()
    command = command_for(cfg, str(tmp_path / "m"), "cpu")
    assert f"`{command}`" in card and command.endswith("--steps 3 --batch-size 8 --warmup-steps 1 "
                                                       "--curriculum-steps 0 --n-train-images 60 --eval-every 3")
    assert f"{rate['steps_per_second']:.2f} steps/s over 2 steps of batch 8" in card
    assert "| colour | 0.500 | 0.250 |" in card
