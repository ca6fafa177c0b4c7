"""Notebook 11's 72B shape quantized: the verdict rule, the settings, a real (tiny, CPU) run."""

import dataclasses

import pytest
import torch

import vlmkit.bench.large_models as large_models
from vlmkit.bench.large_models import (
    LargeModelClaim,
    LargeModelSettings,
    LargePrecisionRun,
    judge_large_model_claim,
    large_model_settings,
    measure_large_quantized,
    precision_outcome,
)
from vlmkit.bench.query import QuerySetup
from vlmkit.bench.roofline import Ceilings
from vlmkit.errors import ConfigurationError
from vlmkit.measure.records import ResultsStore, read_measurements
from vlmkit.measure.speedup import Speedup
from vlmkit.models.architectures import QWEN3_VL_TINY, QWEN3_VL_TINY_WIDE, count_parameters

GIB = 2**30


@pytest.mark.parametrize(("outcomes", "expected"), [
    ({"nf4": "faster", "int4": "faster"}, "holds: NF4 faster, INT4 faster"),
    ({"nf4": "faster", "int4": "slower"}, "partly: NF4 faster, INT4 slower"),
    ({"nf4": "no measurable difference", "int4": "slower"}, "refuted: NF4 no measurable difference, INT4 slower"),
    ({"nf4": "no measurable difference"}, "inconclusive: NF4 no measurable difference")])
def test_the_claim_holds_only_where_every_quantized_precision_is_faster(outcomes, expected):
    assert judge_large_model_claim(outcomes) == expected


def test_an_outcome_is_read_from_the_paired_interval():
    assert precision_outcome(Speedup(1.2, 1.05, 1.3)) == "faster"
    assert precision_outcome(Speedup(0.8, 0.7, 0.95)) == "slower"
    assert precision_outcome(Speedup(1.1, 0.98, 1.2)) == "no measurable difference"


def test_settings_resolve_the_cpu_stand_in_and_refuse_what_cannot_be_a_headline(tmp_path, monkeypatch):
    monkeypatch.setattr(large_models, "device_ceilings", lambda device: Ceilings(1e10, 1e11, "bfloat16"))
    s = large_model_settings("11_large_models", "cpu", results_dir=tmp_path)
    assert (s.small.name, s.large.name, s.precisions, s.rounds) == ("qwen3-vl-tiny", "qwen3-vl-tiny-wide",
                                                                    ("bf16", "nf4", "int4"), 10)
    assert s.quantized == ("nf4", "int4") and not s.on_cuda and s.query == QuerySetup(64, 8)
    assert large_model_settings(device="cpu", precisions="int8, bf16", results_dir=tmp_path).precisions == ("bf16",
                                                                                                        "int8")
    for bad, match in (({"large_model": "qwen3-vl-8b"}, "LARGE_MODEL"), ({"small_model": "qwen9"}, "SMALL_MODEL"),
                       ({"precisions": "fp16"}, "cannot be drawn"), ({"precisions": "bf16"}, "at least one quantized"),
                       ({"rounds": 4}, "at least 10")):
        with pytest.raises(ConfigurationError, match=match):
            large_model_settings(device="cpu", results_dir=tmp_path, **bad)
    assert count_parameters(QWEN3_VL_TINY_WIDE) > 10 * count_parameters(QWEN3_VL_TINY)


def test_a_cpu_run_times_every_precision_side_by_side_and_records_the_claim(tmp_path, monkeypatch):
    store = ResultsStore("11_large_models", tmp_path, device="cpu")
    spec = dataclasses.replace(QWEN3_VL_TINY, text={**QWEN3_VL_TINY.text, "num_hidden_layers": 2})
    monkeypatch.setattr(large_models, "available_bytes", lambda device: 200 * GIB)
    settings = LargeModelSettings(torch.device("cpu"), QWEN3_VL_TINY, spec, ("bf16", "nf4", "int4"), 2,
                                  QuerySetup(64, 3), Ceilings(1e10, 1e11, "bfloat16"), store)
    result = measure_large_quantized(settings)
    assert list(result.runs) == ["bf16", "nf4", "int4"] and list(result.paired) == ["nf4", "int4"]
    bf16, nf4 = result.runs["bf16"], result.runs["nf4"]
    assert nf4.step_bytes < bf16.step_bytes and nf4.quant_backend.startswith("bitsandbytes")
    assert bf16.layers == bf16.published_layers == 2 and bf16.kernel_s_per_token is None
    assert bf16.bandwidth_share == pytest.approx(bf16.step_bytes / bf16.decode_s_per_token / 1e10)
    assert result.paired["nf4"].rounds["rounds"] == 2 and result.paired["nf4"].rounds["warmup"] == 2
    claim = read_measurements(LargeModelClaim, tmp_path, "11_large_models")
    assert [c.measurement for c in claim] == [result.claim] and claim[0].model == spec.name
    assert result.claim.verdict.split(":")[0] in ("holds", "partly", "refuted", "inconclusive")
    assert set(result.claim.outcomes) == {"nf4", "int4"} and "BF16's speed" in result.claim.measured_text
    recorded = read_measurements(LargePrecisionRun, tmp_path, "11_large_models")
    assert [r.precision for r in recorded] == ["bf16", "nf4", "int4"]
    assert [r["experiment"] for r in store.records()].count("paired-runs") == 2
    assert bf16.table_row("bf16")["kernel"] == "cuBLAS / PyTorch"
