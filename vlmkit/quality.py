"""What quantization costs in answers and in logits.

Accuracy on the shapes test split per precision and per question family, the
majority-answer baseline that "above chance" is measured against, and logit-level
fidelity against a reference precision (top-1 agreement and KL divergence of the
next-token distributions on the same inputs).

Taught in ``notebooks/02_quality.ipynb``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from vlmkit.inference import VLMInference


@dataclass
class Accuracy:
    """Exact-match accuracy overall and per family, with every prediction and first-token logits kept."""

    overall: float
    by_family: dict[str, float]
    predictions: list[str]
    n: int
    first_token_logits: torch.Tensor

    def as_dict(self) -> dict:
        return {"overall": self.overall, "by_family": self.by_family, "n": self.n}


def majority_baseline(rows: list[dict]) -> dict[str, float]:
    """Per family, the accuracy of always giving that family's most common answer.

    Taught in ``notebooks/02_quality.ipynb``.
    """
    answers: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        answers[row["family"]][row["answer"]] += 1
    return {f: c.most_common(1)[0][1] / sum(c.values()) for f, c in sorted(answers.items())}


def evaluate(vlm: VLMInference, rows: list[dict], batch_size: int = 64, max_new_tokens: int = 4,
             progress: bool = True) -> Accuracy:
    """Ask every test question through ``VLMInference.ask_batch`` and score exact matches.

    Taught in ``notebooks/02_quality.ipynb``.
    """
    predictions: list[str] = []
    logits = []
    for start in tqdm(range(0, len(rows), batch_size), desc="evaluating", disable=not progress, leave=False):
        chunk = rows[start:start + batch_size]
        batch = vlm.answer_batch([r["pil"] for r in chunk], [r["question"] for r in chunk], max_new_tokens)
        predictions += batch.texts
        logits.append(batch.first_token_logits)
    hits: dict[str, list[bool]] = defaultdict(list)
    for row, pred in zip(rows, predictions):
        hits[row["family"]].append(pred == row["answer"])
    total = [h for v in hits.values() for h in v]
    return Accuracy(sum(total) / len(total), {f: sum(v) / len(v) for f, v in sorted(hits.items())}, predictions,
                    len(total), torch.cat(logits))


@dataclass(frozen=True)
class Fidelity:
    """How closely one precision's next-token distribution follows the reference's."""

    top1_agreement: float
    mean_kl: float
    max_kl: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def logit_fidelity(reference: torch.Tensor, other: torch.Tensor) -> Fidelity:
    """Top-1 agreement and KL(reference || other) per position, over rows of logits.

    Taught in ``notebooks/02_quality.ipynb``.
    """
    if reference.shape != other.shape:
        raise ValueError(f"logit shapes differ: {tuple(reference.shape)} vs {tuple(other.shape)}")
    ref, oth = reference.float().flatten(0, -2), other.float().flatten(0, -2)
    agree = (ref.argmax(-1) == oth.argmax(-1)).float().mean().item()
    kl = F.kl_div(F.log_softmax(oth, -1), F.log_softmax(ref, -1), log_target=True, reduction="none").sum(-1)
    return Fidelity(agree, kl.mean().item(), kl.max().item())


def wilson_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of an accuracy measured on ``n`` questions.

    Taught in ``notebooks/02_quality.ipynb``.
    """
    if n <= 0:
        raise ValueError("need at least one question")
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
