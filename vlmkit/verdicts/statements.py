"""Every statement of the seed in one table: what the book measured, the verdict, and the notebook that shows it.

The rows are made from one run's results folder (the JSON every notebook writes), never typed: a statement whose
notebook has not run there says so instead of a verdict. Statements no machine of this project can test (Windows,
TensorRT, ONNX Runtime) carry published figures with their sources, labelled as not measured here.

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vlmkit.bench.bandwidth_scaling import (
    BANDWIDTH_CLAIM_TEXT,
    BandwidthBound,
    BandwidthClaim,
)
from vlmkit.bench.decode_ladder import RECIPE_PAIR, DecodeRung, RecipePrecision
from vlmkit.bench.large_models import LARGE_MODEL_CLAIM_TEXT, LargeModelClaim, LargePrecisionRun
from vlmkit.bench.linear_layers import OutlierTiming
from vlmkit.bench.model_speed import OTHER_CUTOFFS, ModelSpeed
from vlmkit.bench.roofline import OVERHEAD_SHARE, LinearLayerTiming
from vlmkit.measure.interleaved import PairedRuns
from vlmkit.measure.records import (
    Measurement,
    experiment_records,
    notebook_runs,
    metric,
    read_measurements,
)
from vlmkit.models.architectures import QWEN3_VL_72B_SHAPE
from vlmkit.models.int4 import Int4Verdict
from vlmkit.models.loading import LoadMeasurement
from vlmkit.models.precisions import get_precision
from vlmkit.verdicts.claims import (
    SEED_MECHANISM_CLAIMS,
    SEED_MEMORY_CLAIMS_GIB,
    SEED_QUALITY_CLAIMS,
    SEED_SPEED_CLAIMS,
    SpeedClaim,
)
from vlmkit.verdicts.quality import PairedAccuracyMeasurement
from vlmkit.verdicts.rules import (
    MemoryClaimMeasurement,
    headline_text,
    runs_verdict,
    speed_verdict,
    verdict,
)

#: The seed's "quantized models are 10-40 % slower", as a speed ratio to BF16.
SLOWER_CLAIM = ("quantized models are 10-40 % slower than BF16", 0.6, 0.9)
#: The seed's closing recipe for maximum speed.
RECIPE_TEXT = "max speed: VLMInference(load_in_8bit=False, use_compile=True, use_flash_attention=True)"
#: The seed's sentence about the LLM.int8 data path.
DATA_PATH_TEXT = "INT8 -> dequantize -> FP16 -> compute -> quantize -> INT8"
#: "70B+ models are bandwidth bound, 8B is not".
BANDWIDTH_TEXT = BANDWIDTH_CLAIM_TEXT
#: The seed's reason to quantize.
MEMORY_NOT_SPEED_TEXT = "quantization is primarily for memory, not speed"
#: The seed's sentence on compute-bound work.
COMPUTE_BOUND_MEMORY_TEXT = "reducing memory doesn't help when compute bound"
#: The seed's warning beside its choice for maximum memory savings.
MAX_SAVINGS_TEXT = "quantize for maximum memory savings, and you'll get slower inference"
#: The seed's advice for cards with memory to spare.
VRAM_NOT_BOTTLENECK_TEXT = "don't quantize when VRAM isn't the bottleneck"
#: The seed's exception for large models: quantized weights are less data to move per token.
LARGE_MODEL_TEXT = LARGE_MODEL_CLAIM_TEXT
#: The seed's "INT8 is 10-25 % slower than BF16 on an RTX 4090", as a speed ratio to BF16 (any GPU can test a ratio).
RTX4090_INT8_CLAIM = SpeedClaim("int8-rtx4090", "INT8 is 10-25 % slower than BF16 on an RTX 4090", 0.75, 0.9)
#: The ordering the seed's speed table implies (its INT8 range lies above its INT4 range).
ORDERING_TEXT = ("INT8 is faster than INT4 (the seed's table: INT8 {0.low:g}-{0.high:g}x, INT4 {1.low:g}-{1.high:g}x "
                 "BF16's speed)").format(SEED_SPEED_CLAIMS["int8-speed"], SEED_SPEED_CLAIMS["int4-speed"])
#: The precisions of the seed's three-row table: (precision, its speed claim, its quality claim).
_TABLE_PRECISIONS = (("bf16", None, None), ("int8", "int8-speed", "int8"), ("nf4", "int4-speed", "4bit"))
#: The five speed-ups of notebooks 04-07, by their key in ``SEED_SPEED_CLAIMS``.
_SPEEDUP_KEYS = ("torch-compile", "flash-attention", "tf32", "kv-cache-reuse", "non-blocking")


@dataclass(frozen=True)
class Statement(Measurement):
    """One row of the report, and notebook 08's ``seed-statement`` record of it."""

    EXPERIMENT = "seed-statement"
    statement: str
    measured: str
    verdict: str
    notebook: str  # the notebook that shows it ("03"), several ("01, 02, 03"), or "-" for outside sources

    def as_dict(self) -> dict[str, str]:
        """A plain dict for records and tables."""
        return asdict(self)


@dataclass(frozen=True)
class SeedAdvice(Measurement):
    """A ``seed-advice`` record: one sentence of the seed's card advice, its verdict and the evidence, judged by
    :func:`vlmkit.planning.advice.judge_seed_advice`. Taught in ``notebooks/08_decision.ipynb``.
    """

    EXPERIMENT = "seed-advice"
    says: str = metric("seed says")
    verdict: str
    evidence: str


@dataclass(frozen=True)
class TreeDecision(Measurement):
    """A ``decision`` record: the seed's tree's pick for one card, image and batch, whether it fits and how that is
    known, and ``vlmkit.recommend_precision``'s answer (``Recommendation.as_dict()``; older records lack it).

    Taught in ``notebooks/08_decision.ipynb``.
    """

    EXPERIMENT = "decision"
    seed_pick: str
    seed_pick_fits: bool
    seed_pick_evidence: str
    recommendation: dict[str, Any] | None = metric("recommend_precision", None)


#: Statements this project cannot test on its machines, with published figures and where they come from.
NOT_TESTABLE_HERE: tuple[Statement, ...] = (
    Statement('Windows: bitsandbytes needs custom DLLs or the "supervised" jllllll wheels, and may hang; prefer '
              "Linux/WSL",
              "bitsandbytes' installation guide lists official Windows wheels on PyPI from 0.43 on (Windows, CUDA "
              "11.7-12.4, MSVC; https://huggingface.co/docs/bitsandbytes/v0.43.2/installation); current releases "
              "ship them too (https://huggingface.co/docs/bitsandbytes/v0.50.2/en/installation.md)",
              "not testable here (no Windows machine): the advice predates official Windows support", "-"),
    Statement("TensorRT INT8 is 1.5-3x faster",
              "published, not measured here: TensorRT-LLM's INT8 SmoothQuant vs FP16 on an H100, GPT-J and "
              "LLaMA-v2-7B, batch 1 and 8, 1024 tokens in / 128 out: 1.30-1.47x "
              "(https://nvidia.github.io/TensorRT-LLM/blogs/quantization-in-TRT-LLM.html)",
              "not testable here (no TensorRT on the GPU host); the vendor's own figures lie below 1.5x", "-"),
    Statement("ONNX Runtime INT8 is 1.3-2x faster",
              "published, not measured here: INT8 with ONNX Runtime against PyTorch FP32 on CPUs, BERT/GPT-2-sized "
              "models (2020): about 1.6x with AVX2 and 3x with AVX512-VNNI (Microsoft and Hugging Face, "
              "https://medium.com/microsoftazure/faster-and-smaller-quantized-nlp-with-hugging-face-and-onnx-runtime-"
              "ec5525473bb7, figures as summarised at https://smilegate.ai/en/2020/10/05/huggingface-onnx-runtime)",
              "not testable here (no ONNX export of the VLM); the published figures are for CPUs against FP32, "
              "not for a GPU VLM against BF16", "-"),
)


class _Run:
    """The latest run's records of each notebook in one results folder."""

    def __init__(self, results_dir: Path):
        self.dir = results_dir

    def records(self, notebook: str, experiment: str) -> list[dict[str, Any]]:
        return experiment_records(self.dir, notebook, experiment)

    def verdict(self, record: dict[str, Any]) -> str:
        """A claim record's verdict, ``inconclusive`` where separate executions of its notebook kept in this folder
        disagree across the claim's boundary (:func:`vlmkit.verdicts.rules.runs_verdict`)."""
        return runs_verdict(record, notebook_runs(self.dir, record["notebook"]))

    def missing(self, statement: str, notebook: str) -> Statement:
        return Statement(statement, f"notebook {notebook} has no results in this run's folder", "not run here",
                         notebook[:2])

    def headlines(self) -> dict[str, dict[str, Any]]:
        """Notebook 03's headline ``speed-claim`` records (a whole query against BF16's), by precision."""
        return {r["precision"]: r for r in self.records("03_dequantization", "speed-claim")
                if r["metrics"].get("role") == "headline"}


def _table_text(name: str, claim_key: str | None, quality_key: str | None) -> str:
    """One row of the seed's table in words: its memory, speed and quality for ``name``."""
    claim = SEED_SPEED_CLAIMS.get(claim_key) if claim_key else None
    q_claim = SEED_QUALITY_CLAIMS.get(quality_key) if quality_key else None
    return (f"{get_precision(name).label}: {SEED_MEMORY_CLAIMS_GIB[name]:g} GB"
            + (f", {claim.low:g}-{claim.high:g}x the speed, {q_claim[0]:.0%}-{q_claim[1]:.0%} of the quality"
               if claim and q_claim else ", the reference speed and quality") + " (the seed's table)")


def _pace(record: dict[str, Any]) -> str:
    """A ``speed-claim`` record's spread against BF16's speed: ``slower``, ``faster`` or ``no measurable difference``."""
    m = record["metrics"]
    return "slower" if m["high"] < 1 else "faster" if m["low"] > 1 else "no measurable difference"


def _label(record: dict[str, Any]) -> str:
    """A record's precision in a word or two (``INT8``, ``NF4``)."""
    return get_precision(record["precision"]).short_label


def _spread(record: dict[str, Any]) -> str:
    """``0.31x [0.28, 0.44]``: a ``speed-claim`` record's ratio to BF16 and its spread."""
    m = record["metrics"]
    return f"{m['ratio']:.2f}x [{m['low']:.2f}, {m['high']:.2f}]"


def _ratio_text(record: dict[str, Any]) -> str:
    """``INT8 0.31x [0.28, 0.44]``: a ``speed-claim`` record's precision, ratio to BF16 and spread."""
    return f"{_label(record)} {_spread(record)}"


def _table_rows(run: _Run) -> list[Statement]:
    """The seed's three-row table (VRAM, speed, quality), one row per precision."""
    memory = {r.precision: r.measurement
              for r in read_measurements(MemoryClaimMeasurement, run.dir, "01_loading_precisions")}
    speed = run.headlines()
    quality = {r.precision: r.measurement for r in read_measurements(PairedAccuracyMeasurement, run.dir, "02_quality")}
    rows = []
    for name, claim_key, quality_key in _TABLE_PRECISIONS:
        claim = SEED_SPEED_CLAIMS.get(claim_key) if claim_key else None
        q_claim = SEED_QUALITY_CLAIMS.get(quality_key) if quality_key else None
        text = _table_text(name, claim_key, quality_key)
        parts, verdicts = [], []
        if name in memory:
            m = memory[name]
            parts.append(f"weights {m.measured_gib:.2f} GiB, {m.needed_gib:.2f} GiB with the CUDA context "
                         f"and one query")
            verdicts.append(f"VRAM {m.verdict}")
        else:
            parts.append("memory: not judged in this run (notebook 01 judges the seed's 8B model on CUDA)")
        if claim:
            if name in speed:
                parts.append(f"whole query {headline_text(speed[name]).split(' (')[0]} BF16's speed")
                verdicts.append(f"speed {run.verdict(speed[name])}")
            else:
                parts.append("speed: notebook 03 did not judge it here")
        if q_claim:
            if name in quality:
                q = quality[name]
                parts.append(f"accuracy {q.relative:.3f} of BF16's (trained tiny model, {q.n} questions)")
                verdicts.append(f"quality {q.verdict} (trained tiny model only, not Qwen3-VL-8B)")
            else:
                parts.append("quality: notebook 02 not run here")
        rows.append(Statement(text, "; ".join(parts), "; ".join(verdicts) or "not run here", "01, 02, 03"))
    return rows


def _mechanism_rows(run: _Run) -> list[Statement]:
    """"Dequantization overhead" and "not memory bound", from notebook 03's mechanism records."""
    found = {r["metrics"]["claim"]: r for r in run.records("03_dequantization", "mechanism-claim")}
    found |= {r["metrics"]["claim"]: r for r in run.records("03_dequantization", "unmeasured-claim")
              if r["metrics"]["claim"] in SEED_MECHANISM_CLAIMS and r["metrics"]["claim"] not in found}
    return [Statement(text, headline_text(found[key]), run.verdict(found[key]), "03") if key in found
            else run.missing(text, "03_dequantization") for key, text in SEED_MECHANISM_CLAIMS.items()]


def _compute_bound_memory_row(run: _Run) -> Statement:
    """"Reducing memory doesn't help when compute bound": where notebook 03 placed BF16's decode and prefill on the
    roofline (its ``compute-bound`` claim) and each quantized precision's speed in those phases. Judged only in a
    compute-bound phase; where neither is, the premise does not apply and the row says so."""
    found = [r for kind in ("mechanism-claim", "unmeasured-claim") for r in run.records("03_dequantization", kind)
             if r["metrics"]["claim"] == "compute-bound"]
    if not found:
        return run.missing(COMPUTE_BOUND_MEMORY_TEXT, "03_dequantization")
    claim = found[0]
    if claim["experiment"] == "unmeasured-claim":
        return Statement(COMPUTE_BOUND_MEMORY_TEXT, headline_text(claim), "not measured", "03")
    m = claim["metrics"]
    by_phase: dict[str, list[dict[str, Any]]] = {}
    for r in run.records("03_dequantization", "speed-claim"):
        by_phase.setdefault(r["metrics"]["what"].split()[0], []).append(r)
    parts = [f"{phase}: BF16 {m[f'{phase}_regime']}, " + (f"quantized {', '.join(map(_ratio_text, by_phase[phase]))} "
                                                         "BF16's speed" if phase in by_phase else "no quantized timing")
             for phase in ("decode", "prefill")]
    bound = [phase for phase in ("decode", "prefill") if m[f"{phase}_regime"] == "compute bound"]
    tried = [r for phase in bound for r in by_phase.get(phase, [])]
    helped = [_label(r) for r in tried if _pace(r) == "faster"]
    outcome = ("not tested: neither phase is compute bound here, so the premise does not apply" if not bound else
               f"not measured: no quantized {' or '.join(bound)} timing" if not tried else
               f"refuted: {', '.join(helped)} faster in the compute-bound {' and '.join(bound)}" if helped else
               f"holds: no quantized precision is faster in the compute-bound {' and '.join(bound)}")
    return Statement(COMPUTE_BOUND_MEMORY_TEXT, "; ".join(parts), outcome, "03")


def _data_path_row(run: _Run) -> Statement:
    """What runs inside a quantized layer, from the operators notebook 03's profiler saw per precision."""
    paths: dict[str, set[str]] = {}
    for r in read_measurements(LinearLayerTiming, run.dir, "03_dequantization"):
        if get_precision(r.precision).is_quantized and r.precision in ("int8", "nf4"):
            paths.setdefault(r.precision, set()).add(r.measurement.path.split(";")[0] + f" (M = {r.shapes['M']})")
    if not paths:
        return run.missing(DATA_PATH_TEXT, "03_dequantization")
    int8 = sorted(paths.get("int8", set()))
    text = ("LLM.int8 quantizes the 16-bit activations to int8 and multiplies int8 by int8, then dequantizes the "
            f"result to 16 bit: {int8[0].split(' (')[0] if int8 else 'not profiled here'}; no layer re-quantizes its "
            "output, so activations between layers stay 16-bit; NF4 runs gemm_4bit (no dense copy of the weight at "
            "M = 1, a dense 16-bit weight inside it for larger M)")
    outliers = [r.measurement for r in read_measurements(OutlierTiming, run.dir, "03_dequantization")]
    if not outliers:
        return Statement(DATA_PATH_TEXT, text + "; inputs with outlier features not timed in this run",
                         "refuted on inputs without outlier features: the weights are never dequantized by "
                         "LLM.int8, and nothing is quantized back to INT8 after the compute", "03")
    ran = [o for o in outliers if o.dequantizes_outliers]
    slow = sorted(o.slowdown for o in outliers)
    text += (f"; on inputs with outlier features ({outliers[0].outlier_features} of {outliers[0].K} features at "
             f"magnitude 20), {len(ran)} of {len(outliers)} INT8 calls dequantized the weight's outlier columns to "
             f"16 bit for a 16-bit matmul beside the int8 one ({slow[0]:.2f}x to {slow[-1]:.2f}x the time)")
    verdict_ = ("partly: only the weight columns of outlier features are dequantized to 16 bit (the rest is computed "
                "in int8), and nothing is quantized back to INT8 after the compute" if ran else
                "refuted: even with outlier features no weight was dequantized, and nothing is quantized back to INT8")
    return Statement(DATA_PATH_TEXT, text, verdict_, "03")


def _speedup_rows(run: _Run) -> list[Statement]:
    """The five speed-ups (compile, flash attention, TF32, KV-cache reuse, pinned copies): headline records."""
    rows = []
    for key in _SPEEDUP_KEYS:
        text = SEED_SPEED_CLAIMS[key].text
        found = [(nb, r) for nb in ("04_kv_cache", "05_compile", "06_attention", "07_tf32_transfers")
                 for kind in ("speed-claim", "mechanism-claim", "unmeasured-claim") for r in run.records(nb, kind)
                 if r["metrics"]["claim"] == key and r["metrics"].get("role") == "headline"]
        if not found:
            rows.append(Statement(text, "no headline measurement in this run's folder", "not run here", "04-07"))
            continue
        rows.append(Statement(text, "<br>".join(headline_text(r) for _, r in found),
                              ", ".join(run.verdict(r) for _, r in found),
                              ", ".join(sorted({nb[:2] for nb, _ in found}))))
    return rows


def _slower_row(run: _Run) -> Statement:
    """The summary's "10-40 % slower", from notebook 03's headline ratios."""
    text, low, high = SLOWER_CLAIM
    speed = run.headlines()
    if not speed:
        return run.missing(text, "03_dequantization")
    judged = {get_precision(r["precision"]).label: (r["metrics"]["ratio"], verdict(r["metrics"]["ratio"], low, high,
                                                                                      tolerance=0.0).outcome)
              for r in speed.values()}
    holds = [v == "holds" for _, v in judged.values()]
    measured = "; ".join(f"{label} {abs(1 - ratio):.0%} {'slower' if ratio < 1 else 'faster'} per whole query ({v})"
                         for label, (ratio, v) in judged.items())
    return Statement(text, measured, "holds" if all(holds) else "partly" if any(holds) else "refuted", "03")

def _rtx4090_int8_row(run: _Run) -> Statement:
    """"INT8 is 10-25 % slower on an RTX 4090", as the ratio it states: INT8's whole query against BF16's (notebook 03)
    on the run's own device, labelled so."""
    claim = RTX4090_INT8_CLAIM
    speed = run.headlines()
    int8 = [r for r in speed.values() if r["metrics"]["claim"] == "int8-speed"]
    if not int8:
        return (Statement(claim.text, "notebook 03 timed no INT8 here", "not measured here", "03") if speed
                else run.missing(claim.text, "03_dequantization"))
    measured = "; ".join(f"{headline_text(r)} on {r['provenance']['device_name']}, against the claimed "
                         f"{claim.low:.2f}-{claim.high:.2f}x" for r in int8)
    outcome = ", ".join(speed_verdict(r["metrics"]["low"], r["metrics"]["high"], (claim.low, claim.high)) for r in int8)
    return Statement(claim.text, measured, f"{outcome} (on this run's device, not an RTX 4090)", "03")


def _ordering_row(run: _Run) -> Statement:
    """The order the seed's table implies (INT8 faster than INT4), from notebook 03's whole-query ratios: holds when
    every INT8 spread lies above every 4-bit one, refuted when below, inconclusive when they overlap."""
    speed = run.headlines()
    int8 = [r for r in speed.values() if r["metrics"]["claim"] == "int8-speed"]
    int4 = [r for r in speed.values() if r["metrics"]["claim"] == "int4-speed"]
    if not int8 or not int4:
        return (Statement(ORDERING_TEXT, "notebook 03 did not time both INT8 and a 4-bit precision here",
                          "not measured here", "03") if speed else run.missing(ORDERING_TEXT, "03_dequantization"))
    outcomes, parts = set(), []
    for a, b in ((a, b) for a in int8 for b in int4):
        ma, mb = a["metrics"], b["metrics"]
        outcomes.add("holds" if ma["low"] > mb["high"] else "refuted: INT4 is the faster" if mb["low"] > ma["high"]
                     else "inconclusive: the spreads overlap")
        parts.append(f"{_ratio_text(a)} and {_ratio_text(b)} BF16's speed per whole query: {_label(b)} runs at "
                     f"{mb['ratio'] / ma['ratio']:.2f}x {_label(a)}'s speed")
    return Statement(ORDERING_TEXT, "; ".join(parts), outcomes.pop() if len(outcomes) == 1 else "partly", "03")


def _max_savings_row(run: _Run) -> Statement:
    """"Maximum memory savings, slower inference": the seed's smallest choice (4-bit) against BF16 per whole query,
    from notebook 03's headline ratios."""
    speed = run.headlines()
    smallest = [r for r in speed.values() if r["metrics"]["claim"] == "int4-speed"]
    if not smallest:
        return (Statement(MAX_SAVINGS_TEXT, "notebook 03 timed no 4-bit precision here", "not measured here", "03")
                if speed else run.missing(MAX_SAVINGS_TEXT, "03_dequantization"))
    outcomes = {{"slower": "holds", "faster": "refuted"}.get(_pace(r), "inconclusive") for r in smallest}
    measured = ("whole query against BF16's speed: " + ", ".join(_ratio_text(r) for r in speed.values())
                + "; the maximum savings (4-bit): " + ", ".join(f"{_label(r)} {_pace(r)}" for r in smallest))
    return Statement(MAX_SAVINGS_TEXT, measured, outcomes.pop() if len(outcomes) == 1 else "partly", "03")


def _memory_not_speed_row(run: _Run) -> Statement:
    """"Primarily for memory, not speed": each precision notebook 03 timed, its weights against BF16's (notebook
    01's ``load`` records of the same model) and its whole query against BF16's. Holds when every one saves memory
    and none is faster; the verdict names the parts that fail."""
    speed = run.headlines()
    if not speed:
        return run.missing(MEMORY_NOT_SPEED_TEXT, "03_dequantization")
    loads = read_measurements(LoadMeasurement, run.dir, "01_loading_precisions")
    if not loads:
        return run.missing(MEMORY_NOT_SPEED_TEXT, "01_loading_precisions")
    model = next(iter(speed.values()))["model"]
    weights = {r.precision: r.measurement.weights_bytes for r in loads if r.model == model}
    if not {"bf16", *speed} <= weights.keys():
        return Statement(MEMORY_NOT_SPEED_TEXT, f"notebook 01 did not load {model} in BF16 and every precision "
                         "notebook 03 timed", "not measured here", "01, 03")
    parts, fails = [], {}
    for p, r in speed.items():
        share = weights[p] / weights["bf16"]
        parts.append(f"{_label(r)}: weights {share:.2f}x BF16's, {_spread(r)} BF16's speed per whole query "
                     f"({_pace(r)})")
        why = [w for w, failed in (("saves no memory", share >= 1), ("is faster", _pace(r) == "faster")) if failed]
        if why:
            fails[p] = f"{_label(r)} {' and '.join(why)}"
    outcome = "holds" if not fails else "refuted" if len(fails) == len(speed) else "partly"
    return Statement(MEMORY_NOT_SPEED_TEXT, f"{model}: " + "; ".join(parts),
                     outcome + (f": {', '.join(fails.values())}" if fails else ""), "01, 03")


def _vram_not_bottleneck_row(run: _Run) -> Statement:
    """"Don't quantize when VRAM isn't the bottleneck": what quantizing buys on a device that holds BF16 (notebook 03
    ran it), each precision's whole query against BF16's (03) and its paired accuracy (notebook 02). Holds when none
    is faster; refuted when one is faster at no measurable accuracy cost."""
    speed = run.headlines()
    if not speed:
        return run.missing(VRAM_NOT_BOTTLENECK_TEXT, "03_dequantization")
    quality = {r.precision: r.measurement for r in read_measurements(PairedAccuracyMeasurement, run.dir, "02_quality")}
    if not quality:
        return run.missing(VRAM_NOT_BOTTLENECK_TEXT, "02_quality")
    parts, faster, costs = [], [], []
    for p, r in speed.items():
        q = quality.get(p)
        parts.append(f"{_ratio_text(r)} BF16's speed ({_pace(r)}), " + (
            "accuracy not measured in 02" if q is None else
            f"accuracy {q.relative:.3f} of BF16's [{q.interval[0]:.3f}, {q.interval[1]:.3f}]"))
        faster += [_label(r)] * (_pace(r) == "faster")
        costs += [_label(r)] * (q is not None and q.interval[1] < 1)
    free = [label for label in faster if label not in costs]
    outcome = (f"refuted: {', '.join(free)} faster at no measurable accuracy cost" if free else
               f"partly: {', '.join(faster)} faster, but less accurate" if faster else
               "holds: quantizing buys no speed per whole query" + (f", and {', '.join(costs)} costs accuracy" if costs
                                                                     else " (no accuracy cost measurable either)"))
    return Statement(VRAM_NOT_BOTTLENECK_TEXT, "memory is no limit here (notebook 03 ran BF16 on this device); whole "
                     "query (03) and accuracy on the trained tiny model (02): " + "; ".join(parts), outcome, "02, 03")


#: Where the large-model rows come from: notebook 11; runs made before it existed measured section 1 in notebook 08.
LARGE_MODEL_NOTEBOOKS = ("11_large_models", "08_decision")


def _large_notebook(run: _Run) -> str:
    """The notebook whose records this run's large-model rows read: 11, or 08 in a run made before 11 existed."""
    return next((nb for nb in LARGE_MODEL_NOTEBOOKS if run.records(nb, BandwidthClaim.EXPERIMENT)),
                LARGE_MODEL_NOTEBOOKS[0])


def _stand_in(model: str) -> bool:
    """Whether a run's large model is notebook 11's CPU stand-in rather than the 72B shape."""
    return not model.startswith(QWEN3_VL_72B_SHAPE.name)


def _stand_in_row(text: str, model: str) -> Statement:
    return Statement(text, f"this run's large model is {model}, notebook 11's CPU stand-in (about 27 M parameters), "
                     "not a 70B-class model: its numbers check the code only", "not measured here", "11")


def _bandwidth_row(run: _Run) -> Statement:
    """"70B+ is bandwidth bound, 8B is not", from notebook 11's measurement of both (08's in older runs)."""
    notebook = _large_notebook(run)
    found = read_measurements(BandwidthClaim, run.dir, notebook)
    if not found:
        return Statement(BANDWIDTH_TEXT, "not measured in this run (notebook 11 has no results in this run's folder)",
                         "not run here", "11")
    m = found[0].measurement
    if _stand_in(found[0].model):
        return _stand_in_row(BANDWIDTH_TEXT, found[0].model)
    where = notebook[:2]
    bounds = sorted((r.measurement for r in read_measurements(BandwidthBound, run.dir, notebook)),
                    key=lambda b: b.parameters)
    if len(bounds) < 2:
        return Statement(BANDWIDTH_TEXT, m.measured_text, m.verdict, where)
    small, large = bounds[0], bounds[-1]
    cutoffs = sorted({*OTHER_CUTOFFS, OVERHEAD_SHARE})
    held = [c for c in cutoffs if large.bound["bandwidth_share"] >= c > small.bound["bandwidth_share"]]
    busy = ("" if large.kernel_s_per_token is None else
            f"; the GPU's kernels take {large.kernel_s_per_token / large.decode_s_per_token:.0%} of each large-model "
            f"step ({1e3 * large.kernel_s_per_token:.1f} of {1e3 * large.decode_s_per_token:.1f} ms), "
            f"{small.kernel_s_per_token / small.decode_s_per_token:.0%} of the small one's")
    text = (m.measured_text + "; memory bound (the large model) and not (the small one) at a cut-off of "
            + ", ".join(f"{c:.0%}: {'yes' if c in held else 'no'}" for c in cutoffs) + busy)
    verdict_ = ("holds at every cut-off" if len(held) == len(cutoffs) else "refuted at every cut-off" if not held
                else "partly: holds at a " + " and ".join(f"{c:.0%}" for c in held) + " cut-off, not at "
                + " and ".join(f"{c:.0%}" for c in cutoffs if c not in held))
    return Statement(BANDWIDTH_TEXT, text, verdict_, where)


def _large_runs_disagree(run: _Run) -> str | None:
    """Where separate executions of notebook 11 kept in this folder put a precision's whole-query ratio on both
    sides of 1x: ``"NF4 0.95x to 1.10x over 2 runs"``, else ``None``."""
    ratios: dict[str, list[float]] = {}
    for execution in notebook_runs(run.dir, "11_large_models"):
        claims = [r for r in execution if r["experiment"] == LargeModelClaim.EXPERIMENT]
        for p, s in (claims[-1]["metrics"]["speedups"].items() if claims else ()):
            ratios.setdefault(p, []).append(s["ratio"])
    split = [f"{get_precision(p).short_label} {min(r):.2f}x to {max(r):.2f}x over {len(r)} runs"
             for p, r in ratios.items() if len(r) > 1 and min(r) < 1 < max(r)]
    return "; ".join(split) or None


def _large_model_row(run: _Run) -> Statement:
    """"70B+: less data = faster": notebook 11's 72B shape in BF16 and quantized, whole queries in interleaved
    rounds; inconclusive where separate executions of the notebook disagree about faster or slower."""
    found = read_measurements(LargeModelClaim, run.dir, "11_large_models")
    if found:
        m = found[0].measurement
        if _stand_in(m.model):
            return _stand_in_row(LARGE_MODEL_TEXT, m.model)
        busy = [r for r in read_measurements(LargePrecisionRun, run.dir, "11_large_models")
                if r.measurement.kernel_s_per_token]
        busy_text = ("; the GPU is busy " + ", ".join(
            f"{r.measurement.kernel_s_per_token / r.measurement.decode_s_per_token:.0%} of each "
            f"{get_precision(r.precision).short_label} decode step" for r in busy)) if busy else ""
        disagree = _large_runs_disagree(run)
        return Statement(LARGE_MODEL_TEXT, m.measured_text + busy_text,
                         f"inconclusive (runs disagree: {disagree})" if disagree else m.verdict, "11")
    older = read_measurements(BandwidthBound, run.dir, "08_decision")
    if not older:
        return Statement(LARGE_MODEL_TEXT, "not measured in this run (notebook 11 has no results in this run's folder)",
                         "not run here", "11")
    m = max(older, key=lambda r: r.measurement.parameters).measurement
    return Statement(LARGE_MODEL_TEXT, f"{m.model} in BF16: decode {1e3 * m.decode_s_per_token:.1f} ms per token, "
                     f"{m.bound['bandwidth_share']:.0%} of the copy bandwidth ({m.bound['regime']}); this run predates "
                     "notebook 11, which times the 72B shape quantized: not measured", "not measured here", "11")


def _recipe_row(run: _Run) -> Statement:
    """The seed's max-speed recipe: as one call in notebook 09 (BF16, then INT8 and NF4), its parts apart in 05 and 06."""
    parts = []
    for nb, key in (("05_compile", "torch-compile"), ("06_attention", "flash-attention")):
        heads = [r for r in run.records(nb, "speed-claim")
                 if r["metrics"]["claim"] == key and r["metrics"].get("role") == "headline"]
        parts += [f"{SEED_SPEED_CLAIMS[key].text.split(' makes')[0].split(' is')[0]}: {r['metrics']['ratio']:.2f}x "
                  f"({r['metrics']['variant']} vs {r['metrics']['baseline']})" for r in heads]
    apart = ("the parts, measured apart: " + "; ".join(parts)) if parts else "no part measured apart in this run"
    rungs = {r.measurement.name: r.measurement for r in read_measurements(DecodeRung, run.dir, "09_decode_ladder")}
    default = rungs.get("generate, eager, dynamic cache")
    recipe = next((m for name, m in rungs.items() if name.startswith("the seed's recipe")), None)
    if not default or not recipe or recipe.query_s is None:
        why = recipe.note if recipe else "notebook 09 has no results in this run's folder"
        return Statement(RECIPE_TEXT, f"{apart}; the recipe as one call: {why}", "not measured as one recipe",
                         "05, 06, 09")
    per_query = default.query_s / recipe.query_s
    per_token = recipe.tokens_per_s / default.tokens_per_s
    quantized = {}
    for r in read_measurements(RecipePrecision, run.dir, "09_decode_ladder"):
        quantized.setdefault(r.precision, {})[r.measurement.variant] = r.measurement.query_s
    quantized_text = "".join(f"; {get_precision(p).label}: {v['default'] / v[next(k for k in v if k != 'default')]:.2f}x "
                             "per query (nothing compiled: bitsandbytes)" for p, v in quantized.items() if len(v) == 2)
    pairs = [r.measurement for r in read_measurements(PairedRuns, run.dir, "09_decode_ladder")
             if (r.measurement.baseline, r.measurement.variant) == RECIPE_PAIR]
    if not pairs:  # a run from before the recipe was paired: its rungs were timed one after the other
        measured = (f"as one call, BF16: {per_query:.2f}x the seed's defaults per query, {per_token:.2f}x per "
                    f"decoded token, timed one after the other, not in pairs ({recipe.note}){quantized_text}; {apart}")
        return Statement(RECIPE_TEXT, measured, "inconclusive: not timed in interleaved pairs", "05, 06, 09")
    q = pairs[-1].speedup("query")
    measured = (f"as one call, BF16: {q.ratio:.2f}x [{q.low:.2f}, {q.high:.2f}] the seed's defaults per whole query "
                f"({q.pairs} interleaved pairs), {pairs[-1].speedup('decode').ratio:.2f}x per decoded token "
                f"({recipe.note}){quantized_text}; {apart}")
    outcome = ("refuted: slower than the defaults" if q.high < 1 else "holds: faster than the defaults" if q.low > 1
               else "inconclusive: the interval contains 1x")
    return Statement(RECIPE_TEXT, measured, outcome, "05, 06, 09")


def _int4_loop_row(run: _Run) -> Statement:
    """INT4 against BF16 once the per-token overhead is gone (notebook 10): beyond the seed's setup, labelled so."""
    text = "INT4 is slower than BF16 (the seed's 0.6-0.9x), once decode's per-token overhead is removed"
    found = read_measurements(Int4Verdict, run.dir, "10_int4_decode")
    if not found:
        return run.missing(text, "10_int4_decode")
    m = found[0].measurement
    if m.device_type != "cuda":
        return Statement(text, "measured on a CPU, where torchao has no packed INT4 kernel: says nothing about INT4 "
                         "speed", "not measured here", "10")
    return Statement(text, "supporting, narrower than a whole query (a static-cache loop, its step compiled): "
                     + m.text, "refuted in the compiled loop: INT4 faster" if m.speedup_vs_bf16 > 1.05 else
                     "holds in the compiled loop" if m.speedup_vs_bf16 < 0.95 else "no difference in the compiled loop",
                     "10")


def _advice_rows(run: _Run) -> list[Statement]:
    """The seed's card advice and its decision tree, from notebook 08's records.

    The tree's row judges the seed's tree as written ("Do you have OOM errors?" -> quantize, read as NF4, the seed's
    INT4; "< 12 GB VRAM?" -> INT8; else BF16: ``vlmkit.planning.seed_tree``) on notebook 08's card / image / batch
    cases, by the card test those records were judged with (emulated cards, the planner only where none ran the
    query; a ``seed_pick_evidence`` that starts with "planned" is the planner's): how many of its picks do not
    fit, and how many of those were measured. Beside it, ``vlmkit.recommend_precision`` on the same cases, which
    decided by the same card test: how many of its picks do not fit, how many fit by measurement and how many by
    the planner with the margin it states, and where nothing fits. Decision records made before the tree was read as
    written (their recommendation lacks ``fit``) give no verdict.
    """
    advice = [r.measurement for r in read_measurements(SeedAdvice, run.dir, "08_decision")]
    rows = [Statement(a.says, a.evidence, a.verdict, "08") for a in advice]
    decisions = [r.measurement for r in read_measurements(TreeDecision, run.dir, "08_decision")]
    tree = "the seed's decision tree: OOM errors? -> quantize; < 12 GB VRAM? -> INT8; else BF16"
    current = [m for m in decisions if m.recommendation and "fit" in m.recommendation]
    if decisions and len(current) < len(decisions):
        rows.append(Statement(tree, f"not judged from this run's folder: its {len(decisions)} decision records come "
                              "from an earlier notebook 08, which judged the book's reconstruction of the tree, not "
                              "the tree as written; re-run notebook 08",
                              "not judged here (records predate the tree as written)", "08"))
    elif decisions:
        wrong = [m for m in current if not m.seed_pick_fits]
        measured = sum(not m.seed_pick_evidence.startswith("planned") for m in wrong)
        recs = [m.recommendation for m in current]
        picked = [r for r in recs if r["precision"] is not None]
        missed = sum(not r["fit"][r["precision"]] for r in picked)
        by_measurement = sum(r["fit_by"][r["precision"]] == "measurement" for r in picked)
        margin = max(r["margin"] for r in recs)
        rows.append(Statement(
            tree, f"read as: OOM errors = BF16 runs out of memory on the card, quantize = NF4 (the seed's INT4); picks "
                  f"a precision that does not fit the card in {len(wrong)} of {len(current)} card / image / batch "
                  f"cases ({measured} of them measured on emulated cards). `vlmkit.recommend_precision` on the same "
                  f"cases: {missed} (its pick fits by measurement in {by_measurement}, by the planner with the "
                  f"{100 * margin:.0f} % margin in {len(picked) - by_measurement}; nothing fits in "
                  f"{len(recs) - len(picked)})", "refuted" if wrong else "holds", "08"))
    speeds = read_measurements(ModelSpeed, run.dir, "03_dequantization")
    latency = {r.precision: r.measurement for r in speeds}
    if latency:
        first = speeds[0]
        rows.append(Statement(
            "per-card speed expectations (RTX 4090 / 3080 / 3060)",
            f"per whole query on {first.provenance['device_name']} ({first.shapes['image'][0]} px, "
            f"{first.shapes['new_tokens']} tokens): " + ", ".join(
                f"{get_precision(p).label} {m.query_ms:.0f} ms" for p, m in latency.items()),
            "not comparable here: no RTX card, and this book's sources quote no per-card figure of the seed", "03"))
    return rows or [run.missing("the seed's card advice and decision tree", "08_decision")]


#: The text of every seed statement whose row :func:`seed_statements` gives whatever the results folder holds (the
#: seed's card advice comes on top: one row per ``seed-advice`` record of notebook 08, one "not run here" without).
SEED_STATEMENTS: tuple[str, ...] = (
    *(_table_text(*p) for p in _TABLE_PRECISIONS), SLOWER_CLAIM[0], RTX4090_INT8_CLAIM.text, ORDERING_TEXT,
    MAX_SAVINGS_TEXT, MEMORY_NOT_SPEED_TEXT, VRAM_NOT_BOTTLENECK_TEXT, *SEED_MECHANISM_CLAIMS.values(),
    COMPUTE_BOUND_MEMORY_TEXT, DATA_PATH_TEXT, BANDWIDTH_TEXT, LARGE_MODEL_TEXT,
    *(SEED_SPEED_CLAIMS[k].text for k in _SPEEDUP_KEYS), RECIPE_TEXT, *(s.statement for s in NOT_TESTABLE_HERE))


def seed_statements(results_dir: str | Path) -> list[Statement]:
    """Every statement of the seed, judged from the records under ``results_dir`` (one run's ``results`` folder).

    Taught in ``notebooks/08_decision.ipynb``.
    """
    run = _Run(Path(results_dir))
    return [*_table_rows(run), _slower_row(run), _rtx4090_int8_row(run), _ordering_row(run), _max_savings_row(run),
            _memory_not_speed_row(run), _vram_not_bottleneck_row(run), *_mechanism_rows(run),
            _compute_bound_memory_row(run), _int4_loop_row(run), _data_path_row(run), _bandwidth_row(run),
            _large_model_row(run), *_speedup_rows(run), _recipe_row(run), *_advice_rows(run), *NOT_TESTABLE_HERE]


def seed_statement_table(run_dir: str | Path) -> str:
    """Markdown table of :func:`seed_statements` for a reference run folder (its ``results`` inside).

    Taught in ``notebooks/08_decision.ipynb``.
    """
    return statement_table(seed_statements(Path(run_dir) / "results"))


def statement_table(statements: Sequence[Statement], *, bold_verdicts: bool = False) -> str:
    """Markdown table of ``statements``: the seed says | measured here | verdict | notebook (verdicts in bold where
    ``bold_verdicts``, as notebook 08 shows them).

    Taught in ``notebooks/08_decision.ipynb``.
    """
    mark = "**" if bold_verdicts else ""
    lines = ["| the seed says | measured here | verdict | notebook |", "| --- | --- | --- | --- |"]
    lines += [f"| {s.statement} | {s.measured} | {mark}{s.verdict}{mark} | {s.notebook} |" for s in statements]
    return "\n".join(lines)
