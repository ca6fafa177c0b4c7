"""The precisions the book compares, and how each is asked of ``from_pretrained``.

16/32-bit precisions are a ``dtype``; 8-bit and 4-bit ones are a
``BitsAndBytesConfig`` (LLM.int8 with its outlier threshold, NF4/FP4 with or
without double quantization, bf16 compute).

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import BitsAndBytesConfig

from vlmkit.errors import ConfigurationError


@dataclass(frozen=True)
class Precision:
    """One way to hold the weights.

    ``bits`` is the nominal storage width of a quantized Linear weight (what the
    popular "params x bytes" arithmetic assumes); ``dtype`` is the dtype of
    everything that is not quantized and of the compute.
    """

    name: str
    label: str
    bits: int
    dtype: torch.dtype
    quantization: str | None = None  # None, "int8" or "4bit"
    int8_threshold: float = 6.0
    quant_type: str = "nf4"
    double_quant: bool = False

    @property
    def short_label(self) -> str:
        """The label without its parenthesis: ``"INT8"`` for ``"INT8 (LLM.int8, threshold 6.0)"``."""
        return self.label.split(" (")[0]

    @property
    def is_quantized(self) -> bool:
        """Whether bitsandbytes replaces the Linear layers."""
        return self.quantization is not None

    def quantization_config(self) -> BitsAndBytesConfig | None:
        """The ``BitsAndBytesConfig`` for ``from_pretrained``, or ``None`` for 16/32-bit."""
        if self.quantization == "int8":
            return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=self.int8_threshold)
        if self.quantization == "4bit":
            return BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type=self.quant_type,
                bnb_4bit_use_double_quant=self.double_quant,
                bnb_4bit_compute_dtype=self.dtype,
            )
        return None


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("fp32", "FP32", 32, torch.float32),
        Precision("bf16", "BF16", 16, torch.bfloat16),
        Precision("fp16", "FP16", 16, torch.float16),
        Precision("int8", "INT8 (LLM.int8, threshold 6.0)", 8, torch.bfloat16, "int8", int8_threshold=6.0),
        Precision("int8-t0", "INT8 (threshold 0.0, no fp16 outliers)", 8, torch.bfloat16, "int8", int8_threshold=0.0),
        Precision("nf4", "NF4", 4, torch.bfloat16, "4bit", quant_type="nf4"),
        Precision("fp4", "FP4", 4, torch.bfloat16, "4bit", quant_type="fp4"),
        Precision("nf4-dq", "NF4 + double quantization", 4, torch.bfloat16, "4bit", quant_type="nf4", double_quant=True),
    )
}

#: The order tables and plots use: widest first.
PRECISION_NAMES: tuple[str, ...] = tuple(PRECISIONS)


def get_precision(name: str) -> Precision:
    """Look up a precision by name, with a clear error for unknown names.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ConfigurationError(f"unknown precision {name!r}; choose one of {list(PRECISIONS)}") from None


def precision_from_flags(load_in_8bit: bool, load_in_4bit: bool, precision: str | None) -> Precision:
    """Turn the seed API's flags into one precision, refusing contradictions.

    ``load_in_8bit`` means LLM.int8 with threshold 6.0; ``load_in_4bit`` means NF4
    with bf16 compute; with neither, ``precision`` (default ``"bf16"``) decides.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    if load_in_8bit and load_in_4bit:
        raise ConfigurationError(
            "load_in_8bit=True and load_in_4bit=True contradict each other: choose one "
            "(or pass precision='int8', 'nf4', 'nf4-dq', ...)"
        )
    flagged = "int8" if load_in_8bit else "nf4" if load_in_4bit else None
    if flagged and precision and precision != flagged:
        raise ConfigurationError(
            f"precision={precision!r} contradicts load_in_{'8' if load_in_8bit else '4'}bit=True: pass only one of them"
        )
    return get_precision(flagged or precision or "bf16")
