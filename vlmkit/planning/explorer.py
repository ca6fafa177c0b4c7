"""The plain callback behind notebook 08's explorer: one setting of its widgets in, what it shows out.

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlmkit.bench.query import standard_query
from vlmkit.core.formatting import GIB, gib_text
from vlmkit.models.architectures import ArchitectureSpec
from vlmkit.models.precisions import get_precision
from vlmkit.planning.recommend import CANDIDATES, recommend_precision
from vlmkit.planning.seed_tree import seed_tree


def explorer_view(model: str | Path | ArchitectureSpec, vram_gib: float, image_size: int, batch_size: int,
                  models: int, priority: str) -> dict[str, Any]:
    """What notebook 08's explorer shows for one setting of its widgets: the recommendation, the seed's pick, the
    predicted need of each precision against the card (for a bar chart) and a Markdown summary.

    The seed's "complex images" are read as images larger than the book's default CUDA query image
    (:func:`vlmkit.bench.query.standard_query`). Taught in ``notebooks/08_decision.ipynb``.
    """
    rec = recommend_precision(model, vram_gib, image_size=image_size, batch_size=batch_size, models=models, priority=priority)
    seed_pick = seed_tree(vram_gib, models=models, batch_size=batch_size,
                          complex_images=image_size > standard_query("cuda").image_size)
    bars = [(p, rec.needs[p] / GIB, rec.needs[p] <= rec.card_bytes) for p in CANDIDATES]
    if rec.fits:
        settings = ", ".join(f"{k}={v}" for k, v in rec.settings.items())
        head = (f"**Recommendation: {get_precision(rec.precision).short_label}** ({settings}), predicted "
                f"{gib_text(rec.predicted_peak_bytes)} of {gib_text(rec.card_bytes)}, {gib_text(rec.headroom_bytes)} headroom")
        if rec.speed_vs_bf16 is not None:
            head += f", {rec.speed_vs_bf16:.2f}x the speed of plain BF16"
    else:
        head = f"**Nothing fits** a {gib_text(rec.card_bytes)} card"
    seed_need = rec.needs[seed_pick]
    seed_line = (f"The seed's tree picks **{get_precision(seed_pick).short_label}**; the planner predicts it needs {gib_text(seed_need)}: "
                 + ("fits." if seed_need <= rec.card_bytes else "**does not fit**."))
    evidence = [f"- `{e.file}` (run `{e.run_id}`): {e.what}" for e in rec.evidence]
    markdown = "\n".join([head + ".", "", *[f"- {r}" for r in rec.reasons], "", seed_line, "", "Evidence:", *evidence])
    return {"recommendation": rec, "seed_pick": seed_pick, "bars": bars, "card_gib": vram_gib, "markdown": markdown}
