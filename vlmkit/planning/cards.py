"""Smaller GPU cards emulated on a large one: does a query fit in 8, 10, 12, 16 or 24 GiB?

``torch.cuda.set_per_process_memory_fraction`` caps PyTorch's caching allocator. A card of ``X`` GiB
holds, besides what the allocator hands out, the CUDA context and the kernels it loads; those are
measured (:func:`vlmkit.measure.memory.outside_allocator_bytes`) and taken off the cap, so the allocator gets
what such a card would leave it. What emulation cannot show: bandwidth, speed and the driver's own
footprint on another card stay the H200's.

Notebook 08 sets up with :func:`decision_settings`, loads each precision once and sweeps the cards with the
planner's prediction beside each query (:func:`sweep_precisions`: ``planner-weights`` and ``card-fit`` records,
:class:`PlannerWeights` and :class:`CardFit`), and checks the planner on a second architecture
(:func:`check_planner`: ``planner-check`` records, :class:`PlannerCheck`).

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlmkit.core.device import resolve_device
from vlmkit.core.formatting import GIB, gib_text
from vlmkit.core.progress import progress
from vlmkit.errors import ConfigurationError, DeviceUnavailableError
from vlmkit.measure.memory import free_memory, outside_allocator_bytes
from vlmkit.measure.records import (
    CHECKOUT,
    Measurement,
    Recorded,
    ResultsStore,
    metric,
    read_measurements,
)
from vlmkit.models.architectures import REGISTRY
from vlmkit.models.checkpoints import write_checkpoint
from vlmkit.models.loading import load_model
from vlmkit.models.precisions import get_precision
from vlmkit.planning.planner import plan_memory
from vlmkit.runtime.inference import VLMInference

#: The card sizes the book asks about (GiB), from the seed's 8 GB cards to a 24 GB RTX 4090.
CARD_SIZES_GIB: tuple[int, ...] = (8, 10, 12, 16, 24)


@dataclass(frozen=True)
class FitResult:
    """One query on one emulated card: did it run, how much the allocator needed, and why not."""

    card_gib: float
    image_size: int
    batch_size: int
    fits: bool
    measured: bool  # False: implied by a smaller card on which the same query ran
    allocator_cap_bytes: int
    peak_bytes: int | None  # the allocator's high-water mark during the query (weights included)
    error: str | None

    def as_dict(self) -> dict:
        """A plain dict for records."""
        return asdict(self)


@contextlib.contextmanager
def memory_cap(device: torch.device, card_gib: float, outside_allocator: int) -> Iterator[int]:
    """Cap the caching allocator at what a ``card_gib`` GiB card leaves it; yields the cap in bytes.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    if device.type != "cuda":
        raise DeviceUnavailableError(f"emulating a card needs a CUDA device; this run is on {device.type}")
    total = torch.cuda.get_device_properties(device).total_memory
    cap = int(card_gib * GIB) - outside_allocator
    if cap <= 0:
        raise ValueError(f"a {card_gib} GiB card holds less than the {outside_allocator / GIB:.2f} GiB outside the allocator")
    free_memory(device)
    torch.cuda.set_per_process_memory_fraction(min(cap / total, 1.0), device)
    try:
        yield cap
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
        free_memory(device)


def try_query(vlm: VLMInference, *, card_gib: float, image_size: int, batch_size: int, new_tokens: int,
              outside_allocator: int) -> FitResult:
    """Run one batch of fixed-length answers about ``image_size`` px images under a card's cap; an out-of-memory
    error is a result (the memory is freed and the sweep goes on), never a crash.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    image = (np.random.default_rng(0).random((image_size, image_size, 3)) * 255).astype(np.uint8)
    with memory_cap(vlm.device, card_gib, outside_allocator) as cap:
        torch.cuda.reset_peak_memory_stats(vlm.device)
        error = None
        try:
            inputs = vlm.encode([image] * batch_size, ["What is in the image? Describe it."] * batch_size)
            vlm.model.model.rope_deltas = None
            with torch.inference_mode():
                vlm.model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
            torch.cuda.synchronize(vlm.device)
        except torch.cuda.OutOfMemoryError as exc:
            error = str(exc).splitlines()[0][:200]
        finally:
            inputs = None  # drop the batch before the cap is lifted and the cache emptied
        peak = torch.cuda.max_memory_allocated(vlm.device)
    return FitResult(card_gib, image_size, batch_size, error is None, True, cap, peak, error)


def sweep_cards(vlm: VLMInference, *, cards: Sequence[float], image_sizes: Sequence[int], batch_sizes: Sequence[int],
                new_tokens: int, outside_allocator: int) -> list[FitResult]:
    """Every (image size, batch) on every card, smallest card first; once a query runs on a card, the larger cards
    are recorded as fitting by implication (``measured=False``), not run again.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    results = []
    for image_size in image_sizes:
        for batch in batch_sizes:
            ran_on: FitResult | None = None
            for card in sorted(cards):
                if ran_on is not None:
                    results.append(FitResult(card, image_size, batch, True, False, int(card * GIB) - outside_allocator,
                                             ran_on.peak_bytes, None))
                    continue
                result = try_query(vlm, card_gib=card, image_size=image_size, batch_size=batch,
                                   new_tokens=new_tokens, outside_allocator=outside_allocator)
                results.append(result)
                ran_on = result if result.fits else None
    return results


def largest_batch(results: Sequence[FitResult], card_gib: float, image_size: int) -> int:
    """The largest batch that ran on a card at an image size (0: not even one query fits).

    Taught in ``notebooks/08_decision.ipynb``.
    """
    fitting = [r.batch_size for r in results if r.card_gib == card_gib and r.image_size == image_size and r.fits]
    return max(fitting, default=0)


# --- notebook 08: the settings, the sweep over precisions and the planner's check ---------------------------------
@dataclass(frozen=True)
class DecisionSettings:
    """What notebook 08 runs: the device, the model and its precisions, the cards, image sizes and batches of the
    sweep, the answer's length, the planner's second architecture, section 5's large model, and where the records
    go (:func:`decision_settings` makes it from the notebook's parameters).

    Taught in ``notebooks/08_decision.ipynb``.
    """

    device: torch.device
    model_name: str
    precisions: list[str]
    cards: list[float]
    image_sizes: list[int]
    batch_sizes: list[int]
    new_tokens: int
    check_model: str | None  # None: no second architecture
    store: ResultsStore
    checkpoint: Path | None  # the checkpoint written for a registry model, None for a directory or a hub id

    @property
    def on_cuda(self) -> bool:
        """Whether the run is on a CUDA GPU (only there are cards emulated)."""
        return self.device.type == "cuda"

    def summary(self) -> str:
        """One line: model, device, precisions, cards, images, batches and answer tokens."""
        return (f"{self.model_name} on {self.device} in {self.precisions}; cards {self.cards} GiB; images "
                f"{self.image_sizes} px; batches {self.batch_sizes}; {self.new_tokens} answer tokens")


def decision_settings(device: str = "auto", model: str = "auto", precisions: str = "bf16,int8,nf4,int4",
                      cards: str = "8,10,12,16,24", image_sizes: str = "auto", batch_sizes: str = "1,2,4,8",
                      new_tokens: int = 8, check_model: str = "auto",
                      results_dir: str | Path | None = None) -> DecisionSettings:
    """Resolve notebook 08's parameters and write the registry model's checkpoint: ``"auto"`` means the 8B, images
    of 448-1792 px and the 4B as second architecture on CUDA; the tiny model, 64-256 px and the tied-embedding tiny
    model on a CPU. Lists are comma-separated; unknown precisions or models
    raise a clear error.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    model_name = model if model != "auto" else ("qwen3-vl-8b" if on_cuda else "qwen3-vl-tiny")
    names = [get_precision(p.strip()).name for p in precisions.split(",")]  # unknown names fail here, clearly
    sizes = image_sizes if image_sizes != "auto" else ("448,896,1344,1792" if on_cuda else "64,128,256")
    check = (("qwen3-vl-4b" if on_cuda else "qwen3-vl-tiny-tied") if check_model == "auto" else
             None if check_model == "none" else check_model)
    if check is not None and check not in REGISTRY:
        raise ConfigurationError(f"CHECK_MODEL must be 'auto', 'none' or a registry name {sorted(REGISTRY)}, got "
                                 f"{check_model!r}")
    checkpoint = None
    if model_name in REGISTRY:
        checkpoint = write_checkpoint(model_name, device=dev.type)
        print("checkpoint:", checkpoint)
    return DecisionSettings(dev, model_name, names, sorted(float(c) for c in str(cards).split(",")),
                            [int(s) for s in str(sizes).split(",")], [int(b) for b in str(batch_sizes).split(",")],
                            new_tokens, check, ResultsStore("08_decision", results_dir, dev), checkpoint)


@dataclass(frozen=True)
class PlannerWeights(Measurement):
    """A ``planner-weights`` record: the planner's weights of one precision against what the load measured
    (CUDA: the allocator's bytes retained after the load, with the memory outside the allocator; CPU: tensor bytes).

    Taught in ``notebooks/08_decision.ipynb``.
    """

    EXPERIMENT = "planner-weights"
    planned_bytes: int
    measured_bytes: int
    outside_allocator_bytes: int | None


@dataclass(frozen=True)
class CardFit(Measurement):
    """A ``card-fit`` record: one query (precision, image, batch) on one card, the planner's peak beside what ran.

    ``fits`` and ``measured`` are ``None`` and ``False`` where nothing was run (a CPU: the planner alone speaks);
    ``result`` is the sweep's :class:`FitResult` (as a dict) and ``plan`` the planner's peak and its phase.
    Taught in ``notebooks/08_decision.ipynb``.
    """

    EXPERIMENT = "card-fit"
    precision: str
    image: int
    batch: int
    card_gib: float = metric("card (GiB)")
    planned_peak_gib: float = metric("planned peak (GiB)")
    planned_fits: bool = metric("planned fits")
    fits: bool | None
    measured: bool
    measured_allocator_peak_gib: float | None = metric("measured allocator peak (GiB)")
    planned_allocator_peak_gib: float = metric("planned allocator peak (GiB)")
    result: dict[str, Any] | None
    plan: dict[str, Any]

    def row(self) -> dict[str, Any]:
        """The record's row of notebook 08's table (everything but the sweep's result and the plan)."""
        return {k: v for k, v in self.metrics().items() if k not in ("result", "plan")}


@dataclass(frozen=True)
class PlannerCheck(Measurement):
    """A ``planner-check`` record: one quantity (``"weights"`` or ``"allocator peak"``) of the second architecture,
    planned against measured (``None``: the query did not run). Taught in ``notebooks/08_decision.ipynb``.
    """

    EXPERIMENT = "planner-check"
    quantity: str
    planned_bytes: int
    measured_bytes: int | None


@dataclass(frozen=True)
class PrecisionSweep:
    """What :func:`sweep_precisions` measured: the weights table's rows and every query on every card.

    Taught in ``notebooks/08_decision.ipynb``.
    """

    weights: list[dict[str, Any]]
    fits: list[CardFit]


def _warm_up(vlm: VLMInference, image_size: int) -> None:
    """One short answer, so that the kernels a query loads are loaded before memory is measured."""
    vlm.ask(np.zeros((image_size, image_size, 3), np.uint8), "What is in the image?", max_new_tokens=2)


def sweep_precisions(settings: DecisionSettings) -> PrecisionSweep:
    """Load the model once per precision; plan its weights and every query of the grid; on CUDA run each query on
    every emulated card (:func:`sweep_cards`). Records one ``planner-weights`` record per precision and one
    ``card-fit`` record per precision, image, batch and card (on a CPU: the planner's prediction, never a fit).

    Taught in ``notebooks/08_decision.ipynb``.
    """
    device, on_cuda, store = settings.device, settings.on_cuda, settings.store
    weights_rows, fits = [], []
    for name in progress(settings.precisions, desc=f"{settings.model_name} precisions"):
        loaded = load_model(settings.model_name, name, device=device)
        vlm = VLMInference.from_loaded(loaded)
        measured_weights = loaded.report.memory.retained_bytes if on_cuda else loaded.report.weights.total_bytes
        _warm_up(vlm, settings.image_sizes[0])  # load kernels
        outside = outside_allocator_bytes(device) or 0
        plans = {(s, b): plan_memory(settings.model_name, name, image_size=s, batch_size=b,
                                     new_tokens=settings.new_tokens, device=device.type,
                                     cuda_context_bytes=outside if on_cuda else None)
                 for s in settings.image_sizes for b in settings.batch_sizes}
        first = plans[(settings.image_sizes[0], 1)]
        weights_rows.append({"precision": name, "planned (GiB)": first.weights_bytes / GIB,
                             "measured (GiB)": measured_weights / GIB,
                             "measured as": "CUDA allocator, retained after load" if on_cuda else "tensor bytes",
                             "error": first.weights_bytes / measured_weights - 1})
        store.record_measurement(PlannerWeights(first.weights_bytes, measured_weights, outside if on_cuda else None),
                                 model=settings.model_name, precision=name, shapes={}, repeats=1)
        results = (sweep_cards(vlm, cards=settings.cards, image_sizes=settings.image_sizes,
                               batch_sizes=settings.batch_sizes, new_tokens=settings.new_tokens,
                               outside_allocator=outside) if on_cuda else [])
        for s in settings.image_sizes:
            for b in settings.batch_sizes:
                plan = plans[(s, b)]
                for card in settings.cards:
                    found = next((r for r in results if (r.card_gib, r.image_size, r.batch_size) == (card, s, b)), None)
                    fit = CardFit(name, s, b, card, plan.peak_bytes / GIB, plan.peak_bytes <= card * GIB,
                                  None if found is None else found.fits, False if found is None else found.measured,
                                  None if found is None or not found.measured or not found.fits
                                  else found.peak_bytes / GIB, plan.allocator_peak_bytes / GIB,
                                  None if found is None else found.as_dict(),
                                  {"peak_bytes": plan.peak_bytes, "allocator_peak_bytes": plan.allocator_peak_bytes,
                                   "peak_phase": plan.peak_phase})
                    fits.append(fit)
                    store.record_measurement(fit, model=settings.model_name, precision=name,
                                             shapes={"image": [s, s], "batch": b, "new_tokens": settings.new_tokens,
                                                     "card_gib": card},
                                             repeats=1 if found is not None and found.measured else 0)
        del vlm, loaded
        free_memory(device)
    return PrecisionSweep(weights_rows, fits)


def check_planner(settings: DecisionSettings) -> list[dict[str, Any]]:
    """The planner on the second architecture (``settings.check_model``), in every precision: its weights on every
    device and, on CUDA, the allocator's peak of four queries (smallest and largest image, one image and the largest
    batch) on the whole GPU, each beside the planner's. Records a ``planner-check`` record per quantity; returns the
    table's rows (none without a second architecture).

    Taught in ``notebooks/08_decision.ipynb``.
    """
    model, device, on_cuda, store = settings.check_model, settings.device, settings.on_cuda, settings.store
    images, batches, new_tokens = settings.image_sizes, settings.batch_sizes, settings.new_tokens
    rows: list[dict[str, Any]] = []
    if model is None:
        return rows
    for name in progress(settings.precisions, desc=f"{model} precisions"):
        loaded = load_model(model, name, device=device)
        vlm = VLMInference.from_loaded(loaded)
        measured = loaded.report.memory.retained_bytes if on_cuda else loaded.report.weights.total_bytes
        queries = [(s, b) for s in (images[0], images[-1]) for b in (1, batches[-1])] if on_cuda else []
        checks = [("weights", plan_memory(model, name, image_size=images[0], device=device.type).weights_bytes,
                   measured, None, None)]
        if on_cuda:
            _warm_up(vlm, images[0])
            card = torch.cuda.get_device_properties(device).total_memory / GIB  # the whole GPU: no cap
            for s, b in queries:
                plan = plan_memory(model, name, image_size=s, batch_size=b, new_tokens=new_tokens, device="cuda")
                result = try_query(vlm, card_gib=card, image_size=s, batch_size=b, new_tokens=new_tokens,
                                   outside_allocator=outside_allocator_bytes(device) or 0)
                checks.append(("allocator peak", plan.allocator_peak_bytes, result.peak_bytes if result.fits else None,
                               s, b))
        for quantity, planned, measured_bytes, s, b in checks:
            rows.append({"model": model, "precision": name, "quantity": quantity, "image": s, "batch": b,
                         "planned (GiB)": planned / GIB,
                         "measured (GiB)": None if measured_bytes is None else measured_bytes / GIB,
                         "error": None if measured_bytes is None else planned / measured_bytes - 1})
            store.record_measurement(PlannerCheck(quantity, planned, measured_bytes), model=model, precision=name,
                                     shapes={"image": None if s is None else [s, s], "batch": b,
                                             "new_tokens": new_tokens}, repeats=1)
        del vlm, loaded
        free_memory(device)
    return rows


# --- the card test: what the emulated cards say, as evidence for both decision trees -----------------------------
#: The card-fit records read when a results folder holds no measured ones: notebook 08 of the H200 reference run.
REFERENCE_CARD_RESULTS = CHECKOUT / "reference" / "nvidia-h200" / "results"


#: The planner's safety margin is the largest shortfall the card test measured, rounded up to this step (1 %).
MARGIN_STEP = 0.01


@dataclass(frozen=True)
class Shortfall:
    """One query measured on an emulated card: the planner's allocator peak against the least the query needed.

    ``needed_bytes`` is the allocator's measured peak where the query ran, and the allocator's cap where it ran
    out of memory (it needed more than that: a lower bound). Sizes in bytes. Taught in ``notebooks/08_decision.ipynb``.
    """

    model: str
    precision: str
    image: int
    batch: int
    card_gib: float
    fits: bool
    planned_bytes: int
    needed_bytes: int

    @property
    def shortfall(self) -> float:
        """How far the plan falls short of what the query needed, as a share of the plan (negative: the plan is above
        it; for an out-of-memory query a lower bound)."""
        return self.needed_bytes / self.planned_bytes - 1

    def describe(self) -> str:
        """``"NF4 1792 px x8 on 16 GiB: out of memory with 14.19 GiB for the allocator, planned 12.81 GiB"``."""
        what = "out of memory with" if not self.fits else "ran, peaking at"
        return (f"{get_precision(self.precision).short_label} {self.image} px x{self.batch} on {self.card_gib:g} GiB: "
                f"{what} {gib_text(self.needed_bytes)}{' for the allocator' if not self.fits else ''}, planned "
                f"{gib_text(self.planned_bytes)}")


@dataclass(frozen=True)
class CardTest:
    """The emulated cards as evidence: which query (model, precision, image, batch) ran on which card, and by how
    much the planner fell short of what the measured queries needed.

    ``records`` pairs each ``card-fit`` record whose answer is known (measured, or implied by a smaller card that
    ran the same query) with its model; ``source`` says where they were measured (``None``: in this run; else the
    device's name), ``file`` and ``run_id`` name the records. Both decision trees are judged by
    :meth:`verdict`, and :func:`vlmkit.recommend_precision` adds :attr:`margin` to the planner where nothing was
    measured. Taught in ``notebooks/08_decision.ipynb``.
    """

    records: tuple[tuple[str, CardFit], ...]
    source: str | None = None
    file: str | None = None
    run_id: str | None = None

    @classmethod
    def from_fits(cls, model: str, fits: Sequence[CardFit], **where: Any) -> CardTest:
        """The card test of one sweep of ``model`` (:func:`sweep_precisions`' ``fits``); unanswered records dropped."""
        return cls(tuple((model, f) for f in fits if f.fits is not None), **where)

    @classmethod
    def load(cls, results_dir: str | Path) -> CardTest:
        """The measured ``card-fit`` records of notebook 08's latest run in ``results_dir``; where it holds none (a CPU
        run, or no notebook 08), those of the H200 reference (:data:`REFERENCE_CARD_RESULTS`)."""
        path = Path(results_dir) / "08_decision.json"
        if not _card_fit_records(path.resolve(), *_stamp(path)):
            path = REFERENCE_CARD_RESULTS / "08_decision.json"
        return _card_test_of(path.resolve(), *_stamp(path))

    def verdict(self, model: str, precision: str, card_gib: float, image: int, batch: int) -> tuple[bool, str] | None:
        """Whether ``batch`` images of ``image`` px in ``precision`` ran on a ``card_gib`` GiB card, and how that is
        known; ``None`` where the card test cannot tell.

        The record of that very card answers first (*measured*, or *implied by a smaller card*). Else a smaller
        card on which the query ran says it runs, a larger card on which it ran out of memory says it does not (a
        card holds what a smaller one holds; *from the 10 GiB card*); an out-of-memory answer wins where both speak.
        """
        same = [f for m, f in self.records if m == model and (f.precision, f.image, f.batch) == (precision, image, batch)]
        where = f" on {self.source}" if self.source else ""
        exact = next((f for f in same if math.isclose(f.card_gib, card_gib)), None)
        if exact is not None:
            return bool(exact.fits), ("measured" if exact.measured else "implied by a smaller card") + where
        too_small = sorted(f.card_gib for f in same if not f.fits and f.card_gib > card_gib)
        if too_small:
            return False, f"from the {too_small[0]:g} GiB card, measured{where}"
        held = sorted(f.card_gib for f in same if f.fits and f.card_gib < card_gib)
        if held:
            return True, f"from the {held[-1]:g} GiB card, measured{where}"
        return None

    @cached_property
    def shortfalls(self) -> list[Shortfall]:
        """Every query measured on an emulated card (not the implied ones), its planned allocator peak (the plan
        recorded beside it) against what it needed, largest shortfall first."""
        rows = []
        for model, f in self.records:
            if not f.measured or f.result is None or "allocator_peak_bytes" not in f.plan:
                continue
            needed = f.result["peak_bytes"] if f.fits else f.result["allocator_cap_bytes"]
            rows.append(Shortfall(model, f.precision, f.image, f.batch, f.card_gib, bool(f.fits),
                                  int(f.plan["allocator_peak_bytes"]), int(needed)))
        return sorted(rows, key=lambda s: s.shortfall, reverse=True)

    @property
    def margin(self) -> float | None:
        """The safety margin the measured queries justify: the planner's largest shortfall, rounded up to
        :data:`MARGIN_STEP` (0 where the planner never fell short); ``None`` where nothing was measured.

        A query that ran needed at least its measured peak; one that ran out of memory needed more than the
        allocator's cap, so a plan below that cap fell short by at least the difference. Raising every plan by the
        margin puts each measured query's plan at or above what it was seen to need.
        """
        if not self.shortfalls:
            return None
        worst = max(self.shortfalls[0].shortfall, 0.0)
        return math.ceil(round(worst / MARGIN_STEP, 9)) * MARGIN_STEP

    def margin_text(self) -> str:
        """One sentence: the margin, how many queries justify it and the one that sets it."""
        if self.margin is None:
            return "none, since no query was measured on an emulated card"
        worst = self.shortfalls[0]
        return (f"{100 * self.margin:.0f} %: over the {len(self.shortfalls)} queries measured on emulated cards"
                f"{f' ({self.source})' if self.source else ''}, the planner fell short by at most "
                f"{100 * max(worst.shortfall, 0):.1f} % ({worst.describe()})")


def _stamp(path: Path) -> tuple[int, int]:
    """A file's modification time and size (0, 0 when missing): the key that keeps the caches below current."""
    try:
        stat = path.stat()
    except OSError:
        return 0, 0
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=16)
def _card_fit_records(path: Path, _mtime: int, _size: int) -> tuple[Recorded[CardFit], ...]:
    """The measured card-fit records (an answer known, not merely planned) of the latest run in a results file."""
    if not path.exists():
        return ()
    return tuple(r for r in read_measurements(CardFit, path.parent, path.stem) if r.measurement.fits is not None)


@functools.lru_cache(maxsize=16)
def _card_test_of(path: Path, mtime: int, size: int) -> CardTest:
    records = _card_fit_records(path, mtime, size)
    if not records:
        return CardTest(())
    try:
        shown = str(path.relative_to(CHECKOUT))
    except ValueError:
        shown = str(path)
    return CardTest(tuple((r.model, r.measurement) for r in records), records[0].provenance.get("device_name"), shown,
                    records[0].run_id)
