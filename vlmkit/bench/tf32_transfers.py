"""Notebook 07's benchmark: TF32 off and on (float32 kernels, the book's query) and host-to-GPU copies.

TF32 is timed in alternating rounds (off-on, on-off, ...): a large float32 matmul and a float32 matrix-vector
product with the device's clock (:func:`vlmkit.runtime.tf32.time_tf32_off_on`), then whole queries of a BF16 and
an FP32 model, their prefill and decode parts apart, each beside a profile of what the query runs in float32
(:class:`TF32Reach`: where almost nothing does, TF32 "does not apply"). The copies (CUDA only) are timed alone for several image
sizes, pageable, pinned beforehand and pinned on the way, and inside a whole query (:mod:`vlmkit.runtime.transfers`).
What is judged against the seed's claims is the notebook's: each timing gives its speed-up.

Taught in ``notebooks/07_tf32_transfers.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from vlmkit.bench.query import (
    STANDARD_QUESTION,
    QuerySetup,
    ask_fixed_length,
    query_seconds,
    resolve_model,
    standard_image,
    standard_query,
)
from vlmkit.bench.roofline import Ceilings, PhaseBound, classify_phase, linear_cost
from vlmkit.core.device import resolve_device
from vlmkit.measure.interleaved import MIN_PAIRS, MIN_WARMUPS, TimedRun, paired_speedup, time_interleaved, time_rounds
from vlmkit.measure.profiler import MatmulWork, matmul_work
from vlmkit.measure.records import Measurement
from vlmkit.measure.speedup import Speedup
from vlmkit.measure.timing import TimingStats, time_kernel
from vlmkit.models.precisions import get_precision
from vlmkit.runtime.environment import tf32_status
from vlmkit.runtime.inference import VLMInference
from vlmkit.runtime.tf32 import tf32, tf32_switches, time_tf32_off_on
from vlmkit.runtime.transfers import copy_and_answer, time_copy


@dataclass(frozen=True)
class TF32Settings:
    """Notebook 07's parameters resolved for this device, and the TF32 switches as they were at the start.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """

    device: torch.device
    model: str
    checkpoint: Path | None  # the random-weight checkpoint written for a registry model
    query: QuerySetup  # the book's default query: every headline's
    matmul_size: int
    matvec_size: int
    fp32_model: bool  # also time the whole query with the model in FP32
    sides: list[int]  # image sides for the copy alone (CUDA), the query's included
    repeats: int
    has_tf32: bool  # TF32 tensor cores on this device
    switches_at_start: dict[str, str | bool]

    @property
    def precisions(self) -> tuple[str, ...]:
        """The models whose whole query is timed with TF32 off and on: BF16 (the seed's setup), then FP32."""
        return ("bf16", "fp32") if self.fp32_model else ("bf16",)

    @property
    def query_shapes(self) -> dict[str, Any]:
        """The ``shapes`` of a record of the book's query."""
        return {"image": [self.query.image_size] * 2, "new_tokens": self.query.new_tokens}

    def describe(self) -> str:
        """The setup's status lines: checkpoint, model, headline query, TF32 here and its settings."""
        lines = [f"checkpoint: {self.checkpoint}"] if self.checkpoint else []
        lines.append(f"{self.model} on {self.device}; headline query: {self.query.describe()}; TF32 tensor cores "
                     f"here: {self.has_tf32}")
        lines.append(f"TF32 settings at the start, as this torch names them: {self.switches_at_start}")
        return "\n".join(lines)


def tf32_settings(device: str, model: str, matmul_size: int, matvec_size: int, fp32_model: bool, image_sizes: str,
                  repeats: int) -> TF32Settings:
    """Resolve notebook 07's parameters (``"auto"`` and ``0`` mean the device's defaults); write the checkpoint.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    query = standard_query(dev.type)
    asked = image_sizes if image_sizes != "auto" else "448,896,1344"
    sides = sorted({int(s) for s in str(asked).split(",")} | {query.image_size})
    name, checkpoint = resolve_model(model, dev)
    return TF32Settings(dev, name, checkpoint, query, matmul_size or (8192 if on_cuda else 512),
                        matvec_size or (8192 if on_cuda else 4096), fp32_model, sides, repeats or (5 if on_cuda else 3),
                        tf32_status(dev)["supported"], tf32_switches())


@dataclass(frozen=True)
class TF32Timing:
    """One thing timed with TF32 off and on: a float32 kernel, or a part of the book's query.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """

    what: str
    role: str  # "headline": a whole query; else "supporting"
    off: TimingStats
    on: TimingStats

    @property
    def speedup(self) -> Speedup:
        """TF32 on against off, pair by pair (``off`` and ``on`` were timed in interleaved rounds): >1 where TF32 is
        faster."""
        return paired_speedup(self.off.samples, self.on.samples)

    @property
    def off_ms(self) -> float:
        return 1e3 * self.off.median

    @property
    def on_ms(self) -> float:
        return 1e3 * self.on.median

    def row(self) -> dict[str, Any]:
        """The TF32 table's row: medians, speed-up and its spread."""
        s = self.speedup
        return {"what": self.what, "role": self.role, "TF32 off (ms)": self.off_ms, "TF32 on (ms)": self.on_ms,
                "speed-up": s.ratio, "low": s.low, "high": s.high}


@dataclass(frozen=True)
class KernelTiming(TF32Timing):
    """A float32 kernel timed with TF32 off and on, and its matmul shape (``M``, ``K``, ``N``).

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """

    shape: dict[str, int]

    @property
    def model(self) -> str:
        """What its record names as the model: ``"torch matmul 512x512x512"``, ``"torch matrix-vector product ..."``."""
        return "torch " + self.what.split(",")[0].split(" ", 1)[1]


@dataclass(frozen=True)
class Float32Kernels:
    """The two float32 kernels, this device's float32 ceilings as measured here, and where the matrix-vector product
    falls under them with TF32 off and on.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """

    matmul: KernelTiming
    matvec: KernelTiming
    ceilings: Ceilings  # copy bandwidth (bytes read + written) and the full-float32 matmul rate
    matvec_bound: dict[str, PhaseBound]  # "off", "on"


def time_float32_kernels(settings: TF32Settings) -> Float32Kernels:
    """A large float32 matmul and a float32 matrix-vector product (M = 1, a decode step's shape), TF32 off and on
    in alternating rounds, and a device-to-device copy of the product's weight for the bandwidth.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    device, size, vec_size = settings.device, settings.matmul_size, settings.matvec_size
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    w = torch.randn(vec_size, vec_size, device=device)
    x = torch.randn(1, vec_size, device=device)
    kernels = {f"float32 matmul {size}x{size}x{size}": (lambda: a @ b, {"M": size, "K": size, "N": size}),
               f"float32 matrix-vector product (M = 1), {vec_size}x{vec_size} weight": (
                   lambda: F.linear(x, w), {"M": 1, "K": vec_size, "N": vec_size})}
    timed = []
    for what, (fn, shape) in kernels.items():
        off_on = time_tf32_off_on(fn, device, rounds=settings.repeats)
        timed.append(KernelTiming(what, "supporting", off_on[False], off_on[True], shape))
    copy_target = torch.empty_like(w)
    copy_timing = time_kernel(lambda: copy_target.copy_(w), device)
    matmul, matvec = timed
    ceilings = Ceilings(bandwidth=2 * w.numel() * w.element_size() / copy_timing.median,
                        flops=2 * size**3 / matmul.off.median, dtype="float32",
                        samples=min(len(copy_timing.samples), settings.repeats))
    flops, moved = linear_cost(get_precision("fp32"), 1, vec_size, vec_size)
    bound = {mode: classify_phase(flops, moved, t.median, ceilings)
             for mode, t in (("off", matvec.off), ("on", matvec.on))}
    return Float32Kernels(matmul, matvec, ceilings, bound)


#: The largest share of a query's matmul FLOPs in float32 at which TF32 "does not apply": even if TF32 made that
#: work free, the query could not get 1 % faster, let alone the seed's 10 %.
TF32_REACH_SHARE = 0.01


@dataclass(frozen=True)
class TF32Reach(Measurement):
    """A ``tf32-reach`` record: what one whole query of a model runs in float32, the only work TF32 can change
    (PyTorch's profiler: :func:`vlmkit.measure.profiler.matmul_work`), and whether TF32 applies at all.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """

    EXPERIMENT: ClassVar[str] = "tf32-reach"
    precision: str
    operators: dict[str, int]  # dtype -> matmul and convolution operators
    flops: dict[str, int]  # dtype -> their FLOPs
    float32_operators: dict[str, int]  # operator -> how many ran in float32
    float32_flop_share: float

    @classmethod
    def of(cls, precision: str, work: MatmulWork) -> TF32Reach:
        return cls(precision, **work.as_dict())

    @property
    def applies(self) -> bool:
        """Whether float32 work is more than :data:`TF32_REACH_SHARE` of the query's matmul FLOPs."""
        return self.float32_flop_share > TF32_REACH_SHARE

    def row(self) -> dict[str, Any]:
        """The notebook's table row: operators by dtype, the float32 share of FLOPs, whether TF32 applies."""
        return {"model": self.precision.upper(), **{f"operators in {d}": n for d, n in self.operators.items()},
                "float32 share of FLOPs": self.float32_flop_share, "TF32 applies": self.applies}

    def evidence(self) -> str:
        """The profile in one sentence: float32 operators and FLOPs of the whole query."""
        total = sum(self.operators.values())
        f32 = self.operators.get("float32", 0)
        which = ", ".join(f"{name} x{n}" for name, n in sorted(self.float32_operators.items())) or "none"
        return (f"profile of one whole {self.precision.upper()} query: {f32} of {total} matmul and convolution "
                f"operators ran in float32 ({which}), {self.float32_flop_share:.4%} of their FLOPs")


def tf32_reach(vlm: VLMInference, settings: TF32Settings, precision: str) -> TF32Reach:
    """Profile one of the book's queries on ``vlm`` (loaded in ``precision``) and count its float32 matmuls.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    query, image = settings.query, standard_image(settings.query.image_size)
    work = matmul_work(lambda: ask_fixed_length(vlm, image, query.new_tokens))
    return TF32Reach.of(precision, work)


def tf32_queries(vlm: VLMInference, settings: TF32Settings, precision: str, *,
                 headline: bool = True) -> list[TF32Timing]:
    """The book's query with TF32 off and on in interleaved rounds (:func:`vlmkit.measure.interleaved.time_rounds`,
    two warm-ups each, at least :data:`vlmkit.measure.interleaved.MIN_PAIRS` rounds): the whole query (the headline,
    unless ``headline`` is False: where TF32 does not apply, :class:`TF32Reach`), its prefill and its decode per
    token (supporting). ``precision`` names the model's.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    query, image = settings.query, standard_image(settings.query.image_size)

    def side(enabled: bool) -> TimedRun:
        def run() -> dict[str, float]:
            with tf32(enabled):
                return query_seconds(ask_fixed_length(vlm, image, query.new_tokens).stats)
        return run

    rounds = time_rounds({"off": side(False), "on": side(True)}, warmup=MIN_WARMUPS,
                         rounds=max(settings.repeats, MIN_PAIRS))
    return [TF32Timing(f"{precision.upper()} model, {what} ({query.describe()})", role, rounds.stats("off", part),
                       rounds.stats("on", part))
            for part, what, role in (("query", "whole query, ms per query", "headline" if headline else "supporting"),
                                     ("prefill", "prefill", "supporting"),
                                     ("decode", "decode, per token", "supporting"))]


@dataclass(frozen=True)
class CopyTiming:
    """One query's inputs copied to the GPU alone: pageable ``.to(device)``, pinned beforehand with
    ``non_blocking=True``, and pinned on the way (what a pipeline that pins every query pays).

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """

    side: int
    nbytes: int
    plain: TimingStats
    pinned: TimingStats
    pin_included: TimingStats

    @property
    def what(self) -> str:
        """What its claim records say was timed."""
        return f"the copy alone: one {self.side} px query's inputs ({self.nbytes / 1e6:.1f} MB)"

    @property
    def shapes(self) -> dict[str, Any]:
        """The ``shapes`` of its claim records."""
        return {"image": [self.side, self.side], "bytes": self.nbytes}

    def row(self) -> dict[str, Any]:
        """The copy table's row."""
        return {"image": self.side, "MB": self.nbytes / 1e6, "pageable (ms)": 1e3 * self.plain.median,
                "pinned (ms)": 1e3 * self.pinned.median, "pin + copy (ms)": 1e3 * self.pin_included.median}


@dataclass(frozen=True)
class Transfers:
    """The copy alone per image size, and the whole query with pageable and with pinned inputs (interleaved).

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """

    query: QuerySetup
    copies: list[CopyTiming]  # by image size, ascending
    pageable: TimingStats  # the whole query, inputs copied by a plain .to(device)
    pinned: TimingStats  # the whole query, inputs pinned beforehand and copied with non_blocking=True

    @property
    def speedup(self) -> Speedup:
        """Pinned against pageable, on the whole query, pair by pair (the two ran in interleaved rounds)."""
        return paired_speedup(self.pageable.samples, self.pinned.samples)

    @property
    def what(self) -> str:
        """What the headline claim record says was timed."""
        return f"whole query, ms per query ({self.query.describe()}): copy of the processor's output, then the answer"

    def samples(self) -> dict[str, list[float]]:
        """The whole queries' seconds, kept in the headline claim record."""
        return {"pageable_s": list(self.pageable.samples), "pinned_s": list(self.pinned.samples)}

    @property
    def at_query(self) -> CopyTiming:
        """The copy of the book's query's inputs."""
        return next(c for c in self.copies if c.side == self.query.image_size)

    @property
    def copy_share(self) -> float:
        """The pageable copy's share of a whole pageable query: what a free copy could save at most."""
        return self.at_query.plain.median / self.pageable.median


def time_transfers(vlm: VLMInference, settings: TF32Settings) -> Transfers:
    """The processor's output of one query copied to the GPU alone, per image size (``repeats`` x 4 each way), and
    the whole query from that output with pageable and pinned inputs in alternating rounds. CUDA only: elsewhere
    :func:`vlmkit.runtime.transfers.time_copy` raises ``BackendUnavailableError``.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    device, query, repeats = settings.device, settings.query, settings.repeats
    image, rng = standard_image(query.image_size), np.random.default_rng(1)

    def host_inputs(img: np.ndarray) -> dict[str, torch.Tensor]:
        encoded = vlm.encode([img], [STANDARD_QUESTION], to_device=False)
        return {k: v for k, v in encoded.items() if isinstance(v, torch.Tensor)}

    copies = []
    for side in settings.sides:
        host = host_inputs(image if side == query.image_size else (rng.random((side, side, 3)) * 255).astype(np.uint8))
        copies.append(CopyTiming(side, sum(t.numel() * t.element_size() for t in host.values()),
                                 time_copy(host, device, pinned=False, repeats=repeats * 4),
                                 time_copy(host, device, pinned=True, repeats=repeats * 4),
                                 time_copy(host, device, pinned=True, include_pinning=True, repeats=repeats * 4)))
    host = host_inputs(image)
    whole = time_interleaved({pinned: copy_and_answer(vlm, host, pinned=pinned, new_tokens=query.new_tokens)
                              for pinned in (False, True)}, device, warmup=MIN_WARMUPS,
                             repeats=max(repeats, MIN_PAIRS))
    return Transfers(query, copies, whole[False], whole[True])


def tf32_transfers_explanation(settings: TF32Settings, timings: list[TF32Timing], kernels: Float32Kernels,
                               transfers: Transfers | None, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The values of ``07_tf32_transfers/what_the_numbers_say``: every TF32 timing, what each model runs in
    float32 (its ``tf32-reach`` record), the kernels' bound, the transfers, and the verdicts their ``speed-claim``
    records (``records``: the run's) give.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    by = {t.what: t for t in timings}
    claims = [r["metrics"] for r in records if r["experiment"] == "speed-claim"]
    verdict_of = {m["what"]: m["verdict"] for m in claims}
    described = settings.query.describe()
    reach = {r["precision"]: TF32Reach.from_metrics(r["metrics"]) for r in records if r["experiment"] == "tf32-reach"}
    headlines = []
    for precision in settings.precisions:
        name = precision.upper()
        whole = by[f"{name} model, whole query, ms per query ({described})"]
        headlines.append({"name": name, "bf16": precision == "bf16", "whole": whole, "verdict": verdict_of[whole.what],
                          "reach": reach[precision],
                          "prefill": by[f"{name} model, prefill ({described})"].speedup.ratio,
                          "decode": by[f"{name} model, decode, per token ({described})"].speedup.ratio})
    bound = kernels.matvec_bound["off"]
    values = {"device_type": settings.device.type, "has_tf32": settings.has_tf32, "query": described,
              "tf32_reach_share": TF32_REACH_SHARE,
              "headlines": headlines, "size": settings.matmul_size, "vec_size": settings.matvec_size,
              "matmul": kernels.matmul, "matvec": kernels.matvec, "ridge": kernels.ceilings.ridge_intensity,
              "bound": bound, "bound_text": bound.describe(kernels.ceilings),
              "on_share": kernels.matvec_bound["on"].bandwidth_share, "transfers": None}
    if transfers is not None:
        last = transfers.copies[-1]
        values["transfers"] = {
            "head": next(m for m in claims if m["claim"] == "non-blocking" and m["role"] == "headline"),
            "at_query": transfers.at_query, "share": transfers.copy_share, "last": last,
            "copy_verdict": next(m["verdict"] for m in claims if m["claim"] == "non-blocking"
                                 and m["variant"] == "pinned, non_blocking" and f"one {last.side} px" in m["what"])}
    return values
