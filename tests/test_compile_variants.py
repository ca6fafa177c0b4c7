"""Notebook 05's benchmark on the tiny model: variants, their records, the lesson, the verdict records' writer."""

import json

import matplotlib
import pytest
import torch

from vlmkit.bench.compile_variants import (
    CompileVariants,
    PrecisionOutcome,
    compile_settings,
    measure_compile_variants,
    plot_compile_variants,
    run_compile_lesson,
)
from vlmkit.bench.query import QuerySetup, resolve_model
from vlmkit.measure.records import ResultsStore, read_measurements
from vlmkit.measure.speedup import Speedup
from vlmkit.runtime.generation_variants import (
    VARIANTS,
    CompileLesson,
    CompileVariantFailure,
    CompileVariantRun,
)
from vlmkit.verdicts.rules import (
    judge_speed_claim,
    mechanism_claim,
    record_claim,
    unmeasured_claim,
)

baseline, control, supported, lesson_variant = VARIANTS


def _run(variant, whole_query_ms, warm_up_s, graphs=0, precision="bf16"):
    return CompileVariantRun(precision=precision, variant=variant.name, compiled_graphs=graphs, recompiles=0,
                             warm_up_s=warm_up_s, whole_query_ms=whole_query_ms, prefill_ms=1.0,
                             decode_ms_per_token=0.5, why_not_compiled="", compile_cache="fresh", compile_activity={},
                             total_s=[whole_query_ms / 1e3], prefill_s=[1e-3], decode_s=[5e-4])


def test_settings_resolve_auto_to_the_cpu_defaults_and_refuse_unknown_values(tiny_checkpoint):
    settings = compile_settings("cpu", "auto", "auto", 0, 0, 0, "auto", "fresh")
    assert (settings.model, settings.precisions, settings.setup) == ("qwen3-vl-tiny", ("bf16",), QuerySetup(64, 8))
    assert (settings.role, settings.repeats, settings.lesson_backend) == ("headline", 3, "eager")
    assert settings.checkpoint == tiny_checkpoint and settings.shapes == {"image": [64, 64], "new_tokens": 8}
    assert settings.describe().splitlines()[0] == f"checkpoint: {tiny_checkpoint}"
    other = compile_settings("cpu", str(tiny_checkpoint), "bf16, fp32", 32, 2, 1, "off", "machine")
    assert other.checkpoint is None and other.role == "supporting" and other.lesson_backend is None
    assert other.describe().splitlines()[-1] == "lesson: off"
    with pytest.raises(ValueError, match="LESSON"):
        compile_settings("cpu", "auto", "auto", 0, 0, 0, "cudagraphs", "fresh")
    with pytest.raises(ValueError, match="fresh"):
        compile_settings("cpu", "auto", "auto", 0, 0, 0, "off", "warm")
    assert resolve_model("auto", torch.device("cpu")) == ("qwen3-vl-tiny", tiny_checkpoint)


def test_variants_and_the_lesson_are_measured_recorded_and_read_back(tiny_checkpoint, tmp_path):
    settings = compile_settings("cpu", "auto", "bf16", 0, 2, 1, "eager", "fresh")
    store = ResultsStore("05_compile", tmp_path, "cpu")
    measured = measure_compile_variants(settings, store)
    assert [r["variant"] for r in measured.rows()] == [baseline.name, control.name, supported.name]
    comp = measured.get("bf16", supported)
    assert comp.compiled_graphs == 0 and comp.whole_query_ms is None and comp.samples("total") == []
    assert "cpu" in comp.why_not_compiled  # transformers does not compile generate on a CPU: observed
    eager = measured.get("bf16", baseline)
    assert eager.whole_query_ms > 0 and len(eager.samples("decode")) == 1 and measured.kept is not None
    lesson = run_compile_lesson(measured, store)
    assert measured.kept is None and lesson.base == eager and lesson.layers == 3
    assert lesson.lesson.graphs > 0 and lesson.lesson.recompiles >= 1
    assert "past_key_values" in lesson.lesson.failed_guard
    assert lesson.lesson.row()["recompiles"] == lesson.lesson.recompiles + lesson.lesson.recompiles_in_timed_queries
    read = read_measurements(CompileVariantRun, tmp_path, "05_compile")
    assert [r.measurement for r in read] == list(measured.runs.values())
    assert [r.measurement for r in read_measurements(CompileLesson, tmp_path, "05_compile")] == [lesson.lesson]
    written = json.loads(store.path.read_text())["records"][0]["metrics"]
    assert list(written)[:9] == list(eager.row()) and written["whole query (ms)"] == eager.whole_query_ms
    matplotlib.use("Agg")
    plot_compile_variants(measured, lesson, store.provenance)


def test_a_failed_variant_is_recorded_with_its_error_and_is_no_run(tmp_path):
    failure = CompileVariantFailure.from_error(supported, RuntimeError("no kernel\nfor this"))
    assert failure.metrics() == {"variant": supported.name, "error": "RuntimeError: no kernel"}
    record = {"experiment": "compile-variant", "metrics": failure.metrics()}
    assert CompileVariantRun.from_record(record) is None
    good = _run(baseline, 100.0, 1.0)
    assert CompileVariantRun.from_record({"experiment": "compile-variant", "metrics": good.metrics()}) == good
    assert CompileVariantRun.from_record({"experiment": "speed-claim", "metrics": good.metrics()}) is None


def test_the_warm_up_is_paid_back_after_the_queries_it_costs():
    outcome = PrecisionOutcome("bf16", _run(baseline, 1000.0, 1.0), None, _run(supported, 500.0, 10.5, graphs=2))
    assert outcome.paid_back_after == 20  # (10.5 - 0.5) s of warm-up over 0.5 s saved per query
    slower = PrecisionOutcome("bf16", _run(baseline, 500.0, 1.0), None, _run(supported, 600.0, 9.0))
    assert slower.paid_back_after is None
    settings = compile_settings("cpu", "auto", "bf16", 0, 0, 0, "off", "fresh")
    measured = CompileVariants(settings, {("bf16", baseline.name): outcome.eager,
                                          ("bf16", supported.name): outcome.compiled})
    (only,) = measured.explanation()["outcomes"]
    assert only.static is None and only.compiled is outcome.compiled


def test_claims_are_recorded_under_the_experiment_their_metrics_belong_to(tmp_path):
    store = ResultsStore("05_compile", tmp_path, "cpu")
    shapes = {"image": [64, 64], "new_tokens": 8}
    speed = judge_speed_claim("torch-compile", Speedup(1.4, 1.3, 1.5), baseline="a", variant="b", what="whole query",
                              role="headline")
    for metrics, experiment in ((speed, "speed-claim"),
                                (unmeasured_claim("torch-compile", "no graphs", role="headline"), "unmeasured-claim"),
                                (mechanism_claim("compute-bound", "measured", "refuted"), "mechanism-claim")):
        written = record_claim(store, metrics, model="m", precision="bf16", shapes=shapes, repeats=3)
        assert written["experiment"] == experiment and written["metrics"] == metrics
    assert [r["experiment"] for r in store.records()] == ["speed-claim", "unmeasured-claim", "mechanism-claim"]
