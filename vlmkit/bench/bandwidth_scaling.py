"""Does a VLM's answer become bandwidth bound as the language model grows? "70B+ models are bandwidth bound, 8B is
not", measured: the same whole query on the 8B architecture and on a 72B-shaped one, each decode step placed on
the device's measured roofline.

Both models are drawn with random BF16 weights directly on the device (:func:`vlmkit.models.loading.build_on_device`), so
nothing is written to disk. A GPU too small for all of the large model's layers gets as many as fit, and the
result says how many: every decoder layer does the same work, so a step's share of the bandwidth does not depend on
how many of them there are (its time does, in proportion).

Taught in ``notebooks/11_large_models.ipynb``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import Qwen3VLForConditionalGeneration

from vlmkit.bench.query import QuerySetup, standard_query
from vlmkit.bench.roofline import (
    Ceilings,
    PhaseBound,
    classify_phase,
    decode_step_work,
)
from vlmkit.core.progress import progress
from vlmkit.measure.memory import available_bytes, free_memory
from vlmkit.measure.profiler import busy_per_phase
from vlmkit.measure.records import Measurement, ResultsStore
from vlmkit.models.architectures import ArchitectureSpec
from vlmkit.models.loading import LoadedModel, build_on_device
from vlmkit.models.precisions import get_precision
from vlmkit.runtime.inference import VLMInference

#: What is kept free besides the weights when choosing how many layers fit: activations of one query, the logits,
#: the CUDA context and the allocator's fragmentation.
HEADROOM_BYTES = 3 * 2**30


#: The seed's sentence this module measures.
BANDWIDTH_CLAIM_TEXT = "70B+ models are bandwidth bound, 8B is not"


@dataclass(frozen=True, kw_only=True)
class BandwidthClaim(Measurement):
    """The ``bandwidth-claim`` record: "70B+ models are bandwidth bound, 8B is not", the measured sentence behind it
    and its verdict (:func:`judge_bandwidth_claim`). Taught in ``notebooks/11_large_models.ipynb``.
    """

    EXPERIMENT = "bandwidth-claim"
    claim_text: str = BANDWIDTH_CLAIM_TEXT
    measured_text: str
    verdict: str
    role: str = "headline"


#: Bytes a 4-bit or 8-bit Linear weight may store per weight beyond its bits (bitsandbytes' float32 absmax per 64
#: weights is the largest), and a margin for each layer's code tables and offsets: :func:`layer_bytes`' bound for a
#: quantized precision (the layer count is chosen with it; the bytes themselves are measured).
CONSTANTS_PER_WEIGHT = 4 / 64
CONSTANTS_MARGIN = 1.01


def layer_bytes(spec: ArchitectureSpec, precision: str = "bf16") -> tuple[int, int]:
    """The bytes of one language-model decoder layer and of everything else, counted on the meta device: exact in
    BF16; for a quantized ``precision`` an upper bound (its bits per Linear weight plus :data:`CONSTANTS_PER_WEIGHT`,
    times :data:`CONSTANTS_MARGIN`; everything else counted in BF16). Taught in ``notebooks/11_large_models.ipynb``.
    """
    with torch.device("meta"):
        model = Qwen3VLForConditionalGeneration._from_config(spec.config(), dtype=torch.bfloat16)
    layer = model.model.language_model.layers[0]
    linear = sum(m.weight.numel() for m in layer.modules() if isinstance(m, torch.nn.Linear))
    one = sum(p.numel() * p.element_size() for p in layer.parameters())
    rest = sum(p.numel() * p.element_size() for p in model.parameters()) - one * spec.text["num_hidden_layers"]
    prec = get_precision(precision)
    if prec.is_quantized:
        one += int(linear * ((prec.bits / 8 + CONSTANTS_PER_WEIGHT) * CONSTANTS_MARGIN - 2))
    return one, rest


def fitting_spec(spec: ArchitectureSpec, free_bytes: int, headroom: int = HEADROOM_BYTES,
                 precisions: Sequence[str] = ("bf16",)) -> ArchitectureSpec:
    """``spec`` with as many of its decoder layers as one model in each of ``precisions`` hold together in
    ``free_bytes`` besides ``headroom`` (:func:`layer_bytes`; all of them when they fit); the name says how many
    were kept. Raises ``ValueError`` when not even one layer fits.

    Taught in ``notebooks/11_large_models.ipynb``.
    """
    sizes = [layer_bytes(spec, p) for p in precisions]
    one, rest = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
    published = spec.text["num_hidden_layers"]
    layers = min(published, int((free_bytes - headroom - rest) // one))
    if layers < 1:
        raise ValueError(f"{spec.name} in {', '.join(precisions)} needs {(rest + one + headroom) / 2**30:.1f} GiB for "
                         f"even one decoder layer each; {free_bytes / 2**30:.1f} GiB are free")
    if layers == published:
        return spec
    return dataclasses.replace(spec, name=f"{spec.name} ({layers} of {published} layers)",
                               text={**spec.text, "num_hidden_layers": layers})


@dataclass(frozen=True)
class DecodeBound:
    """One model's whole query and where its decode step sits on the roofline."""

    model: str
    layers: int
    published_layers: int
    parameters: int
    step_flops: float
    step_bytes: int
    query_s: float
    prefill_s: float
    decode_s_per_token: float  # median over the repeats, wall clock
    kernel_s_per_token: float | None  # the profiler's kernel time per decode token (CUDA only)
    bound: PhaseBound  # the decode step, wall clock
    kernels_bound: PhaseBound | None  # the decode step's kernels alone

    def as_dict(self) -> dict[str, Any]:
        """A plain dict for records."""
        return dataclasses.asdict(self)

    def table_row(self) -> dict[str, Any]:
        """This model's row in notebook 11's table: layers, size, bytes per token, times, where decode falls.

        Taught in ``notebooks/11_large_models.ipynb``.
        """
        return {"model": self.model, "layers": f"{self.layers} of {self.published_layers}",
                "parameters (B)": self.parameters / 1e9, "weights read per token (GB)": self.step_bytes / 1e9,
                "whole query (ms)": 1e3 * self.query_s, "decode (ms/token)": 1e3 * self.decode_s_per_token,
                "kernels (ms/token)": 1e3 * self.kernel_s_per_token if self.kernel_s_per_token else None,
                "share of copy bandwidth": self.bound.bandwidth_share, "decode is": self.bound.regime,
                "kernels alone": self.kernels_bound.regime if self.kernels_bound else None}


@dataclass(frozen=True)
class BandwidthBound(Measurement):
    """The ``bandwidth-bound`` record: one model's :class:`DecodeBound` (its places on the roofline as dicts) and
    the ceilings it was placed under. Taught in ``notebooks/11_large_models.ipynb``.
    """

    EXPERIMENT = "bandwidth-bound"
    model: str
    layers: int
    published_layers: int
    parameters: int
    step_flops: float
    step_bytes: int
    query_s: float
    prefill_s: float
    decode_s_per_token: float
    kernel_s_per_token: float | None
    bound: dict[str, Any]
    kernels_bound: dict[str, Any] | None
    ceilings: dict[str, float]

    @classmethod
    def of(cls, bound: DecodeBound, ceilings: Ceilings) -> BandwidthBound:
        """The record of ``bound``, measured under ``ceilings``."""
        return cls(**bound.as_dict(), ceilings={"bandwidth": ceilings.bandwidth, "flops": ceilings.flops})


def measure_decode_bound(loaded: LoadedModel, ceilings: Ceilings, *, image_size: int, new_tokens: int,
                         repeats: int, published_layers: int | None = None) -> DecodeBound:
    """Time ``repeats`` whole queries (after a warm-up) about a random ``image_size`` px image with fixed-length
    ``new_tokens`` answers, profile the kernels on CUDA, and place the decode step on the roofline.

    Taught in ``notebooks/11_large_models.ipynb``.
    """
    vlm = VLMInference.from_loaded(loaded)
    image = (np.random.default_rng(0).random((image_size, image_size, 3)) * 255).astype(np.uint8)

    def ask(n: int):
        return vlm.ask(image, "What is in the image? Describe it.", max_new_tokens=n, min_new_tokens=n)

    ask(new_tokens)  # warm-up
    calls = [ask(new_tokens).stats for _ in range(repeats)]
    decode = float(np.median([c.decode_s_per_token for c in calls]))
    kernel = busy_per_phase(ask, new_tokens, vlm.device).decode_s_per_token if vlm.device.type == "cuda" else None
    weights = loaded.report.weights
    flops, moved = decode_step_work(weights)
    layers = loaded.model.config.text_config.num_hidden_layers
    return DecodeBound(
        model=loaded.report.model, layers=layers, published_layers=published_layers or layers,
        parameters=weights.total_params, step_flops=flops, step_bytes=moved,
        query_s=float(np.median([c.total_s for c in calls])), prefill_s=float(np.median([c.prefill_s for c in calls])),
        decode_s_per_token=decode, kernel_s_per_token=kernel, bound=classify_phase(flops, moved, decode, ceilings),
        kernels_bound=classify_phase(flops, moved, kernel, ceilings) if kernel else None)


def judge_bandwidth_claim(small: DecodeBound, large: DecodeBound) -> tuple[str, str]:
    """The verdict on "70B+ models are bandwidth bound, 8B is not" and the measured sentence behind it: holds when
    the large model's decode is memory bound and the small one's is not; partly when only one half is right.

    Taught in ``notebooks/11_large_models.ipynb``.
    """
    large_ok = large.bound.regime == "memory bound"
    small_ok = small.bound.regime != "memory bound"
    verdict = "holds" if large_ok and small_ok else "partly" if large_ok or small_ok else "refuted"
    part = ("" if large.layers == large.published_layers or f"{large.layers} of {large.published_layers}" in large.model
            else f" ({large.layers} of its {large.published_layers} layers)")
    text = (f"decode per token: {small.model} {1e3 * small.decode_s_per_token:.1f} ms, {small.bound.bandwidth_share:.0%} "
            f"of the copy bandwidth ({small.bound.regime}); {large.model}{part} {1e3 * large.decode_s_per_token:.1f} ms, "
            f"{large.bound.bandwidth_share:.0%} ({large.bound.regime})")
    return verdict, text


@dataclass(frozen=True)
class BandwidthScaling:
    """The same whole query on a small and a large VLM: each one's :class:`DecodeBound` (by the published model's
    name), the verdict on "70B+ is bandwidth bound, 8B is not" and its measured sentence.

    Taught in ``notebooks/11_large_models.ipynb``.
    """

    bounds: dict[str, DecodeBound]
    small: DecodeBound
    large: DecodeBound
    verdict: str
    text: str
    query: QuerySetup
    ceilings: Ceilings
    repeats: int

    def record(self, store: ResultsStore) -> None:
        """One ``bandwidth-bound`` record per model, then the ``bandwidth-claim`` record."""
        image = [self.query.image_size] * 2
        for b in self.bounds.values():
            store.record_measurement(BandwidthBound.of(b, self.ceilings), model=b.model, precision="bf16",
                                     shapes={"image": image, "new_tokens": self.query.new_tokens, "layers": b.layers,
                                             "published_layers": b.published_layers}, repeats=self.repeats)
        store.record_measurement(BandwidthClaim(measured_text=self.text, verdict=self.verdict), model=self.large.model,
                                 precision="bf16", shapes={"image": image, "new_tokens": self.query.new_tokens},
                                 repeats=self.repeats)


def measure_bandwidth_scaling(small: ArchitectureSpec, large: ArchitectureSpec, device: torch.device,
                              store: ResultsStore, ceilings: Ceilings, *, repeats: int = 3) -> BandwidthScaling:
    """The book's standard query on ``small`` and ``large`` (random BF16 weights drawn on the device, as many of
    ``large``'s layers as the free memory holds: after an out-of-memory error, fewer, said so), each decode step
    placed under the device's measured ``ceilings``; judge the claim and record it all.
    Taught in ``notebooks/11_large_models.ipynb``.
    """
    query = standard_query(device.type)
    bounds = {}
    for spec in progress([small, large], desc="small and large VLM"):
        for headroom in (HEADROOM_BYTES, 4 * HEADROOM_BYTES):  # an out-of-memory error: fewer layers, said so
            fitted = fitting_spec(spec, available_bytes(device), headroom)
            try:
                loaded = build_on_device(fitted, device)
                bounds[spec.name] = measure_decode_bound(loaded, ceilings, image_size=query.image_size,
                                                         new_tokens=query.new_tokens, repeats=repeats,
                                                         published_layers=spec.text["num_hidden_layers"])
                break
            except torch.OutOfMemoryError as exc:
                print(f"{fitted.name}: out of memory ({str(exc).splitlines()[0][:120]}); trying fewer layers")
            finally:
                loaded = None
        free_memory(device)
    small_bound, large_bound = bounds[small.name], bounds[large.name]
    verdict, text = judge_bandwidth_claim(small_bound, large_bound)
    scaling = BandwidthScaling(bounds, small_bound, large_bound, verdict, text, query, ceilings, repeats)
    scaling.record(store)
    return scaling
