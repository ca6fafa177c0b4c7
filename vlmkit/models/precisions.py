"""The precisions the book compares, and how each is asked of ``from_pretrained``.

16/32-bit precisions are a ``dtype``; 8-bit and 4-bit ones are a
``BitsAndBytesConfig`` (LLM.int8 with its outlier threshold, NF4/FP4 with or
without double quantization, bf16 compute); ``int4`` is a ``TorchAoConfig``:
torchao's weight-only INT4 in the language model's decoder layers (groups of
128 weights share a BF16 scale and zero point), a kernel ``torch.compile``
traces, where transformers refuses to compile bitsandbytes' layers. On CUDA the
weights are packed for PyTorch's tinygemm kernel; on a CPU torchao 0.18 has no
packed INT4 kernel, so they are stored unpacked in int8 (8 bits a weight) and
dequantized per call: the CPU path checks answers and code, not bytes or speed.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch
from transformers import BitsAndBytesConfig, TorchAoConfig

from vlmkit.errors import BackendUnavailableError, ConfigurationError


#: Weights per scale and zero point of ``int4`` (torchao's default, and tinygemm's fastest group size for decode).
INT4_GROUP_SIZE = 128
#: torchao's packing for PyTorch's tinygemm INT4 x BF16 kernel (``int4``'s, on any CUDA GPU).
TINYGEMM_PACKING = "tile_packed_to_4d"
#: torchao's packings for mslk's CUTLASS INT4 x BF16 kernels (Hopper, sm90a; the ``mslk-cuda`` package), in words.
MSLK_PACKINGS = {"plain": "mslk bf16i4bf16_rowwise", "preshuffled": "mslk bf16i4bf16_shuffled"}


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
    quantization: str | None = None  # None, "int8", "4bit" (bitsandbytes) or "int4" (torchao)
    int8_threshold: float = 6.0
    quant_type: str = "nf4"
    double_quant: bool = False
    group_size: int = INT4_GROUP_SIZE  # int4: weights per scale and zero point
    int4_packing: str = TINYGEMM_PACKING  # int4 on CUDA: torchao's packing format, which picks the kernel
    kept_modules: tuple[str, ...] = ()  # int4: the modules torchao leaves in the compute dtype

    @property
    def short_label(self) -> str:
        """The label without its parenthesis: ``"INT8"`` for ``"INT8 (LLM.int8, threshold 6.0)"``."""
        return self.label.split(" (")[0]

    @property
    def is_quantized(self) -> bool:
        """Whether a quantization library replaces the Linear layers (or their weights)."""
        return self.quantization is not None

    @property
    def quantizes_lm_head(self) -> bool:
        """Whether ``lm_head`` is quantized too (``int4-head``; bitsandbytes and ``int4`` keep it 16 bit)."""
        return self.library == "torchao" and "lm_head" not in self.kept_modules

    @property
    def library(self) -> str | None:
        """The library that quantizes: ``"bitsandbytes"``, ``"torchao"`` or ``None`` for 16/32-bit."""
        return None if self.quantization is None else "torchao" if self.quantization == "int4" else "bitsandbytes"

    def quantization_config(self, device_type: str = "cuda") -> BitsAndBytesConfig | TorchAoConfig | None:
        """The quantization config for ``from_pretrained`` on a ``device_type`` device, or ``None`` for 16/32-bit."""
        if self.quantization == "int4":
            return TorchAoConfig(quant_type=int4_weight_config(device_type, self.group_size, self.int4_packing),
                                 modules_to_not_convert=list(self.kept_modules))
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


#: What ``int4`` leaves in BF16, as bitsandbytes leaves ``lm_head``: the vision tower (its 1152-wide layers are
#: not what decode reads) and ``lm_head``. ``int4-head`` quantizes ``lm_head`` too: on the 8B shape its 151936 x 4096
#: BF16 weight is about a quarter of what an INT4 token reads.
INT4_KEPT_MODULES: tuple[str, ...] = ("model.visual", "lm_head")


def int4_weight_config(device_type: str, group_size: int = INT4_GROUP_SIZE, packing: str = TINYGEMM_PACKING, *,
                       set_inductor_config: bool = False) -> object:
    """torchao's weight-only INT4 config for ``device_type``: ``Int4WeightOnlyConfig`` with ``packing`` on CUDA
    (tinygemm's by default; :data:`MSLK_PACKINGS` for mslk's Hopper kernels), ``IntxWeightOnlyConfig`` (int4 values
    in int8 storage, dequantized per call) elsewhere. A packing this machine cannot run raises
    ``BackendUnavailableError``.

    ``set_inductor_config=False`` keeps torchao from switching on TorchInductor's coordinate-descent tuning for the
    whole process (it made the 8B step's compilation take minutes and would compile BF16 and INT4 under different
    settings; ``python -m vlmkit.bench decode --inductor-tuning`` measures what it buys).
    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    try:  # torchao is imported on first use: importing it costs seconds that most notebooks never need
        from torchao.quantization import Int4WeightOnlyConfig, IntxWeightOnlyConfig, PerGroup
    except ImportError as exc:
        raise BackendUnavailableError(f"INT4 weight-only layers need torchao ({exc}): pip install torchao") from exc
    if packing != TINYGEMM_PACKING:
        check_mslk_packing(packing, device_type)
    if device_type == "cuda":
        return Int4WeightOnlyConfig(group_size=group_size, int4_packing_format=packing,
                                    set_inductor_config=set_inductor_config)
    return IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(group_size))


def check_mslk_packing(packing: str, device_type: str) -> None:
    """Raise ``BackendUnavailableError`` unless ``packing`` (one of :data:`MSLK_PACKINGS`) can run here: a Hopper
    GPU (compute capability 9.x: mslk's kernels are built for sm90a) and the ``mslk-cuda`` package.
    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    if packing not in MSLK_PACKINGS:
        raise ConfigurationError(f"unknown INT4 packing {packing!r}: {TINYGEMM_PACKING!r} or one of "
                                 f"{list(MSLK_PACKINGS)}")
    if device_type != "cuda" or not torch.cuda.is_available() or torch.cuda.get_device_capability()[0] != 9:
        where = (f"a GPU of compute capability {torch.cuda.get_device_capability()}"
                 if device_type == "cuda" and torch.cuda.is_available() else f"{device_type}, no CUDA GPU")
        raise BackendUnavailableError(f"torchao's {packing!r} INT4 packing runs {MSLK_PACKINGS[packing]}, built for "
                                      f"Hopper GPUs (sm90a); this is {where}: use int4 (tinygemm)")
    if importlib.util.find_spec("mslk") is None:
        raise BackendUnavailableError(f"torchao's {packing!r} INT4 packing needs mslk's kernels: pip install "
                                      "mslk-cuda (CUDA 13)")


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
        Precision("int4", "INT4 (torchao weight-only, groups of 128)", 4, torch.bfloat16, "int4",
                  kept_modules=INT4_KEPT_MODULES),
        Precision("int4-head", "INT4 (torchao, lm_head too)", 4, torch.bfloat16, "int4",
                  kept_modules=("model.visual",)),
    )
}

#: The order tables and plots use: widest first.
PRECISION_NAMES: tuple[str, ...] = tuple(PRECISIONS)

#: INT4 kernel settings that the decode benchmark (``python -m vlmkit.bench decode --precisions int4-g64``) and
#: notebook 10 try beside ``int4``, loadable by name like any precision but kept out of the book's precision tables
#: (they store the same 4-bit weights): ``int4-g64`` gives tinygemm groups of 64 weights (twice the scales and zero
#: points, finer quantization); ``int4-hopper`` and ``int4-preshuffled`` run mslk's CUTLASS kernels (Hopper GPUs,
#: the ``mslk-cuda`` package; symmetric groups of 128). Taught in ``notebooks/10_int4_decode.ipynb``.
INT4_CANDIDATES: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("int4-g64", "INT4 (torchao weight-only, groups of 64)", 4, torch.bfloat16, "int4", group_size=64,
                  kept_modules=INT4_KEPT_MODULES),
        Precision("int4-hopper", "INT4 (torchao, mslk Hopper kernel, plain packing)", 4, torch.bfloat16, "int4",
                  kept_modules=INT4_KEPT_MODULES, int4_packing="plain"),
        Precision("int4-preshuffled", "INT4 (torchao, mslk Hopper kernel, preshuffled packing)", 4, torch.bfloat16,
                  "int4", kept_modules=INT4_KEPT_MODULES, int4_packing="preshuffled"),
    )
}


def get_precision(name: str) -> Precision:
    """Look up a precision by name, with a clear error for unknown names.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    known = PRECISIONS | INT4_CANDIDATES
    if name not in known:
        raise ConfigurationError(f"unknown precision {name!r}; choose one of {list(PRECISIONS)} (or an INT4 kernel "
                                 f"candidate of the decode benchmark: {list(INT4_CANDIDATES)})")
    return known[name]


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
