"""The decode benchmark: ``VLMInference`` per precision as a user gets it, timed on the book's standard query.

``python -m vlmkit.bench decode`` (:func:`main`) loads each precision, answers the standard question about the
standard image (:func:`vlmkit.bench.query.standard_query`) once as the warm-up (compilation included) and
``repeats`` times more, and reports per precision and variant: tokens per second, the share of the measured
copy bandwidth its decode reaches (the weight bytes each token reads over the time per token), the whole query,
prefill, and the warm-up, first with whatever TorchInductor's on-disk cache holds and again after
:meth:`~vlmkit.runtime.inference.VLMInference.forget_compiled_steps` (the cache warm: what a second process
pays). Variants: ``compiled`` (``use_compile=True``: vlmkit's loop; bitsandbytes' precisions, which transformers
does not compile, then run uncompiled and say so) and ``eager`` (``generate``, the seed's defaults). A run that
fails is said in its line and the others still run. ``--profile`` adds, on CUDA, where one
token's time goes (:func:`token_profile`). Every result is a ``decode-bench`` (:class:`DecodeBench`) or
``token-profile`` (:class:`TokenProfile`) record, written as it is measured.

Taught in ``notebooks/10_int4_decode.ipynb``; a command, not a test: tests never assert times.
"""

from __future__ import annotations

import argparse
import gc
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vlmkit.bench.decode_ladder import LadderSettings
from vlmkit.bench.query import QuerySetup, ask_fixed_length, standard_image, standard_query
from vlmkit.bench.roofline import Ceilings, decode_step_work, device_ceilings
from vlmkit.core.device import resolve_device
from vlmkit.core.progress import progress
from vlmkit.errors import BackendUnavailableError, ConfigurationError
from vlmkit.measure.footprint import measure_footprint
from vlmkit.measure.memory import free_memory
from vlmkit.measure.profiler import kernel_seconds
from vlmkit.measure.records import Measurement, ResultsStore
from vlmkit.measure.timing import time_graphed_kernel
from vlmkit.models.precisions import TINYGEMM_PACKING, check_mslk_packing, get_precision
from vlmkit.runtime.compilation import quiet_compiler
from vlmkit.runtime.inference import CallStats, VLMInference

VARIANTS = ("compiled", "eager")

#: Kernel-name patterns of a decode token's parts, first match wins (inductor names fused kernels after their ops).
KERNEL_PARTS: tuple[tuple[str, str], ...] = (
    ("attention", r"flash|fmha|attention|sdpa|efficient"),
    ("matmuls", r"gemm|gemv|int4pack|tinygemm|cutlass|sm90|sm80|ampere|hopper|xmma|cublas|splitk|matmul|_mm_"),
    ("sampling", r"argmax|topk|sort|exponential|softmax|index_fill|where"),
    ("norms, rope, activations", r"triton|rsqrt|mean|pow|silu|mul|add|cat|cos|sin|neg|elementwise|vectorized"),
)


@dataclass(frozen=True)
class DecodeBench(Measurement):
    """A ``decode-bench`` record: one precision and variant of ``VLMInference`` on the standard query.

    Times are medians over ``repeats`` answers after the warm-up; ``bandwidth_share`` is ``bytes_per_token``
    (language layers and lm_head, measured on the loaded model) over the time per token, over the copy bandwidth.
    Taught in ``notebooks/10_int4_decode.ipynb``.
    """

    EXPERIMENT = "decode-bench"
    variant: str
    compiled: bool
    tokens_per_s: float
    decode_ms_per_token: float
    prefill_ms: float
    whole_query_ms: float
    whole_query_spread: tuple[float, float]  # the fastest and the slowest timed query (ms)
    warmup_s: float
    cached_warmup_s: float | None  # compiled: the first answer again after forget_compiled_steps()
    graphs_in_warmup: int | None
    graphs_after_warmup: int | None  # graphs compiled by the timed answers: 0 unless a shape needed a new graph
    bytes_per_token: int
    bandwidth_share: float
    copy_bandwidth: float
    inductor_tuning: bool
    notes: list[str]


@dataclass(frozen=True)
class TokenProfile(Measurement):
    """A ``token-profile`` record: where one compiled decode token's time goes, from the profiler's kernel times.

    ``parts_ms`` sums the kernels of each part of :data:`KERNEL_PARTS` per token (``other`` what matched none);
    ``lm_head_ms`` is lm_head's matmul timed alone from a CUDA graph (it is one of the matmuls); ``gaps_ms`` is the
    wall time per token less all kernels (launches, waits, the host). Taught in ``notebooks/10_int4_decode.ipynb``.
    """

    EXPERIMENT = "token-profile"
    wall_ms: float
    kernels_ms: float
    parts_ms: dict[str, float]
    lm_head_ms: float
    gaps_ms: float
    top_kernels: list[tuple[str, float]]  # the five longest kernels per token (name, ms)


def kernel_part(name: str) -> str:
    """Which part of a decode token a CUDA kernel's ``name`` belongs to (:data:`KERNEL_PARTS`, else ``"other"``).

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    lowered = name.lower()
    return next((part for part, pattern in KERNEL_PARTS if re.search(pattern, lowered)), "other")


def _ask(vlm: VLMInference, query: QuerySetup) -> CallStats:
    image = standard_image(query.image_size)
    return ask_fixed_length(vlm, image, query.new_tokens).stats


def measure_variant(vlm: VLMInference, variant: str, query: QuerySetup, repeats: int, ceilings: Ceilings, *,
                    inductor_tuning: bool = False) -> DecodeBench:
    """Time ``vlm`` (loaded for ``variant``) on ``query``: the warm-up, ``repeats`` answers, and for a compiled
    model the warm-up again after ``vlm.forget_compiled_steps()``. Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    if query.new_tokens < 2:
        raise ConfigurationError(f"decode time per token needs at least 2 new tokens, got {query.new_tokens}")
    warm = _ask(vlm, query)
    calls = [_ask(vlm, query) for _ in range(repeats)]
    compiled = vlm.decodes_compiled
    cached = None
    if compiled:
        vlm.forget_compiled_steps()
        cached = _ask(vlm, query).total_s
    per_token = float(np.median([c.decode_s_per_token for c in calls]))
    step_bytes = decode_step_work(measure_footprint(vlm.model))[1]
    total = [1e3 * c.total_s for c in calls]
    notes = [n for n in vlm.report.notes if n.startswith(("use_compile", "attention for use_compile", "int4 on"))]
    return DecodeBench(
        variant=variant, compiled=compiled, tokens_per_s=1 / per_token, decode_ms_per_token=1e3 * per_token,
        prefill_ms=float(np.median([1e3 * c.prefill_s for c in calls])), whole_query_ms=float(np.median(total)),
        whole_query_spread=(min(total), max(total)), warmup_s=warm.total_s, cached_warmup_s=cached,
        graphs_in_warmup=warm.compiled_graphs,
        graphs_after_warmup=(sum(c.compiled_graphs or 0 for c in calls) if compiled else None),
        bytes_per_token=step_bytes, bandwidth_share=step_bytes / per_token / ceilings.bandwidth,
        copy_bandwidth=ceilings.bandwidth, inductor_tuning=inductor_tuning, notes=notes)


def token_profile(vlm: VLMInference, query: QuerySetup) -> TokenProfile:
    """Where one token of ``vlm``'s compiled decode goes (CUDA only): the profiler's kernel times over a whole
    answer, less the prefill's (profiled alone), per decoded token. Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    if not vlm.decodes_compiled:
        raise ConfigurationError("token_profile needs a use_compile=True model whose decode loop compiled")
    dev = vlm.device
    whole = kernel_seconds(lambda: _ask(vlm, query), dev)
    prefill_only = QuerySetup(query.image_size, 1)
    prefill = kernel_seconds(lambda: _ask(vlm, prefill_only), dev)
    steps = query.new_tokens - 1
    per_token = {k: (v - prefill.get(k, 0.0)) / steps for k, v in whole.items()}
    per_token = {k: v for k, v in per_token.items() if v > 0}
    parts: dict[str, float] = {}
    for name, seconds in per_token.items():
        parts[kernel_part(name)] = parts.get(kernel_part(name), 0.0) + 1e3 * seconds
    wall = 1e3 * float(np.median([_ask(vlm, query).decode_s_per_token for _ in range(3)]))
    head = vlm.model.lm_head
    hidden = torch.randn(1, head.in_features, dtype=vlm.model.dtype, device=dev)
    with torch.inference_mode():
        lm_head = 1e3 * time_graphed_kernel(lambda: head(hidden), dev, warmup_ms=10, rep_ms=50).median
    kernels = sum(parts.values())
    top = sorted(per_token.items(), key=lambda kv: -kv[1])[:5]
    return TokenProfile(wall_ms=wall, kernels_ms=kernels, parts_ms=dict(sorted(parts.items())), lm_head_ms=lm_head,
                        gaps_ms=max(wall - kernels, 0.0), top_kernels=[(k[:120], 1e3 * v) for k, v in top])


@dataclass(frozen=True)
class AsUserGetsIt:
    """Notebook 10's last section: each precision's ``VLMInference(use_compile=True)`` and, on CUDA, its profile;
    ``failed``: the INT4 candidates that could not be loaded or measured, with the error (BF16 and INT4 never fail
    quietly: their errors propagate)."""

    runs: dict[str, DecodeBench]
    profiles: dict[str, TokenProfile]
    failed: dict[str, str]

    def table(self) -> list[dict[str, object]]:
        """One row per precision: tokens/s, share of copy bandwidth, speed against BF16, query, prefill, warm-ups."""
        base = self.runs.get("bf16")
        return [{"precision": p, "tokens/s": m.tokens_per_s, "share of copy bandwidth": m.bandwidth_share,
                 "decode vs BF16": m.tokens_per_s / base.tokens_per_s if base else None,
                 "whole query (ms)": m.whole_query_ms,
                 "query vs BF16": base.whole_query_ms / m.whole_query_ms if base else None,
                 "prefill (ms)": m.prefill_ms, "warm-up (s)": m.warmup_s, "warm-up, caches warm (s)": m.cached_warmup_s}
                for p, m in self.runs.items()]


#: Notebook 10's INT4 kernel candidates beside ``bf16`` and ``int4`` on CUDA (``"auto"``): lm_head quantized too
#: (about a quarter of an INT4 token's bytes in BF16) and mslk's Hopper kernel (where this GPU and installation run
#: it); each takes about a minute on the 8B (load, compile, profile), so the notebook stays within one 10-minute
#: device call, and ``.ci/gpu-decode-bench.sh`` times every one of ``INT4_CANDIDATES``. On a CPU none: torchao
#: dequantizes every INT4 weight per call there, whatever its settings, so the candidates would time the same code.
CUDA_CANDIDATES = ("int4-head", "int4-hopper")


def as_user_precisions(candidates: str, device: torch.device) -> tuple[str, ...]:
    """The precisions notebook 10's last section loads as a user would: ``bf16``, ``int4`` and the INT4
    ``candidates`` (``"auto"``: those of :data:`CUDA_CANDIDATES` that this GPU runs, none on a CPU; ``"none"``; or
    comma-separated INT4 precisions); anything but an INT4 precision raises ``ConfigurationError``.
    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    if candidates == "auto":
        chosen = tuple(c for c in CUDA_CANDIDATES if device.type == "cuda" and _runs_here(c, device))
    elif candidates == "none":
        chosen = ()
    else:
        chosen = tuple(get_precision(c.strip()).name for c in candidates.split(",") if c.strip())
    wrong = [c for c in chosen if get_precision(c).quantization != "int4" or c == "int4"]
    if wrong:
        raise ConfigurationError("INT4 candidates are INT4 precisions other than int4 itself (int4-head, int4-g64, "
                                 f"int4-hopper, int4-preshuffled), got {wrong}")
    return ("bf16", "int4", *dict.fromkeys(chosen))


def _runs_here(name: str, device: torch.device) -> bool:
    """Whether the INT4 precision ``name``'s packing runs on ``device`` (mslk's need a Hopper GPU and mslk-cuda)."""
    packing = get_precision(name).int4_packing
    if packing == TINYGEMM_PACKING:
        return True
    try:
        check_mslk_packing(packing, device.type)
    except BackendUnavailableError:
        return False
    return True


def measure_as_user(settings: LadderSettings, precisions: Sequence[str] = ("bf16", "int4")) -> AsUserGetsIt:
    """Each of ``precisions`` loaded as a user would (``VLMInference(precision=..., use_compile=True)``), timed by
    :func:`measure_variant` on notebook 10's query and, on CUDA, profiled by :func:`token_profile`; every result is
    recorded in the notebook's store as it is measured. Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    query = QuerySetup(settings.query.image_size, settings.new_tokens)
    runs, profiles, failed = {}, {}, {}
    for precision in progress(precisions, desc="VLMInference(use_compile=True)"):
        try:
            run, profile = _as_user(settings, precision, query)
        except Exception as exc:  # a candidate's kernel that does not load or compile here: said, not recorded
            if precision in ("bf16", "int4"):
                raise
            failed[precision] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        else:
            runs[precision] = run
            if profile is not None:
                profiles[precision] = profile
        gc.collect()
        free_memory(settings.device)
    return AsUserGetsIt(runs, profiles, failed)


def _as_user(settings: LadderSettings, precision: str, query: QuerySetup) -> tuple[DecodeBench, TokenProfile | None]:
    """One precision of :func:`measure_as_user`: loaded, timed, profiled on CUDA, each result recorded."""
    vlm = VLMInference(settings.model_name, precision=precision, device=settings.device, use_compile=True,
                       compile_backend=settings.backend)
    run = measure_variant(vlm, "compiled", query, settings.repeats, settings.ceilings)
    settings.store.record_measurement(run, model=settings.model_name, precision=precision, shapes=settings.shapes,
                                      repeats=settings.repeats)
    profile = None
    if settings.on_cuda and vlm.decodes_compiled:
        profile = token_profile(vlm, query)
        settings.store.record_measurement(profile, model=settings.model_name, precision=precision,
                                          shapes=settings.shapes, repeats=3)
    return run, profile


@dataclass(frozen=True)
class BenchSettings:
    """What one run of the benchmark measures: device, model, precisions, variants, query, repeats, flags."""

    device: torch.device
    model: str
    precisions: list[str]
    variants: list[str]
    query: QuerySetup
    repeats: int
    compile_backend: str
    inductor_tuning: bool
    profile: bool
    results_dir: Path | None


def bench_settings(device: str = "auto", model: str = "auto", precisions: str = "bf16,int4",
                   variants: str = "compiled", image_size: int = 0, new_tokens: int = 0, repeats: int = 5,
                   compile_backend: str = "auto", inductor_tuning: bool = False, profile: bool = False,
                   results_dir: str | Path | None = None) -> BenchSettings:
    """Resolve the command's options (``"auto"``: the 8B and TorchInductor on CUDA, the tiny model and the
    ``eager`` backend on a CPU; 0: the standard query's size); bad values raise ``ConfigurationError``.
    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    dev = resolve_device(device)
    on_cuda = dev.type == "cuda"
    chosen = [get_precision(p.strip()).name for p in precisions.split(",") if p.strip()]
    kinds = [v.strip() for v in variants.split(",") if v.strip()]
    if not chosen or not kinds or not set(kinds) <= set(VARIANTS):
        raise ConfigurationError(f"need at least one precision and variants from {VARIANTS}, got {precisions!r}, "
                                 f"{variants!r}")
    if repeats < 1:
        raise ConfigurationError(f"repeats must be at least 1, got {repeats}")
    backend = compile_backend if compile_backend != "auto" else ("inductor" if on_cuda else "eager")
    if backend not in ("inductor", "eager"):
        raise ConfigurationError(f"compile backend must be 'auto', 'inductor' or 'eager', got {compile_backend!r}")
    if profile and not on_cuda:
        raise ConfigurationError("--profile reads CUDA kernel times: it needs a CUDA device")
    standard = standard_query(dev.type)
    query = QuerySetup(image_size or standard.image_size, new_tokens or standard.new_tokens)
    return BenchSettings(dev, model if model != "auto" else ("qwen3-vl-8b" if on_cuda else "qwen3-vl-tiny"), chosen,
                         kinds, query, repeats, backend, inductor_tuning, profile,
                         Path(results_dir) if results_dir else None)


def run_bench(settings: BenchSettings) -> list[DecodeBench]:
    """Measure every precision and variant of ``settings``, recording each as it is measured; returns them. A
    precision whose backend cannot run here (``BackendUnavailableError``) is reported in a line and left out; one
    that fails otherwise is reported too, the rest still run, and :class:`BenchFailed` names the failures at the end.

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    quiet_compiler()
    if settings.inductor_tuning:
        from torchao.quantization.utils import recommended_inductor_config_setter  # torchao: a dependency

        recommended_inductor_config_setter()
    dev = settings.device
    store = ResultsStore("decode_bench", settings.results_dir, dev)
    ceilings = device_ceilings(dev)
    shapes = {"image": [settings.query.image_size] * 2, "new_tokens": settings.query.new_tokens, "batch": 1}
    results, failures = [], []
    grid = [(p, v) for p in settings.precisions for v in settings.variants]
    for precision, variant in progress(grid, desc="precisions x variants"):
        try:
            results.append(_bench_one(settings, precision, variant, store, ceilings, shapes))
        except BackendUnavailableError as exc:  # e.g. mslk's Hopper packings elsewhere: said, nothing recorded
            print(f"{precision:>5} {variant:<8} not measured: {exc}", flush=True)
        except Exception as exc:  # one precision's failure loses nothing measured before it, nor stops the rest
            failures.append(f"{precision} {variant}: {type(exc).__name__}: {exc}")
            print(f"{precision:>5} {variant:<8} FAILED: {type(exc).__name__}: {exc}", flush=True)
        gc.collect()
        free_memory(dev)
    print(f"records: {store.path}")
    if failures:
        raise BenchFailed(f"{len(failures)} of {len(grid)} runs failed: " + "; ".join(failures))
    return results


class BenchFailed(RuntimeError):
    """Some of a benchmark's runs failed (each said in its line); the others were measured and recorded."""


def _bench_one(settings: BenchSettings, precision: str, variant: str, store: ResultsStore, ceilings: Ceilings,
               shapes: dict) -> DecodeBench:
    """One precision and variant of :func:`run_bench`: loaded, timed, printed, profiled where asked, recorded."""
    vlm = VLMInference(settings.model, precision=precision, device=settings.device,
                       use_compile=variant == "compiled", compile_backend=settings.compile_backend)
    result = measure_variant(vlm, variant, settings.query, settings.repeats, ceilings,
                             inductor_tuning=settings.inductor_tuning)
    store.record_measurement(result, model=settings.model, precision=precision, shapes=shapes,
                             repeats=settings.repeats)
    print(bench_line(precision, result), flush=True)
    if settings.profile and result.compiled:
        profile = token_profile(vlm, settings.query)
        store.record_measurement(profile, model=settings.model, precision=precision, shapes=shapes, repeats=3)
        print(f"  per token: {profile.wall_ms:.2f} ms wall, kernels {profile.kernels_ms:.2f} ms "
              + ", ".join(f"{k} {v:.2f}" for k, v in profile.parts_ms.items())
              + f"; lm_head alone {profile.lm_head_ms:.2f} ms; gaps {profile.gaps_ms:.2f} ms", flush=True)
    return result


def bench_line(precision: str, r: DecodeBench) -> str:
    """One result in a line: tokens/s, bandwidth share, whole query, prefill, warm-ups."""
    cached = f", again {r.cached_warmup_s:.1f} s with caches warm" if r.cached_warmup_s is not None else ""
    variant = r.variant if r.compiled or r.variant != "compiled" else "not compiled (transformers refuses)"
    return (f"{precision:>5} {variant:<8} {r.tokens_per_s:8.1f} tok/s  {r.bandwidth_share:6.1%} of copy bandwidth  "
            f"query {r.whole_query_ms:8.1f} ms (prefill {r.prefill_ms:.1f})  warm-up {r.warmup_s:.1f} s{cached}")


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m vlmkit.bench decode``: the options of :func:`bench_settings` on the command line."""
    parser = argparse.ArgumentParser(prog="python -m vlmkit.bench decode", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="auto", help="registry name, checkpoint directory or hub id")
    parser.add_argument("--precisions", default="bf16,int4", help="comma-separated (default bf16,int4)")
    parser.add_argument("--variants", default="compiled", help="compiled, eager or both (comma-separated)")
    parser.add_argument("--image-size", type=int, default=0, help="px; 0: the standard query's")
    parser.add_argument("--new-tokens", type=int, default=0, help="answer tokens; 0: the standard query's")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile-backend", default="auto", help="auto, inductor or eager")
    parser.add_argument("--inductor-tuning", action="store_true",
                        help="torchao's recommended TorchInductor settings (coordinate-descent tuning)")
    parser.add_argument("--profile", action="store_true", help="CUDA: where one token's time goes")
    parser.add_argument("--results", default=None, help="folder for decode_bench.json (default: the book's)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        run_bench(bench_settings(args.device, args.model, args.precisions, args.variants, args.image_size,
                                 args.new_tokens, args.repeats, args.compile_backend, args.inductor_tuning,
                                 args.profile, args.results))
    except BenchFailed as exc:
        print(f"done in {time.perf_counter() - started:.0f} s; {exc}")
        raise SystemExit(1) from None
    print(f"done in {time.perf_counter() - started:.0f} s")
