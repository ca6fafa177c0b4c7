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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vlmkit.core.device import resolve_device
from vlmkit.core.progress import progress as progress_bar
from vlmkit.errors import ConfigurationError
from vlmkit.measure.memory import free_memory
from vlmkit.measure.records import Measurement
from vlmkit.models.images import ImageLike
from vlmkit.models.loading import load_model
from vlmkit.models.precisions import PRECISION_NAMES, get_precision
from vlmkit.runtime.inference import VLMInference
from vlmkit.verdicts.claims import SEED_QUALITY_CLAIM_TEXT, SEED_QUALITY_CLAIMS
from vlmkit.verdicts.rules import verdict

#: The precisions notebook 02 evaluates on a CPU by default: BF16 (the reference), one of each quantization
#: kind the seed names (INT8, INT4 as bitsandbytes' NF4) and torchao's INT4 (the compilable 4-bit weights), with and
#: without lm_head (what quantizing lm_head costs in accuracy). The
#: others run on CUDA by default, or anywhere with ``PRECISIONS="all"``.
CPU_DEFAULT_PRECISIONS: tuple[str, ...] = ("bf16", "int8", "nf4", "int4", "int4-head")
#: The precisions notebook 02 loads the 8B architecture in by default for its logit fidelity: BF16 (the reference)
#: and one of each kind (every 8B load takes time).
FIDELITY_DEFAULT_PRECISIONS: tuple[str, ...] = ("bf16", "fp32", "int8", "nf4", "int4")


@dataclass(frozen=True)
class QualitySettings:
    """Notebook 02's parameters, resolved: the device, every how many questions of each family are asked, the
    precisions evaluated (BF16 first if it was not asked for), and the large model of the fidelity section with its
    precisions (``"none"``: that section is skipped).

    Taught in ``notebooks/02_quality.ipynb``.
    """

    device: torch.device
    stride: int
    precisions: list[str]
    fidelity_model: str
    fidelity_precisions: list[str]


def quality_settings(device: str | torch.device | None = "auto", precisions: str = "auto", question_stride: int = 0,
                     fidelity_model: str = "auto", fidelity_precisions: str = "auto") -> QualitySettings:
    """Resolve notebook 02's parameters (an unknown precision fails here, by name).

    ``precisions="auto"``: all on CUDA, :data:`CPU_DEFAULT_PRECISIONS` on a CPU; ``"all"``; or a comma-separated
    list (BF16, the reference, is always added). ``question_stride`` 0: every question on CUDA, every 2nd of each
    family on a CPU. ``fidelity_model="auto"``: qwen3-vl-8b on CUDA, ``"none"`` on a CPU; ``fidelity_precisions``
    ``"auto"`` is :data:`FIDELITY_DEFAULT_PRECISIONS`, ``"all"`` every precision, or a list (BF16 added first).
    Taught in ``notebooks/02_quality.ipynb``.
    """
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    if question_stride < 0:
        raise ConfigurationError(f"question_stride must be 0 (the device's default) or k >= 1, got {question_stride}")
    if precisions == "auto":
        chosen = list(PRECISION_NAMES) if on_cuda else list(CPU_DEFAULT_PRECISIONS)
    elif precisions == "all":
        chosen = list(PRECISION_NAMES)
    else:
        chosen = [get_precision(p.strip()).name for p in precisions.split(",")]
    if "bf16" not in chosen:
        chosen.insert(0, "bf16")
    if fidelity_precisions == "auto":
        large = list(FIDELITY_DEFAULT_PRECISIONS)
    elif fidelity_precisions == "all":
        large = list(PRECISION_NAMES)
    else:
        large = ["bf16"] + [get_precision(p.strip()).name for p in fidelity_precisions.split(",") if p.strip() != "bf16"]
    return QualitySettings(dev, question_stride or (1 if on_cuda else 2), chosen,
                           fidelity_model if fidelity_model != "auto" else ("qwen3-vl-8b" if on_cuda else "none"), large)


def every_kth_words(k: int) -> str:
    """``"every"`` for ``k = 1``, else ``"every 2nd"``, ``"every 3rd"``, ``"every 4th"``: which questions of each
    family a run asked (:func:`every_kth_of_each_family`). Taught in ``notebooks/02_quality.ipynb``.
    """
    return "every" if k == 1 else f"every {k}{ {2: 'nd', 3: 'rd'}.get(k, 'th') }"


@dataclass(frozen=True)
class AccuracyMeasurement(Measurement):
    """Notebook 02's ``accuracy`` record: exact-match accuracy overall and per family over ``n`` questions.

    Taught in ``notebooks/02_quality.ipynb``.
    """

    EXPERIMENT = "accuracy"
    overall: float
    by_family: dict[str, float]
    n: int


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

    def measurement(self) -> AccuracyMeasurement:
        """What the ``accuracy`` record keeps of it."""
        return AccuracyMeasurement(self.overall, self.by_family, self.n)

    def as_dict(self) -> dict:
        return self.measurement().metrics()


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
class PairedAccuracyMeasurement(Measurement):
    """Notebook 02's ``paired-accuracy`` record: a precision against the reference on the same questions
    (:class:`PairedAccuracy`), and the seed's quality claim for its kind with the verdict (``None``: no claim).

    Taught in ``notebooks/02_quality.ipynb``.
    """

    EXPERIMENT = "paired-accuracy"
    n: int
    both_right: int
    only_reference_right: int
    only_other_right: int
    both_wrong: int
    relative: float
    interval: list[float]
    confidence: float
    mcnemar_p: float
    resamples: int
    seed: int
    method: str
    reference: str
    claim: list[float] | None
    claim_text: str | None
    verdict: str | None

    def row(self, precision: str) -> dict[str, Any]:
        """The verdict table's row for ``precision`` (its accuracy from the paired counts)."""
        return {"precision": precision, "accuracy": (self.both_right + self.only_other_right) / self.n,
                "relative to bf16": self.relative,
                "95% paired interval": f"{self.interval[0]:.3f}-{self.interval[1]:.3f}",
                "right only in bf16": self.only_reference_right, "right only in this precision": self.only_other_right,
                "McNemar p": self.mcnemar_p,
                "seed claim": f"{self.claim[0]:.0%}-{self.claim[1]:.0%}" if self.claim else "–",
                "verdict": self.verdict or "–"}


def judge_quality_claim(reference: Accuracy, other: Accuracy, precision: str, *, resamples: int = 10_000,
                        seed: int = 0, reference_name: str = "bf16") -> PairedAccuracyMeasurement:
    """Compare ``precision``'s answers with the reference's (:func:`paired_accuracy`) and judge the seed's quality
    claim for its kind (INT8 or 4-bit): *holds* when the paired interval overlaps the claimed range, *above* or
    *below* when it lies wholly on one side. Taught in ``notebooks/02_quality.ipynb``.
    """
    paired = paired_accuracy(reference.hits, other.hits, resamples=resamples, seed=seed)
    claim = SEED_QUALITY_CLAIMS.get(get_precision(precision).quantization or "")
    outcome = verdict(paired.relative, *claim, tolerance=0.0, spread=paired.interval).outcome if claim else None
    return PairedAccuracyMeasurement(**paired.as_dict(), reference=reference_name,
                                     claim=list(claim) if claim else None,
                                     claim_text=SEED_QUALITY_CLAIM_TEXT if claim else None, verdict=outcome)


@dataclass(frozen=True)
class Fidelity:
    """How closely one precision's next-token distribution follows the reference's."""

    top1_agreement: float
    mean_kl: float
    max_kl: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def measurement(self, reference: str) -> LogitFidelityMeasurement:
        """The ``logit-fidelity`` record of it, against the ``reference`` precision."""
        return LogitFidelityMeasurement(**self.as_dict(), reference=reference)


@dataclass(frozen=True)
class LogitFidelityMeasurement(Measurement):
    """Notebook 02's ``logit-fidelity`` record: :class:`Fidelity` against the reference precision.

    Taught in ``notebooks/02_quality.ipynb``.
    """

    EXPERIMENT = "logit-fidelity"
    top1_agreement: float
    mean_kl: float
    max_kl: float
    reference: str | None = None


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


def first_token_logits_by_precision(model: str, precisions: Sequence[str], images: Sequence[ImageLike],
                                    questions: Sequence[str], device: torch.device, *,
                                    batch_size: int = 8) -> dict[str, torch.Tensor]:
    """Load ``model`` in each precision in turn, take the logits of the first answer token for every (image,
    question) pair, and free the model before the next. Taught in ``notebooks/02_quality.ipynb`` (the 8B
    architecture's logit fidelity).
    """
    logits = {}
    for name in progress_bar(precisions, desc=f"{model} precisions"):
        vlm = VLMInference.from_loaded(load_model(model, name, device=device))
        logits[name] = torch.cat([
            vlm.ask_batch_with_logits(images[i:i + batch_size], questions[i:i + batch_size], 1).first_token_logits
            for i in range(0, len(images), batch_size)])
        del vlm
        free_memory(device)
    return logits
