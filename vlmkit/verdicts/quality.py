"""What quantization costs in answers and in logits.

Accuracy on the shapes test split per precision and per question family, the
majority-answer baseline that "above chance" is measured against, the paired
comparison of two precisions that answered the same questions (how many answers
each got right that the other got wrong, McNemar's exact test, a paired bootstrap
interval of the relative accuracy), and logit-level fidelity against a reference
precision (top-1 agreement and KL divergence of the next-token distributions on
the same inputs).

Taught in ``notebooks/02_quality.ipynb``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vlmkit.core.progress import progress as progress_bar
from vlmkit.runtime.inference import VLMInference

#: The precisions notebook 02 evaluates on a CPU by default: BF16 (the reference) and one of each quantization
#: kind the seed names (INT8, INT4). The others run on CUDA by default, or anywhere with ``PRECISIONS="all"``.
CPU_DEFAULT_PRECISIONS: tuple[str, ...] = ("bf16", "int8", "nf4")


@dataclass
class Accuracy:
    """Exact-match accuracy overall and per family, with every prediction, hit and first-token logits kept.

    ``hits[i]`` says whether question ``i`` was answered right: two precisions evaluated on the same rows are
    compared question by question (:func:`paired_accuracy`).
    """

    overall: float
    by_family: dict[str, float]
    predictions: list[str]
    hits: list[bool]
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


def every_kth_of_each_family(rows: list[dict], k: int) -> list[dict]:
    """Every ``k``-th question of each family, in the split's order: a smaller split with the same family mix.

    ``k = 1`` is the whole split. Taught in ``notebooks/02_quality.ipynb``.
    """
    if k < 1:
        raise ValueError(f"need k >= 1, got {k}")
    seen: Counter = Counter()
    kept = []
    for row in rows:
        if seen[row["family"]] % k == 0:
            kept.append(row)
        seen[row["family"]] += 1
    return kept


def evaluate(vlm: VLMInference, rows: list[dict], batch_size: int = 64, max_new_tokens: int = 4,
             progress: bool = True) -> Accuracy:
    """Ask every test question through ``VLMInference.ask_batch_with_logits`` and score exact matches.

    Taught in ``notebooks/02_quality.ipynb``.
    """
    predictions: list[str] = []
    logits = []
    batches = range(0, len(rows), batch_size)
    for start in progress_bar(batches, desc="evaluating", leave=False) if progress else batches:
        chunk = rows[start:start + batch_size]
        batch = vlm.ask_batch_with_logits([r["pil"] for r in chunk], [r["question"] for r in chunk], max_new_tokens)
        predictions += batch.texts
        logits.append(batch.first_token_logits)
    hits = [pred == row["answer"] for row, pred in zip(rows, predictions)]
    by_family: dict[str, list[bool]] = defaultdict(list)
    for row, hit in zip(rows, hits):
        by_family[row["family"]].append(hit)
    return Accuracy(sum(hits) / len(hits), {f: sum(v) / len(v) for f, v in sorted(by_family.items())}, predictions,
                    hits, len(hits), torch.cat(logits))


def mcnemar_exact(only_reference_right: int, only_other_right: int) -> float:
    """Two-sided exact McNemar p-value from the two counts of disagreeing answers.

    If both precisions were equally accurate, each question that exactly one of them gets right would be
    equally likely to favour either: the smaller count is then a binomial(b + c, 1/2) tail.
    Taught in ``notebooks/02_quality.ipynb``.
    """
    b, c = only_reference_right, only_other_right
    if b < 0 or c < 0:
        raise ValueError(f"counts must be >= 0, got {b} and {c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class PairedAccuracy:
    """Two precisions' answers to the same questions, compared question by question.

    ``relative`` is the other precision's accuracy over the reference's; ``interval`` its paired bootstrap
    percentile interval at ``confidence``; ``mcnemar_p`` the exact test of "equally accurate".
    """

    n: int
    both_right: int
    only_reference_right: int
    only_other_right: int
    both_wrong: int
    relative: float
    interval: tuple[float, float]
    confidence: float
    mcnemar_p: float
    resamples: int
    seed: int

    @property
    def disagreements(self) -> int:
        """Questions exactly one of the two precisions answered right."""
        return self.only_reference_right + self.only_other_right

    def as_dict(self) -> dict:
        """A plain dict for records."""
        return dict(self.__dict__, interval=list(self.interval), method="paired bootstrap over questions")


def paired_accuracy(reference_hits: Sequence[bool], other_hits: Sequence[bool], *, resamples: int = 10_000,
                    confidence: float = 0.95, seed: int = 0) -> PairedAccuracy:
    """Compare two precisions that answered the same questions: counts, McNemar's test, a paired interval.

    The interval of ``other accuracy / reference accuracy`` comes from a bootstrap over questions: each
    resample draws ``n`` questions with replacement and keeps both precisions' answers to each drawn question
    together. Resampling questions only changes how many fall in each of the four cells (both right, only
    the reference right, only the other right, both wrong), so the resampled counts are drawn from the
    multinomial of those cells, which is the same bootstrap without building ``resamples x n`` indices. The
    ratio's spread then comes from the disagreeing answers alone: answers both precisions share move both
    accuracies together. With no disagreement the interval is the single point 1.
    Taught in ``notebooks/02_quality.ipynb``.
    """
    ref = np.asarray(reference_hits, dtype=bool)
    oth = np.asarray(other_hits, dtype=bool)
    if ref.shape != oth.shape or ref.ndim != 1 or ref.size == 0:
        raise ValueError(f"need two equally long, non-empty lists of hits, got {ref.shape} and {oth.shape}")
    if not ref.any():
        raise ValueError("the reference answered no question right: a relative accuracy is undefined")
    cells = np.array([(ref & oth).sum(), (ref & ~oth).sum(), (~ref & oth).sum(), (~ref & ~oth).sum()])
    n = int(ref.size)
    draws = np.random.default_rng(seed).multinomial(n, cells / n, size=resamples)
    reference_right = draws[:, 0] + draws[:, 1]
    ratios = np.where(reference_right > 0, (draws[:, 0] + draws[:, 2]) / np.maximum(reference_right, 1), np.nan)
    alpha = 1 - confidence
    lo, hi = np.nanquantile(ratios, [alpha / 2, 1 - alpha / 2])
    a, b, c, d = (int(x) for x in cells)
    return PairedAccuracy(n=n, both_right=a, only_reference_right=b, only_other_right=c, both_wrong=d,
                          relative=(a + c) / (a + b), interval=(float(lo), float(hi)), confidence=confidence,
                          mcnemar_p=mcnemar_exact(b, c), resamples=resamples, seed=seed)


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
