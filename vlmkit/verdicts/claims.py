"""The seed's claims, as data: what the book puts to the test. Quoted, not measured.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: "BF16 8B needs 16 GB, INT8 8 GB, INT4 4 GB", for Qwen3-VL-8B, read in GiB (2^30 bytes): the unit GPU memory
#: is sold in (a "16 GB" card holds 16 GiB), so the question "does it fit my 16 GB card?" is a question in GiB.
SEED_MEMORY_CLAIMS_GIB: dict[str, float] = {"bf16": 16.0, "int8": 8.0, "nf4": 4.0}


SEED_MEMORY_CLAIM_TEXT = "BF16 8B needs 16 GB, INT8 8 GB, INT4 4 GB"


#: The registry entry the seed's memory claims are about.
SEED_MEMORY_CLAIM_MODEL = "qwen3-vl-8b"


#: "INT8 keeps 98-99 % and INT4 95-98 % of quality", as (low, high) relative accuracy, keyed by quantization kind.
SEED_QUALITY_CLAIMS: dict[str, tuple[float, float]] = {"int8": (0.98, 0.99), "4bit": (0.95, 0.98)}


SEED_QUALITY_CLAIM_TEXT = "INT8 keeps 98-99 % and INT4 95-98 % of quality"


@dataclass(frozen=True)
class SpeedClaim:
    """One of the seed's speed sentences as a claimed range of speed-ups (variant speed / baseline speed)."""

    key: str
    text: str
    low: float
    high: float


#: The seed's speed claims; every ratio is "how many times as fast as the baseline" (>1: faster).
SEED_SPEED_CLAIMS: dict[str, SpeedClaim] = {c.key: c for c in (
    SpeedClaim("int8-speed", "INT8 runs at 0.8-1.2x the speed of BF16", 0.8, 1.2),
    SpeedClaim("int4-speed", "INT4 runs at 0.6-0.9x the speed of BF16", 0.6, 0.9),
    SpeedClaim("torch-compile", "torch.compile makes it 30-50 % faster", 1.3, 1.5),
    SpeedClaim("flash-attention", "Flash Attention 2 is 2-4x faster", 2.0, 4.0),
    SpeedClaim("tf32", "TF32 makes it 10-20 % faster", 1.1, 1.2),
    SpeedClaim("kv-cache-reuse", "KV-cache reuse makes follow-up questions 3-5x faster", 3.0, 5.0),
    SpeedClaim("non-blocking", "pinned memory + non_blocking transfers are 15-25 % faster", 1.15, 1.25),
)}


#: The seed's sentences about *why* something is fast or slow. Each is judged apart from the number it explains
#: (a ``mechanism-claim`` record with ``measured_text`` and a verdict: holds / partly / refuted).
SEED_MECHANISM_CLAIMS: dict[str, str] = {
    "int4-dequantization": "INT4 is slower than BF16 because of dequantization overhead",
    "compute-bound": "the 8B model is compute bound, not memory bound",
}
