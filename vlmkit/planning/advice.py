"""The seed's card advice and its decision tree, judged: each sentence, and each pick of the tree, against this
run's emulated cards where they ran the seed's model (Qwen3-VL-8B on CUDA), else against the planner.

Each answer says how it is known: *measured* on an emulated card, *implied by a smaller card* that ran the same
query, or *planned for* the seed's model (a CPU run, which cannot hold the 8B model's query on a card, or a
configuration the sweep did not run). The verdicts are records (``seed-advice``, ``decision``) that the seed's
statement table (:mod:`vlmkit.verdicts.statements`) reads.

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vlmkit.core.formatting import GIB
from vlmkit.planning.cards import CardFit, DecisionSettings
from vlmkit.planning.planner import plan_memory
from vlmkit.planning.recommend import recommend_precision
from vlmkit.planning.seed_tree import seed_tree
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
    images); "INT8 frees memory for batch 4 instead of 2" is *inconclusive* when both reach the largest batch of
    ``batch_sizes``; "two INT8 models need 16 GB" is planned (two models' allocator peaks and one CUDA context).
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
    bf_b = max((b for b in batch_sizes if runs("bf16", 24, small, b)[0]), default=0)
    i8_b = max((b for b in batch_sizes if runs("int8", 24, small, b)[0]), default=0)
    judge("INT8 frees memory for batch 4 instead of 2",
          "inconclusive (both reach the largest batch tried)" if i8_b == bf_b == max(batch_sizes)
          else "holds" if i8_b > bf_b else "refuted",
          f"largest batch at {small} px on a 24 GiB card: BF16 {bf_b}, INT8 {i8_b} "
          f"(batches tried: {list(batch_sizes)})")
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


def compare_trees(evidence: SeedEvidence, settings: DecisionSettings) -> list[dict[str, Any]]:
    """The seed's tree and ``recommend_precision`` (priority speed) asked about the seed's model on every card of
    ``settings``, at each of the evidence's images, for one image and for four; whether the seed's pick fits (and
    how that is known). Records one ``decision`` record per case; returns the table's rows.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    rows = []
    for card in settings.cards:
        for image in evidence.images:
            for batch in (1, 4):
                seed_pick = seed_tree(card, batch_size=batch, complex_images=image > 448)
                rec = recommend_precision(evidence.model, card, image_size=image, batch_size=batch, priority="speed")
                seed_fits, how = evidence.runs(seed_pick, card, image, batch)
                rows.append({"card (GiB)": card, "image": image, "batch": batch, "seed's tree": seed_pick,
                             "seed's pick fits": f"{'yes' if seed_fits else 'NO'} ({how})",
                             "recommend_precision (speed)": rec.precision or "nothing fits",
                             "recommend_precision: predicted GiB": rec.predicted_peak_bytes / GIB,
                             "recommend_precision: speed vs BF16": rec.speed_vs_bf16})
                settings.store.record_measurement(TreeDecision(seed_pick, seed_fits, how, rec.as_dict()),
                                                  model=evidence.model, precision=rec.precision,
                                                  shapes={"card_gib": card, "image": [image, image], "batch": batch},
                                                  repeats=0)
    return rows
