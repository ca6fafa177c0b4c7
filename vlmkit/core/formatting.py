"""Formatting the notebooks share: byte sizes, the source line of every figure, and how tables show.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axis import Axis


def human_bytes(n_bytes: float, *, binary: bool = False) -> str:
    """``1.23 GB``, ``4.5 MB``: decimal units (``binary``: ``16.3 GiB``, ``4.5 MiB``), three significant figures.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    units = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)) if binary else (("GB", 1e9), ("MB", 1e6), ("kB", 1e3))
    for unit, size in units:
        if abs(n_bytes) >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes:.0f} B"


def provenance_line(provenance: dict, *what: str) -> str:
    """A source line for a figure or table: what was measured, then device, date, torch, transformers and
    bitsandbytes versions.

    ``provenance`` is ``ResultsStore.provenance`` or a record's. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    versions = provenance["versions"]
    return " · ".join([*what, provenance["device_name"], provenance["timestamp"][:10], f"torch {versions['torch']}",
                       f"transformers {versions['transformers']}", f"bitsandbytes {versions['bitsandbytes']}"])


def readable_log_axis(axis: Axis, ticks: Sequence[float] | None = None) -> None:
    """Label a log-scale axis with plain numbers, without crowded minor labels.

    ``ticks``: the measured values to label (e.g. visual tokens); else 1, 2 and 5 times each power of ten.
    Taught in ``notebooks/06_attention.ipynb``.
    """
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    if ticks is not None:
        axis.set_ticks(list(ticks), [f"{t:g}" for t in ticks])
    else:
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def show_whole_tables() -> None:
    """pandas display options for the book's tables: every column, and each text cell in full.

    pandas cuts text cells at 50 characters by default, which hid the seed's statements and the verdicts
    behind "...". Rows keep pandas' limits: a long sweep still shows its head and tail. ``import vlmkit``
    applies this where pandas is installed, so every notebook gets it. Taught in ``notebooks/00_environment.ipynb``.
    """
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_columns", None)


#: One gibibyte, 2^30 bytes: the unit GPU memory is sold in (a "16 GB" card holds 16 GiB).
GIB = 2**30


def gib(n_bytes: float) -> float:
    """Bytes in GiB (2^30 bytes). Taught in ``notebooks/01_loading_precisions.ipynb``."""
    return n_bytes / GIB


def human_binary_bytes(n_bytes: float) -> str:
    """``16.3 GiB``, ``4.5 MiB``: :func:`vlmkit.core.formatting.human_bytes` in binary units, the unit cards are sold in.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    return human_bytes(n_bytes, binary=True)


def binary_unit(n_bytes: float) -> tuple[int, str]:
    """The scale and name of the binary unit a table of sizes up to ``n_bytes`` is shown in: ``(2**30, "GiB")``
    from a GiB up (the 8B model), else ``(2**20, "MiB")`` (the tiny CPU model).

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    return (GIB, "GiB") if n_bytes >= GIB else (2**20, "MiB")


def gib_text(n_bytes: float) -> str:
    """``12.00 GiB``: bytes in GiB with two decimals, how the planner and the decision trees state a card's need.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    return f"{n_bytes / GIB:.2f} GiB"
