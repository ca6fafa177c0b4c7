"""Every seed statement gets a row; a row without measurements never carries a verdict of the book's own."""

import json
from pathlib import Path

import pytest

from vlmkit.bench.bandwidth_scaling import BandwidthBound
from vlmkit.measure.records import ResultsStore
from vlmkit.measure.speedup import Speedup
from vlmkit.models.loading import LoadMeasurement
from vlmkit.models.precisions import get_precision
from vlmkit.verdicts.precision_speed import SPEED_CLAIM_OF, compute_bound_outcome
from vlmkit.verdicts.quality import PairedAccuracyMeasurement
from vlmkit.verdicts.rules import judge_speed_claim, mechanism_claim, record_claim
from vlmkit.verdicts.statements import (
    BANDWIDTH_TEXT,
    COMPUTE_BOUND_MEMORY_TEXT,
    LARGE_MODEL_TEXT,
    MAX_SAVINGS_TEXT,
    MEMORY_NOT_SPEED_TEXT,
    NOT_TESTABLE_HERE,
    ORDERING_TEXT,
    RTX4090_INT8_CLAIM,
    SEED_STATEMENTS,
    SLOWER_CLAIM,
    VRAM_NOT_BOTTLENECK_TEXT,
    Statement,
    seed_statement_table,
    seed_statements,
    statement_table,
)

ROOT = Path(__file__).resolve().parent.parent
MEASURED_VERDICTS = ("holds", "refuted", "partly", "below", "above", "inconclusive")


def test_the_h200_report_covers_every_statement_once():
    rows = seed_statements(ROOT / "reference" / "nvidia-h200" / "results")
    texts = [r.statement for r in rows]
    assert len(texts) == len(set(texts)) >= 20
    for needed in ("INT8 -> dequantize", "70B+ models", "TensorRT INT8", "ONNX Runtime INT8", "Windows",
                   "10-40 % slower", "torch.compile", "Flash Attention", "TF32", "KV-cache", "pinned memory",
                   "max speed", "decision tree", "dequantization overhead", "compute bound"):
        assert any(needed in t for t in texts), needed
    assert all(r.verdict and r.measured and r.notebook for r in rows)
    table = seed_statement_table(ROOT / "reference" / "nvidia-h200")
    assert table.count("\n") == len(rows) + 1


def test_untestable_statements_cite_sources_and_claim_no_measurement():
    for row in NOT_TESTABLE_HERE:
        assert row.verdict.startswith("not testable here") and "https://" in row.measured and row.notebook == "-"


def test_an_empty_results_folder_gives_no_verdict_of_its_own(tmp_path):
    rows = seed_statements(tmp_path)
    own = [r for r in rows if r not in NOT_TESTABLE_HERE]
    assert own and all(not r.verdict.startswith(MEASURED_VERDICTS) for r in own), [r.verdict for r in own]


def _speed_records(path: Path, ratios: dict[str, float]) -> None:
    records = [{"schema": 1, "notebook": "03_dequantization", "experiment": "speed-claim", "run_id": "r", "model": "m",
                "precision": p, "shapes": {}, "repeats": 5, "provenance": {"device_name": "x"},
                "metrics": {"claim": "int8-speed" if p == "int8" else "int4-speed", "claim_text": "t", "role": "headline",
                            "ratio": r, "low": r, "high": r, "claimed": [0.6, 0.9], "variant": p, "baseline": "bf16",
                            "what": "whole query"}} for p, r in ratios.items()]
    path.write_text(json.dumps({"schema": 1, "records": records}))


@pytest.mark.parametrize(("ratios", "expected"), [({"int8": 0.28, "nf4": 0.75}, "partly"),
                                                  ({"int8": 0.85, "nf4": 0.7}, "holds"),
                                                  ({"int8": 0.3, "nf4": 1.1}, "refuted")])
def test_ten_to_forty_percent_slower_is_judged_from_the_headline_ratios(tmp_path, ratios, expected):
    _speed_records(tmp_path / "03_dequantization.json", ratios)
    row = next(r for r in seed_statements(tmp_path) if r.statement == SLOWER_CLAIM[0])
    assert row.verdict == expected
    assert ("faster" in row.measured) == any(r > 1 for r in ratios.values())


def _write(path: Path, notebook: str, entries: list[tuple[str, str, dict]], model: str = "m", run_id: str = "r") -> None:
    records = [{"schema": 1, "notebook": notebook, "experiment": experiment, "run_id": run_id, "model": model,
                "precision": precision, "shapes": {"image": [448, 448], "new_tokens": 32}, "repeats": 3,
                "provenance": {"device_name": "x", "timestamp": "2026-12-01T00:00:00+00:00",
                               "versions": {"torch": "2", "transformers": "5", "bitsandbytes": "0"}},
                "metrics": metrics} for experiment, precision, metrics in entries]
    path.write_text(json.dumps({"schema": 1, "records": records}))


def _rung(name: str, query_s: float | None, tokens_per_s: float | None, note: str = "") -> dict:
    """A rung's metrics as notebook 09 records them (a failed rung: no numbers)."""
    ran = tokens_per_s is not None
    return {"name": name, "decode_s_per_token": 1 / tokens_per_s if ran else None, "tokens_per_s": tokens_per_s,
            "bandwidth_share": 0.5 if ran else None, "bytes_per_token": 10**9 if ran else 0, "query_s": query_s,
            "warmup_s": 2.0 if ran else None, "repeats": 3 if ran else 0, "cached_warmup_s": None, "note": note,
            "copy_bandwidth": 1e12, "compile_backend": "inductor"}


def _recipe_pairs(ratios: list[float]) -> dict:
    """Notebook 09's paired-runs record of the defaults against the recipe: the recipe ``ratios[i]`` as fast."""
    from vlmkit.bench.decode_ladder import RECIPE_PAIR
    from vlmkit.measure.interleaved import PairedRuns, Rounds

    parts = ("query", "prefill", "decode")
    rounds = Rounds({RECIPE_PAIR[0]: {p: tuple(1.0 for _ in ratios) for p in parts},
                     RECIPE_PAIR[1]: {p: tuple(1.0 / r for r in ratios) for p in parts}}, 2)
    return PairedRuns.of(rounds, *RECIPE_PAIR).metrics()


@pytest.mark.parametrize(("ratios", "expected"), [([0.5] * 10, "refuted: slower than the defaults"),
                                                  ([2.0] * 10, "holds: faster than the defaults"),
                                                  ([0.8, 1.2] * 5, "inconclusive: the interval contains 1x"),
                                                  (None, "inconclusive: not timed in interleaved pairs")])
def test_the_recipe_is_judged_as_one_call_per_query_from_interleaved_pairs(tmp_path, ratios, expected):
    recipe = "the seed's recipe: VLMInference(use_compile, use_flash_attention)"
    _write(tmp_path / "09_decode_ladder.json", "09_decode_ladder", [
        ("decode-rung", "bf16", _rung("generate, eager, dynamic cache", 1.0, 30.0)),
        ("decode-rung", "bf16", _rung(recipe, 1.5, 20.0, "attention: flash_attention_4; 42 graph(s)")),
        ("recipe-precision", "nf4", {**_rung("nf4: default", 2.0, 10.0), "variant": "default"}),
        ("recipe-precision", "nf4", {**_rung("nf4: the seed's recipe", 2.5, 8.0), "variant": "the seed's recipe"}),
        *([("paired-runs", "bf16", _recipe_pairs(ratios))] if ratios else [])])
    row = next(r for r in seed_statements(tmp_path) if r.statement.startswith("max speed"))
    assert row.verdict == expected and "09" in row.notebook
    if ratios:
        assert "the seed's defaults per whole query (10 interleaved pairs)" in row.measured
        assert f"{sorted(ratios)[4] / 2 + sorted(ratios)[5] / 2:.2f}x [" in row.measured
    else:
        assert "0.67x the seed's defaults per query" in row.measured and "not in pairs" in row.measured
    assert "NF4: 0.80x per query" in row.measured
    assert "42 graph(s)" in row.measured  # what ran is said, not assumed


def test_a_failed_recipe_gives_its_error_and_no_verdict(tmp_path):
    _write(tmp_path / "09_decode_ladder.json", "09_decode_ladder", [
        ("decode-rung", "bf16", _rung("generate, eager, dynamic cache", 1.0, 30.0)),
        ("decode-rung", "bf16", _rung("the seed's recipe: VLMInference(use_compile, use_flash_attention)", None, None,
                                      "failed: RuntimeError: no kernel"))])
    row = next(r for r in seed_statements(tmp_path) if r.statement.startswith("max speed"))
    assert row.verdict == "not measured as one recipe" and "failed: RuntimeError: no kernel" in row.measured


@pytest.mark.parametrize(("device_type", "speedup", "expected"), [
    ("cuda", 1.28, "refuted in the compiled loop: INT4 faster"), ("cuda", 0.7, "holds in the compiled loop"),
    ("cpu", 3.0, "not measured here")])
def test_int4_on_the_compiled_loop_is_a_supporting_row_and_a_cpu_run_judges_nothing(tmp_path, device_type, speedup,
                                                                                    expected):
    _write(tmp_path / "10_int4_decode.json", "10_int4_decode", [
        ("int4-verdict", "int4", {"speedup_vs_bf16": speedup, "goal": 1.5, "outcome": "not reached", "bytes_ratio": 3.0,
                                  "kernel_speedup": 1.5, "text": f"INT4 runs at {speedup}x", "device_type": device_type})])
    row = next(r for r in seed_statements(tmp_path) if "once decode's per-token overhead" in r.statement)
    assert row.verdict == expected and row.notebook == "10"
    assert ("supporting" in row.measured) == (device_type == "cuda")


def test_the_decode_table_has_a_row_per_rung_and_marks_a_failed_one(tmp_path):
    from vlmkit.book.readme_tables import decode_table

    h200 = decode_table(ROOT / "reference" / "nvidia-h200")
    rungs = [line for line in h200.splitlines() if line.startswith(("| 09 ", "| 10 "))]
    assert len(rungs) == 11 and "INT4 (torchao), compiled step" in h200
    run = tmp_path / "run"
    (run / "results").mkdir(parents=True)
    failed = {**_rung("the seed's recipe: x", None, None, "failed: E"), "bandwidth_share": None, "warmup_s": None,
              "cached_warmup_s": None}
    _write(run / "results" / "09_decode_ladder.json", "09_decode_ladder", [("decode-rung", "bf16", failed)])
    assert "| 09 | the seed's recipe: x (failed: see the notebook) | – | – | – | – | – |" in decode_table(run)


def test_the_statement_table_bolds_verdicts_on_request_and_each_row_is_a_record(tmp_path):
    rows = seed_statements(tmp_path / "results")
    plain, bold = statement_table(rows), statement_table(rows, bold_verdicts=True)
    assert plain == seed_statement_table(tmp_path) and plain.count("\n") == len(rows) + 1
    assert bold.count("**") == 2 * len(rows) and bold.replace("**", "") == plain
    store = ResultsStore("08_decision", tmp_path)
    store.record_measurement(rows[0], model=None, precision=None, shapes={}, repeats=0)
    record = store.records()[0]
    assert record["experiment"] == "seed-statement" and record["metrics"] == rows[0].as_dict()
    assert Statement.from_metrics(record["metrics"]) == rows[0]


@pytest.mark.parametrize("run", [None, "cpu-x86_64", "nvidia-h200"])
def test_every_seed_statement_keeps_its_row(tmp_path, run):
    """An empty folder, the CPU reference (records of every CPU notebook) and the H200 reference: one row each."""
    texts = [r.statement for r in seed_statements(tmp_path if run is None else ROOT / "reference" / run / "results")]
    assert len(set(SEED_STATEMENTS)) == len(SEED_STATEMENTS)
    assert [s for s in SEED_STATEMENTS if texts.count(s) != 1] == []


WHAT = {"query": "whole query, ms per query (64 px image, 8-token answer)", "prefill": "prefill time",
        "decode": "decode time per token"}
Ratio = float | tuple[float, float, float]  # a ratio to BF16, or (ratio, low, high)


def _record_03(results: Path, ratios: dict[str, Ratio], *, regimes: tuple[str, str] = ("overhead bound", "overhead bound"),
               prefill: dict[str, Ratio] | None = None) -> None:
    """Notebook 03's claim records as it writes them: per precision a headline whole query at ``ratios`` and the two
    phases (prefill at ``prefill``'s ratio where given), then the compute-bound claim with (decode, prefill) ``regimes``."""
    store = ResultsStore("03_dequantization", results, device="cpu")
    for p, whole in ratios.items():
        prec = get_precision(p)
        for phase, role in (("query", "headline"), ("prefill", "supporting"), ("decode", "supporting")):
            r = (prefill or {}).get(p, whole) if phase == "prefill" else whole
            ratio, low, high = (r, r, r) if isinstance(r, float) else r
            metrics = judge_speed_claim(SPEED_CLAIM_OF[prec.quantization],
                                        Speedup(ratio, low, high, method="interleaved pairs", pairs=10), baseline="BF16",
                                        variant=prec.label, what=WHAT[phase], role=role)
            record_claim(store, metrics, model="m", precision=p, shapes={}, repeats=3)
    metrics = {**mechanism_claim("compute-bound", "placed on the roofline", compute_bound_outcome(*regimes)),
               "decode_regime": regimes[0], "prefill_regime": regimes[1]}
    record_claim(store, metrics, model="m", precision="bf16", shapes={}, repeats=3)


def _record_01(results: Path, weights: dict[str, int]) -> None:
    """Notebook 01's ``load`` records on a CPU: the tensor bytes of each precision."""
    store = ResultsStore("01_loading_precisions", results, device="cpu")
    for p, total in weights.items():
        load = LoadMeasurement({"memory": {"kind": "process-rss"}, "weights": {"total_bytes": total}}, {}, None)
        store.record_measurement(load, model="m", precision=p, shapes={}, repeats=1)


def _record_02(results: Path, intervals: dict[str, tuple[float, float]]) -> None:
    """Notebook 02's ``paired-accuracy`` records: each precision's accuracy relative to BF16's, as an interval."""
    store = ResultsStore("02_quality", results, device="cpu")
    for p, (low, high) in intervals.items():
        paired = PairedAccuracyMeasurement(100, 90, 1, 1, 8, (low + high) / 2, [low, high], 0.95, 1.0, 100, 0,
                                           "paired bootstrap over questions", "bf16", None, None, None)
        store.record_measurement(paired, model="m", precision=p, shapes={}, repeats=1)


def _row(results: Path, text: str) -> Statement:
    return next(r for r in seed_statements(results) if r.statement == text)


@pytest.mark.parametrize(("int8", "expected"), [(0.5, "below"), (0.8, "holds"), (1.1, "above"),
                                                ((0.95, 0.85, 1.05), "inconclusive")])
def test_int8_on_an_rtx_4090_is_its_ratio_on_this_device(tmp_path, int8, expected):
    _record_03(tmp_path, {"int8": int8, "nf4": 0.9})
    row = _row(tmp_path, RTX4090_INT8_CLAIM.text)
    assert row.verdict == f"{expected} (on this run's device, not an RTX 4090)" and row.notebook == "03"
    assert "against the claimed 0.75-0.90x" in row.measured and " on CPU" in row.measured  # the device it ran on


@pytest.mark.parametrize(("int8", "nf4", "expected"), [
    (0.3, 0.9, "refuted: INT4 is the faster"), (1.0, 0.7, "holds"),
    ((0.8, 0.7, 0.9), (0.85, 0.8, 0.95), "inconclusive: the spreads overlap")])
def test_the_tables_order_int8_before_int4_is_judged_on_the_spreads(tmp_path, int8, nf4, expected):
    _record_03(tmp_path, {"int8": int8, "nf4": nf4})
    row = _row(tmp_path, ORDERING_TEXT)
    assert row.verdict == expected and "0.8-1.2x" in row.statement and "0.6-0.9x" in row.statement
    assert "NF4 runs at" in row.measured


@pytest.mark.parametrize(("nf4", "expected"), [(0.7, "holds"), (1.2, "refuted"), ((0.97, 0.9, 1.05), "inconclusive")])
def test_maximum_savings_is_judged_on_the_4bit_whole_query(tmp_path, nf4, expected):
    _record_03(tmp_path, {"int8": 1.5, "nf4": nf4})  # INT8 faster: the verdict is the 4-bit one's
    assert _row(tmp_path, MAX_SAVINGS_TEXT).verdict == expected


@pytest.mark.parametrize(("ratios", "int8_bytes", "expected"), [
    ({"int8": 0.5, "nf4": 0.9}, 60, "holds"),
    ({"int8": 0.5, "nf4": 1.2}, 60, "partly: NF4 is faster"),
    ({"int8": 0.5, "nf4": 0.9}, 120, "partly: INT8 saves no memory"),
    ({"int8": 1.1, "nf4": 1.2}, 60, "refuted: INT8 is faster, NF4 is faster")])
def test_memory_not_speed_needs_smaller_weights_and_no_faster_query(tmp_path, ratios, int8_bytes, expected):
    _record_03(tmp_path, ratios)
    _record_01(tmp_path, {"bf16": 100, "int8": int8_bytes, "nf4": 40})
    row = _row(tmp_path, MEMORY_NOT_SPEED_TEXT)
    assert row.verdict == expected and row.notebook == "01, 03"
    assert f"INT8: weights {int8_bytes / 100:.2f}x BF16's" in row.measured


@pytest.mark.parametrize(("nf4", "nf4_accuracy", "expected"), [
    (0.9, (0.99, 1.01), "holds: quantizing buys no speed per whole query (no accuracy cost measurable either)"),
    (0.9, (0.90, 0.95), "holds: quantizing buys no speed per whole query, and NF4 costs accuracy"),
    (1.2, (0.99, 1.01), "refuted: NF4 faster at no measurable accuracy cost"),
    (1.2, (0.90, 0.95), "partly: NF4 faster, but less accurate")])
def test_no_vram_limit_weighs_speed_gained_against_accuracy_lost(tmp_path, nf4, nf4_accuracy, expected):
    _record_03(tmp_path, {"int8": 0.5, "nf4": nf4})
    _record_02(tmp_path, {"int8": (0.99, 1.01), "nf4": nf4_accuracy})
    row = _row(tmp_path, VRAM_NOT_BOTTLENECK_TEXT)
    assert row.verdict == expected and row.notebook == "02, 03"


@pytest.mark.parametrize(("regimes", "prefill", "expected"), [
    (("overhead bound", "memory bound"), 1.3, "not tested: neither phase is compute bound here"),
    (("memory bound", "compute bound"), 0.7, "holds: no quantized precision is faster in the compute-bound prefill"),
    (("memory bound", "compute bound"), 1.3, "refuted: NF4 faster in the compute-bound prefill")])
def test_reducing_memory_when_compute_bound_is_judged_only_where_a_phase_is(tmp_path, regimes, prefill, expected):
    _record_03(tmp_path, {"int8": 0.5, "nf4": 0.9}, regimes=regimes, prefill={"nf4": prefill})
    row = _row(tmp_path, COMPUTE_BOUND_MEMORY_TEXT)
    assert row.verdict.startswith(expected)
    assert f"decode: BF16 {regimes[0]}" in row.measured and f"NF4 {prefill:.2f}x" in row.measured


def _large_claim(ratios: dict[str, float], verdict: str, model: str = "qwen3-vl-72b-shape (40 of 80 layers)") -> dict:
    """A large-model-claim record's metrics as notebook 11 writes them."""
    speedups = {p: {"ratio": r, "low": r - 0.05, "high": r + 0.05, "method": "interleaved pairs", "pairs": 10,
                    "coverage": 0.98} for p, r in ratios.items()}
    return {"model": model, "speedups": speedups, "outcomes": {}, "measured_text": f"{model}, whole query: ...",
            "verdict": verdict, "claim_text": LARGE_MODEL_TEXT, "role": "headline"}


def _large_run(busy_s: float | None) -> dict:
    """A large-precision record's metrics as notebook 11 writes them."""
    return {"model": "qwen3-vl-72b-shape (40 of 80 layers)", "layers": 40, "published_layers": 80, "step_bytes": 10,
            "stored_bytes": 20, "query_s": 2.0, "prefill_s": 0.5, "decode_s_per_token": 0.05,
            "kernel_s_per_token": busy_s, "bandwidth_share": 0.4, "build_s": 9.0, "quant_backend": None}


def test_seventy_b_less_data_comes_from_notebook_11s_quantized_72b(tmp_path):
    empty = _row(tmp_path, LARGE_MODEL_TEXT)
    assert (empty.verdict, empty.notebook) == ("not run here", "11")
    store = ResultsStore("08_decision", tmp_path, device="cpu")  # a run made before notebook 11 existed
    for model, params, regime in (("qwen3-vl-8b", 8 * 10**9, "overhead bound"), ("qwen3-vl-72b-shape", 72 * 10**9,
                                                                                  "memory bound")):
        bound = {"regime": regime, "intensity": 1.0, "bandwidth_share": 0.3, "flops_share": 0.0}
        store.record_measurement(BandwidthBound(model, 80, 80, params, 1.0, 2, 4.0, 0.1, 0.12, None, bound, None,
                                                {"bandwidth": 1.0, "flops": 1.0}), model=model, precision="bf16",
                                 shapes={}, repeats=3)
    row = _row(tmp_path, LARGE_MODEL_TEXT)
    assert row.verdict == "not measured here" and row.notebook == "11"
    assert row.measured.startswith("qwen3-vl-72b-shape in BF16: decode 120.0 ms per token, 30% of the copy "
                                   "bandwidth (memory bound)") and "predates notebook 11" in row.measured
    model = "qwen3-vl-72b-shape (40 of 80 layers)"
    _write(tmp_path / "11_large_models.json", "11_large_models", [
        ("large-precision", "bf16", _large_run(0.04)), ("large-precision", "nf4", _large_run(0.01)),
        ("large-model-claim", None, _large_claim({"nf4": 1.4, "int4": 1.2}, "holds: NF4 faster, INT4 faster"))],
        model=model)
    row = _row(tmp_path, LARGE_MODEL_TEXT)
    assert (row.verdict, row.notebook) == ("holds: NF4 faster, INT4 faster", "11")
    assert row.measured == (f"{model}, whole query: ...; the GPU is busy 80% of each BF16 decode step, 20% of each NF4 "
                            "decode step")


def test_seventy_b_rows_from_the_cpu_stand_in_judge_nothing(tmp_path):
    stand_in = "qwen3-vl-tiny-wide"
    _write(tmp_path / "11_large_models.json", "11_large_models", [
        ("bandwidth-bound", "bf16", _bound("small", 8, 0.09, 0.04, 0.008)),
        ("bandwidth-bound", "bf16", _bound(stand_in, 72, 0.5, 0.12, 0.04)),
        ("bandwidth-claim", "bf16", {"measured_text": "decode per token: ...", "verdict": "holds"}),
        ("large-model-claim", None, _large_claim({"nf4": 1.4}, "holds: NF4 faster", model=stand_in))], model=stand_in)
    for text in (LARGE_MODEL_TEXT, BANDWIDTH_TEXT):
        row = _row(tmp_path, text)
        assert row.verdict == "not measured here" and "CPU stand-in" in row.measured and row.notebook == "11"


def test_seventy_b_executions_that_disagree_make_the_row_inconclusive(tmp_path):
    model = "qwen3-vl-72b-shape (40 of 80 layers)"
    _write(tmp_path / "11_large_models.superseded-1.json", "11_large_models",
           [("large-model-claim", None, _large_claim({"nf4": 0.9}, "refuted: NF4 slower"))], model=model, run_id="a")
    _write(tmp_path / "11_large_models.json", "11_large_models",
           [("large-model-claim", None, _large_claim({"nf4": 1.3}, "holds: NF4 faster"))], model=model, run_id="b")
    row = _row(tmp_path, LARGE_MODEL_TEXT)
    assert row.verdict == "inconclusive (runs disagree: NF4 0.90x to 1.30x over 2 runs)"


#: The rows above and the notebooks each needs.
NEEDS = {RTX4090_INT8_CLAIM.text: {"03"}, ORDERING_TEXT: {"03"}, MAX_SAVINGS_TEXT: {"03"},
         MEMORY_NOT_SPEED_TEXT: {"01", "03"}, VRAM_NOT_BOTTLENECK_TEXT: {"02", "03"},
         COMPUTE_BOUND_MEMORY_TEXT: {"03"}, LARGE_MODEL_TEXT: {"11"}}


@pytest.mark.parametrize("present", [(), ("03",), ("01", "02"), ("01", "03"), ("02", "03"), ("01", "02", "03")])
def test_a_row_whose_notebook_did_not_run_says_so_and_passes_nothing(tmp_path, present):
    writers = {"01": lambda: _record_01(tmp_path, {"bf16": 100, "int8": 60, "nf4": 40}),
               "02": lambda: _record_02(tmp_path, {"int8": (0.99, 1.01), "nf4": (0.99, 1.01)}),
               "03": lambda: _record_03(tmp_path, {"int8": 0.5, "nf4": 0.9})}
    for notebook in present:
        writers[notebook]()
    rows = {r.statement: r for r in seed_statements(tmp_path)}
    for text, needs in NEEDS.items():
        row, absent = rows[text], sorted(needs - set(present))
        if not absent:
            assert row.verdict.startswith((*MEASURED_VERDICTS, "not tested")), (text, row.verdict)
        elif absent == ["08"]:
            assert row.verdict == "not measured here", (text, row.verdict)
        else:  # the first absent notebook the row reads is named
            assert row.verdict == "not run here" and row.notebook in absent, (text, row)
            assert "has no results in this run's folder" in row.measured


def _bound(model: str, parameters: int, share: float, decode_s: float, kernel_s: float) -> dict:
    """A bandwidth-bound record's metrics as notebook 11 writes them."""
    bound = {"regime": "memory bound" if share >= 0.25 else "overhead bound", "intensity": 1.0,
             "bandwidth_share": share, "flops_share": 0.001}
    return {"model": model, "layers": 1, "published_layers": 1, "parameters": parameters, "step_flops": 1.0,
            "step_bytes": 1, "query_s": 1.0, "prefill_s": 0.1, "decode_s_per_token": decode_s,
            "kernel_s_per_token": kernel_s, "bound": bound, "kernels_bound": None,
            "ceilings": {"bandwidth": 1e12, "flops": 1e15, "dtype": "bfloat16"}}


@pytest.mark.parametrize(("large_share", "expected"), [(0.28, "partly: holds at a 10% and 25% cut-off, not at 50%"),
                                                      (0.6, "holds at every cut-off"),
                                                      (0.05, "refuted at every cut-off")])
def test_the_bandwidth_claim_is_judged_at_every_cut_off_with_the_busy_share(tmp_path, large_share, expected):
    notebook = "08_decision" if large_share == 0.6 else "11_large_models"  # 08: a run made before notebook 11
    _write(tmp_path / f"{notebook}.json", notebook, [
        ("bandwidth-bound", "bf16", _bound("small", 8, 0.09, 0.04, 0.008)),
        ("bandwidth-bound", "bf16", _bound("large", 72, large_share, 0.12, 0.04)),
        ("bandwidth-claim", "bf16", {"measured_text": "decode per token: ...", "verdict": "holds"})],
        model="qwen3-vl-72b-shape")
    row = next(r for r in seed_statements(tmp_path) if r.statement.startswith("70B+ models are bandwidth bound"))
    assert row.verdict == expected and row.notebook == notebook[:2]
    assert "the GPU's kernels take 33% of each large-model step (40.0 of 120.0 ms), 20% of the small one's" in row.measured
