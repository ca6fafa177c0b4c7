"""The seed's decision tree, exactly as the seed writes it, as a plain function; and its per-card table.

The seed's tree asks two questions::

    Do you have OOM errors?  -> yes: quantize
    < 12 GB VRAM?            -> yes: INT8
                             -> no:  BF16

Nothing else: no batch, no image size, no number of models. The book's earlier version of this module rebuilt
a richer tree from the seed's other sentences (large GPUs, complex images, batch 4); those sentences are judged
one by one in :mod:`vlmkit.planning.advice`, and the tree here is the seed's own. The evidence-based answer to the
same question is :func:`vlmkit.planning.recommend.recommend_precision`.
Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmkit.errors import ConfigurationError

# --- the seed's tree ------------------------------------------------------------------------------------------
#: "< 12 GB VRAM? -> INT8": the tree's one threshold (GB as the seed writes it; the book's cards are GiB).
INT8_BELOW_GIB = 12.0


#: What the tree's leaf "quantize" means in this book: 4-bit, bitsandbytes' NF4 (the seed's "INT4"). The leaf is
#: not the INT8 of the next question: it answers out-of-memory errors, on any card, with the quantization that frees
#: the most memory of the two the seed's table names (INT8 and INT4), as the seed's "RTX 3060 (8 GB) -> INT4" does
#: for its smallest card. The other reading, INT8, is :data:`QUANTIZE_READINGS`' second entry.
QUANTIZE = "nf4"


#: The two readings of "quantize" that the seed's table allows: the book's (4-bit NF4) and INT8.
QUANTIZE_READINGS: tuple[str, ...] = (QUANTIZE, "int8")


@dataclass(frozen=True)
class SeedCardAdvice:
    """One row of the seed's per-card table: the card, its memory (GB as the seed writes it) and the seed's pick.

    ``picks`` holds more than one precision where the seed names more than one ("INT8 or INT4").
    """

    card: str
    vram_gib: float
    picks: tuple[str, ...]
    says: str


#: The seed's per-card expectations (INT4 is bitsandbytes' NF4 in this book). The RTX 3070 and RTX 4060 rows apply the
#: seed's general sentence "8 GB cards need INT8 or INT4" to the 8 GB cards it names; the others quote a card line.
#: The table is not the tree: "RTX 3060 (12 GB) -> INT8" is not what the tree answers for 12 GB without OOM errors
#: (BF16, since 12 is not below 12).
SEED_CARD_ADVICE: tuple[SeedCardAdvice, ...] = (
    SeedCardAdvice("RTX 4090", 24, ("bf16",), "don't quantize on large GPUs"),
    SeedCardAdvice("RTX 3080", 10, ("int8",), "BF16 may OOM on a 10 GB card on complex images; "
                                              "INT8 fits comfortably on a 10 GB card"),
    SeedCardAdvice("RTX 3060", 12, ("int8",), "RTX 3060 (12 GB) -> INT8"),
    SeedCardAdvice("RTX 3060", 8, ("nf4",), "RTX 3060 (8 GB) -> INT4"),
    SeedCardAdvice("RTX 3070", 8, ("int8", "nf4"), "8 GB cards need INT8 or INT4"),
    SeedCardAdvice("RTX 4060", 8, ("int8", "nf4"), "8 GB cards need INT8 or INT4"),
)


def seed_tree(vram_gib: float, *, oom_errors: bool = False, quantize: str = QUANTIZE, models: int = 1,
              batch_size: int = 1) -> str:
    """The seed's decision tree as written: ``quantize`` (:data:`QUANTIZE`, NF4) if ``oom_errors``, else ``"int8"``
    below :data:`INT8_BELOW_GIB` (12 GB), else ``"bf16"``.

    ``oom_errors`` answers the tree's first question, "Do you have OOM errors?": the seed's user runs the model
    as it comes (BF16), so notebook 08 answers it from the card test: yes where BF16 ran out of memory on that card
    with that image and batch (:func:`vlmkit.planning.advice.compare_trees`). ``quantize`` is the reading of the leaf
    "quantize" (one of :data:`QUANTIZE_READINGS`). ``models`` and ``batch_size`` are checked, never asked: the
    seed's tree has no question about them; they matter only through the OOM errors they cause.
    Taught in ``notebooks/08_decision.ipynb``.
    """
    check_card_question(vram_gib, models, batch_size)
    if quantize not in QUANTIZE_READINGS:
        raise ConfigurationError(f"the seed's 'quantize' is read as one of {QUANTIZE_READINGS}, got {quantize!r}")
    if oom_errors:
        return quantize
    if vram_gib < INT8_BELOW_GIB:
        return "int8"
    return "bf16"


def check_card_question(vram_gib: float, models: int, batch_size: int) -> None:
    """Raise ``ConfigurationError`` unless the card has memory and there is at least one model and one image.

    Shared by both trees (:func:`seed_tree` and :func:`vlmkit.planning.recommend.recommend_precision`). Taught in
    ``notebooks/08_decision.ipynb``.
    """
    if not vram_gib > 0:
        raise ConfigurationError(f"vram_gib must be > 0, got {vram_gib!r}")
    if models < 1 or batch_size < 1:
        raise ConfigurationError(f"models and batch_size must be >= 1, got models={models!r}, "
                                 f"batch_size={batch_size!r}")
