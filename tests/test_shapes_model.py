"""The committed shapes model: loads in every precision on CPU, answers, and has the accuracy its card states.

How each quantized precision's accuracy compares with bf16 is asserted by notebook 02 under nbval
(tolerances there, chosen from its measured CPU run).
"""

from pathlib import Path

import pytest

from vlmkit.inference import VLMInference
from vlmkit.loading import load_model
from vlmkit.precision import ALL_PRECISIONS
from vlmkit.quality import evaluate, majority_baseline
from vlmkit.shapes import load_split
from vlmkit.training import TARGET_ACCURACY

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "data" / "shapes-model"


@pytest.fixture(scope="module")
def rows():
    return load_split(ROOT / "data" / "shapes-test")


def test_bf16_accuracy_is_what_the_card_says_and_beats_every_baseline(rows):
    acc = evaluate(VLMInference(model=str(MODEL), precision="bf16", device="cpu"), rows, progress=False)
    card = (MODEL / "README.md").read_text()
    assert acc.overall >= TARGET_ACCURACY
    assert f"Overall **{acc.overall:.3f}**" in card
    for fam, value in acc.by_family.items():
        assert f"| {fam} | {value:.3f} |" in card
    baseline = majority_baseline(rows)
    assert all(acc.by_family[f] > baseline[f] for f in baseline), (acc.by_family, baseline)
    assert acc.first_token_logits.shape[0] == len(rows)


@pytest.mark.parametrize("precision", ALL_PRECISIONS)
def test_every_precision_loads_and_answers(rows, precision):
    vlm = VLMInference.from_loaded(load_model(str(MODEL), precision, device="cpu"))
    sample = rows[:: len(rows) // 16][:16]
    answers = vlm.ask_batch([r["pil"] for r in sample], [r["question"] for r in sample], max_new_tokens=4)
    assert len(answers) == 16
    assert sum(a == r["answer"] for a, r in zip(answers, sample)) >= 8  # far above chance on a mixed sample
