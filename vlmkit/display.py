"""Byte-size formatting the notebooks share.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations


def gb(n_bytes: float) -> float:
    """Decimal gigabytes (10^9 bytes), the unit the seed's claims use."""
    return n_bytes / 1e9


def human_bytes(n_bytes: float) -> str:
    """``1.23 GB``, ``4.5 MB``: decimal units, three significant figures."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n_bytes) >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes:.0f} B"

