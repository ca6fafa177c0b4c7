"""The decode ladder: the same answer decoded in ways that remove more and more per-token overhead.

Two kinds of rung. A *generate rung* times ``VLMInference.ask`` (the seed's interface): eager ``generate``, or the
seed's recipe ``VLMInference(use_compile=True, use_flash_attention=True)``. A *loop rung* times
:class:`vlmkit.runtime.decode_loop.DecodeLoop` (a static cache, no per-token host sync), its one-token step eager or compiled
whole (``reduce-overhead``: replayed as a CUDA graph).

A rung that fails (an error in a kernel, a compiler) is kept as a finding: no numbers, the error in its note.
Each rung reports tokens per second, the share of the measured copy bandwidth its decode reaches (weight bytes
each token reads / time per token), the whole query's time, and its warm-up (the first answer, compilation
included). A compiled loop rung also measures its warm-up again after ``torch._dynamo.reset()``, with
TorchInductor's on-disk caches warm: what a second run of the notebook pays.

Taught in ``notebooks/09_decode_ladder.ipynb`` (BF16 and the recipe) and ``notebooks/10_int4_decode.ipynb`` (INT4).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vlmkit.bench.roofline import Ceilings, decode_step_work
from vlmkit.measure.footprint import measure_footprint
from vlmkit.runtime.decode_loop import DecodeLoop
from vlmkit.runtime.inference import VLMInference

#: The question every rung answers (about a random image: the book's speed notebooks measure speed, not answers).
LADDER_QUESTION = "What is in the image? Describe it."


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


def ladder_image(image_size: int) -> np.ndarray:
    """The random ``image_size`` px RGB image every rung answers about (seeded: the same on every run)."""
    return (np.random.default_rng(0).random((image_size, image_size, 3)) * 255).astype(np.uint8)


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
    image = ladder_image(image_size)
    calls = [vlm.ask(image, LADDER_QUESTION, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
             for _ in range(repeats + 1)]
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
    inputs = dict(vlm.encode([ladder_image(image_size)], [LADDER_QUESTION]))
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
    in the static-cache loop with an eager step, then with its step compiled (``reduce-overhead`` on CUDA;
    ``default`` mode where there are no CUDA graphs).

    ``compile_backend`` is TorchInductor for real measurements; ``"eager"`` checks on a CPU that every rung runs
    (compiled graphs without generated code). ``on_rung`` is called with each rung as soon as it is measured (to
    record it: a run stopped halfway keeps what it measured). Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    sizes = dict(image_size=image_size, new_tokens=new_tokens, repeats=repeats)
    compiled_mode = "reduce-overhead" if default.device.type == "cuda" else "default"
    plan: list[tuple[str, Callable[[str], Rung]]] = [
        ("generate, eager, dynamic cache", lambda n: generate_rung(n, default, ceilings, **sizes)),
        ("the seed's recipe: generate, use_compile + use_flash_attention",
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
