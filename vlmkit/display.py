"""Formatting the notebooks share: byte sizes and the source line of every figure.

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



def provenance_line(provenance: dict, *what: str) -> str:
    """A figure title's source line: what was measured, then device, date, torch and bitsandbytes versions.

    ``provenance`` is ``ResultsStore.provenance``. Taught in ``notebooks/03_dequantization.ipynb``.
    """
    versions = provenance["versions"]
    return " · ".join([*what, provenance["device_name"], provenance["timestamp"][:10], f"torch {versions['torch']}",
                       f"bitsandbytes {versions['bitsandbytes']}"])
