"""The static-cache decode loop answers exactly as transformers' generate, and its step compiles whole."""

import numpy as np
import pytest
import torch

from vlmkit.bench.decode_ladder import (
    DecodeRung,
    Int4Rung,
    LadderSettings,
    RecipePrecision,
    Rung,
    judge_int4_loop,
    ladder_settings,
    measure_int4_kernels,
    measure_int4_rung,
    record_rung,
)
from vlmkit.bench.query import QuerySetup
from vlmkit.bench.roofline import Ceilings
from vlmkit.errors import ConfigurationError
from vlmkit.measure.records import ResultsStore, read_measurements
from vlmkit.runtime.decode_loop import DecodeLoop
from vlmkit.runtime.inference import VLMInference


@pytest.fixture(scope="module")
def vlm(tiny_checkpoint):
    return VLMInference(model="qwen3-vl-tiny", device="cpu")


@pytest.fixture(scope="module")
def inputs(vlm):
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    return dict(vlm.encode([image], ["What is in the image?"]))


def _generate_ids(vlm, inputs, n):
    vlm.model.model.rope_deltas = None
    with torch.inference_mode():
        out = vlm.model.generate(**inputs, max_new_tokens=n, min_new_tokens=n)
    return out[:, inputs["input_ids"].shape[1]:]


def test_the_loop_picks_the_tokens_generate_picks(vlm, inputs):
    result = DecodeLoop(vlm.model, max_tokens=128).generate(inputs, 8)
    assert torch.equal(result.tokens, _generate_ids(vlm, inputs, 8))
    assert result.prefill_s > 0 and result.decode_s_per_token > 0
    again = DecodeLoop(vlm.model, max_tokens=128).generate(inputs, 8)  # the cache is emptied for every answer
    assert torch.equal(again.tokens, result.tokens)


def test_the_step_compiles_as_one_graph(vlm, inputs):
    from vlmkit.runtime.compilation import watch_compiles

    torch._dynamo.reset()  # a loop compiled by an earlier test would make this one a recompilation
    loop = DecodeLoop(vlm.model, max_tokens=128, compile_mode="default", compile_backend="eager")  # fullgraph=True
    with watch_compiles() as activity:
        result = loop.generate(inputs, 6)
        loop.generate(inputs, 6)  # the same shapes: no second compilation
    assert torch.equal(result.tokens, _generate_ids(vlm, inputs, 6))
    assert activity.graphs == 1 and not activity.recompiles


def test_bad_settings_are_refused(vlm, inputs):
    with pytest.raises(ConfigurationError, match="cache positions"):
        DecodeLoop(vlm.model, max_tokens=16).generate(inputs, 8)
    with pytest.raises(ConfigurationError, match="compile_mode"):
        DecodeLoop(vlm.model, max_tokens=128, compile_mode="fast")
    with pytest.raises(ConfigurationError, match="captures a CUDA graph"):
        DecodeLoop(vlm.model, max_tokens=128, compile_mode="cuda-graph")  # this model is on the CPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: captures a CUDA graph (GPU-only, not a pass)")
def test_a_step_captured_as_one_cuda_graph_picks_the_compiled_steps_tokens(tiny_checkpoint):
    gpu = VLMInference(model="qwen3-vl-tiny", device="cuda")
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    first = dict(gpu.encode([image], ["What is in the image?"]))
    eager = DecodeLoop(gpu.model, max_tokens=128, greedy=True, compile_mode="default")  # the same kernels, no graph
    graphed = DecodeLoop(gpu.model, max_tokens=128, greedy=True, compile_mode="cuda-graph")
    want = eager.generate(first, 24).tokens
    assert torch.equal(graphed.generate(first, 24).tokens, want)  # captured at its first decode step
    assert torch.equal(graphed.generate(first, 24).tokens, want) and graphed.graphs_captured == 1  # replayed again
    other = dict(gpu.encode([255 - image], ["What colour is it?"]))
    assert torch.equal(graphed.generate(other, 24).tokens, eager.generate(other, 24).tokens)
    assert graphed.graphs_captured == 1  # a new image and question of the same batch: the same graph


def test_every_rung_of_the_ladder_runs_and_is_placed_on_the_roofline(tiny_checkpoint):
    from vlmkit.bench.decode_ladder import climb, weight_bytes_per_token
    from vlmkit.bench.roofline import Ceilings

    default = VLMInference(model="qwen3-vl-tiny", device="cpu")
    recipe = VLMInference(model="qwen3-vl-tiny", device="cpu", use_compile=True, use_flash_attention=True,
                          compile_backend="eager")
    ceilings = Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16")
    rungs = climb(default, recipe, ceilings, image_size=64, new_tokens=4, repeats=2, compile_backend="eager")
    assert [r.name for r in rungs] == ["generate, eager, dynamic cache",
                                       "the seed's recipe: VLMInference(use_compile, use_flash_attention)",
                                       "static-cache loop, eager step", "static-cache loop, compiled step"]
    step_bytes = weight_bytes_per_token(default.model)
    for r in rungs:
        assert r.repeats == 2 and r.decode_s_per_token > 0 and r.warmup_s > 0
        assert r.query_s > 3 * r.decode_s_per_token  # prefill and three decoded tokens
        assert r.tokens_per_s == pytest.approx(1 / r.decode_s_per_token)
        assert r.bytes_per_token == step_bytes
        assert r.bandwidth_share == pytest.approx(r.tokens_per_s * step_bytes / 1e10)
    assert rungs[0].note == "attention: sdpa"
    # the recipe's note: the attention that ran and why, and what compiled (the loop's step: one graph)
    assert rungs[1].note.startswith("attention: sdpa (the flash-attn 2 package runs on CUDA GPUs only")
    assert rungs[1].note.endswith("1 graph(s) compiled in the first call")
    assert "backend=eager" in rungs[3].note and rungs[3].cached_warmup_s > 0  # warmed up again after a reset
    assert rungs[2].cached_warmup_s is None and rungs[2].note == ""


def test_a_quantized_recipe_says_nothing_was_compiled(tiny_checkpoint):
    from vlmkit.bench.decode_ladder import generate_rung
    from vlmkit.bench.roofline import Ceilings

    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu", load_in_8bit=True, use_compile=True)
    rung = generate_rung("int8 recipe", vlm, Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16"), image_size=64,
                         new_tokens=3, repeats=1)
    assert "transformers does not compile" in rung.note and rung.decode_s_per_token > 0
    with pytest.raises(ValueError, match="at least 2 new tokens"):
        generate_rung("too short", vlm, Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16"), image_size=64,
                      new_tokens=1, repeats=1)


@pytest.fixture
def settings(tmp_path):
    """Notebook 10's settings on a CPU, with fixed ceilings and the records in ``tmp_path``."""
    return LadderSettings(torch.device("cpu"), "qwen3-vl-tiny", QuerySetup(64, 8), 4, 2, "eager", (),
                          ResultsStore("10_int4_decode", tmp_path),
                          Ceilings(bandwidth=1e10, flops=1e11, dtype="bfloat16"), None)


def test_ladder_settings_resolve_auto_and_refuse_unknown_choices(tmp_path, tiny_checkpoint):
    with pytest.raises(ConfigurationError, match="COMPILE_BACKEND"):
        ladder_settings("09_decode_ladder", "cpu", compile_backend="fast", results_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="QUANTIZED"):
        ladder_settings("09_decode_ladder", "cpu", quantized=("fp4",), results_dir=tmp_path)
    s = ladder_settings("09_decode_ladder", "cpu", quantized=("nf4",), results_dir=tmp_path)
    assert (s.model_name, s.backend, s.new_tokens, s.repeats, s.quantized) == ("qwen3-vl-tiny", "eager", 8, 3, ("nf4",))
    assert s.checkpoint is not None and s.checkpoint.exists() and s.store.path == tmp_path / "09_decode_ladder.json"
    assert s.sizes == {"image_size": 64, "new_tokens": 8, "repeats": 3} and s.compiled_mode == "default"
    assert s.shapes == {"image": [64, 64], "new_tokens": 8} and s.ceilings.bandwidth > 0 and not s.on_cuda
    assert s.summary().startswith("qwen3-vl-tiny on cpu; 64 px image, 8-token answers; compile backend eager; copy ")
    assert "compile backend eager; INT4 kernel: k; copy bandwidth" in s.summary("INT4 kernel: k")
    assert ladder_settings("10_int4_decode", "cpu", new_tokens=5, compile_backend="inductor",
                           results_dir=tmp_path).new_tokens == 5


def test_rungs_are_recorded_typed_under_their_experiment_and_keys(settings):
    rung = Rung("static-cache loop, compiled step", 0.01, 100.0, 0.2, 20_000_000, 0.5, 3.0, 2, 1.5, "a note")
    record_rung(settings, rung, DecodeRung, precision="bf16", compile_backend="eager")
    record_rung(settings, rung, RecipePrecision, precision="nf4", variant="default")
    decode, recipe = settings.store.records()
    assert decode["experiment"] == "decode-rung" and decode["precision"] == "bf16" and decode["repeats"] == 2
    assert list(decode["metrics"]) == [*rung.as_dict(), "copy_bandwidth", "compile_backend"]
    assert decode["shapes"] == {"image": [64, 64], "new_tokens": 4} and decode["metrics"]["copy_bandwidth"] == 1e10
    assert recipe["experiment"] == "recipe-precision" and list(recipe["metrics"])[-2:] == ["variant", "copy_bandwidth"]
    back = read_measurements(RecipePrecision, settings.store.path.parent, "10_int4_decode")
    assert [r.measurement for r in back] == [RecipePrecision.of(rung, variant="default", copy_bandwidth=1e10)]
    assert back[0].measurement.name == rung.name and back[0].precision == "nf4"


def test_an_int4_rung_is_recorded_as_soon_as_it_is_measured(vlm, settings, capsys):
    rung = measure_int4_rung("BF16, eager step", vlm, settings)
    record = settings.store.records()[-1]
    assert record["experiment"] == "int4-rung" and rung.decode_s_per_token > 0
    assert record["precision"] == "bf16,"  # the name's first word, as notebook 10 has always recorded it
    assert Int4Rung.from_metrics(record["metrics"]) == Int4Rung.of(rung, copy_bandwidth=1e10, compile_backend="eager")
    assert capsys.readouterr().out.startswith("BF16, eager step: ")


def test_int4_kernels_are_timed_per_linear_and_the_verdict_compares_the_same_loop(settings):
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(128, 256, bias=False, dtype=torch.bfloat16),
                                torch.nn.Linear(256, 128, bias=False, dtype=torch.bfloat16))
    kernels = measure_int4_kernels(layer, settings)
    rows = kernels.rows
    assert [(r["layer"], r["shape"], r["weights"]) for r in rows] == [
        ("0", "256x128", "BF16"), ("0", "256x128", "INT4"), ("1", "128x256", "BF16"), ("1", "128x256", "INT4")]
    bf16, int4 = ([r for r in rows if r["weights"] == w] for w in ("BF16", "INT4"))
    assert [r["stored_bytes"] for r in bf16] == [128 * 256 * 2] * 2 and all(r["median_us"] > 0 for r in rows)
    def total(rows, key):
        return sum(r[key] for r in rows)

    assert kernels.bytes_ratio == pytest.approx(total(bf16, "stored_bytes") / total(int4, "stored_bytes"))
    assert kernels.speedup_all_seven == pytest.approx(total(bf16, "median_us") / total(int4, "median_us"))
    for r in rows:
        assert r["bandwidth_share"] == pytest.approx(r["stored_bytes"] / (r["median_us"] * 1e-6) / 1e10)
    record = settings.store.records()[-1]
    assert (record["experiment"], record["precision"]) == ("int4-kernels", "int4")
    assert record["shapes"] == {"tokens": 1, "layer": 0}
    assert "dequantized per call" in kernels.kernel and record["metrics"] == kernels.metrics()
    slow = Rung("BF16, compiled step", 0.02, 50.0, 0.1, 4_000_000, 0.3, 2.0, 2)
    fast = Rung("INT4 (torchao), compiled step", 0.01, 100.0, 0.05, 1_000_000, 0.2, 2.0, 2)
    verdict = judge_int4_loop(slow, fast, kernels, settings, goal=1.5)
    assert (verdict.speedup_vs_bf16, verdict.bytes_ratio, verdict.outcome) == (2.0, 4.0, "reached")
    assert verdict.text.startswith("INT4 in the compiled loop runs at 2.00x BF16 (goal 1.5x: reached); it reads "
                                   "4.00x fewer bytes per token, so a decode at the speed of memory would be about "
                                   "4.0x faster.")
    assert settings.store.records()[-1]["metrics"] == verdict.metrics() and verdict.device_type == "cpu"
    assert judge_int4_loop(slow, fast, kernels, settings, goal=3.0).outcome == "not reached"
