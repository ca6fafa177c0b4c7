"""The committed shapes model: its card states what it measures here, and every precision loads and answers.

Notebook 02, executed by nbval with its CPU defaults, evaluates BF16, INT8 and NF4 (``CPU_DEFAULT_PRECISIONS``)
on half the test split and asserts their accuracy, their drop below BF16 and the baselines. This file adds what
the notebook does not do on a CPU: BF16 on the whole split, against the model card, and a load of every other
precision. Both evaluate the committed model on a CPU for most of a minute: marked ``slow`` (``make test`` runs them,
``make test-fast`` leaves them out).
"""

import re
from pathlib import Path

import pytest

from vlmkit.models.loading import load_model
from vlmkit.models.precisions import PRECISION_NAMES
from vlmkit.runtime.inference import VLMInference
from vlmkit.tiny.shapes import load_split
from vlmkit.tiny.training import TARGET_ACCURACY
from vlmkit.verdicts.quality import CPU_DEFAULT_PRECISIONS, evaluate, majority_baseline

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "data" / "shapes-model"

#: How many questions this machine's BF16 answers may differ from the card's, overall and within each family.
#: The card was evaluated on another CPU, and BF16 matmuls accumulate in a different order on different CPUs
#: (AVX-512 BF16, AMX, AVX2 without native bf16): a question whose top two logits are nearly tied can flip.
#: Two CPUs have been seen one or two questions apart (the card's 0.955 against 0.954 of 1335), so 4 leaves room
#: for that; a card with another model's numbers, or a model that lost 5 questions of one family, still fails.
TOLERANCE_QUESTIONS = 4
#: The card rounds to three decimals.
ROUNDING = 0.0005


def read_card(text: str) -> tuple[float, int, dict[str, float]]:
    """Overall accuracy, number of questions and per-family accuracy as the model card states them."""
    overall = re.search(r"Overall \*\*([0-9.]+)\*\* on (\d+) questions", text)
    families = {fam: float(v) for fam, v in re.findall(r"^\| (\w+) \| ([0-9.]+) \| [0-9.]+ \|$", text, re.M)}
    if overall is None or not families:
        raise ValueError("the model card states no accuracy")
    return float(overall.group(1)), int(overall.group(2)), families


def card_disagreements(card: str, overall: float, by_family: dict[str, float], questions: dict[str, int]) -> list[str]:
    """Where a measured accuracy lies further from the card than ``TOLERANCE_QUESTIONS`` (plus rounding) allows."""
    card_overall, card_n, card_families = read_card(card)
    n = sum(questions.values())
    problems = [] if card_n == n else [f"the card counts {card_n} questions, the split has {n}"]
    if abs(card_overall - overall) > TOLERANCE_QUESTIONS / n + ROUNDING:
        problems.append(f"overall: card {card_overall:.3f}, measured {overall:.4f}")
    if set(card_families) != set(by_family):
        problems.append(f"families: card {sorted(card_families)}, measured {sorted(by_family)}")
    for fam in set(card_families) & set(by_family):
        if abs(card_families[fam] - by_family[fam]) > TOLERANCE_QUESTIONS / questions[fam] + ROUNDING:
            problems.append(f"{fam}: card {card_families[fam]:.3f}, measured {by_family[fam]:.4f}")
    return problems


@pytest.fixture(scope="module")
def rows():
    return load_split(ROOT / "data" / "shapes-test")


def _questions_per_family(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["family"]] = counts.get(r["family"], 0) + 1
    return counts


@pytest.mark.slow
def test_bf16_accuracy_is_what_the_card_says_and_beats_every_baseline(rows):
    acc = evaluate(VLMInference(model=str(MODEL), precision="bf16", device="cpu"), rows, progress=False)
    assert acc.overall >= TARGET_ACCURACY
    problems = card_disagreements((MODEL / "README.md").read_text(), acc.overall, acc.by_family,
                                  _questions_per_family(rows))
    assert not problems, problems
    baseline = majority_baseline(rows)
    assert all(acc.by_family[f] > baseline[f] for f in baseline), (acc.by_family, baseline)
    assert acc.first_token_logits.shape[0] == len(rows) == len(acc.hits)


def test_the_card_check_fails_on_a_wrong_card_or_a_broken_model(rows):
    card = (MODEL / "README.md").read_text()
    overall, n, by_family = read_card(card)
    questions = _questions_per_family(rows)
    assert n == len(rows) and not card_disagreements(card, overall, by_family, questions)
    # within the tolerance: one question flipped in the weakest family
    weakest = min(by_family, key=by_family.get)
    flipped = dict(by_family, **{weakest: by_family[weakest] - 1 / questions[weakest]})
    assert not card_disagreements(card, overall - 1 / n, flipped, questions)
    # a model that lost five questions of one family (overall and in that family): fails twice
    lost = dict(by_family, **{weakest: by_family[weakest] - 5 / questions[weakest]})
    assert len(card_disagreements(card, overall - 5 / n, lost, questions)) == 2
    # a broken model answering at the majority baseline: overall and every family fail
    baseline = majority_baseline(rows)
    broken = card_disagreements(card, sum(baseline[f] * questions[f] for f in baseline) / n, baseline, questions)
    assert len(broken) == 1 + len(baseline)
    # a card about another split
    assert card_disagreements(card.replace(f"on {n} questions", f"on {n + 100} questions"), overall, by_family,
                              questions)


@pytest.mark.slow
@pytest.mark.parametrize("precision", [p for p in PRECISION_NAMES if p not in CPU_DEFAULT_PRECISIONS])
def test_every_other_precision_loads_and_answers(rows, precision):
    vlm = VLMInference.from_loaded(load_model(str(MODEL), precision, device="cpu"))
    sample = rows[:: len(rows) // 16][:16]
    answers = vlm.ask_batch([r["pil"] for r in sample], [r["question"] for r in sample], max_new_tokens=4)
    assert len(answers) == 16
    assert sum(a == r["answer"] for a, r in zip(answers, sample)) >= 8  # far above chance on a mixed sample
