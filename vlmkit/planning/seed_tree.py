"""The seed's decision tree ("When to use quantization" and its per-card table) as a plain function.

The evidence-based tree that answers the same question is :mod:`vlmkit.planning.recommend`.
Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmkit.errors import ConfigurationError
from vlmkit.verdicts.claims import SEED_MEMORY_CLAIMS_GIB

# --- the seed's tree ------------------------------------------------------------------------------------------
#: "don't quantize on large GPUs"; "RTX 4090 (24 GB) -> BF16": the seed's large GPU starts at 24 GB.
LARGE_GPU_GIB = 24.0


#: "BF16 8B needs 16 GB": below this the seed never picks BF16.
BF16_NEED_GIB = SEED_MEMORY_CLAIMS_GIB["bf16"]


#: "INT8 fits comfortably on a 10 GB card"; "RTX 3060 (12 GB) -> INT8": from 10 GB up the seed picks INT8.
INT8_COMFORTABLE_GIB = 10.0


#: "INT8 frees memory for batch 4 instead of 2": BF16 runs batch 2, a larger batch needs INT8.
BF16_MAX_BATCH = 2


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
SEED_CARD_ADVICE: tuple[SeedCardAdvice, ...] = (
    SeedCardAdvice("RTX 4090", 24, ("bf16",), "don't quantize on large GPUs"),
    SeedCardAdvice("RTX 3080", 10, ("int8",), "BF16 may OOM on a 10 GB card on complex images; "
                                              "INT8 fits comfortably on a 10 GB card"),
    SeedCardAdvice("RTX 3060", 12, ("int8",), "RTX 3060 (12 GB) -> INT8"),
    SeedCardAdvice("RTX 3060", 8, ("nf4",), "RTX 3060 (8 GB) -> INT4"),
    SeedCardAdvice("RTX 3070", 8, ("int8", "nf4"), "8 GB cards need INT8 or INT4"),
    SeedCardAdvice("RTX 4060", 8, ("int8", "nf4"), "8 GB cards need INT8 or INT4"),
)


def seed_tree(vram_gib: float, *, models: int = 1, batch_size: int = 1, complex_images: bool = False) -> str:
    """The seed's decision tree: ``"bf16"``, ``"int8"`` or ``"nf4"`` for a card of ``vram_gib`` GB.

    Each model gets an equal share of the card ("two INT8 models need 16 GB, which fits a 4090": the seed adds
    the models' needs). On that share: from :data:`LARGE_GPU_GIB` up, BF16 ("don't quantize on large GPUs");
    from :data:`BF16_NEED_GIB` up, BF16 unless the images are complex ("BF16 may OOM ... on complex images");
    a batch over :data:`BF16_MAX_BATCH` turns BF16 into INT8 ("INT8 frees memory for batch 4 instead of 2");
    from :data:`INT8_COMFORTABLE_GIB` up, INT8; below it, INT4 ("8 GB cards need INT8 or INT4", "RTX 3060 (8 GB)
    -> INT4"). The seed has no branch for a card too small for INT4: the tree still answers its smallest option.

    The seed contradicts itself on the RTX 3060: "RTX 3060 (12 GB) -> INT8" and "RTX 3060 (8 GB) -> INT4". The
    3060 is sold with both 12 GB and 8 GB, but the seed treats them as one card; this tree follows the memory
    (12 GB -> INT8, 8 GB -> INT4), which reproduces both rows of :data:`SEED_CARD_ADVICE`.
    Taught in ``notebooks/08_decision.ipynb``.
    """
    check_card_question(vram_gib, models, batch_size)
    share = vram_gib / models
    if share >= BF16_NEED_GIB and (share >= LARGE_GPU_GIB or not complex_images):
        return "bf16" if batch_size <= BF16_MAX_BATCH else "int8"
    if share >= INT8_COMFORTABLE_GIB:
        return "int8"
    return "nf4"


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
