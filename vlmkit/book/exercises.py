"""The checks of the exercise notebooks (``exercises/NN_*.ipynb``, one per book notebook).

Every check compares a reader's answer with a value computed here from vlmkit, a registry configuration or the
committed reference runs (``reference/<device>/``), never typed. For an answer left at ``None`` it prints
``not answered yet`` (an unanswered notebook runs clean under papermill); for a right one it prints ``correct``
with the computed value; for a wrong one it prints a short line with a hint and the tolerance, never the value
and never a traceback, and goes on: every answer of every check is judged. The notebook's last cell,
:func:`summary`, counts them and fails (one short line, no traceback) if any was wrong, so Run All reaches the
end and papermill and the tests still see the failure. Numbers are compared with the relative tolerance each
check states. Each check's docstring names the notebook that teaches it.
Everything runs on a CPU in seconds. Worked solutions: ``exercises/solutions.py``.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Collection, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Qwen3VLForConditionalGeneration

from vlmkit.bench.bandwidth_scaling import HEADROOM_BYTES, fitting_spec
from vlmkit.bench.decode_ladder import DecodeRung, Int4Rung
from vlmkit.bench.model_speed import ModelSpeed
from vlmkit.bench.roofline import (
    Ceilings,
    MeasuredCeilings,
    classify_phase,
    decode_step_work,
    weight_bytes,
)
from vlmkit.book.reference_status import run_manifest
from vlmkit.core.formatting import GIB
from vlmkit.measure.footprint import Footprint, measure_footprint
from vlmkit.measure.profiler import operator_events
from vlmkit.measure.records import CHECKOUT, experiment_records
from vlmkit.measure.speedup import speedup_of_medians
from vlmkit.models.architectures import QWEN3_VL_72B_SHAPE, ArchitectureSpec, get_spec
from vlmkit.models.attention_backends import SDPA_BACKENDS
from vlmkit.models.loading import LoadMeasurement
from vlmkit.models.precisions import get_precision
from vlmkit.planning.planner import plan_memory
from vlmkit.planning.recommend import (
    CANDIDATES,
    COMPILED_VARIANT,
    EAGER_VARIANT,
    recommend_precision,
)
from vlmkit.planning.seed_tree import seed_tree
from vlmkit.runtime.attention import AttentionRefusal
from vlmkit.runtime.environment import CAPABILITIES_EXPERIMENT
from vlmkit.runtime.generation_variants import CompileVariantRun
from vlmkit.runtime.kv_cache import KVCacheClaimMeasurement
from vlmkit.verdicts.claims import SEED_QUALITY_CLAIMS, SEED_SPEED_CLAIMS
from vlmkit.verdicts.quality import PairedAccuracyMeasurement, mcnemar_exact
from vlmkit.verdicts.rules import speed_verdict, verdict

#: What a check prints for an answer still at ``None``.
NOT_ANSWERED = "not answered yet"
#: The tag of an exercise notebook's check cells: one per exercise.
CHECK_TAG = "exercise-check"
#: The committed reference runs the exercises read.
REFERENCE = CHECKOUT / "reference"
H200_RUN, CPU_RUN = "nvidia-h200", "cpu-x86_64"
#: A made-up forum claim for exercise 01.3: "Qwen3-VL-8B in NF4 with double quantization takes 5 GB".
FORUM_NF4_DQ_CLAIM_GIB = 5.0
#: Verdict words of :func:`vlmkit.verdicts.rules.verdict` and :func:`vlmkit.verdicts.rules.speed_verdict`.
VERDICTS = ("holds", "below", "above", "inconclusive")
REGIMES = ("compute bound", "memory bound", "overhead bound")
#: The aten operator each SDPA backend runs as, by the book's backend names (``vlmkit.models.attention_backends.SDPA_BACKENDS``).
SDPA_OPERATORS = {
    "math": "aten::_scaled_dot_product_attention_math",
    "flash": "aten::_scaled_dot_product_flash_attention",
    "memory-efficient": "aten::_scaled_dot_product_efficient_attention",
    "cudnn": "aten::_scaled_dot_product_cudnn_attention",
}


# --- reading the reference runs ---------------------------------------------------------------------------------
def reference_records(notebook: str, experiment: str, run: str = H200_RUN) -> list[dict[str, Any]]:
    """The latest run's records of one experiment in a committed reference run (``reference/<run>/results``)."""
    found = experiment_records(REFERENCE / run / "results", notebook, experiment)
    if not found:
        raise LookupError(f"no {experiment!r} record in {REFERENCE / run / 'results' / notebook}.json")
    return found


def _only(records: list[dict[str, Any]], what: str, **metrics: Any) -> dict[str, Any]:
    """The one record whose metrics (or, for ``precision``, the record itself) match ``metrics``."""
    def matches(r: dict[str, Any]) -> bool:
        return all((r["precision"] if k == "precision" else r["metrics"].get(k)) == v for k, v in metrics.items())

    found = [r for r in records if matches(r)]
    if len(found) != 1:
        raise LookupError(f"expected one {what} record with {metrics}, found {len(found)}")
    return found[0]


def reference_manifest(run: str = H200_RUN) -> dict[str, Any]:
    """The ``run.json`` of a reference run: the runner's measured time per notebook."""
    return run_manifest(REFERENCE / run)


def h200_ceilings() -> Ceilings:
    """The H200's copy bandwidth and BF16 matmul ceiling as notebook 03 measured them (``ceilings`` record)."""
    m = reference_records("03_dequantization", MeasuredCeilings.EXPERIMENT)[0]["metrics"]
    return MeasuredCeilings.from_metrics(m).ceilings()


@lru_cache(maxsize=4)
def meta_footprint(model: str) -> Footprint:
    """:func:`vlmkit.measure.footprint.measure_footprint` of a registry model built on the meta device (BF16, no memory)."""
    with torch.device("meta"):
        built = Qwen3VLForConditionalGeneration(get_spec(model).config()).to(torch.bfloat16)
    return measure_footprint(built)


def break_even_queries(warmup_a: float, steady_a: float, warmup_b: float, steady_b: float) -> int | None:
    """The fewest queries after which way B, its first (warm-up) query included, has taken no longer than way A.

    Each way answers its first query in ``warmup_*`` seconds and every later one in ``steady_*``. ``None`` when B
    never catches up (it is not faster per query and started behind). Taught in ``notebooks/05_compile.ipynb``.
    """
    if warmup_b <= warmup_a:
        return 1
    if steady_b >= steady_a:
        return None
    return 1 + math.ceil((warmup_b - warmup_a) / (steady_a - steady_b))


def worked_solutions(checkout: Path = CHECKOUT) -> dict[str, dict[str, Any]]:
    """Every exercise notebook's answers, computed by ``exercises/solutions.py`` (never typed): the tests inject them,
    the site shows them folded away. Taught in ``notebooks/00_environment.ipynb`` (how to use the exercises)."""
    spec = importlib.util.spec_from_file_location("exercise_solutions", checkout / "exercises" / "solutions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.solutions()


# --- comparing answers -----------------------------------------------------------------------------------------
#: What each answer judged since the last :func:`summary` came to: name -> "right", "wrong" or "not answered".
_JUDGED: dict[str, str] = {}


class WrongAnswers(Exception):
    """Raised by :func:`summary` when an answer was wrong: IPython shows its one line instead of a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def _answered(name: str, answer: object) -> bool:
    if answer is None:
        print(f"{name}: {NOT_ANSWERED}")
        _JUDGED[name] = "not answered"
        return False
    return True


def _right(name: str, text: str) -> None:
    print(text)
    _JUDGED[name] = "right"


def _wrong(name: str, text: str) -> None:
    """A wrong answer: one line with the hint, and the check goes on (no exception, no code of the check shown)."""
    print(f"✗ {text}")
    _JUDGED[name] = "wrong"


def summary() -> None:
    """The last cell of an exercise notebook: how many answers were right, wrong and not answered since the last
    summary; raises :class:`WrongAnswers` (shown as one line) if any was wrong. Taught in every exercise notebook.
    """
    counts = {kind: sorted(n for n, k in _JUDGED.items() if k == kind) for kind in ("right", "wrong", "not answered")}
    _JUDGED.clear()
    print(", ".join(f"{len(names)} {kind}" for kind, names in counts.items()) + f" (of {sum(map(len, counts.values()))})")
    if counts["wrong"]:
        raise WrongAnswers(f"wrong: {', '.join(counts['wrong'])} (each check above says why, with a hint)")


def _number(name: str, answer: object, expected: float, *, rel_tol: float, what: str, hint: str) -> None:
    """A number within ``rel_tol`` of ``expected``: ``correct``, else a line saying which way it is off."""
    if not _answered(name, answer):
        return
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return _wrong(name, f"{name} should be a number, got {answer!r}")
    if not math.isclose(answer, expected, rel_tol=rel_tol):
        off = (answer - expected) / expected if expected else math.inf
        return _wrong(name, f"{name} = {answer:g} is {abs(off):.0%} too {'high' if off > 0 else 'low'} "
                            f"(tolerance ±{rel_tol:.1%}). Hint: {hint}")
    _right(name, f"{name} = {answer:g}: correct ({what}: {expected:.4g}, tolerance ±{rel_tol:.1%})")


def _count(name: str, answer: object, expected: int | None, *, what: str, hint: str) -> None:
    """A whole number (``1.0`` counts as ``1``) equal to ``expected``."""
    if not _answered(name, answer):
        return
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) or not float(answer).is_integer():
        return _wrong(name, f"{name} should be a whole number, got {answer!r}")
    if int(answer) != expected:
        return _wrong(name, f"{name} = {int(answer)} is not right. Hint: {hint}")
    _right(name, f"{name} = {int(answer)}: correct ({what})")


def _choice(name: str, answer: object, expected: object, *, allowed: Collection[object], what: str,
            hint: str) -> None:
    """One of ``allowed`` (strings compared without case or surrounding blanks), equal to ``expected``."""
    if not _answered(name, answer):
        return
    given = answer.strip().lower() if isinstance(answer, str) else answer
    if given not in allowed:
        return _wrong(name, f"{name} = {answer!r} is not one of {sorted(map(str, allowed))}")
    if given != expected:
        return _wrong(name, f"{name} = {answer!r} is not right. Hint: {hint}")
    _right(name, f"{name} = {answer!r}: correct ({what})")


def _names(name: str, answer: object, expected: set[str], *, allowed: Collection[str], what: str, hint: str) -> None:
    """A collection of names (a list or set of strings from ``allowed``) equal to ``expected`` as a set."""
    if not _answered(name, answer):
        return
    if isinstance(answer, str) or not isinstance(answer, Collection) or not all(isinstance(a, str) for a in answer):
        return _wrong(name, f"{name} should be a list of names from {sorted(allowed)}, got {answer!r}")
    unknown = set(answer) - set(allowed)
    if unknown:
        return _wrong(name, f"{name}: {sorted(unknown)} are not among {sorted(allowed)}")
    if set(answer) != expected:
        return _wrong(name, f"{name} = {sorted(answer)} is not right. Hint: {hint}")
    _right(name, f"{name} = {sorted(answer)}: correct ({what})")


# --- 00 · Your machine --------------------------------------------------------------------------------------------
def check_sdpa_backends(missing_on_cpu: Collection[str] | None) -> None:
    """Exercise 00.1: the SDPA backends that ran on the H200 reference but not on the CPU reference.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    def working(run: str) -> set[str]:
        backends = reference_records("00_environment", CAPABILITIES_EXPERIMENT, run)[0]["metrics"]["sdpa_backends"]
        return {name for name, state in backends.items() if state == "works"}

    _names("SDPA_MISSING_ON_CPU", missing_on_cpu, working(H200_RUN) - working(CPU_RUN), allowed=SDPA_BACKENDS,
           what="from both runs' capabilities records",
           hint="a backend counts only where capability_report's call through it ran ('works'); "
                "compare metrics['sdpa_backends'] of the two records")


def check_book_time(longest: str | None, minutes: float | None) -> None:
    """Exercise 00.2: the H200 reference run's slowest notebook and the whole book's time, from its ``run.json``.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    entries = reference_manifest(H200_RUN)["notebooks"]
    slowest = max(entries, key=lambda e: e["seconds"])["notebook"].removesuffix(".ipynb")
    _choice("H200_SLOWEST_NOTEBOOK", longest, slowest, allowed={e["notebook"].removesuffix(".ipynb") for e in entries},
            what="the largest 'seconds' in reference/nvidia-h200/run.json",
            hint="names as in run.json without '.ipynb', e.g. '00_environment'; sort the entries by 'seconds'")
    _number("H200_BOOK_MINUTES", minutes, sum(e["seconds"] for e in entries) / 60, rel_tol=0.02,
            what="the sum of every notebook's 'seconds', in minutes",
            hint="add up 'seconds' over every entry of run.json's 'notebooks', then divide by 60")


# --- 01 · Loading in every precision ------------------------------------------------------------------------------
def check_nf4_footprint(gib: float | None) -> None:
    """Exercise 01.1: the NF4 weights of Qwen3-VL-4B predicted from its config, against the memory planner.

    Taught in ``notebooks/01_loading_precisions.ipynb`` (the planner: ``notebooks/08_decision.ipynb``).
    """
    plan = plan_memory("qwen3-vl-4b", "nf4", image_size=448, device="cpu")
    _number("NF4_FOOTPRINT_GIB", gib, plan.weights_bytes / GIB, rel_tol=0.01,
            what="vlmkit.plan_memory('qwen3-vl-4b', 'nf4').weights_bytes in GiB",
            hint="every nn.Linear except lm_head holds 4-bit weights (half a byte each) plus one float32 absmax per "
                 "64 weights; everything else (token embeddings, norms, biases, the patch embedding) stays in BF16; "
                 "the 4B ties lm_head to the token embeddings, so count that matrix once")


def check_double_quant_saving(bits_per_weight: float | None) -> None:
    """Exercise 01.2: the bits per weight that double quantization saves on a 4-bit layer.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    k, n = 4096, 12288  # a large layer: the per-layer rounding of block counts vanishes
    saved = weight_bytes(get_precision("nf4"), k, n) - weight_bytes(get_precision("nf4-dq"), k, n)
    _number("DQ_SAVING_BITS_PER_WEIGHT", bits_per_weight, 8 * saved / (k * n), rel_tol=0.02,
            what="vlmkit.bench.roofline.weight_bytes, NF4 minus NF4+DQ, per weight, in bits",
            hint="NF4 stores one float32 absmax per 64 weights; double quantization stores it in 8 bits instead, "
                 "plus one float32 constant per 256 absmax values")


def check_forum_claim(outcome: str | None) -> None:
    """Exercise 01.3: the made-up claim "8B in NF4+DQ takes 5 GB" against the H200's measured weights.

    Taught in ``notebooks/01_loading_precisions.ipynb``.
    """
    record = _only(reference_records("01_loading_precisions", LoadMeasurement.EXPERIMENT), "load", precision="nf4-dq")
    measured = LoadMeasurement.from_metrics(record["metrics"]).load["memory"]["retained_bytes"] / GIB
    expected = verdict(measured, FORUM_NF4_DQ_CLAIM_GIB, tolerance=0.10).outcome
    _choice("FORUM_CLAIM_VERDICT", outcome, expected, allowed=VERDICTS[:3],
            what=f"vlmkit.verdicts.rules.verdict({measured:.2f} GiB measured, {FORUM_NF4_DQ_CLAIM_GIB:g} claimed, "
                 "tolerance 10 %)",
            hint="read the H200's nf4-dq 'load' record (metrics.load.memory.retained_bytes, in GiB) and compare "
                 "it with the claim widened by 10 % either way")


# --- 02 · Quality ---------------------------------------------------------------------------------------------
def _nf4_paired() -> PairedAccuracyMeasurement:
    experiment = PairedAccuracyMeasurement.EXPERIMENT
    return PairedAccuracyMeasurement.from_metrics(
        _only(reference_records("02_quality", experiment), experiment, precision="nf4")["metrics"])


def check_relative_accuracy(relative: float | None) -> None:
    """Exercise 02.1: NF4's accuracy relative to BF16 on the H200 run, from the paired counts.

    Taught in ``notebooks/02_quality.ipynb``.
    """
    m = _nf4_paired()
    bf16_right = m.both_right + m.only_reference_right
    _number("NF4_RELATIVE_ACCURACY", relative, (m.both_right + m.only_other_right) / bf16_right, rel_tol=0.001,
            what="questions NF4 gets right over questions BF16 gets right",
            hint="BF16 is right on both_right + only_reference_right questions, NF4 on both_right + only_other_right")


def check_paired_verdict(p_value: float | None, outcome: str | None) -> None:
    """Exercise 02.2: McNemar's exact p for NF4 against BF16, and the verdict on the seed's "INT4 keeps 95-98 %".

    Taught in ``notebooks/02_quality.ipynb``.
    """
    m = _nf4_paired()
    _number("NF4_MCNEMAR_P", p_value, mcnemar_exact(m.only_reference_right, m.only_other_right), rel_tol=0.01,
            what="vlmkit.verdicts.quality.mcnemar_exact of the two disagreement counts",
            hint="only the disagreements count: if both precisions were equally accurate each would go either way "
                 "with probability 1/2 (a two-sided binomial test)")
    low, high = SEED_QUALITY_CLAIMS["4bit"]
    expected = verdict(m.relative, low, high, tolerance=0.0, spread=tuple(m.interval)).outcome
    _choice("NF4_QUALITY_VERDICT", outcome, expected, allowed=VERDICTS[:3],
            what=f"the paired interval {m.interval[0]:.3f}-{m.interval[1]:.3f} against {low:.0%}-{high:.0%}",
            hint="holds when the 95 % interval overlaps the claimed range, above or below when it lies wholly "
                 "on one side of it")


# --- 03 · Dequantization --------------------------------------------------------------------------------------
def check_decode_bytes(gib_per_token: float | None, tokens_per_s_limit: float | None) -> None:
    """Exercise 03.1: the bytes a BF16 decode step of the 8B reads, and the tokens/s the H200's bandwidth allows.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    _, per_token = decode_step_work(meta_footprint("qwen3-vl-8b"))
    _number("BF16_DECODE_GIB_PER_TOKEN", gib_per_token, per_token / GIB, rel_tol=0.01,
            what="vlmkit.bench.roofline.decode_step_work on the 8B's footprint, in GiB",
            hint="a decode step reads every language-layer weight and lm_head once (2 bytes each in BF16); "
                 "the vision tower and the token-embedding lookup are not read per token")
    _number("H200_DECODE_TOKENS_PER_S_LIMIT", tokens_per_s_limit, h200_ceilings().bandwidth / per_token, rel_tol=0.02,
            what="the measured copy bandwidth over the bytes per token",
            hint="read bandwidth_bytes_per_s from notebook 03's 'ceilings' record on the H200")


def check_roofline(ridge: float | None, regime: str | None) -> None:
    """Exercise 03.2: the H200's ridge point, and where its measured BF16 decode step sits on the roofline.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    ceilings = h200_ceilings()
    _number("H200_RIDGE_FLOP_PER_BYTE", ridge, ceilings.ridge_intensity, rel_tol=0.01,
            what="the measured matmul ceiling over the measured copy bandwidth",
            hint="the ridge point is FLOP/s over bytes/s: the intensity above which a kernel can be compute bound")
    speed = _only(reference_records("03_dequantization", ModelSpeed.EXPERIMENT), "model-speed", precision="bf16")
    flops, moved = decode_step_work(meta_footprint("qwen3-vl-8b"))
    phase = classify_phase(flops, moved, ModelSpeed.from_metrics(speed["metrics"]).decode_ms_per_token / 1e3, ceilings)
    _choice("H200_DECODE_REGIME", regime, phase.regime, allowed=REGIMES,
            what=f"vlmkit.bench.roofline.classify_phase: {phase.describe(ceilings)}",
            hint="compute the share of the copy bandwidth and of the matmul ceiling the decode step reaches; "
                 "below a quarter of both (roofline.OVERHEAD_SHARE) it is neither memory nor compute bound")


# --- 04 · KV cache ------------------------------------------------------------------------------------------------
def kv_bytes_per_token(model: str = "qwen3-vl-8b") -> int:
    """What the planner's BF16 KV cache grows by for one more answer token (``new_tokens`` 2 against 1)."""
    one, two = (plan_memory(model, "bf16", image_size=448, new_tokens=n, device="cpu").kv_cache_bytes for n in (1, 2))
    return two - one


def check_kv_per_token(bytes_per_token: int | None) -> None:
    """Exercise 04.1: the bytes the 8B's BF16 KV cache holds per token, from its config.

    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    _count("KV_BYTES_PER_TOKEN", bytes_per_token, kv_bytes_per_token(),
           what="the planner's KV cache for one more token (vlmkit.plan_memory)",
           hint="every decoder layer keeps a key and a value for each KV head (not each query head: GQA), "
                "head_dim numbers of 2 bytes each")


def check_cached_tokens(tokens: int | None) -> None:
    """Exercise 04.2: the tokens in the H200's cache after the first question about a 224 px image.

    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    cell = [r for r in reference_records("04_kv_cache", KVCacheClaimMeasurement.EXPERIMENT)
            if r["shapes"]["image"] == [224, 224]][0]
    cache_bytes, per_token = KVCacheClaimMeasurement.from_metrics(cell["metrics"]).cache_bytes, kv_bytes_per_token()
    if cache_bytes % per_token:
        raise LookupError(f"the recorded cache ({cache_bytes:,} bytes) is no whole number of {per_token:,}-byte tokens")
    _count("CACHED_TOKENS_224PX", tokens, cache_bytes // per_token,
           what=f"cache_bytes {cache_bytes:,} over {per_token:,} per token",
           hint="divide the record's cache_bytes by the bytes per token of exercise 1")


def check_best_cell(cell: Sequence[int] | None) -> None:
    """Exercise 04.3: where in notebook 04's H200 sweep the cache saves the most.

    Taught in ``notebooks/04_kv_cache.ipynb``.
    """
    sweep = reference_records("04_kv_cache", KVCacheClaimMeasurement.EXPERIMENT)
    best = max(sweep, key=lambda r: KVCacheClaimMeasurement.from_metrics(r["metrics"]).ratio)["shapes"]
    expected = [best["visual_tokens"], best["answer_tokens"]]
    if cell is not None and (isinstance(cell, str) or not isinstance(cell, Sequence) or len(cell) != 2):
        return _wrong("BEST_CELL", f"BEST_CELL should be [visual tokens, answer tokens], got {cell!r}")
    _choice("BEST_CELL", None if cell is None else list(cell), expected,
            allowed=[[r["shapes"]["visual_tokens"], r["shapes"]["answer_tokens"]] for r in sweep],
            what="the sweep cell with the largest speed-up in the H200's records",
            hint="the cache skips the prefill of the image and the history once; every answer token costs the "
                 "same either way")


# --- 05 · torch.compile ---------------------------------------------------------------------------------------
def check_compile_headline(ratio: float | None, outcome: str | None) -> None:
    """Exercise 05.1: the headline speed-up of transformers' compilation on the H200, and its verdict.

    Taught in ``notebooks/05_compile.ipynb`` (verdicts: ``notebooks/03_dequantization.ipynb``).
    """
    claims = [r for r in reference_records("05_compile", "speed-claim") if r["metrics"]["role"] == "headline"]
    m = _only(claims, "headline speed-claim", precision="bf16")["metrics"]
    _number("COMPILE_SPEEDUP", ratio, m["ratio"], rel_tol=0.01, what="the headline record's ratio",
            hint="read notebook 05's 'speed-claim' record whose role is 'headline' (precision bf16)")
    _choice("COMPILE_VERDICT", outcome, speed_verdict(m["low"], m["high"], m["claimed"]), allowed=VERDICTS,
            what=f"the spread {m['low']:.2f}-{m['high']:.2f} against {m['claimed'][0]}-{m['claimed'][1]}",
            hint="compare the record's spread (low, high) with the claimed range (claimed)")


def _compile_variant(variant: str) -> CompileVariantRun:
    record = _only(reference_records("05_compile", CompileVariantRun.EXPERIMENT), CompileVariantRun.EXPERIMENT,
                   precision="bf16", variant=variant)
    return CompileVariantRun.from_metrics(record["metrics"])


def check_compile_break_even(queries: int | None) -> None:
    """Exercise 05.2: after how many queries compiled BF16 has caught up with eager, its warm-up included.

    Taught in ``notebooks/05_compile.ipynb``.
    """
    eager, compiled = _compile_variant(EAGER_VARIANT), _compile_variant(COMPILED_VARIANT)
    expected = break_even_queries(eager.warm_up_s, eager.whole_query_ms / 1e3,
                                  compiled.warm_up_s, compiled.whole_query_ms / 1e3)
    _count("COMPILE_BREAK_EVEN_QUERIES", queries, expected,
           what="vlmkit.book.exercises.break_even_queries of the two variants' warm-up and steady-state query",
           hint="n queries take warm-up + (n - 1) x steady query; find the smallest n where the compiled total is "
                "no larger than the eager one")


# --- 06 · Attention -------------------------------------------------------------------------------------------
def sdpa_backend_that_runs() -> str:
    """Which SDPA backend PyTorch picks on this CPU for a small BF16 attention call (8 heads, 64 tokens, head size
    32, as in exercise 06.1): read off the operators PyTorch's profiler saw."""
    q, k, v = (torch.randn(1, 8, 64, 32, dtype=torch.bfloat16) for _ in range(3))
    ran = {e.name for e in operator_events(lambda: F.scaled_dot_product_attention(q, k, v))}
    found = [name for name, op in SDPA_OPERATORS.items() if any(r.startswith(op) for r in ran)]
    if len(found) != 1:
        raise LookupError(f"expected one SDPA backend's operator among {sorted(ran)}")
    return found[0]


def check_cpu_sdpa_backend(backend: str | None) -> None:
    """Exercise 06.1: the SDPA backend PyTorch picks on this CPU (notebook 06's "sdpa (PyTorch picks)").

    Taught in ``notebooks/06_attention.ipynb`` (the backends: ``notebooks/00_environment.ipynb``).
    """
    _choice("CPU_SDPA_BACKEND", backend, sdpa_backend_that_runs(), allowed=SDPA_OPERATORS,
            what="the aten operator PyTorch's profiler saw for an SDPA call on this CPU",
            hint="profile one scaled_dot_product_attention call (vlmkit.measure.profiler.operator_events) and look for an "
                 "operator named like aten::_scaled_dot_product_<backend>...")


def check_gqa_refusal(refused: Collection[str] | None, heads_per_kv_head: int | None) -> None:
    """Exercise 06.2: the attention variant the H200 could not run at any image size, and the GQA behind it.

    Taught in ``notebooks/06_attention.ipynb``.
    """
    runs = [AttentionRefusal.from_metrics(r["metrics"])
            for r in reference_records("06_attention", AttentionRefusal.EXPERIMENT)]
    variants = {r.variant for r in runs}
    ran = {r.variant for r in runs if not r.unavailable}
    expected = variants - ran
    _names("H200_REFUSED_VARIANTS", refused, expected, allowed=variants,
           what="variants whose every 'attention' record on the H200 is 'unavailable'",
           hint="look at metrics['unavailable'] of notebook 06's 'attention' records, at every image size")
    text = get_spec("qwen3-vl-8b").text
    _count("QUERY_HEADS_PER_KV_HEAD", heads_per_kv_head, text["num_attention_heads"] // text["num_key_value_heads"],
           what="num_attention_heads over num_key_value_heads in the 8B's text config",
           hint="grouped-query attention: several query heads share one key/value head (see the text config)")


def check_eager_vision_scores(gib: float | None) -> None:
    """Exercise 06.3: what one eager vision-attention layer of the 8B holds for a 1344 px image in BF16 on CUDA.

    Taught in ``notebooks/06_attention.ipynb`` (the planner: ``notebooks/08_decision.ipynb``).
    """
    plan = plan_memory("qwen3-vl-8b", "bf16", image_size=1344, attn_implementation="eager", device="cuda")
    _number("EAGER_VISION_SCORES_GIB", gib, plan.vision_scores_bytes / GIB, rel_tol=0.01,
            what="vlmkit.plan_memory(..., attn_implementation='eager').vision_scores_bytes in GiB",
            hint="the vision tower attends over patches (16 px, before the 2x2 merge): heads x patches² scores, "
                 "each held as BF16 plus a float32 copy plus its float32 softmax "
                 "(vlmkit.runtime.attention.eager_score_bytes)")


# --- 07 · TF32 and transfers ----------------------------------------------------------------------------------
def check_pinned_headline(ratio: float | None, spread: Sequence[float] | None, outcome: str | None) -> None:
    """Exercise 07.1: the pinned-transfer headline on the H200, recomputed from its samples: ratio, IQR spread, verdict.

    Taught in ``notebooks/07_tf32_transfers.ipynb`` (spread and verdicts: ``notebooks/03_dequantization.ipynb``).
    """
    claims = reference_records("07_tf32_transfers", "speed-claim")
    (m,) = [r["metrics"] for r in claims
            if r["metrics"]["claim"] == "non-blocking" and r["metrics"]["role"] == "headline"]
    measured = speedup_of_medians(m["pageable_s"], m["pinned_s"])
    _number("PINNED_SPEEDUP", ratio, measured.ratio, rel_tol=0.01, what="median pageable time over median pinned time",
            hint="a speed-up is the baseline's median time over the variant's (pageable_s over pinned_s)")
    if _answered("PINNED_SPREAD", spread):
        if isinstance(spread, str) or not isinstance(spread, Sequence) or len(spread) != 2:
            return _wrong("PINNED_SPREAD", f"PINNED_SPREAD should be [low, high], got {spread!r}")
        for name, given, expected in (("PINNED_SPREAD[0]", spread[0], measured.low),
                                      ("PINNED_SPREAD[1]", spread[1], measured.high)):
            _number(name, given, expected, rel_tol=0.01, what="vlmkit.measure.speedup.speedup_of_medians",
                    hint="low pairs the baseline's 25th percentile with the variant's 75th, high the other way "
                         "round (statistics.quantiles(samples, n=4, method='inclusive'))")
    claim = SEED_SPEED_CLAIMS["non-blocking"]
    _choice("PINNED_VERDICT", outcome, speed_verdict(measured.low, measured.high, (claim.low, claim.high)),
            allowed=VERDICTS, what=f"the spread against the seed's {claim.low}-{claim.high}",
            hint="holds when the spread overlaps the claim, unless it also contains 1x (no change): inconclusive")


def check_tf32_reach(matmul_speedup: float | None, bf16_outcome: str | None) -> None:
    """Exercise 07.2: what TF32 did to a large float32 matmul and to a whole BF16 query on the H200.

    Taught in ``notebooks/07_tf32_transfers.ipynb``.
    """
    tf32 = [r for r in reference_records("07_tf32_transfers", "speed-claim") if r["metrics"]["claim"] == "tf32"]
    matmul = [r["metrics"] for r in tf32 if r["metrics"]["what"].startswith("float32 matmul")][0]
    _number("TF32_MATMUL_SPEEDUP", matmul_speedup, matmul["ratio"], rel_tol=0.01, what="the float32 matmul record",
            hint="read the 'speed-claim' record whose 'what' starts with 'float32 matmul'")
    query = [r["metrics"] for r in tf32 if r["metrics"]["role"] == "headline" and r["precision"] == "bf16"][0]
    _choice("TF32_BF16_QUERY_VERDICT", bf16_outcome, speed_verdict(query["low"], query["high"], query["claimed"]),
            allowed=VERDICTS, what=f"spread {query['low']:.2f}-{query['high']:.2f} against {query['claimed']}",
            hint="TF32 only changes float32 matmuls and convolutions; a BF16 model has none, so what remains is noise")


# --- 08 · Decide ----------------------------------------------------------------------------------------------
def check_int8_on_10gib(need_gib: float | None, fits: bool | None) -> None:
    """Exercise 08.1: the planned need of the 8B in INT8 with one 448 px query on CUDA, and whether 10 GiB holds it.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    need = plan_memory("qwen3-vl-8b", "int8", image_size=448, device="cuda").peak_bytes / GIB
    _number("INT8_NEED_GIB", need_gib, need, rel_tol=0.02,
            what="vlmkit.plan_memory('qwen3-vl-8b', 'int8', image_size=448, device='cuda').peak_bytes in GiB",
            hint="the card holds the weights, the query's peak above them and what CUDA keeps outside the "
                 "allocator (the reference run's measured context): MemoryPlan.peak_bytes")
    _choice("INT8_FITS_10GIB", fits, need <= 10, allowed=(True, False), what=f"{need:.2f} GiB against 10 GiB",
            hint="compare the need with the card's 10 GiB")


def check_seed_against_decide(seed_pick: str | None, decide_pick: str | None) -> None:
    """Exercise 08.2: the seed's tree and ``vlmkit.recommend_precision`` for four 896 px images on a 12 GiB card.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    _choice("SEED_PICK", seed_pick, seed_tree(12, oom_errors=True, batch_size=4), allowed=CANDIDATES,
            what="vlmkit.planning.seed_tree.seed_tree(12, oom_errors=True, batch_size=4)",
            hint="the seed's user runs BF16 first, and BF16's 17 GB of weights alone overflow 12 GiB: the answer to "
                 "'Do you have OOM errors?' is yes, and that branch says quantize (NF4 in this book)")
    chosen = recommend_precision("qwen3-vl-8b", 12, image_size=896, batch_size=4).precision
    _choice("DECIDE_PICK", decide_pick, chosen, allowed=CANDIDATES,
            what="vlmkit.recommend_precision('qwen3-vl-8b', 12, image_size=896, batch_size=4) (priority: speed)",
            hint="decide keeps what the planner says fits, then picks the fastest whole query in notebook 03's "
                 "H200 records")


# --- 09 · The decode ladder -----------------------------------------------------------------------------------
def _rung(name: str, notebook: str = "09_decode_ladder", kind: type[DecodeRung | Int4Rung] = DecodeRung
          ) -> DecodeRung | Int4Rung:
    return kind.from_metrics(_only(reference_records(notebook, kind.EXPERIMENT), kind.EXPERIMENT, name=name)["metrics"])


def check_compiled_bandwidth_share(share: float | None) -> None:
    """Exercise 09.1: the share of the H200's copy bandwidth the compiled static-cache loop reaches.

    Taught in ``notebooks/09_decode_ladder.ipynb``.
    """
    m = _rung("static-cache loop, compiled step")
    _number("COMPILED_BANDWIDTH_SHARE", share, m.tokens_per_s * m.bytes_per_token / m.copy_bandwidth,
            rel_tol=0.02, what="tokens/s x bytes per token over the copy bandwidth, from the rung's record",
            hint="bytes a second the decode reads (tokens/s x bytes per token) over the measured copy bandwidth")


def check_loop_payback(cold: int | None, warm_caches: int | None) -> None:
    """Exercise 09.2: after how many answers the compiled loop has caught up with eager ``generate``.

    Taught in ``notebooks/09_decode_ladder.ipynb`` (break-even: ``notebooks/05_compile.ipynb``).
    """
    eager, loop = _rung("generate, eager, dynamic cache"), _rung("static-cache loop, compiled step")
    hint = ("each way's first answer takes its warm-up, every later one query_s; use warmup_s for a first compile, "
            "cached_warmup_s for a compile that finds TorchInductor's caches warm")
    for name, given, warmup in (("PAYBACK_COLD", cold, loop.warmup_s),
                                ("PAYBACK_WARM_CACHES", warm_caches, loop.cached_warmup_s)):
        _count(name, given, break_even_queries(eager.warmup_s, eager.query_s, warmup, loop.query_s),
               what="vlmkit.book.exercises.break_even_queries", hint=hint)


# --- 10 · INT4 on the last rung -------------------------------------------------------------------------------
def check_int4_bytes(gib_per_token: float | None) -> None:
    """Exercise 10.1: the bytes an INT4 (torchao, groups of 128) decode step of the 8B reads.

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    m = _rung("INT4 (torchao), compiled step", "10_int4_decode", Int4Rung)
    _number("INT4_DECODE_GIB_PER_TOKEN", gib_per_token, m.bytes_per_token / GIB, rel_tol=0.01,
            what="bytes_per_token of notebook 10's INT4 rung on the H200, in GiB",
            hint="only the decoder layers' Linear weights become INT4: half a byte per weight plus a BF16 scale and "
                 "a BF16 zero point per group of 128 weights; norms and lm_head stay BF16")


def check_int4_share_of_ideal(share: float | None) -> None:
    """Exercise 10.2: how much of the memory-bound ideal INT4's measured speed-up over BF16 reaches.

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    bf16 = _rung("BF16, compiled step", "10_int4_decode", Int4Rung)
    int4 = _rung("INT4 (torchao), compiled step", "10_int4_decode", Int4Rung)
    ideal = bf16.bytes_per_token / int4.bytes_per_token
    _number("INT4_SHARE_OF_IDEAL", share, int4.tokens_per_s / bf16.tokens_per_s / ideal, rel_tol=0.02,
            what="measured INT4/BF16 tokens/s over the BF16/INT4 bytes per token",
            hint="a decode at the speed of memory would be faster by the ratio of bytes per token; divide the "
                 "measured ratio of tokens/s by it")


# --- 11 · 70B+ ----------------------------------------------------------------------------------------------------
def _planned_step_bytes(model: ArchitectureSpec | str, precision: str) -> int:
    """The bytes one decode step of ``model`` reads in ``precision`` (language layers and ``lm_head``, every
    storage kind), from the memory planner's weights."""
    weights = plan_memory(model, precision, image_size=448, device="cuda", cuda_context_bytes=0).weights_by
    return sum(sum(weights[c].values()) for c in ("language layers", "lm_head"))


def check_layers_on_80gib(layers: int | None) -> None:
    """Exercise 11.1: how many BF16 decoder layers of the 72B shape an 80 GiB card holds beside 3 GiB of headroom.

    Taught in ``notebooks/11_large_models.ipynb``.
    """
    fitted = fitting_spec(QWEN3_VL_72B_SHAPE, 80 * GIB, HEADROOM_BYTES)
    _count("LAYERS_ON_80GIB", layers, fitted.text["num_hidden_layers"],
           what="vlmkit.bench.bandwidth_scaling.fitting_spec(QWEN3_VL_72B_SHAPE, 80 GiB)",
           hint="BF16 stores 2 bytes per parameter; everything outside the decoder layers (vision tower, token "
                "embeddings, lm_head, final norm) is there once, then whole layers fill what is left beside 3 GiB")


def check_ideal_nf4_speedups(speedup_72b: float | None, speedup_8b: float | None) -> None:
    """Exercise 11.2: what NF4 could gain over BF16 in a memory-bound decode, on the 72B shape and on the 8B.

    Taught in ``notebooks/11_large_models.ipynb``.
    """
    hint = ("a decode at the speed of memory is faster by BF16's bytes per token over NF4's: NF4 stores half a byte "
            "per Linear weight of the decoder layers plus a float32 absmax per 64 weights; norms and lm_head stay BF16")
    for name, given, model in (("IDEAL_NF4_SPEEDUP_72B", speedup_72b, QWEN3_VL_72B_SHAPE),
                               ("IDEAL_NF4_SPEEDUP_8B", speedup_8b, "qwen3-vl-8b")):
        _number(name, given, _planned_step_bytes(model, "bf16") / _planned_step_bytes(model, "nf4"), rel_tol=0.02,
                what="the memory planner's BF16 over NF4 bytes per decode step", hint=hint)
