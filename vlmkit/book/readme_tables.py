"""Tables for the README, made from a reference run's results JSON (never typed by hand).

``python -m vlmkit.book.readme_tables reference/nvidia-h200`` prints the memory, quality and speed tables
the README shows; a test checks that the README still matches the committed results.

Taught in ``notebooks/01_loading_precisions.ipynb`` (memory) and ``notebooks/02_quality.ipynb`` (quality).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlmkit.bench.decode_bench import DecodeBench, TokenProfile
from vlmkit.bench.decode_ladder import DecodeRung, Int4Rung, RecipePrecision
from vlmkit.bench.model_speed import ModelSpeed
from vlmkit.book.reference_status import reference_status, run_table, stale_marks
from vlmkit.core.formatting import GIB, binary_unit, provenance_line
from vlmkit.measure.memory import CudaContextMeasurement
from vlmkit.measure.records import (
    latest_run,
    load_records,
    notebook_runs,
    read_measurements,
)
from vlmkit.models.loading import LoadMeasurement
from vlmkit.models.precisions import get_precision
from vlmkit.planning.cards import CardFit
from vlmkit.verdicts.quality import (
    AccuracyMeasurement,
    LogitFidelityMeasurement,
    PairedAccuracyMeasurement,
    every_kth_words,
)
from vlmkit.verdicts.rules import (
    MemoryClaimMeasurement,
    current_verdict,
    headline_text,
    runs_verdict,
    verdict_rows,
)
from vlmkit.verdicts.consistency import judge_consistency, same_query_times
from vlmkit.verdicts.statements import seed_statement_table, seed_statements


def _of_experiment(records: list[dict], experiment: str, run_dir: str | Path) -> list[dict]:
    """The records of one experiment; a run without any is an error that names the folder."""
    found = [r for r in records if r["experiment"] == experiment]
    if not found:
        raise ValueError(f"no {experiment} records under {run_dir}")
    return found


def _missing_fields(path: Path, what: str, missing: list[str]) -> ValueError:
    """The error for results written before a field existed: names the file, the fields and the fix."""
    return ValueError(f"{path} was written before {what} (missing: {', '.join(missing)}); re-run that notebook on "
                      f"this device to make this table")


def memory_table(run_dir: str | Path) -> str:
    """Markdown table of weights, peak at load, the seed's claim per precision (in GiB) and whether a card of the
    claimed size holds the model with the CUDA context, from ``01_loading_precisions.json``.

    Needs records that carry the CUDA context (a ``cuda-context`` record; ``outside_allocator_bytes`` per load;
    ``claim_gib`` per claim); older ones raise an error that says so.
    """
    path = Path(run_dir) / "results" / "01_loading_precisions.json"
    records = latest_run(load_records(path))
    load_recs = _of_experiment(records, LoadMeasurement.EXPERIMENT, run_dir)
    contexts = [r["metrics"] for r in records if r["experiment"] == CudaContextMeasurement.EXPERIMENT]
    claims = {r["precision"]: r["metrics"] for r in records if r["experiment"] == MemoryClaimMeasurement.EXPERIMENT}
    missing = (["the cuda-context record"] if not contexts else [])
    missing += ["outside_allocator_bytes in the load records"] * any("outside_allocator_bytes" not in r["metrics"]
                                                                     for r in load_recs)
    missing += ["claim_gib in the memory-claim records"] * any("claim_gib" not in m for m in claims.values())
    if missing:
        raise _missing_fields(path, "notebook 01 measured in GiB with the CUDA context", missing)
    context = CudaContextMeasurement.from_metrics(contexts[0])
    loads = [(r["precision"], LoadMeasurement.from_metrics(r["metrics"])) for r in load_recs]
    verdicts = {p: MemoryClaimMeasurement.from_metrics(m) for p, m in claims.items()}
    first, first_load = load_recs[0], loads[0][1]
    on_cuda = first_load.on_cuda
    weights = {p: m.weights_bytes for p, m in loads}
    scale, unit = binary_unit(max(weights.values()))
    if context.context_bytes is None:
        context_text = "no CUDA context on this device, so no card to fit"
    else:
        context_text = (f"the CUDA context took {context.context_bytes / GIB:.2f} GiB when created; *needed* is "
                        f"the allocator's peak (the load's, or the weights plus one query's) plus what the card held "
                        f"outside the allocator after that precision's query (context and loaded kernels)")
    lines = [
        f"Model `{first['model']}` ({first_load.load['weights']['total_params']:,} parameters) on "
        f"{provenance_line(first['provenance'])}; one load each; 1 {unit} = 2^{30 if unit == 'GiB' else 20} bytes "
        f"(GPU memory is sold in GiB: a \"16 GB\" card holds 16 GiB), measured with the "
        f"{'CUDA allocator' if on_cuda else 'bytes of every tensor (CPU)'}; {context_text}.",
        "",
        f"| precision | weights ({unit}) | peak at load ({unit}) | params × bits ({unit}) | needed with the CUDA context "
        f"({unit}) | seed's claim (GB read as GiB) | weights / claim (verdict) | a card of the claimed size |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for precision, m in loads:
        load, prec = m.load, get_precision(precision)
        arithmetic = load["weights"]["total_params"] * prec.bits / 8
        need = m.card_need_bytes
        needed = "–" if need is None else f"{need / scale:.2f}"
        claim = verdicts.get(prec.name)
        fits = "–" if claim is None or claim.fits_claimed_card is None else \
            ("fits" if claim.fits_claimed_card else "does not fit")
        claim_cells = f"{claim.claim_gib:g} | {claim.ratio:.2f} ({claim.verdict}) | {fits}" if claim \
            else "– | – | –"
        lines.append(f"| {prec.label} | {weights[prec.name] / scale:.2f} | {load['memory']['peak_bytes'] / scale:.2f} | "
                     f"{arithmetic / scale:.2f} | {needed} | {claim_cells} |")
    return "\n".join(lines)


def quality_table(run_dir: str | Path) -> str:
    """Markdown table of the tiny model's accuracy per precision, the paired comparison with BF16 and its verdict,
    and both models' logit fidelity.

    Made from ``02_quality.json``: accuracy and paired-accuracy records of the trained model, logit-fidelity
    records of the tiny model and of the large random-weight model. Records from before the paired comparison
    (``quality-claim`` with a Wilson interval) raise an error that says so.
    """
    path = Path(run_dir) / "results" / "02_quality.json"
    records = latest_run(load_records(path))
    accuracy = {r["precision"]: r for r in records if r["experiment"] == AccuracyMeasurement.EXPERIMENT}
    if "bf16" not in accuracy:
        raise ValueError(f"no bf16 accuracy record under {run_dir}")
    paired = {r["precision"]: PairedAccuracyMeasurement.from_metrics(r["metrics"]) for r in records
              if r["experiment"] == PairedAccuracyMeasurement.EXPERIMENT}
    missing = [name for name in accuracy if name != "bf16" and name not in paired]
    if missing:
        raise _missing_fields(path, "notebook 02 compared precisions question by question",
                              [f"paired-accuracy records for {', '.join(missing)}"])
    tiny = accuracy["bf16"]["model"]
    fidelity_records = [r for r in records if r["experiment"] == LogitFidelityMeasurement.EXPERIMENT]
    fidelity = {(r["model"] == tiny, r["precision"]): LogitFidelityMeasurement.from_metrics(r["metrics"])
                for r in fidelity_records}
    large = sorted({r["model"] for r in fidelity_records if r["model"] != tiny})
    shapes = accuracy["bf16"]["shapes"]
    stride = shapes.get("question_stride", 1)
    subset = "" if stride == 1 else (f" ({every_kth_words(stride)} question of each family "
                                     f"of the split's {shapes['split_questions']})")
    resamples = next(iter(paired.values())).resamples if paired else 0
    large_part = ""
    header = ("| precision | accuracy | relative to BF16 [95 % paired interval] | right only in BF16 / only in it | "
              "McNemar p | seed's claim | verdict | top-1 agreement (tiny) | mean KL (tiny) |")
    if large:
        inputs = next(r["shapes"]["inputs"] for r in records if r["model"] == large[0])
        large_part = f" and `{large[0]}` (random weights, {inputs} random inputs)"
        header += f" top-1 agreement ({large[0]}) | mean KL ({large[0]}) |"
    lines = [
        f"Tiny shapes model (`{tiny}`) on {shapes['questions']} test questions{subset}{large_part} on "
        f"{provenance_line(accuracy['bf16']['provenance'])}. Every precision answered the same questions: relative = "
        f"accuracy / BF16 accuracy, its 95 % interval from a paired bootstrap over questions ({resamples:,} "
        "resamples); the disagreements are the questions right in BF16 and wrong in that precision, and the reverse, "
        "with McNemar's exact p; KL in nats, first answer token, against BF16.",
        "",
        header,
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |" + " ---: |" * (header.count("|") - 8),
    ]
    for name, r in accuracy.items():
        m = paired.get(name)
        if m is None:
            paired_cells = "1.000 | – | – | – | –"
        else:
            claim = f"{m.claim[0]:.2f}-{m.claim[1]:.2f}" if m.claim else "–"
            paired_cells = (f"{m.relative:.3f} [{m.interval[0]:.3f}, {m.interval[1]:.3f}] | "
                            f"{m.only_reference_right} / {m.only_other_right} | {m.mcnemar_p:.2g} | {claim} | "
                            f"{m.verdict or '–'}")
        cells = []
        for is_tiny in (True, False) if large else (True,):
            f = fidelity.get((is_tiny, name))
            cells += [f"{f.top1_agreement:.3f}", f"{f.mean_kl:.2g}"] if f else ["–", "–"]
        overall = AccuracyMeasurement.from_metrics(r["metrics"]).overall
        lines.append(f"| {get_precision(name).label} | {overall:.3f} | {paired_cells} | "
                     f"{' | '.join(cells)} |")
    return "\n".join(lines)


#: The notebooks whose records carry the seed's speed claims.
SPEED_NOTEBOOKS = ("03_dequantization", "04_kv_cache", "05_compile", "06_attention", "07_tf32_transfers")


def speed_verdict_table(run_dir: str | Path) -> str:
    """Markdown table *seed claim | role | measured here | verdict | where* from the speed notebooks' records,
    headline rows first (records from before roles existed count as supporting).

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    rows = []
    for notebook in SPEED_NOTEBOOKS:
        rows += [dict(r, notebook=notebook) for r in verdict_rows(latest_run(load_records(
            Path(run_dir) / "results" / f"{notebook}.json")))]
    if not rows:
        raise ValueError(f"no speed verdicts under {run_dir}")
    rows.sort(key=lambda row: row["role"] != "headline")
    lines = ["| seed claim | role | measured here (ratio [spread]) | verdict | where | notebook |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['seed claim']} | {r['role']} | {r['measured here']} | {r['verdict']} | {r['where']} | "
              f"{r['notebook'][:2]} |" for r in rows]
    return "\n".join(lines)


def _claim_records(run_dir: str | Path) -> list[tuple[str, dict]]:
    """(notebook, record) for every claim record of the speed notebooks' latest run under ``run_dir``."""
    found = []
    for notebook in SPEED_NOTEBOOKS:
        records = latest_run(load_records(Path(run_dir) / "results" / f"{notebook}.json"))
        found += [(notebook, r) for r in records if r["experiment"].endswith("-claim")]
    return found


def speed_claim_summary(run_dir: str | Path) -> str:
    """Markdown table, one row per seed claim: its headline verdicts (a whole query at the book's default size, or a
    mechanism sentence) and, beside them, how the supporting measurements came out.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    by_claim: dict[str, list[tuple[str, dict]]] = {}
    for notebook, r in _claim_records(run_dir):
        by_claim.setdefault(r["metrics"]["claim_text"], []).append((notebook, r))
    if not by_claim:
        raise ValueError(f"no speed verdicts under {run_dir}")
    first = next(iter(by_claim.values()))[0][1]
    prov = first["provenance"]
    lines = [f"{provenance_line(prov)}; run `{first['run_id']}`. Ratios: variant speed / baseline speed (>1: faster); "
             "headline: a whole query (prefill and the answer tokens) at the book's default image and answer length.",
             "", "| seed claim | headline: measured here | headline verdict | supporting measurements | notebook |",
             "| --- | --- | --- | --- | --- |"]
    for text, found in by_claim.items():
        headline = [r for _, r in found if r["metrics"].get("role", "supporting") == "headline"]
        supporting = [r for _, r in found if r["metrics"].get("role", "supporting") != "headline"]
        measured = "<br>".join(headline_text(r) for r in headline) or "no headline measurement in this run"
        runs = {nb: notebook_runs(Path(run_dir) / "results", nb) for nb, _ in found}
        verdicts = "<br>".join(runs_verdict(r, runs[nb]) for nb, r in found if r in headline) or "–"
        counts: dict[str, int] = {}
        for r in supporting:
            counts[current_verdict(r)] = counts.get(current_verdict(r), 0) + 1
        support = ", ".join(f"{v} {n}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "–"
        notebooks = ", ".join(sorted({nb[:2] for nb, _ in found}))
        lines.append(f"| {text} | {measured} | {verdicts} | {support} | {notebooks} |")
    return "\n".join(lines)


def phase_table(run_dir: str | Path) -> str:
    """Markdown table of prefill and decode per precision for the whole model, from ``03_dequantization.json``.

    Taught in ``notebooks/03_dequantization.ipynb``.
    """
    speeds = read_measurements(ModelSpeed, Path(run_dir) / "results", "03_dequantization")
    if not speeds:
        raise ValueError(f"no {ModelSpeed.EXPERIMENT} records under {run_dir}")
    first = speeds[0]
    base = next(r.measurement for r in speeds if r.precision == "bf16")
    lines = [
        f"`{first.model}` on {provenance_line(first.provenance)}; "
        f"{first.shapes['image'][0]} px image ({first.measurement.visual_tokens} visual tokens, "
        f"{first.shapes['tokens_in']} tokens in), {first.shapes['new_tokens']} new tokens; median of "
        f"{first.repeats} calls after a warm-up.",
        "",
        "| precision | weights (GB) | prefill (ms) | decode (ms/token) | decode speed vs BF16 | GPU busy in decode |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in speeds:
        m = r.measurement
        busy = m.gpu_busy_share_decode
        lines.append(f"| {get_precision(r.precision).label} | {m.weights_gb:.2f} | {m.prefill_ms:.1f} | "
                     f"{m.decode_ms_per_token:.1f} | {base.decode_ms_per_token / m.decode_ms_per_token:.2f}x | "
                     f"{'–' if busy is None else f'{busy:.0%}'} |")
    return "\n".join(lines)


def card_table(run_dir: str | Path) -> str:
    """Markdown table from notebook 08: the largest batch each emulated card ran per precision and image size
    (measured on CUDA, else the planner's), with the planner's error. The seed's card advice is judged in
    :func:`vlmkit.verdicts.statements.seed_statement_table`.

    Taught in ``notebooks/08_decision.ipynb``.
    """
    fits = read_measurements(CardFit, Path(run_dir) / "results", "08_decision")
    if not fits:
        raise ValueError(f"no card-fit records under {run_dir}")
    first = fits[0]
    measured = [r.measurement for r in fits if r.measurement.measured and r.measurement.fits]
    errors = [m.planned_allocator_peak_gib / m.measured_allocator_peak_gib - 1 for m in measured]
    cards = sorted({r.shapes["card_gib"] for r in fits})
    source = (f"measured on emulated cards; the planner's allocator peak was within {max(map(abs, errors)):.1%} of the "
              f"{len(errors)} measured queries" if errors else "the planner's predictions (fitting not measured here)")
    mark = stale_marks(Path(run_dir)).get("08_decision.ipynb")
    stale = f" **Stale:** notebook 08 changed since this run ({mark['since']}: {mark['reason']}); re-run pending." if mark else ""
    lines = [f"`{first.model}` on {provenance_line(first.provenance)}; {first.shapes['new_tokens']} answer tokens; "
             f"largest batch (of {sorted({r.shapes['batch'] for r in fits})}) that runs, {source}.{stale}", "",
             "| precision | image | " + " | ".join(f"{c:g} GiB" for c in cards) + " |",
             "| --- | ---: |" + " ---: |" * len(cards)]

    def runs(m: CardFit) -> bool | None:
        return m.fits if errors else m.planned_fits

    for prec in dict.fromkeys(r.precision for r in fits):
        for image in sorted({r.shapes["image"][0] for r in fits}):
            best = [max([r.shapes["batch"] for r in fits if r.precision == prec and r.shapes["image"][0] == image
                         and r.shapes["card_gib"] == c and runs(r.measurement)], default=0) for c in cards]
            lines.append(f"| {get_precision(prec).label} | {image} px | " + " | ".join(map(str, best)) + " |")
    return "\n".join(lines)


def decode_table(run_dir: str | Path) -> str:
    """Markdown table of every decode rung of notebooks 09 (BF16 ladder, the recipe per precision) and 10 (INT4):
    tokens per second, share of the copy bandwidth, whole query, warm-up cold and with TorchInductor's caches.

    Taught in ``notebooks/09_decode_ladder.ipynb`` and ``notebooks/10_int4_decode.ipynb``.
    """
    results = Path(run_dir) / "results"
    rows = [("09", r) for kind in (DecodeRung, RecipePrecision)
            for r in read_measurements(kind, results, "09_decode_ladder")]
    rows += [("10", r) for r in read_measurements(Int4Rung, results, "10_int4_decode")]
    if not rows:
        raise ValueError(f"no decode-rung records under {run_dir}")
    first = rows[0][1]

    def number(value: float | None, form: str) -> str:
        return "–" if value is None else format(value, form)

    lines = [f"`{first.model}` on {provenance_line(first.provenance)}; {first.shapes['image'][0]} px image, "
             f"{first.shapes['new_tokens']}-token answers; median of {first.repeats} answers after a warm-up; "
             f"copy bandwidth measured in the same run.", "",
             "| notebook | rung | tokens/s | share of copy bandwidth | whole query (ms) | warm-up (s) | "
             "warm-up, caches warm (s) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for nb, r in rows:
        m = r.measurement
        name = m.name if not isinstance(m, RecipePrecision) else m.name.replace(": ", " · ", 1)
        failed = " (failed: see the notebook)" if m.tokens_per_s is None else ""
        query_ms = None if m.query_s is None else m.query_s * 1e3
        lines.append(f"| {nb} | {name}{failed} | {number(m.tokens_per_s, ',.1f')} | "
                     f"{number(m.bandwidth_share, '.0%')} | {number(query_ms, ',.0f')} | "
                     f"{number(m.warmup_s, '.1f')} | {number(m.cached_warmup_s, '.1f')} |")
    return "\n".join(lines)


def bench_table(bench_dir: str | Path) -> str:
    """Markdown tables of ``python -m vlmkit.bench decode``'s latest run in ``bench_dir``: each precision and
    variant of ``VLMInference`` (tokens/s, share of copy bandwidth, speed against compiled BF16, whole query, prefill,
    warm-ups, graphs compiled after the warm-up) and, where profiled, where one compiled token's time went.

    Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    runs = read_measurements(DecodeBench, bench_dir, "decode_bench")
    if not runs:
        raise ValueError(f"no decode-bench records under {bench_dir}: run python -m vlmkit.bench decode there")
    run_ids = dict.fromkeys(r.run_id for r in runs)
    latest = list(run_ids)[-1]
    rows = [r for r in runs if r.run_id == latest]
    base = next((r.measurement for r in rows if r.precision == "bf16" and r.measurement.compiled), None)
    first = rows[0]

    def ratio(value: float, of: float | None) -> str:
        return "–" if of is None else f"{value / of:.2f}x"

    tuned = " (torchao's TorchInductor settings)"
    lines = [f"`{first.model}` on {provenance_line(first.provenance)}; {first.shapes['image'][0]} px image, "
             f"{first.shapes['new_tokens']}-token answers; median of {first.repeats} answers after a warm-up; copy "
             f"bandwidth {first.measurement.copy_bandwidth / 1e9:,.0f} GB/s measured in the same run (run {latest}).",
             "", "| precision | variant | tokens/s | share of copy bandwidth | decode vs compiled BF16 | whole query (ms) | "
             "query vs compiled BF16 | prefill (ms) | warm-up (s) | warm-up, caches warm (s) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        m = r.measurement
        variant = (m.variant if m.compiled or m.variant != "compiled" else "uncompiled (transformers refuses)")
        variant += tuned if m.inductor_tuning else ""
        cached = "–" if m.cached_warmup_s is None else f"{m.cached_warmup_s:.1f}"
        lines.append(f"| {r.precision} | {variant} | {m.tokens_per_s:,.1f} | {m.bandwidth_share:.0%} | "
                     f"{ratio(m.tokens_per_s, base.tokens_per_s if base else None)} | {m.whole_query_ms:,.0f} | "
                     f"{ratio(base.whole_query_ms, m.whole_query_ms) if base else '–'} | {m.prefill_ms:,.0f} | "
                     f"{m.warmup_s:.1f} | {cached} |")
    profiles = [r for r in read_measurements(TokenProfile, bench_dir, "decode_bench") if r.run_id == latest]
    if profiles:
        parts = sorted({k for r in profiles for k in r.measurement.parts_ms})
        lines += ["", "Where one compiled token's time goes (ms per token; kernels from PyTorch's profiler, lm_head "
                  "timed alone from a CUDA graph, gaps = wall time less all kernels):", "",
                  "| precision | wall | " + " | ".join(parts) + " | lm_head alone | gaps |",
                  "| --- | ---: | " + " | ".join("---:" for _ in parts) + " | ---: | ---: |"]
        for r in profiles:
            m = r.measurement
            lines.append(f"| {r.precision} | {m.wall_ms:.2f} | " + " | ".join(f"{m.parts_ms.get(k, 0.0):.2f}"
                                                                          for k in parts)
                         + f" | {m.lm_head_ms:.2f} | {m.gaps_ms:.2f} |")
    return "\n".join(lines)


#: The variants of ``.ci/gpu-graph-diagnostic.py``'s runs, in words.
GRAPH_VARIANTS = {"trees": "compiled, torch.compile's CUDA-graph trees (mode reduce-overhead)",
                  "captured-compiled": "compiled, captured by hand as one CUDA graph (vlmkit's cuda-graph)",
                  "captured-eager": "eager step, captured by hand as one CUDA graph", "eager": "eager step"}


def graph_diagnostic_table(bench_dir: str | Path) -> str:
    """Markdown table of ``.ci/gpu-graph-diagnostic.py``'s ``graph-diagnostic.json`` in ``bench_dir``: per precision
    and way of replaying the decode step, ms per token (median), the host's time inside each step call, the step
    back to back, and the speed against BF16 in the same variant. Taught in ``notebooks/10_int4_decode.ipynb``.
    """
    found = json.loads((Path(bench_dir) / "graph-diagnostic.json").read_text())
    runs = found["runs"]
    per_token = {(r["precision"], r["variant"]): statistics.median(r["ms_per_token"]) for r in runs}
    lines = [f"{found['gpu']} · {found.get('measured', '')} · torch {found['torch']}; 448 px image, 512-position "
             f"static cache, 64-token answers, median of {len(runs[0]['ms_per_token'])} after a warm-up "
             f"({found.get('code', '.ci/gpu-graph-diagnostic.py')}).", "",
             "| precision | decode step | ms per token | host µs per step call | step back to back (ms) | "
             "vs BF16, same step |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in runs:
        bf16 = per_token.get(("bf16", r["variant"]))
        mine = per_token[(r["precision"], r["variant"])]
        lines.append(f"| {r['precision']} | {GRAPH_VARIANTS[r['variant']]} | {mine:.2f} | "
                     f"{r['host_us_per_step_median']:,.0f} | {r['raw_steps_ms']:.2f} | "
                     f"{f'{bf16 / mine:.2f}x' if bf16 else '–'} |")
    return "\n".join(lines)


def _notebook_setup(run_dir: Path, notebook: str) -> tuple[str | None, dict[str, Any]]:
    """The vlmkit fingerprint a reference notebook ran with (``run.json``) and the package versions its records
    name (their provenance); ``(None, {})`` where the run lacks the notebook."""
    ran = {e["notebook"][:2]: e.get("vlmkit") for e in json.loads((run_dir / "run.json").read_text())["notebooks"]}
    files = sorted((run_dir / "results").glob(f"{notebook}_*.json"))
    files = [f for f in files if ".superseded-" not in f.name]
    records = load_records(files[0]) if files else []
    return ran.get(notebook), (records[0]["provenance"].get("versions", {}) if records else {})


def _why_they_differ(runs: dict[str, Path], notebooks: list[str]) -> str:
    """Why GPU runs' verdicts on a row (shown by ``notebooks``) differ, in words: a notebook one run lacks,
    different vlmkit code, different packages, or (same code and packages) the hardware or the noise between runs."""
    setups = {name: [_notebook_setup(run, n) for n in notebooks] for name, run in runs.items()}
    lacking = {name: [n for n, (code, _) in zip(notebooks, found)
                      if code is None and not any((runs[name] / "results").glob(f"{n}_*.json"))]
               for name, found in setups.items()}
    if any(lacking.values()):
        return "– (" + "; ".join(f"not run on the {name.removeprefix('NVIDIA ').split()[0]}: {', '.join(nbs)}"
                                 for name, nbs in lacking.items() if nbs) + ")"
    if len({tuple(code for code, _ in found) for found in setups.values()}) > 1:
        return "code: the runs used different vlmkit code (a stale run: see the reference runs above)"
    versions: dict[str, dict[str, Any]] = {name: {} for name in runs}
    for name, found in setups.items():
        for _, named in found:
            versions[name].update(named)
    keys = sorted({k for v in versions.values() for k in v})
    differing = [k for k in keys if len({str(v.get(k)) for v in versions.values()}) > 1]
    if differing:
        return "setup: " + "; ".join(f"{k} " + " vs ".join(f"{versions[n].get(k) or 'none'} ({n})" for n in runs)
                                     for k in differing)
    return "hardware or noise between runs: same vlmkit code and packages"


def _row_notebooks(notebook: str) -> list[str]:
    """The notebooks a statement row names: ``"01, 02, 03"``, a range ``"04-07"``, or none (``"-"``)."""
    found: list[str] = []
    for part in notebook.split(","):
        ends = [e.strip() for e in part.split("-")]
        if all(e.isdigit() for e in ends) and ends[0]:
            found += [f"{n:02d}" for n in range(int(ends[0]), int(ends[-1]) + 1)]
    return found


def gpu_verdict_table(reference: str | Path) -> str:
    """Every seed statement's verdict on each GPU reference run side by side (one column per folder under
    ``reference`` named ``nvidia-*``; "(stale)" where that run's notebook is not current), and where the verdicts
    differ, why: a notebook one run lacks, different vlmkit code (a stale run), different packages (say a flash-attn
    build on one host only), else the hardware or the noise between runs. The measurements behind each verdict are
    in that run's own table. Taught in ``notebooks/08_decision.ipynb``.
    """
    runs = {json.loads((d / "run.json").read_text())["device"]["device_name"]: d
            for d in sorted(Path(reference).glob("nvidia-*")) if (d / "run.json").exists()}
    judged = {name: {s.statement: s for s in seed_statements(run / "results")} for name, run in runs.items()}
    current = {name: {r.notebook[:2]: r.current for r in reference_status(run)} for name, run in runs.items()}
    rows: dict[str, str] = {}  # statement -> its notebooks, in the order of the run with the most rows
    for found in sorted(judged.values(), key=len, reverse=True):
        rows.update({k: v.notebook for k, v in found.items() if k not in rows})
    lines = ["| the seed says | " + " | ".join(runs) + " | where they differ | notebook |",
             "| --- | " + " | ".join("---" for _ in runs) + " | --- | --- |"]
    for statement, notebook in rows.items():
        shown = _row_notebooks(notebook)
        verdicts = {}
        for name in runs:
            row = judged[name].get(statement)
            stale = any(current[name].get(n) is False for n in shown)
            verdicts[name] = "–" if row is None else row.verdict + (" (stale)" if stale else "")
        plain = {name: judged[name][statement].verdict if statement in judged[name] else "–" for name in runs}
        why = "same" if len(set(plain.values())) == 1 else _why_they_differ(runs, shown)
        lines.append(f"| {statement} | " + " | ".join(verdicts.values()) + f" | {why} | {notebook} |")
    return "\n".join(lines)


def same_query_table(run_dir: str | Path) -> str:
    """Markdown table of :func:`vlmkit.verdicts.consistency.same_query_times` for a reference run folder: each
    notebook's BF16 standard query with the seed's defaults (median whole query and decode per token, samples), and
    :func:`~vlmkit.verdicts.consistency.judge_consistency`'s verdict under it. Taught in
    ``notebooks/08_decision.ipynb``.
    """
    times = same_query_times(Path(run_dir) / "results")
    if not times:
        return "No notebook of this run timed the BF16 standard query."
    lines = ["| notebook | measured as | samples | whole query (ms) | decode (ms/token) |",
             "| --- | --- | ---: | ---: | ---: |"]
    lines += [f"| {t.notebook} | {t.measured_as} | {len(t.query_s)} | {t.query_ms:,.1f} | "
              + (f"{t.decode_ms:.2f}" if t.decode_ms is not None else "–") + " |" for t in times]
    judged = judge_consistency(times)
    return "\n".join(lines + ["", f"Verdict: {judged.text}." if judged else "Verdict: one measurement, nothing to compare."])


#: The README's generated blocks: marker name -> (table function, reference run folder).
README_BLOCKS: dict[str, tuple[Callable[[Path], str], str]] = {
    "reference-runs": (run_table, "reference"),
    "gpu-seed-verdicts": (gpu_verdict_table, "reference"),
    "h200-seed-statements": (seed_statement_table, "reference/nvidia-h200"),
    "h200-card-table": (card_table, "reference/nvidia-h200"),
    "h200-memory-table": (memory_table, "reference/nvidia-h200"),
    "h200-quality-table": (quality_table, "reference/nvidia-h200"),
    "h200-speed-summary": (speed_claim_summary, "reference/nvidia-h200"),
    "h200-phase-table": (phase_table, "reference/nvidia-h200"),
    "h200-decode-table": (decode_table, "reference/nvidia-h200"),
    "h200-speed-verdicts": (speed_verdict_table, "reference/nvidia-h200"),
    "h200-same-query": (same_query_table, "reference/nvidia-h200"),
    "cpu-same-query": (same_query_table, "reference/cpu-x86_64"),
    "h100-decode-bench": (bench_table, "reference/nvidia-h100-80gb-hbm3/bench"),
    "h100-graph-diagnostic": (graph_diagnostic_table, "reference/nvidia-h100-80gb-hbm3/bench"),
    "cpu-speed-summary": (speed_claim_summary, "reference/cpu-x86_64"),
    "cpu-speed-verdicts": (speed_verdict_table, "reference/cpu-x86_64"),
}


def readme_block(readme: str, name: str) -> str:
    """The text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``readme``."""
    return readme.split(f"<!-- {name}:start -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0].strip("\n")


def fill_readme(readme: str, root: Path) -> str:
    """``readme`` with every generated block made again from the committed results under ``root``.

    ``python -m vlmkit.book.readme_tables --update-readme`` writes it; a test checks that nothing would change.
    """
    for name, (table, run) in README_BLOCKS.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, rest = readme.split(start, 1)
        tail = rest.split(end, 1)[1]
        readme = f"{head}{start}\n{table(root / run)}\n{end}{tail}"
    return readme


if __name__ == "__main__":
    if sys.argv[1:] == ["--update-readme"]:
        path = Path("README.md")
        path.write_text(fill_readme(path.read_text(), Path(".")))
    else:
        run = sys.argv[1] if len(sys.argv) > 1 else "reference/nvidia-h200"
        tables = [memory_table(run), quality_table(run)]
        if any((Path(run) / "results" / f"{n}.json").exists() for n in SPEED_NOTEBOOKS):
            tables += [speed_claim_summary(run), phase_table(run), speed_verdict_table(run)]
        print(*tables, sep="\n\n")
