"""The seed's card advice and its decision tree, judged: each sentence against this run's emulated cards where they
ran the seed's model (Qwen3-VL-8B on CUDA), else against the planner; each pick of the tree, and each of
``recommend_precision``'s, against one card test (:class:`vlmkit.planning.cards.CardTest`): this run's emulated cards
where they ran the seed's model, else the H200 reference's, and the planner (with the card test's margin, as
``recommend_precision`` plans) only where no card settles the query.

Each answer says how it is known: *measured* on an emulated card, *implied by a smaller card* that ran the same
query, settled *from* another measured card, or *planned for* the seed's model (a configuration no card ran). The
verdicts are records (``seed-advice``, ``decision``) that the seed's statement table
(:mod:`vlmkit.verdicts.statements`) reads.

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vlmkit.core.formatting import GIB
from vlmkit.planning.cards import (
    REFERENCE_CARD_RESULTS,
    CardFit,
    CardTest,
    DecisionSettings,
)
from vlmkit.planning.planner import plan_memory
from vlmkit.planning.recommend import recommend_precision
from vlmkit.planning.seed_tree import QUANTIZE, seed_tree
from vlmkit.verdicts.claims import SEED_MEMORY_CLAIM_MODEL
from vlmkit.verdicts.statements import SeedAdvice, TreeDecision

#: The images the advice is judged at when this run did not sweep the seed's model: the CUDA sweep's sizes.
SEED_ADVICE_IMAGES: tuple[int, ...] = (448, 896, 1344, 1792)


@dataclass(frozen=True)
class SeedEvidence:
    """What the seed's advice is judged on: this run's queries on the emulated cards (``fits``), used only where they
    ran the seed's model (``measured_here``), else the planner for that model on CUDA; at ``images``.

    Taught in ``notebooks/08_decision.ipynb``.
    """

    fits: list[CardFit]
    measured_here: bool
    images: list[int]
    new_tokens: int
    model: str = SEED_MEMORY_CLAIM_MODEL

    def runs(self, precision: str, card: float, image: int, batch: int = 1) -> tuple[bool, str]:
        """Whether the seed's model runs the query on the card, and how that is known: measured on the emulated
        cards where this run swept it, else planned for the seed's model on CUDA (the CUDA context from the H200
        reference run)."""
        if self.measured_here:
            found = next((f for f in self.fits if (f.precision, f.card_gib, f.image, f.batch)
                          == (precision, card, image, batch)), None)
            if found is not None:
                return bool(found.fits), "measured" if found.measured else "implied by a smaller card"
        plan = plan_memory(self.model, precision, image_size=image, batch_size=batch, new_tokens=self.new_tokens,
                           device="cuda")
        return plan.peak_bytes <= card * GIB, f"planned for {self.model}"

    def card_test(self) -> CardTest:
        """The card test both trees are judged by: this run's emulated cards where they ran the seed's model, else
        the H200 reference's (the records ``recommend_precision`` reads by default)."""
        if self.measured_here:
            return CardTest.from_fits(self.model, self.fits)
        return CardTest.load(REFERENCE_CARD_RESULTS)

    def tested(self, test: CardTest, precision: str, card: float, image: int, batch: int = 1) -> tuple[bool, str]:
        """Whether the seed's model runs the query on the card by ``test`` (:meth:`CardTest.verdict`), and how that is
        known; where no emulated card settles it, the planner for the seed's model on CUDA with the test's margin on
        its allocator peak, the rule ``recommend_precision`` follows there too."""
        found = test.verdict(self.model, precision, card, image, batch)
        if found is not None:
            return found
        plan = plan_memory(self.model, precision, image_size=image, batch_size=batch, new_tokens=self.new_tokens,
                           device="cuda")
        margin = test.margin or 0.0
        required = math.ceil(plan.allocator_peak_bytes * (1 + margin)) + plan.cuda_context_bytes
        return required <= card * GIB, f"planned for {self.model}" + (f", with the {100 * margin:.0f} % margin"
                                                                       if margin else "")

    def seed_pick(self, test: CardTest, card: float, image: int, batch: int = 1, *,
                  quantize: str = QUANTIZE) -> tuple[str, tuple[bool, str]]:
        """The seed's tree as written for one query, its first question ("Do you have OOM errors?") answered by
        ``test``: yes where BF16 does not run the query on the card. Returns the pick and BF16's answer."""
        bf16 = self.tested(test, "bf16", card, image, batch)
        return seed_tree(card, oom_errors=not bf16[0], quantize=quantize, batch_size=batch), bf16


def seed_evidence(settings: DecisionSettings, fits: Sequence[CardFit]) -> SeedEvidence:
    """The evidence for the seed's advice from notebook 08's sweep: measured where the run swept the seed's model
    on CUDA, at the sweep's images when it swept that model, else at :data:`SEED_ADVICE_IMAGES`.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    seed_model = settings.model_name == SEED_MEMORY_CLAIM_MODEL
    return SeedEvidence(list(fits), seed_model and settings.on_cuda,
                        list(settings.image_sizes if seed_model else SEED_ADVICE_IMAGES), settings.new_tokens)


def _listed(label: str, answers: Sequence[tuple[Any, tuple[bool, str]]]) -> str:
    """``"BF16 on 10 GiB: 448 px runs (measured), ..."``: one query per answer, with how it is known."""
    return label + ", ".join(f"{what} {'runs' if ok else 'out of memory'} ({how})" for what, (ok, how) in answers)


def judge_seed_advice(evidence: SeedEvidence, batch_sizes: Sequence[int]) -> list[SeedAdvice]:
    """The seed's seven sentences of card advice, each with its verdict and the evidence behind it.

    "BF16 may OOM on a 10 GB card on complex images" is *partly* right when BF16 never fits (not only complex
    images); "INT8 frees memory for batch 4 instead of 2" is judged at the smallest image where BF16's batch is limited
    by memory on 24 GiB (*inconclusive* where it never is); "two INT8 models need 16 GB" is planned (two models' allocator peaks and one CUDA context).
    Taught in ``notebooks/08_decision.ipynb``.
    """
    runs, images, small = evidence.runs, evidence.images, min(evidence.images)
    advice = []

    def judge(text: str, verdict: str, evidence_text: str) -> None:
        advice.append(SeedAdvice(text, verdict, evidence_text))

    b10 = [runs("bf16", 10, s) for s in images]
    judge("BF16 may OOM on a 10 GB card on complex images",
          "partly (it never fits)" if not any(ok for ok, _ in b10) else "holds" if not b10[-1][0] else "refuted",
          _listed("BF16 on 10 GiB: ", [(f"{s} px", r) for s, r in zip(images, b10)])
          + ": not only complex images, the weights alone do not fit")
    i10 = [runs("int8", 10, s) for s in images]
    judge("INT8 fits comfortably on a 10 GB card", "holds" if all(ok for ok, _ in i10) else "refuted",
          _listed("INT8 on 10 GiB: ", [(f"{s} px", r) for s, r in zip(images, i10)]))
    i8, n8 = runs("int8", 8, small), runs("nf4", 8, small)
    judge("8 GB cards need INT8 or INT4", "holds" if i8[0] and n8[0] else "partly (INT4 only)" if n8[0] else "refuted",
          f"on 8 GiB at {small} px: INT8 {'runs' if i8[0] else 'does not fit'} ({i8[1]}), NF4 "
          f"{'runs' if n8[0] else 'does not fit'} ({n8[1]})")
    largest = {(p, s): max((b for b in batch_sizes if runs(p, 24, s, b)[0]), default=0)
               for p in ("bf16", "int8") for s in images}
    limited = [s for s in images if largest[("bf16", s)] < max(batch_sizes)]  # where BF16's memory is the limit
    at = limited[0] if limited else images[-1]
    bf_b, i8_b = largest[("bf16", at)], largest[("int8", at)]
    judge("INT8 frees memory for batch 4 instead of 2",
          "inconclusive (BF16 reaches the largest batch tried at every image size)" if not limited
          else "holds" if i8_b > bf_b else "refuted",
          (f"at {at} px, the smallest image where BF16's batch is limited by memory on a 24 GiB card: " if limited
           else f"BF16 is never memory-limited on a 24 GiB card here; at {at} px: ")
          + f"largest batch BF16 {bf_b}, INT8 {i8_b} (batches tried: {list(batch_sizes)}; per image: "
          + ", ".join(f"{s} px BF16 {largest[('bf16', s)]} / INT8 {largest[('int8', s)]}" for s in images) + ")")
    one = plan_memory(evidence.model, "int8", image_size=small, new_tokens=evidence.new_tokens, device="cuda")
    two = 2 * one.allocator_peak_bytes + one.cuda_context_bytes
    judge("two INT8 models need 16 GB, which fits a 4090 (24 GB)",
          "holds" if two <= 16 * GIB else "partly (more than 16 GiB, within 24)" if two <= 24 * GIB else "refuted",
          f"planned: two INT8 models and one query each in one process need {two / GIB:.1f} GiB (one CUDA context): "
          f"{'within' if two <= 24 * GIB else 'over'} 24 GiB, {'within' if two <= 16 * GIB else 'over'} 16 GiB")
    r12, r8 = runs("int8", 12, small), runs("nf4", 8, small)
    judge("RTX 3060 (12 GB) -> INT8; RTX 3060 (8 GB) -> INT4",
          "holds for both cards" if r12[0] and r8[0] else "partly" if r12[0] or r8[0] else "refuted",
          "the seed names the RTX 3060 twice with different advice; both cards exist (12 GB since 2021, an 8 GB "
          "variant with a 128-bit bus since late 2022: "
          "https://thinkcomputers.org/nvidia-finally-introduces-geforce-rtx-3060-8gb-and-rtx-3060-ti-gddr6x/), "
          "so read as two cards: "
          f"INT8 on 12 GiB at {small} px {'runs' if r12[0] else 'does not fit'} ({r12[1]}), NF4 on 8 GiB "
          f"{'runs' if r8[0] else 'does not fit'} ({r8[1]})")
    large = [(f"{s} px x{b}", runs("bf16", 24, s, b)) for s in images for b in (1, 4)]
    fastest = "BF16 answers the whole query fastest (notebook 03's H200 reference: INT8 and NF4 are slower)"
    judge("don't quantize on large GPUs (RTX 4090, 24 GB -> BF16)",
          "holds" if all(ok for _, (ok, _) in large) else "partly (BF16 does not fit every query)",
          _listed("BF16 on 24 GiB: ", large) + f"; {fastest}")
    return advice


def _yes(answer: tuple[bool, str]) -> str:
    return f"{'yes' if answer[0] else 'NO'} ({answer[1]})"


#: The batches both trees are asked about: one image and four.
TREE_BATCHES: tuple[int, ...] = (1, 4)


@dataclass(frozen=True)
class SeedTreeCase:
    """The seed's tree as written on one card, image and batch: BF16's answer (its "OOM errors?"), the pick, and
    whether the pick runs, each with how it is known. Taught in ``notebooks/08_decision.ipynb``."""

    card_gib: float
    image: int
    batch: int
    bf16: tuple[bool, str]
    pick: str
    pick_fits: tuple[bool, str]


def judge_seed_tree(evidence: SeedEvidence, cards: Sequence[float], *, quantize: str = QUANTIZE,
                    test: CardTest | None = None) -> list[SeedTreeCase]:
    """The seed's tree as written, with ``quantize`` as its reading of "quantize", on every card of ``cards`` at each
    of the evidence's images for each of :data:`TREE_BATCHES`, judged by ``test`` (default
    :meth:`SeedEvidence.card_test`). Taught in ``notebooks/08_decision.ipynb``.
    """
    test = test if test is not None else evidence.card_test()
    cases = []
    for card in cards:
        for image in evidence.images:
            for batch in TREE_BATCHES:
                pick, bf16 = evidence.seed_pick(test, card, image, batch, quantize=quantize)
                cases.append(SeedTreeCase(card, image, batch, bf16, pick, evidence.tested(test, pick, card, image, batch)))
    return cases


def compare_trees(evidence: SeedEvidence, settings: DecisionSettings) -> list[dict[str, Any]]:
    """The seed's tree as written (:func:`judge_seed_tree`) and ``recommend_precision`` (priority speed) asked about
    the seed's model on every card of ``settings``, at each of the evidence's images, for one image and for four;
    both judged by one card test (:meth:`SeedEvidence.card_test`), which also answers the tree's "Do you have OOM
    errors?" (BF16 does not run) and is the measured evidence ``recommend_precision`` decides by. Records one
    ``decision`` record per case; returns the table's rows.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    test = evidence.card_test()
    rows = []
    for case in judge_seed_tree(evidence, settings.cards, test=test):
        card, image, batch = case.card_gib, case.image, case.batch
        rec = recommend_precision(evidence.model, card, image_size=image, batch_size=batch, priority="speed",
                                  card_test=test)
        rec_fits = evidence.tested(test, rec.precision, card, image, batch) if rec.precision else None
        rows.append({"card (GiB)": card, "image": image, "batch": batch, "BF16 runs (else: OOM errors)": _yes(case.bf16),
                     "seed's tree": case.pick, "seed's pick fits": _yes(case.pick_fits),
                     "recommend_precision (speed)": rec.precision or "nothing fits",
                     "recommend_precision's pick fits": _yes(rec_fits) if rec_fits else "-",
                     "recommend_precision: predicted GiB": rec.predicted_peak_bytes / GIB,
                     "recommend_precision: speed vs BF16": rec.speed_vs_bf16})
        settings.store.record_measurement(TreeDecision(case.pick, *case.pick_fits, rec.as_dict()), model=evidence.model,
                                          precision=rec.precision,
                                          shapes={"card_gib": card, "image": [image, image], "batch": batch}, repeats=0)
    return rows
