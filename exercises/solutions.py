"""Worked solutions of the exercise notebooks: try the exercises first.

:func:`solutions` returns, per exercise notebook, the values of its ``parameters`` cell that pass every check.
Each is computed the way a reader would: arithmetic on the registry's configs, or a value read off the committed
reference records. Where a check compares with vlmkit's own machinery (the memory planner, the footprint walk), the
solution does the arithmetic by hand, so the two meet only if both are right.

``python exercises/solutions.py`` prints them; the tests inject them into every exercise notebook with papermill.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

import torch
from torch import nn
from transformers import Qwen3VLForConditionalGeneration

from vlmkit.bench.decode_ladder import DecodeRung, Int4Rung
from vlmkit.bench.model_speed import ModelSpeed
from vlmkit.bench.roofline import MeasuredCeilings
from vlmkit.book.exercises import (
    CPU_RUN,
    FORUM_NF4_DQ_CLAIM_GIB,
    H200_RUN,
    reference_manifest,
    reference_records,
    sdpa_backend_that_runs,
)
from vlmkit.core.formatting import GIB
from vlmkit.models.architectures import QWEN3_VL_72B_SHAPE, ArchitectureSpec, get_spec
from vlmkit.models.loading import LoadMeasurement
from vlmkit.planning.planner import plan_memory
from vlmkit.planning.recommend import (
    COMPILED_VARIANT,
    EAGER_VARIANT,
    recommend_precision,
)
from vlmkit.planning.seed_tree import seed_tree
from vlmkit.runtime.attention import AttentionRefusal, eager_score_bytes
from vlmkit.runtime.generation_variants import CompileVariantRun
from vlmkit.runtime.kv_cache import KVCacheClaimMeasurement
from vlmkit.verdicts.claims import SEED_QUALITY_CLAIMS, SEED_SPEED_CLAIMS
from vlmkit.verdicts.quality import PairedAccuracyMeasurement, mcnemar_exact
from vlmkit.verdicts.rules import speed_verdict, verdict


def _meta_model(name: str | ArchitectureSpec) -> nn.Module:
    spec = name if isinstance(name, ArchitectureSpec) else get_spec(name)
    with torch.device("meta"):
        return Qwen3VLForConditionalGeneration(spec.config())


def _first_fit(warmup_a: float, steady_a: float, warmup_b: float, steady_b: float) -> int:
    """Count queries until B's running total is no larger than A's (B must catch up within 10,000)."""
    total_a, total_b = warmup_a, warmup_b
    for n in range(1, 10_001):
        if total_b <= total_a:
            return n
        total_a, total_b = total_a + steady_a, total_b + steady_b
    raise ValueError("B never catches up")


def _environment() -> dict[str, Any]:
    works = {run: {b for b, s in reference_records("00_environment", "capabilities", run)[0]["metrics"]
                   ["sdpa_backends"].items() if s == "works"} for run in (H200_RUN, CPU_RUN)}
    seconds = {e["notebook"][:-6]: e["seconds"] for e in reference_manifest(H200_RUN)["notebooks"]}
    return {"SDPA_MISSING_ON_CPU": sorted(works[H200_RUN] - works[CPU_RUN]),
            "H200_SLOWEST_NOTEBOOK": max(seconds, key=seconds.__getitem__),
            "H200_BOOK_MINUTES": sum(seconds.values()) / 60}


def _loading() -> dict[str, Any]:
    model = _meta_model("qwen3-vl-4b")
    quantized = sum(m.weight.numel() for name, m in model.named_modules()
                    if isinstance(m, nn.Linear) and name != "lm_head")
    others = sum(p.numel() for p in model.parameters()) - quantized  # parameters() counts a tied matrix once
    nf4_bytes = quantized / 2 + 4 * quantized / 64 + 2 * others
    absmax_bits, dq_bits = 8 * 4 / 64, 8 * (1 / 64 + 4 / (64 * 256))
    nf4_dq = [r for r in reference_records("01_loading_precisions", LoadMeasurement.EXPERIMENT)
              if r["precision"] == "nf4-dq"][0]
    measured = LoadMeasurement.from_metrics(nf4_dq["metrics"]).load["memory"]["retained_bytes"] / GIB
    return {"NF4_FOOTPRINT_GIB": nf4_bytes / GIB, "DQ_SAVING_BITS_PER_WEIGHT": absmax_bits - dq_bits,
            "FORUM_CLAIM_VERDICT": verdict(measured, FORUM_NF4_DQ_CLAIM_GIB, tolerance=0.10).outcome}


def _quality() -> dict[str, Any]:
    paired = reference_records("02_quality", PairedAccuracyMeasurement.EXPERIMENT)
    m = PairedAccuracyMeasurement.from_metrics([r for r in paired if r["precision"] == "nf4"][0]["metrics"])
    low, high = SEED_QUALITY_CLAIMS["4bit"]
    return {"NF4_RELATIVE_ACCURACY": (m.both_right + m.only_other_right) / (m.both_right + m.only_reference_right),
            "NF4_MCNEMAR_P": mcnemar_exact(m.only_reference_right, m.only_other_right),
            "NF4_QUALITY_VERDICT": verdict(m.relative, low, high, tolerance=0.0, spread=tuple(m.interval)).outcome}


def _language_bytes(name: str | ArchitectureSpec, linear_bytes_per_weight: float) -> tuple[float, float]:
    """Bytes one decode step reads (language layers and lm_head, 16-bit except the layers' Linear weights) and the
    number of language-layer parameters."""
    model = _meta_model(name)
    layers = model.model.language_model.layers
    linear = sum(m.weight.numel() for m in layers.modules() if isinstance(m, nn.Linear))
    params = sum(p.numel() for p in layers.parameters()) + model.model.language_model.norm.weight.numel()
    head = model.lm_head.weight.numel()
    return linear * linear_bytes_per_weight + 2 * (params - linear) + 2 * head, params


def _dequantization() -> dict[str, Any]:
    ceilings = MeasuredCeilings.from_metrics(
        reference_records("03_dequantization", MeasuredCeilings.EXPERIMENT)[0]["metrics"])
    per_token, params = _language_bytes("qwen3-vl-8b", 2)
    speed = [r for r in reference_records("03_dequantization", ModelSpeed.EXPERIMENT) if r["precision"] == "bf16"][0]
    seconds = ModelSpeed.from_metrics(speed["metrics"]).decode_ms_per_token / 1e3
    shares = (per_token / seconds / ceilings.bandwidth_bytes_per_s, 2 * params / seconds / ceilings.flops_per_s)
    return {"BF16_DECODE_GIB_PER_TOKEN": per_token / GIB,
            "H200_DECODE_TOKENS_PER_S_LIMIT": ceilings.bandwidth_bytes_per_s / per_token,
            "H200_RIDGE_FLOP_PER_BYTE": ceilings.flops_per_s / ceilings.bandwidth_bytes_per_s,
            "H200_DECODE_REGIME": "overhead bound" if max(shares) < 0.25 else
            ("memory bound" if 2 * params / per_token < ceilings.ridge_flop_per_byte else "compute bound")}


def _kv_cache() -> dict[str, Any]:
    text = get_spec("qwen3-vl-8b").text
    per_token = 2 * text["num_hidden_layers"] * text["num_key_value_heads"] * text["head_dim"] * 2  # K and V, BF16
    sweep = reference_records("04_kv_cache", KVCacheClaimMeasurement.EXPERIMENT)
    cells = [(r["shapes"], KVCacheClaimMeasurement.from_metrics(r["metrics"])) for r in sweep]
    at_224 = [m for shapes, m in cells if shapes["image"] == [224, 224]][0].cache_bytes
    best = max(cells, key=lambda cell: cell[1].ratio)[0]
    return {"KV_BYTES_PER_TOKEN": per_token, "CACHED_TOKENS_224PX": at_224 // per_token,
            "BEST_CELL": [best["visual_tokens"], best["answer_tokens"]]}


def _compile() -> dict[str, Any]:
    headline = [r["metrics"] for r in reference_records("05_compile", "speed-claim")
                if r["metrics"]["role"] == "headline" and r["precision"] == "bf16"][0]
    variants = {m.variant: m for r in reference_records("05_compile", CompileVariantRun.EXPERIMENT)
                if r["precision"] == "bf16" and (m := CompileVariantRun.from_record(r))}
    eager, compiled = variants[EAGER_VARIANT], variants[COMPILED_VARIANT]
    return {"COMPILE_SPEEDUP": headline["ratio"],
            "COMPILE_VERDICT": speed_verdict(headline["low"], headline["high"], headline["claimed"]),
            "COMPILE_BREAK_EVEN_QUERIES": _first_fit(eager.warm_up_s, eager.whole_query_ms / 1e3,
                                                     compiled.warm_up_s, compiled.whole_query_ms / 1e3)}


def _attention() -> dict[str, Any]:
    text, vision = get_spec("qwen3-vl-8b").text, get_spec("qwen3-vl-8b").vision
    patches = (1344 // vision["patch_size"]) ** 2
    scores = vision["num_heads"] * patches**2 * eager_score_bytes(torch.bfloat16, torch.device("cuda"))
    runs = [AttentionRefusal.from_metrics(r["metrics"])
            for r in reference_records("06_attention", AttentionRefusal.EXPERIMENT)]
    ran = {r.variant for r in runs if not r.unavailable}
    return {"CPU_SDPA_BACKEND": sdpa_backend_that_runs(),
            "H200_REFUSED_VARIANTS": sorted({r.variant for r in runs} - ran),
            "QUERY_HEADS_PER_KV_HEAD": text["num_attention_heads"] // text["num_key_value_heads"],
            "EAGER_VISION_SCORES_GIB": scores / GIB}


def _quartiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=4, method="inclusive")
    return q[0], q[2]


def _tf32_transfers() -> dict[str, Any]:
    claims = [r["metrics"] for r in reference_records("07_tf32_transfers", "speed-claim")]
    pinned = [m for m in claims if m["claim"] == "non-blocking" and m["role"] == "headline"][0]
    (b_lo, b_hi), (v_lo, v_hi) = _quartiles(pinned["pageable_s"]), _quartiles(pinned["pinned_s"])
    spread = [b_lo / v_hi, b_hi / v_lo]
    claim = SEED_SPEED_CLAIMS["non-blocking"]
    matmul = [m for m in claims if m["claim"] == "tf32" and m["what"].startswith("float32 matmul")][0]
    query = [m for m in claims if m["claim"] == "tf32" and m["role"] == "headline" and m["what"].startswith("BF16")][0]
    return {"PINNED_SPEEDUP": statistics.median(pinned["pageable_s"]) / statistics.median(pinned["pinned_s"]),
            "PINNED_SPREAD": spread, "PINNED_VERDICT": speed_verdict(*spread, (claim.low, claim.high)),
            "TF32_MATMUL_SPEEDUP": matmul["ratio"],
            "TF32_BF16_QUERY_VERDICT": speed_verdict(query["low"], query["high"], query["claimed"])}


def _decision() -> dict[str, Any]:
    need = plan_memory("qwen3-vl-8b", "int8", image_size=448, device="cuda").peak_bytes / GIB
    return {"INT8_NEED_GIB": need, "INT8_FITS_10GIB": need <= 10,
            "SEED_PICK": seed_tree(12, oom_errors=True, batch_size=4),
            "DECIDE_PICK": recommend_precision("qwen3-vl-8b", 12, image_size=896, batch_size=4).precision}


def _decode_ladder() -> dict[str, Any]:
    rungs = {m.name: m for m in (DecodeRung.from_metrics(r["metrics"])
                                 for r in reference_records("09_decode_ladder", DecodeRung.EXPERIMENT))}
    eager, loop = rungs["generate, eager, dynamic cache"], rungs["static-cache loop, compiled step"]
    return {"COMPILED_BANDWIDTH_SHARE": loop.tokens_per_s * loop.bytes_per_token / loop.copy_bandwidth,
            "PAYBACK_COLD": _first_fit(eager.warmup_s, eager.query_s, loop.warmup_s, loop.query_s),
            "PAYBACK_WARM_CACHES": _first_fit(eager.warmup_s, eager.query_s, loop.cached_warmup_s, loop.query_s)}


def _int4_decode() -> dict[str, Any]:
    per_token, _ = _language_bytes("qwen3-vl-8b", 0.5 + 2 * 2 / 128)  # 4 bits, a BF16 scale and zero per 128
    rungs = {m.name: m for m in (Int4Rung.from_metrics(r["metrics"])
                                 for r in reference_records("10_int4_decode", Int4Rung.EXPERIMENT))}
    bf16, int4 = rungs["BF16, compiled step"], rungs["INT4 (torchao), compiled step"]
    return {"INT4_DECODE_GIB_PER_TOKEN": per_token / GIB,
            "INT4_SHARE_OF_IDEAL": (int4.tokens_per_s / bf16.tokens_per_s)
            / (bf16.bytes_per_token / int4.bytes_per_token)}


def _large_models() -> dict[str, Any]:
    model = _meta_model(QWEN3_VL_72B_SHAPE)
    layer = sum(p.numel() for p in model.model.language_model.layers[0].parameters())
    rest = sum(p.numel() for p in model.parameters()) - QWEN3_VL_72B_SHAPE.text["num_hidden_layers"] * layer
    nf4 = 0.5 + 4 / 64  # 4 bits and a float32 absmax per block of 64 weights
    bf16_72b, nf4_72b = _language_bytes(QWEN3_VL_72B_SHAPE, 2)[0], _language_bytes(QWEN3_VL_72B_SHAPE, nf4)[0]
    bf16_8b, nf4_8b = _language_bytes("qwen3-vl-8b", 2)[0], _language_bytes("qwen3-vl-8b", nf4)[0]
    return {"LAYERS_ON_80GIB": int((80 * GIB - 3 * GIB - 2 * rest) // (2 * layer)),
            "IDEAL_NF4_SPEEDUP_72B": bf16_72b / nf4_72b, "IDEAL_NF4_SPEEDUP_8B": bf16_8b / nf4_8b}


def solutions() -> dict[str, dict[str, Any]]:
    """Every exercise notebook's answers (its ``parameters`` cell), keyed by the notebook's name without suffix."""
    return {"00_environment": _environment(), "01_loading_precisions": _loading(), "02_quality": _quality(),
            "03_dequantization": _dequantization(), "04_kv_cache": _kv_cache(), "05_compile": _compile(),
            "06_attention": _attention(), "07_tf32_transfers": _tf32_transfers(), "08_decision": _decision(),
            "09_decode_ladder": _decode_ladder(), "10_int4_decode": _int4_decode(), "11_large_models": _large_models()}


if __name__ == "__main__":
    print(json.dumps(solutions(), indent=1))
