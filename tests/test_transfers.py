"""The whole query of notebook 07's transfer claim: the processor's host output copied, then answered."""

import numpy as np
import pytest
import torch

from vlmkit.errors import BackendUnavailableError
from vlmkit.runtime.inference import VLMInference
from vlmkit.runtime.transfers import copy_and_answer, time_copy

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def vlm(tiny_checkpoint):
    return VLMInference(model="qwen3-vl-tiny", device="cpu")


def test_copy_and_answer_answers_as_ask_does(vlm):
    image = (np.random.default_rng(3).random((64, 96, 3)) * 255).astype(np.uint8)
    question = "What is in the image?"
    answer = vlm.ask(image, question, max_new_tokens=5, min_new_tokens=5)  # leaves the model's rope state behind
    host = {k: v for k, v in vlm.encode([image], [question], to_device=False).items() if isinstance(v, torch.Tensor)}
    assert all(t.device.type == "cpu" for t in host.values())
    ids = copy_and_answer(vlm, host, pinned=False, new_tokens=5)()
    new = ids[0, host["input_ids"].shape[1]:]
    assert new.numel() == 5
    assert vlm.processor.decode(new, skip_special_tokens=True) == answer.text


def test_pinned_copies_need_cuda(vlm):
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        copy_and_answer(vlm, {"input_ids": torch.zeros(1, 4, dtype=torch.long)}, pinned=True, new_tokens=1)
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        time_copy({"x": torch.zeros(4)}, CPU, pinned=False)
