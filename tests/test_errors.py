"""Every bad input named in the foundation issue gets a clear error that says what to do."""

import builtins

import numpy as np
import pytest
import torch
from PIL import Image

from vlmkit import errors
from vlmkit.core.device import bitsandbytes_backend, resolve_device
from vlmkit.models.attention_backends import choose_attention
from vlmkit.models.images import check_pixel_budget, visual_tokens
from vlmkit.models.loading import LoadedModel, load_model, resolve_source
from vlmkit.models.precisions import precision_from_flags
from vlmkit.runtime.inference import VLMInference

CPU = torch.device("cpu")


def test_both_quantization_flags():
    with pytest.raises(errors.ConfigurationError, match="choose one"):
        VLMInference(model="qwen3-vl-tiny", load_in_8bit=True, load_in_4bit=True, device="cpu")


def test_flag_and_precision_contradict():
    with pytest.raises(errors.ConfigurationError, match="contradicts"):
        precision_from_flags(True, False, "nf4")
    assert precision_from_flags(True, False, "int8").name == "int8"
    with pytest.raises(errors.ConfigurationError, match="unknown precision"):
        precision_from_flags(False, False, "int3")


def test_unknown_model_name():
    with pytest.raises(errors.UnknownModelError, match="registry"):
        VLMInference(model="qwen3-vl-huge", device="cpu")


def test_hub_id_goes_to_the_hub_and_fails_clearly_offline():
    assert resolve_source("Qwen/Qwen3-VL-8B-Instruct") == "Qwen/Qwen3-VL-8B-Instruct"
    with pytest.raises(errors.UnknownModelError, match="registry name"):
        load_model("Qwen/Qwen3-VL-8B-Instruct", "bf16", device="cpu")


def test_cuda_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(errors.DeviceUnavailableError, match="no usable CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(errors.DeviceUnavailableError):
        VLMInference(model="qwen3-vl-tiny", load_in_4bit=True, device="cuda")


def test_nonsense_device():
    with pytest.raises(errors.DeviceUnavailableError, match="not a device"):
        resolve_device("gpu0")


def test_quantization_without_a_backend_for_the_device():
    with pytest.raises(errors.BackendUnavailableError, match="no backend for device type 'meta'"):
        bitsandbytes_backend(torch.device("meta"))


def test_quantization_without_bitsandbytes(monkeypatch):
    real_import = builtins.__import__

    def no_bnb(name, *args, **kwargs):
        if name.startswith("bitsandbytes"):
            raise ImportError("No module named 'bitsandbytes'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bnb)
    with pytest.raises(errors.BackendUnavailableError, match="pip install"):
        bitsandbytes_backend(CPU)


def test_flash_attention_falls_back_and_says_so():
    choice = choose_attention(CPU, use_flash_attention=True)
    assert (choice.requested, choice.used) == ("flash_attention_2 or flash_attention_4", "sdpa")
    assert "CUDA" in choice.note and "SDPA" in choice.note
    with pytest.raises(errors.BackendUnavailableError, match="required"):
        choose_attention(CPU, use_flash_attention=True, strict=True)
    with pytest.raises(errors.ConfigurationError, match="contradicts"):
        choose_attention(CPU, attn_implementation="eager", use_flash_attention=True)
    with pytest.raises(errors.ConfigurationError, match="unknown attention"):
        choose_attention(CPU, attn_implementation="fast")


@pytest.mark.parametrize(("fa2", "fa4", "used"), [(True, True, "flash_attention_2"), (False, True, "flash_attention_4"),
                                                  (False, False, "sdpa")])
def test_use_flash_attention_prefers_flash_attn_2_then_4_then_sdpa(monkeypatch, fa2, fa4, used):
    from vlmkit.models import attention_backends as attention

    for implementation, label, answer in (("flash_attention_2", "flash-attn 2 package", fa2),
                                          ("flash_attention_4", "flash-attn 4 package", fa4)):
        def check(answer: bool = answer) -> bool:
            return answer

        check.__name__ = f"is_{implementation.replace('attention', 'attn')}_available"
        monkeypatch.setitem(attention.FLASH_ATTN_PACKAGES, implementation, (label, check))
    cuda = torch.device("cuda")  # a device object only: nothing runs on it
    choice = choose_attention(cuda, use_flash_attention=True)
    assert choice.used == used
    assert ("is_flash_attn_2_available() is False" in choice.note) == (not fa2)  # every skipped package says why
    assert choose_attention(cuda, attn_implementation="flash_attention_4").used == ("flash_attention_4" if fa4 else "sdpa")


def test_flash_attention_note_reaches_the_report(tiny_checkpoint):
    vlm = VLMInference(model="qwen3-vl-tiny", use_flash_attention=True, device="cpu")
    assert vlm.report.attention.used == "sdpa"
    assert any("falling back to SDPA" in note for note in vlm.report.notes)
    with pytest.raises(errors.BackendUnavailableError):
        VLMInference(model="qwen3-vl-tiny", use_flash_attention=True, strict_attention=True, device="cpu")


@pytest.fixture(scope="module")
def vlm(tiny_checkpoint):
    return VLMInference(model="qwen3-vl-tiny", device="cpu")


@pytest.mark.parametrize("bad, message", [
    (123, "expected a PIL image"),
    ("no/such/file.png", "does not exist"),
    (np.zeros((5, 5, 7), np.uint8), "HxW, HxWx3"),
    (np.full((32, 32, 3), 2.0), r"values in \[0, 1\]"),
    (np.full((32, 32, 3), np.nan), "NaN"),
    (np.zeros((32, 32, 3), np.int64), "uint8 or float"),
])
def test_not_an_image(vlm, bad, message):
    with pytest.raises(errors.ImageInputError, match=message):
        vlm.ask(bad, "what?")


def test_a_file_that_is_not_an_image(vlm, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    with pytest.raises(errors.ImageInputError, match="not a readable image"):
        vlm.ask(fake, "what?")


def test_image_over_the_pixel_budget(vlm):
    huge = np.zeros((1024, 1024, 3), np.uint8)
    with pytest.raises(errors.ImageTooLargeError, match="over this model's budget of 65,536 pixels"):
        vlm.ask(huge, "what?")
    resized = VLMInference.from_loaded(LoadedModel(vlm.model, vlm.processor, vlm.report), resize_large_images=True)
    assert resized.ask(huge, "what?", max_new_tokens=1).stats.visual_tokens <= 65536 // (32 * 32)


def test_pixel_budget_counts_visual_tokens_as_the_processor_does(vlm):
    processor = vlm.processor.image_processor
    huge = Image.new("RGB", (1024, 1024))
    # 64 x 64 patches of 16 px, merged 2 x 2: 1,024 visual tokens (not 4,096, the patches); shrunk to 256 x 256: 64
    with pytest.raises(errors.ImageTooLargeError,
                       match=r"\(1,024 visual tokens at this size; the processor would shrink it to 64\)"):
        check_pixel_budget(huge, processor)
    assert visual_tokens(processor, 1024, 1024, within_budget=False) == 1024
    resized = VLMInference.from_loaded(LoadedModel(vlm.model, vlm.processor, vlm.report), resize_large_images=True)
    assert resized.ask(huge, "what?", max_new_tokens=1).stats.visual_tokens == visual_tokens(processor, 1024, 1024) == 64


def test_pixel_budget_returns_what_the_model_sees_and_refuses_only_what_the_processor_would_shrink(vlm, image):
    processor = vlm.processor.image_processor
    pil = Image.fromarray(image)
    assert check_pixel_budget(pil, processor) == vlm.ask(image, "what?", max_new_tokens=1).stats.visual_tokens
    # 257 x 256 px is over 65,536 pixels, but the processor rounds it to 256 x 256 (8 x 8 tokens) without shrinking
    assert check_pixel_budget(Image.new("RGB", (257, 256)), processor) == 64
    with pytest.raises(errors.ImageTooLargeError):
        check_pixel_budget(Image.new("RGB", (300, 256)), processor)


def test_follow_up_without_a_conversation(vlm):
    vlm.reset()
    with pytest.raises(errors.ConversationError, match="ask"):
        vlm.follow_up("and then?")


def test_empty_question_and_bad_lengths(vlm):
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(errors.ConfigurationError, match="non-empty"):
        vlm.ask(img, "  ")
    with pytest.raises(errors.ConfigurationError, match="max_new_tokens"):
        vlm.ask(img, "what?", max_new_tokens=0)
    with pytest.raises(errors.ConfigurationError, match="min_new_tokens"):
        vlm.ask(img, "what?", max_new_tokens=2, min_new_tokens=3)


def test_every_error_is_a_vlmkit_error():
    for name in ("ConfigurationError", "UnknownModelError", "DeviceUnavailableError", "BackendUnavailableError",
                 "CheckpointError", "ImageInputError", "ImageTooLargeError", "ConversationError"):
        assert issubclass(getattr(errors, name), errors.VLMKitError)
