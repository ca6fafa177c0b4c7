"""The decode ladder: the same answer decoded in ways that remove more and more per-token overhead.

Two kinds of rung. A *generate rung* times ``VLMInference.ask`` (the seed's interface): eager ``generate``, or the
seed's recipe ``VLMInference(use_compile=True, use_flash_attention=True)``. A *loop rung* times
:class:`vlmkit.runtime.decode_loop.DecodeLoop` (a static cache, no per-token host sync), its one-token step eager or compiled
whole (``"cuda-graph"``: compiled, captured by hand as one CUDA graph, replayed per token).

A rung that fails (an error in a kernel, a compiler) is kept as a finding: no numbers, the error in its note.
Each rung reports tokens per second, the share of the measured copy bandwidth its decode reaches (weight bytes
each token reads / time per token), the whole query's time, and its warm-up (the first answer, compilation
included). A compiled loop rung also measures its warm-up again after ``torch._dynamo.reset()``, with
TorchInductor's on-disk caches warm: what a second run of the notebook pays.

Both notebooks set up with :func:`ladder_settings` and record every rung as it is measured (:func:`record_rung`:
``decode-rung``, ``recipe-precision`` and ``int4-rung`` records, typed as :class:`DecodeRung`,
:class:`RecipePrecision` and :class:`Int4Rung`); notebook 10 also times one decoder layer's kernels alone
(:func:`measure_int4_kernels`) and judges INT4 against BF16 in the same loop (:func:`judge_int4_loop`). The recipe's
headline against the seed's defaults comes from interleaved rounds of the two (:func:`pair_recipe`).

Taught in ``notebooks/09_decode_ladder.ipynb`` (BF16 and the recipe) and ``notebooks/10_int4_decode.ipynb`` (INT4).
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vlmkit.bench.linear_layers import activations
from vlmkit.bench.query import (
    STANDARD_QUESTION,
    QuerySetup,
    ask_fixed_length,
    query_seconds,
    standard_image,
    standard_query,
)
from vlmkit.bench.roofline import Ceilings, decode_step_work, device_ceilings
from vlmkit.core.device import resolve_device
from vlmkit.errors import ConfigurationError
from vlmkit.measure.footprint import measure_footprint, stored_bytes
from vlmkit.measure.interleaved import MIN_PAIRS, MIN_WARMUPS, PairedRuns, TimedRun, time_rounds
from vlmkit.measure.records import Measurement, ResultsStore
from vlmkit.measure.timing import time_graphed_kernel, time_kernel
from vlmkit.models.architectures import REGISTRY
from vlmkit.models.checkpoints import write_checkpoint
from vlmkit.models.int4 import Int4Kernels, Int4Verdict, int4_copy, int4_kernel
from vlmkit.runtime.compilation import quiet_compiler
from vlmkit.runtime.decode_loop import CUDA_GRAPH, DecodeLoop
from vlmkit.runtime.inference import VLMInference


@dataclass(frozen=True)
class Rung:
    """One way of decoding, measured: medians over the repeats after the warm-up."""

    name: str
    decode_s_per_token: float | None
    tokens_per_s: float | None
    bandwidth_share: float | None
    bytes_per_token: int  # weight bytes one decode step reads (language layers and lm_head), measured on the model
    query_s: float | None  # the whole answer: prefill (image included) and decode
    warmup_s: float | None  # the first answer, compilation included
    repeats: int
    cached_warmup_s: float | None = None  # compiled loops: the first answer again, TorchInductor's caches warm
    note: str = ""

    def as_dict(self) -> dict:
        """A plain dict for records."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class _RungRecord(Rung, Measurement):
    """A rung as one experiment records it: the rung's numbers, then what that experiment adds."""

    @classmethod
    def of(cls, rung: Rung, **extra: Any):
        """The record of ``rung`` with the experiment's own fields (``copy_bandwidth``, ...) in ``extra``."""
        return cls(**rung.as_dict(), **extra)


@dataclass(frozen=True, kw_only=True)
class DecodeRung(_RungRecord):
    """A ``decode-rung`` record: one BF16 rung of the ladder, the copy bandwidth it is measured against and the
    compile backend of the run. Taught in ``notebooks/09_decode_ladder.ipynb``.
    """

    EXPERIMENT = "decode-rung"
    copy_bandwidth: float
    compile_backend: str


@dataclass(frozen=True, kw_only=True)
class RecipePrecision(_RungRecord):
    """A ``recipe-precision`` record: a quantized precision's ``generate``, the seed's defaults (``variant``
    ``"default"``) or its recipe (``"the seed's recipe"``). Taught in ``notebooks/09_decode_ladder.ipynb``.
    """

    EXPERIMENT = "recipe-precision"
    variant: str
    copy_bandwidth: float


@dataclass(frozen=True, kw_only=True)
class Int4Rung(_RungRecord):
    """An ``int4-rung`` record: BF16, INT4 (torchao) or NF4 (bitsandbytes) in the static-cache loop.

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """

    EXPERIMENT = "int4-rung"
    copy_bandwidth: float
    compile_backend: str


@dataclass(frozen=True)
class LadderSettings:
    """What notebooks 09 and 10 run: the device, the model, the answer, the compile backend, where the records go
    and the device's measured ceilings (:func:`ladder_settings` makes it from the notebook's parameters).

    Taught in ``notebooks/09_decode_ladder.ipynb`` and ``notebooks/10_int4_decode.ipynb``.
    """

    device: torch.device
    model_name: str
    query: QuerySetup
    new_tokens: int
    repeats: int
    backend: str  # TorchInductor ("inductor") or graph capture only ("eager")
    quantized: tuple[str, ...]  # notebook 09: the precisions the seed's recipe also meets
    store: ResultsStore
    ceilings: Ceilings
    checkpoint: Path | None  # the checkpoint written for a registry model, None for a directory or a hub id

    @property
    def on_cuda(self) -> bool:
        """Whether the run is on a CUDA GPU."""
        return self.device.type == "cuda"

    @property
    def sizes(self) -> dict[str, int]:
        """``image_size``, ``new_tokens`` and ``repeats``: the keyword arguments of every rung."""
        return dict(image_size=self.query.image_size, new_tokens=self.new_tokens, repeats=self.repeats)

    @property
    def shapes(self) -> dict[str, Any]:
        """The records' shapes: the image and the answer's length."""
        return {"image": [self.query.image_size] * 2, "new_tokens": self.new_tokens}

    @property
    def compiled_mode(self) -> str:
        """The compiled step's mode: compiled and captured by hand as one CUDA graph on CUDA (``"cuda-graph"``), the
        default ``torch.compile`` mode where there are no CUDA graphs."""
        return CUDA_GRAPH if self.on_cuda else "default"

    def summary(self, extra: str = "") -> str:
        """One line: model, device, query, compile backend, ``extra`` (e.g. the INT4 kernel), copy bandwidth."""
        return (f"{self.model_name} on {self.device}; {self.query.image_size} px image, {self.new_tokens}-token "
                f"answers; compile backend {self.backend}; {extra + '; ' if extra else ''}"
                f"copy bandwidth {self.ceilings.bandwidth / 1e9:,.0f} GB/s")


def ladder_settings(notebook: str, device: str = "auto", model: str = "auto", new_tokens: int = 0, repeats: int = 3,
                    compile_backend: str = "auto", quantized: Sequence[str] = (),
                    results_dir: str | Path | None = None) -> LadderSettings:
    """Resolve notebook 09's or 10's parameters, write the registry model's checkpoint and measure the device's
    ceilings: ``"auto"`` means the 8B and TorchInductor on CUDA, the tiny model and the ``eager`` backend on a CPU;
    ``new_tokens=0`` the book's query (:func:`standard_query`). Unknown choices raise ``ConfigurationError``.
    TorchDynamo's and TorchInductor's warnings, and CUDA's "The CUDA Graph is empty" (a graph captured around a step
    that broke into pieces), stay out of the outputs: each rung's note and compile count say what they would.

    Taught in ``notebooks/09_decode_ladder.ipynb`` and ``notebooks/10_int4_decode.ipynb``.
    """
    quiet_compiler()
    warnings.filterwarnings("ignore", message=r".*The CUDA Graph is empty")
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    query = standard_query(dev.type)
    model_name = model if model != "auto" else ("qwen3-vl-8b" if on_cuda else "qwen3-vl-tiny")
    backend = compile_backend if compile_backend != "auto" else ("inductor" if on_cuda else "eager")
    if backend not in ("inductor", "eager"):
        raise ConfigurationError(f"COMPILE_BACKEND must be 'auto', 'inductor' or 'eager', got {compile_backend!r}")
    if not set(quantized) <= {"int8", "nf4"}:
        raise ConfigurationError(f"QUANTIZED takes 'int8' and 'nf4' (the seed's load_in_8bit / load_in_4bit), got "
                                 f"{quantized!r}")
    checkpoint = None
    if model_name in REGISTRY:
        checkpoint = write_checkpoint(model_name, device=dev.type)
        print("checkpoint:", checkpoint)
    store = ResultsStore(notebook, results_dir, dev)
    print("measuring the device's copy bandwidth and matmul peak ...")
    ceilings = device_ceilings(dev)
    return LadderSettings(dev, model_name, query, new_tokens or query.new_tokens, repeats, backend, tuple(quantized),
                          store, ceilings, checkpoint)


def record_rung(settings: LadderSettings, rung: Rung, kind: type[_RungRecord], *, precision: str,
                **extra: Any) -> None:
    """Record ``rung`` as a ``kind`` record (:class:`DecodeRung`, :class:`RecipePrecision` or :class:`Int4Rung`),
    with the run's copy bandwidth and ``extra`` (``compile_backend=...`` or ``variant=...``).

    Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    settings.store.record_measurement(kind.of(rung, copy_bandwidth=settings.ceilings.bandwidth, **extra),
                                      model=settings.model_name, precision=precision, shapes=settings.shapes,
                                      repeats=rung.repeats)


def weight_bytes_per_token(model: torch.nn.Module) -> int:
    """Bytes one decode step reads from the weights (language layers and ``lm_head``), measured on ``model``.

    Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    return decode_step_work(measure_footprint(model))[1]


def _rung(name: str, *, per_token: list[float], query: list[float], warmup_s: float, step_bytes: int,
          ceilings: Ceilings, note: str = "", cached_warmup_s: float | None = None) -> Rung:
    median = float(np.median(per_token))
    return Rung(name, median, 1 / median, step_bytes / median / ceilings.bandwidth, step_bytes,
                float(np.median(query)), warmup_s, len(per_token), cached_warmup_s, note)


def generate_rung(name: str, vlm: VLMInference, ceilings: Ceilings, *, image_size: int, new_tokens: int,
                  repeats: int) -> Rung:
    """Time ``vlm.ask`` on the ladder's fixed-length answer: the first call is the warm-up.

    The note says which attention ran and what compiled (or why nothing did), from the call's stats and the load
    report. Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    if new_tokens < 2:
        raise ValueError(f"decode time per token needs at least 2 new tokens, got {new_tokens}")
    image = standard_image(image_size)
    calls = [ask_fixed_length(vlm, image, new_tokens) for _ in range(repeats + 1)]
    attention = vlm.report.attention
    said = attention.note if attention.note.startswith(attention.used) else (
        f"{attention.used} ({attention.note})" if attention.note else attention.used)
    notes = [f"attention: {said}"]
    if calls[0].stats.compiled_graphs is not None:
        notes.append(f"{calls[0].stats.compiled_graphs} graph(s) compiled in the first call")
    notes += [n for n in vlm.report.notes if n.startswith("use_compile=True: transformers does not compile")]
    return _rung(name, per_token=[c.stats.decode_s_per_token for c in calls[1:]],
                 query=[c.stats.total_s for c in calls[1:]], warmup_s=calls[0].stats.total_s,
                 step_bytes=weight_bytes_per_token(vlm.model), ceilings=ceilings, note="; ".join(notes))


def inductor_cache_files() -> int:
    """Files in TorchInductor's on-disk cache now (0: a cold start compiles everything)."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    folder = Path(cache_dir())
    return sum(1 for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def loop_rung(name: str, vlm: VLMInference, ceilings: Ceilings, *, image_size: int, new_tokens: int, repeats: int,
              compile_mode: str | None = None, compile_backend: str = "inductor") -> Rung:
    """Time :class:`DecodeLoop` on ``vlm``'s model, its step eager (``compile_mode=None``) or compiled.

    A compiled rung is built twice: once from whatever TorchInductor's cache holds (the note says how many files
    it held), and again after ``torch._dynamo.reset()`` (``cached_warmup_s``). Taught in
    ``notebooks/09_decode_ladder.ipynb``.
    """
    if new_tokens < 2:
        raise ValueError(f"decode time per token needs at least 2 new tokens, got {new_tokens}")
    inputs = dict(vlm.encode([standard_image(image_size)], [STANDARD_QUESTION]))
    max_tokens = inputs["input_ids"].shape[1] + new_tokens
    cache_before = inductor_cache_files() if compile_mode and compile_backend == "inductor" else None

    def first_answer() -> tuple[DecodeLoop, float]:
        loop = DecodeLoop(vlm.model, max_tokens=max_tokens, compile_mode=compile_mode, compile_backend=compile_backend)
        start = time.perf_counter()
        loop.generate(inputs, new_tokens)
        return loop, time.perf_counter() - start

    loop, warmup = first_answer()
    runs = [loop.generate(inputs, new_tokens) for _ in range(repeats)]
    cached = None
    note = ""
    if compile_mode:
        del loop
        gc.collect()
        torch._dynamo.reset()
        loop, cached = first_answer()
        note = (f"torch.compile mode={compile_mode}, backend={compile_backend}"
                + (f"; TorchInductor cache held {cache_before} files before the first compile"
                   if cache_before is not None else ""))
    del loop
    gc.collect()
    return _rung(name, per_token=[r.decode_s_per_token for r in runs],
                 query=[r.prefill_s + r.decode_s_per_token * (new_tokens - 1) for r in runs], warmup_s=warmup,
                 step_bytes=weight_bytes_per_token(vlm.model), ceilings=ceilings, note=note,
                 cached_warmup_s=cached)


#: The two sides of the recipe's headline pairs, as its ``paired-runs`` record names them.
RECIPE_PAIR = ("the seed's defaults", "the seed's recipe")


def pair_recipe(settings: LadderSettings, default: VLMInference, recipe: VLMInference) -> PairedRuns:
    """The seed's defaults and its recipe, both warm, answering the ladder's query in interleaved rounds
    (:func:`vlmkit.measure.interleaved.time_rounds`: two warm-ups each, :data:`vlmkit.measure.interleaved.MIN_PAIRS`
    rounds at least): the recipe's headline speed-up per whole query, recorded as a ``paired-runs`` record.

    Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    image, n = standard_image(settings.query.image_size), settings.new_tokens

    def side(vlm: VLMInference) -> TimedRun:
        return lambda: query_seconds(ask_fixed_length(vlm, image, n).stats)

    rounds = time_rounds({RECIPE_PAIR[0]: side(default), RECIPE_PAIR[1]: side(recipe)}, warmup=MIN_WARMUPS,
                         rounds=max(settings.repeats, MIN_PAIRS))
    paired = PairedRuns.of(rounds, *RECIPE_PAIR)
    settings.store.record_measurement(paired, model=settings.model_name, precision="bf16", shapes=settings.shapes,
                                      repeats=rounds.rounds)
    return paired


def failed_rung(name: str, error: Exception) -> Rung:
    """A rung that could not run: no numbers, and the error that stopped it as its note.

    Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    text = f"{type(error).__name__}: {error}".strip()
    return Rung(name, None, None, None, 0, None, None, 0, note=f"failed: {text[:400]}")


def climb(default: VLMInference, recipe: VLMInference, ceilings: Ceilings, *, image_size: int, new_tokens: int,
          repeats: int, compile_backend: str = "inductor", on_rung: Callable[[Rung], None] | None = None
          ) -> list[Rung]:
    """The four BF16 rungs: eager ``generate`` (``default``), the seed's recipe (``recipe``), and ``default``'s model
    in the static-cache loop with an eager step, then with its step compiled (``"cuda-graph"`` on CUDA;
    ``default`` mode where there are no CUDA graphs).

    ``compile_backend`` is TorchInductor for real measurements; ``"eager"`` checks on a CPU that every rung runs
    (compiled graphs without generated code). ``on_rung`` is called with each rung as soon as it is measured (to
    record it: a run stopped halfway keeps what it measured). Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    sizes = dict(image_size=image_size, new_tokens=new_tokens, repeats=repeats)
    compiled_mode = CUDA_GRAPH if default.device.type == "cuda" else "default"
    plan: list[tuple[str, Callable[[str], Rung]]] = [
        ("generate, eager, dynamic cache", lambda n: generate_rung(n, default, ceilings, **sizes)),
        ("the seed's recipe: VLMInference(use_compile, use_flash_attention)",
         lambda n: generate_rung(n, recipe, ceilings, **sizes)),
        ("static-cache loop, eager step", lambda n: loop_rung(n, default, ceilings, **sizes)),
        ("static-cache loop, compiled step", lambda n: loop_rung(n, default, ceilings, compile_mode=compiled_mode,
                                                                 compile_backend=compile_backend, **sizes)),
    ]
    rungs = []
    for name, measure in plan:
        try:
            rung = measure(name)
        except Exception as error:  # a rung that fails is a finding: keep it, and the other rungs
            rung = failed_rung(name, error)
        rungs.append(rung)
        if on_rung is not None:
            on_rung(rung)
    return rungs


def measure_int4_rung(name: str, vlm: VLMInference, settings: LadderSettings, **compiled_step: str) -> Rung:
    """:func:`loop_rung` on ``vlm``, recorded at once as an ``int4-rung`` (a run stopped later keeps it; the
    precision is the name's first word), with its progress printed. ``compiled_step``: ``compile_mode`` and
    ``compile_backend``, none for an eager step.

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    started = time.perf_counter()
    rung = loop_rung(name, vlm, settings.ceilings, **settings.sizes, **compiled_step)
    record_rung(settings, rung, Int4Rung, precision=name.split(" ")[0].lower(), compile_backend=settings.backend)
    print(f"{name}: {rung.tokens_per_s:,.0f} tokens/s; warm-up {rung.warmup_s:.1f} s; "
          f"{time.perf_counter() - started:.0f} s for the rung", flush=True)
    return rung


def measure_int4_kernels(layer: nn.Module, settings: LadderSettings) -> Int4Kernels:
    """Time every Linear layer of one decoder ``layer`` at one token, BF16 against an INT4 copy of its weight: from
    a CUDA graph (the kernels alone) and called eagerly, each with its effective bandwidth (the bytes the weight
    stores over the kernel's time), and record the ``int4-kernels`` record.

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    device = settings.device
    rows = []
    for name, linear in [(n, m) for n, m in layer.named_modules() if isinstance(m, nn.Linear)]:
        x = activations(1, linear.in_features, torch.bfloat16, device)
        twin = int4_copy(linear)
        with torch.inference_mode():
            for label, module in (("BF16", linear), ("INT4", twin)):
                stats = time_graphed_kernel(lambda: module(x), device)
                eager = time_kernel(lambda: module(x), device)
                stored = stored_bytes(module.weight)
                rows.append(dict(layer=name, shape=f"{linear.out_features}x{linear.in_features}", weights=label,
                                 stored_bytes=stored, median_us=stats.median * 1e6, eager_us=eager.median * 1e6,
                                 bandwidth_share=stored / stats.median / settings.ceilings.bandwidth))
        del twin
    total = {(label, key): sum(r[key] for r in rows if r["weights"] == label)
             for label in ("BF16", "INT4") for key in ("stored_bytes", "median_us", "eager_us")}
    kernels = Int4Kernels(rows, speedup_all_seven=total["BF16", "median_us"] / total["INT4", "median_us"],
                          bytes_ratio=total["BF16", "stored_bytes"] / total["INT4", "stored_bytes"],
                          eager_speedup_all_seven=total["BF16", "eager_us"] / total["INT4", "eager_us"],
                          kernel=int4_kernel(device), clock=stats.clock, copy_bandwidth=settings.ceilings.bandwidth)
    settings.store.record_measurement(kernels, model=settings.model_name, precision="int4",
                                      shapes={"tokens": 1, "layer": 0}, repeats=len(stats.samples))
    return kernels


def judge_int4_loop(bf16: Rung, int4: Rung, kernels: Int4Kernels, settings: LadderSettings, *,
                    goal: float) -> Int4Verdict:
    """INT4 against BF16 in the same compiled loop: the speed-up against ``goal`` (INT4 / BF16 tokens per second
    that would count as "INT4 finally wins"), the bytes each reads per token, the kernels alone, in one sentence;
    recorded as the ``int4-verdict`` record.

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    ratio = int4.tokens_per_s / bf16.tokens_per_s
    bytes_ratio = bf16.bytes_per_token / int4.bytes_per_token
    outcome = "reached" if ratio >= goal else "not reached"
    share = {label: float(np.mean([r["bandwidth_share"] for r in kernels.rows if r["weights"] == label]))
             for label in ("BF16", "INT4")}
    text = (f"INT4 in the compiled loop runs at {ratio:.2f}x BF16 (goal {goal}x: {outcome}); it reads "
            f"{bytes_ratio:.2f}x fewer bytes per token, so a decode at the speed of memory would be about "
            f"{bytes_ratio:.1f}x faster. The kernels alone: INT4 {kernels.speedup_all_seven:.2f}x BF16 over one "
            f"decoder layer, at {share['INT4']:.0%} of the copy bandwidth on average against BF16's "
            f"{share['BF16']:.0%}.")
    verdict = Int4Verdict(ratio, goal, outcome, bytes_ratio, kernels.speedup_all_seven, text, settings.device.type)
    settings.store.record_measurement(verdict, model=settings.model_name, precision="int4", shapes=settings.shapes,
                                      repeats=settings.repeats)
    return verdict
