"""Load a Qwen3-VL checkpoint in any precision through ``from_pretrained``, and report what happened.

The same path serves a registry name (vlmkit writes the checkpoint first), a
local checkpoint directory and a hub id such as ``Qwen/Qwen3-VL-8B-Instruct``.

Taught in ``notebooks/01_loading_precisions.ipynb``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoProcessor,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
)

from vlmkit.core.device import bitsandbytes_backend, device_name, resolve_device
from vlmkit.core.formatting import human_binary_bytes
from vlmkit.errors import ConfigurationError, UnknownModelError
from vlmkit.measure.footprint import SAME_BYTES_AS, Footprint, measure_footprint
from vlmkit.measure.memory import (
    MemoryDelta,
    MemoryProbe,
    card_need_bytes,
    outside_allocator_bytes,
)
from vlmkit.measure.records import Measurement
from vlmkit.models.architectures import REGISTRY, ArchitectureSpec
from vlmkit.models.attention_backends import AttentionChoice, choose_attention
from vlmkit.models.checkpoints import (
    generation_config,
    read_manifest,
    validate_checkpoint,
    write_checkpoint,
)
from vlmkit.models.int4 import int4_kernel
from vlmkit.models.precisions import PRECISION_NAMES, Precision, get_precision
from vlmkit.models.processor import build_processor
from vlmkit.models.quantize_in_place import quantize_in_place


class _DropInt8CastWarning(logging.Filter):
    """bitsandbytes' int8 layers log on every call that they cast bf16 inputs to fp16;
    the load report states it once instead (see ``LoadReport.notes``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("MatMul8bitLt: inputs will be cast")


logging.getLogger("bitsandbytes.autograd._functions").addFilter(_DropInt8CastWarning())


@dataclass
class LoadReport:
    """What a load actually did: precision, layers, backends, bytes and time.

    ``weights`` is the tensor-level breakdown (vlmkit's count of every parameter,
    buffer and quantization constant); ``memory`` is what the device reported
    while loading (CUDA allocator, or process RSS on the CPU).
    """

    model: str
    source: str
    precision: str
    precision_label: str
    device: str
    device_name: str
    attention: AttentionChoice
    quant_backend: str | None
    weights: Footprint
    memory: MemoryDelta
    load_seconds: float
    hf_memory_footprint: int
    notes: list[str] = field(default_factory=list)
    compile_warmup_s: float | None = None  # the first compiling call's time, with use_compile

    def as_dict(self) -> dict:
        """A plain dict for records."""
        return {
            "model": self.model,
            "source": self.source,
            "precision": self.precision,
            "precision_label": self.precision_label,
            "device": self.device,
            "device_name": self.device_name,
            "attention": self.attention.__dict__,
            "quant_backend": self.quant_backend,
            "weights": self.weights.as_dict(),
            "memory": self.memory.as_dict(),
            "load_seconds": self.load_seconds,
            "hf_memory_footprint": self.hf_memory_footprint,
            "notes": self.notes,
            "compile_warmup_s": self.compile_warmup_s,
        }


@dataclass
class LoadedModel:
    """A model, its processor and the report of how it was loaded."""

    model: Qwen3VLForConditionalGeneration
    processor: Qwen3VLProcessor
    report: LoadReport


def resolve_source(model: str | Path, init_device: str = "cpu") -> str:
    """Turn a registry name, a local directory or a hub id into what ``from_pretrained`` takes.

    Registry names are written (or found in the cache) first, with random weights
    drawn on ``init_device`` (``"cuda"`` builds the 8B model in a second); local directories
    are checked for completeness; anything with a ``/`` that is not a directory is
    passed to the hub as an id.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    text = str(model)
    if text in REGISTRY:
        return str(write_checkpoint(text, device=init_device))
    path = Path(text).expanduser()
    if path.is_dir():
        validate_checkpoint(path)
        return str(path)
    if "/" in text and not text.startswith((".", "/", "~")) and text.count("/") == 1:
        return text
    raise UnknownModelError(
        f"unknown model {text!r}: not a registry name {sorted(REGISTRY)}, not a checkpoint directory, "
        "and not a hub id of the form 'owner/name'"
    )


def load_model(
    model: str | Path,
    precision: str | Precision = "bf16",
    *,
    device: str | torch.device | None = None,
    attn_implementation: str | None = None,
    use_flash_attention: bool = False,
    strict_attention: bool = False,
) -> LoadedModel:
    """Load ``model`` in ``precision`` on ``device`` with ``from_pretrained`` and measure the load.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    prec = precision if isinstance(precision, Precision) else get_precision(precision)
    dev = resolve_device(device)
    quant_backend = (bitsandbytes_backend(dev) if prec.library == "bitsandbytes"
                     else int4_kernel(dev, prec.group_size, prec.int4_packing) if prec.library == "torchao" else None)
    attention = choose_attention(dev, attn_implementation, use_flash_attention, strict_attention)
    source = resolve_source(model, init_device="cuda" if dev.type == "cuda" else "cpu")

    start = time.perf_counter()
    with MemoryProbe(dev) as probe:
        try:
            net = Qwen3VLForConditionalGeneration.from_pretrained(
                source,
                dtype=prec.dtype,
                quantization_config=prec.quantization_config(dev.type),
                attn_implementation=attention.used,
                device_map={"": str(dev)},
            )
        except OSError as exc:
            if Path(source).is_dir():
                raise
            raise UnknownModelError(
                f"could not load {source!r} from the hub ({exc}). Without network access use a registry name "
                f"{sorted(REGISTRY)} or a local checkpoint directory"
            ) from exc
    load_seconds = time.perf_counter() - start
    net.eval()
    processor = AutoProcessor.from_pretrained(source)

    notes = []
    if attention.note:
        notes.append(attention.note)
    if prec.quantization == "int8" and dev.type == "cpu":
        notes.append("bitsandbytes' CPU int8 matmul casts bf16 activations to fp16")
    if prec.library == "torchao" and dev.type != "cuda":
        notes.append("int4 on a CPU: torchao stores the 4-bit values unpacked in int8 and dequantizes them in every "
                     "call (no packed CPU kernel in this torchao): right answers, not 4-bit bytes or speed")
    manifest = read_manifest(source) if Path(source).is_dir() else None
    if manifest:
        notes.append(f"random weights ({manifest['registry_name']}, seed {manifest['seed']}): measures memory and speed, not quality")

    report = LoadReport(
        model=str(model),
        source=source,
        precision=prec.name,
        precision_label=prec.label,
        device=str(dev),
        device_name=device_name(dev),
        attention=attention,
        quant_backend=quant_backend,
        weights=measure_footprint(net),
        memory=probe.result,
        load_seconds=load_seconds,
        hf_memory_footprint=int(net.get_memory_footprint()),
        notes=notes,
    )
    return LoadedModel(net, processor, report)


def build_on_device(spec: ArchitectureSpec, device: str | torch.device, *, precision: str | Precision = "bf16",
                    seed: int = 0) -> LoadedModel:
    """Draw a registry-style architecture's random BF16 weights directly on ``device``, without a checkpoint, and
    quantize them there in ``precision`` (:func:`vlmkit.models.quantize_in_place.quantize_in_place`: the layers and
    settings ``from_pretrained`` would use).

    For architectures too large to write to disk and read back (the 72B shape of notebook 11): the model is built
    with ``_from_config`` on the device, the processor from the spec, and the report measures the same things as
    :func:`load_model`'s (its load time includes the quantization). A quantized model briefly holds its BF16
    weights: build it before other models that share the device. Taught in ``notebooks/11_large_models.ipynb``.
    """
    dev = resolve_device(device)
    prec = precision if isinstance(precision, Precision) else get_precision(precision)
    if prec.dtype != torch.bfloat16:
        raise ConfigurationError(f"build_on_device draws BF16 weights; {prec.name} computes in {prec.dtype}: load "
                                 "it with load_model")
    attention = choose_attention(dev)
    start = time.perf_counter()
    with MemoryProbe(dev) as probe:
        torch.manual_seed(seed)
        with torch.device(dev):
            net = Qwen3VLForConditionalGeneration._from_config(spec.config(), dtype=torch.bfloat16,
                                                               attn_implementation=attention.used)
        quant_backend = quantize_in_place(net, prec) if prec.is_quantized else None
    load_seconds = time.perf_counter() - start
    net.eval()
    net.generation_config = generation_config(spec)
    notes = [f"random weights ({spec.name}, seed {seed}, drawn on {dev.type}): measures memory and speed, not quality"]
    if prec.is_quantized:
        notes.append(f"quantized in place after drawing ({quant_backend}), the layers from_pretrained replaces")
    report = LoadReport(
        model=spec.name, source=f"random weights drawn on {dev} (no checkpoint)", precision=prec.name,
        precision_label=prec.label, device=str(dev), device_name=device_name(dev), attention=attention,
        quant_backend=quant_backend, weights=measure_footprint(net), memory=probe.result, load_seconds=load_seconds,
        hf_memory_footprint=int(net.get_memory_footprint()), notes=notes)
    return LoadedModel(net, build_processor(spec), report)


@dataclass(frozen=True)
class LoadingSettings:
    """Notebook 01's parameters, resolved: the device, the model, the precisions to load (validated names), the
    side of the square test image, and the CUDA context measured before anything else touched the GPU.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """

    device: torch.device
    model: str
    precisions: list[str]
    image_size: int
    context_bytes: int | None


def loading_settings(device: str | torch.device | None = "auto", model: str = "auto", precisions: str = "auto",
                     image_size: int = 0) -> LoadingSettings:
    """Resolve notebook 01's parameters; the first CUDA call measures the CUDA context (``None`` on a CPU).

    ``model="auto"``: qwen3-vl-8b on CUDA, qwen3-vl-tiny on a CPU. ``precisions="auto"``: all of them on a CPU; on
    CUDA every one but those that store the bytes of another (:data:`vlmkit.measure.footprint.SAME_BYTES_AS`);
    ``"all"``, or a comma-separated list (an unknown name fails here). ``image_size`` 0: 448 px on CUDA, 64 on a CPU.
    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    dev = resolve_device(device)
    context = outside_allocator_bytes(dev)  # the first CUDA call: it creates the context
    if image_size < 0:
        raise ConfigurationError(f"image_size must be a side in px, or 0 for the device's default; got {image_size}")
    if precisions == "auto":
        chosen = list(PRECISION_NAMES) if dev.type == "cpu" else [p for p in PRECISION_NAMES if p not in SAME_BYTES_AS]
    elif precisions == "all":
        chosen = list(PRECISION_NAMES)
    else:
        chosen = [p.strip() for p in precisions.split(",")]
    return LoadingSettings(
        device=dev,
        model=model if model != "auto" else ("qwen3-vl-8b" if dev.type == "cuda" else "qwen3-vl-tiny"),
        precisions=[get_precision(p).name for p in chosen],
        image_size=image_size or (448 if dev.type == "cuda" else 64),
        context_bytes=context,
    )


@dataclass(frozen=True)
class LoadMeasurement(Measurement):
    """Notebook 01's ``load`` record: the load report (:meth:`LoadReport.as_dict`), the one query's stats
    (``CallStats.as_dict``) and what the card held outside PyTorch's allocator after that query (``None`` on a CPU).

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """

    EXPERIMENT = "load"
    load: dict[str, Any]
    ask: dict[str, Any]
    outside_allocator_bytes: int | None

    @property
    def on_cuda(self) -> bool:
        """Whether the CUDA allocator measured the load (else the CPU's tensor bytes and resident set)."""
        return self.load["memory"]["kind"] == "cuda-allocator"

    @property
    def weights_bytes(self) -> int:
        """The footprint the book reports: on CUDA the allocator's bytes retained after the load, on a CPU the sum
        of every tensor's bytes (the resident set also counts libraries)."""
        return self.load["memory"]["retained_bytes"] if self.on_cuda else self.load["weights"]["total_bytes"]

    @property
    def card_need_bytes(self) -> int | None:
        """What a card must hold to load the model and answer the query (:func:`card_need_bytes`); ``None`` on a CPU."""
        if self.outside_allocator_bytes is None:
            return None
        return card_need_bytes(self.load["memory"]["peak_bytes"], self.weights_bytes, self.ask["peak_memory_bytes"],
                               self.outside_allocator_bytes)

    def row(self) -> dict[str, Any]:
        """One row of notebook 01's tables: the numbers of this load (``weights``: :attr:`weights_bytes`), its
        breakdown and its precision's bits."""
        load, weights = self.load, self.load["weights"]
        precision = get_precision(load["precision"])
        names = ", ".join(weights["unquantized_linears"])
        return {"precision": precision.name, "label": load["precision_label"], "params": weights["total_params"],
                "tensor_bytes": weights["total_bytes"], "allocator_retained": load["memory"]["retained_bytes"],
                "weights": self.weights_bytes,
                "peak_at_load": load["memory"]["peak_bytes"], "load_s": load["load_seconds"],
                "quantized_layers": sum(weights["quantized_layers"].values()), "unquantized_linears": names,
                # a quantized model names the Linear layers it left in 16 bit; an unquantized one has them all
                "left_in_16_bit": names if precision.is_quantized else f"all {len(weights['unquantized_linears'])}",
                "call_peak": self.ask["peak_memory_bytes"], "memory_kind": load["memory"]["kind"],
                "outside_allocator": self.outside_allocator_bytes, "breakdown": weights["bytes_by"],
                "bits": precision.bits}

    def breakdown_values(self) -> dict[str, Any]:
        """What the explanation of this load's bytes states: the tensors against params x bits, the bytes left
        unquantized (token embeddings and ``lm_head`` among them), the quantization constants and the vision tower,
        sizes as text in binary units."""
        row = self.row()
        b = row["breakdown"]
        ideal = row["params"] * row["bits"] / 8
        return {"label": row["label"], "bits": row["bits"], "ratio": row["tensor_bytes"] / ideal,
                "tensors": human_binary_bytes(row["tensor_bytes"]), "arithmetic": human_binary_bytes(ideal),
                "unquantized": human_binary_bytes(sum(c["unquantized tensors"] for c in b.values())),
                "embeddings": human_binary_bytes(b["token embeddings"]["unquantized tensors"]
                                                 + b["lm_head"]["unquantized tensors"]),
                "constants": human_binary_bytes(sum(c["quantization constants"] for c in b.values())),
                "vision": human_binary_bytes(sum(b["vision tower"].values()))}


@dataclass(frozen=True)
class SameBytes:
    """A precision that should store exactly the bytes of another (its twin), and whether it did.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """

    precision: str
    label: str
    twin: str
    twin_label: str
    same: bool


def same_bytes(loads: dict[str, LoadMeasurement]) -> list[SameBytes]:
    """For each pair of :data:`vlmkit.measure.footprint.SAME_BYTES_AS` that both loaded: did they store the same
    tensor bytes? Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    return [SameBytes(name, get_precision(name).label, twin, get_precision(twin).label,
                      loads[name].load["weights"]["total_bytes"] == loads[twin].load["weights"]["total_bytes"])
            for name, twin in SAME_BYTES_AS.items() if name in loads and twin in loads]
