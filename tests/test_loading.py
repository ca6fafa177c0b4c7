import bitsandbytes as bnb
import pytest
import torch
from torch import nn

from vlmkit.models.precisions import PRECISION_NAMES, PRECISIONS


@pytest.mark.parametrize("precision", PRECISION_NAMES)
def test_every_precision_loads_with_the_right_layers(loaded_by_precision, precision):
    loaded = loaded_by_precision(precision)
    prec, model, report = PRECISIONS[precision], loaded.model, loaded.report
    linears = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    assert isinstance(linears["lm_head"], nn.Linear) and type(linears["lm_head"]) is nn.Linear
    assert (type(linears["lm_head"].weight) is nn.Parameter) == (precision != "int4-head")
    others = [m for n, m in linears.items() if n != "lm_head"]
    if prec.quantization == "int8":
        assert all(isinstance(m, bnb.nn.Linear8bitLt) for m in others)
        assert {m.state.threshold for m in others} == {prec.int8_threshold}
        assert report.weights.quantized_layers == {"Linear8bitLt": len(others)}
        assert others[0].weight.dtype == torch.int8
    elif prec.quantization == "4bit":
        assert all(isinstance(m, bnb.nn.Linear4bit) for m in others)
        states = [m.weight.quant_state for m in others]
        assert {s.quant_type for s in states} == {prec.quant_type}
        assert {s.nested for s in states} == {prec.double_quant}
        assert {m.compute_dtype for m in others} == {torch.bfloat16}
        assert report.weights.quantized_layers == {"Linear4bit": len(others)}
    elif prec.quantization == "int4":  # torchao swaps the decoder layers' weights; the vision tower stays BF16
        language = [m for n, m in linears.items() if ".language_model." in n]
        visual = [m for n, m in linears.items() if ".visual." in n]
        assert all(type(m.weight).__name__ == "IntxUnpackedToInt8Tensor" for m in language)
        assert all(type(m.weight) is nn.Parameter and m.weight.dtype == torch.bfloat16 for m in visual)
        assert report.weights.quantized_layers == {"IntxUnpackedToInt8Tensor": len(language) + (precision == "int4-head")}
        assert "dequantizes them in every call" in " ".join(report.notes)
    else:
        assert all(type(m) is nn.Linear for m in others)
        assert model.lm_head.weight.dtype == prec.dtype
        assert report.weights.quantized_layers == {}
    assert report.precision == precision and report.device == "cpu"
    assert report.attention.used == "sdpa"
    if prec.library == "torchao":
        kept = report.weights.unquantized_linears  # the vision tower (and for int4 lm_head) stay BF16
        head = ["lm_head"] if "lm_head" in prec.kept_modules else []
        assert "torchao" in report.quant_backend and [n for n in kept if ".visual." not in n] == head
    elif prec.is_quantized:
        assert report.weights.unquantized_linears == ["lm_head"]
        assert "CPU" in report.quant_backend
    else:
        assert report.quant_backend is None


def test_footprints_are_ordered(loaded_by_precision):
    size = {p: loaded_by_precision(p).report.weights.total_bytes for p in ("nf4", "int8", "bf16", "fp32")}
    assert size["nf4"] < size["int8"] < size["bf16"] < size["fp32"]
    assert size["fp32"] == pytest.approx(2 * size["bf16"], rel=1e-3)  # fp32 rotary buffers are the same in both


def test_breakdown_matches_transformers_and_adds_quant_constants(loaded_by_precision):
    bf16 = loaded_by_precision("bf16").report
    assert bf16.weights.total_bytes == bf16.hf_memory_footprint
    assert bf16.weights.bytes_of_kind("quantization constants") == 0
    for name in ("int8", "nf4", "nf4-dq"):
        rep = loaded_by_precision(name).report
        constants = rep.weights.bytes_of_kind("quantization constants")
        assert constants > 0
        assert rep.weights.total_bytes >= rep.hf_memory_footprint
    # double quantization shrinks the 4-bit constants (fp32 absmax -> 8 bit)
    nf4 = loaded_by_precision("nf4").report.weights.bytes_of_kind("quantization constants")
    dq = loaded_by_precision("nf4-dq").report.weights.bytes_of_kind("quantization constants")
    assert dq < nf4


def test_logical_parameters_are_the_same_in_every_precision(loaded_by_precision):
    counts = {p: loaded_by_precision(p).report.weights.total_params for p in ("bf16", "int8", "nf4")}
    assert len(set(counts.values())) == 1, counts


def test_embeddings_and_lm_head_stay_16_bit(loaded_by_precision):
    for name in ("int8", "nf4"):
        b = loaded_by_precision(name).report.weights.bytes_by
        assert b["token embeddings"]["quantized weights"] == 0 and b["token embeddings"]["unquantized tensors"] > 0
        assert b["lm_head"]["quantized weights"] == 0
        assert b["vision tower"]["quantized weights"] > 0


def test_report_serialises(loaded_by_precision):
    import json

    data = loaded_by_precision("nf4").report.as_dict()
    assert json.loads(json.dumps(data))["precision"] == "nf4"
    assert data["memory"]["kind"] == "cpu-rss"


def test_int8_constants_are_still_counted_after_a_forward(tiny_checkpoint, image):
    from vlmkit.measure.footprint import measure_footprint
    from vlmkit.runtime.inference import VLMInference

    vlm = VLMInference(model="qwen3-vl-tiny", device="cpu", load_in_8bit=True)
    before = measure_footprint(vlm.model).bytes_of_kind("quantization constants")
    vlm.ask(image, "what?", max_new_tokens=1)  # bitsandbytes moves the scales into layer.state here
    assert measure_footprint(vlm.model).bytes_of_kind("quantization constants") == before > 0


def _h200_run_as(tmp_path, with_context: bool):
    """The committed H200 run of notebook 01, without (as written before GiB and the CUDA context) or with those fields."""
    import json
    from pathlib import Path

    from vlmkit.measure.records import latest_run

    source = Path(__file__).resolve().parent.parent / "reference" / "nvidia-h200" / "results" / "01_loading_precisions.json"
    records = [r for r in latest_run(json.loads(source.read_text())["records"]) if r["experiment"] == "load"]
    outside = 600 * 2**20
    for r in records:
        r["metrics"].pop("outside_allocator_bytes", None)
        if with_context:
            r["metrics"]["outside_allocator_bytes"] = outside
    if with_context:
        records.append(dict(records[0], experiment="cuda-context", precision=None,
                            metrics={"context_bytes": 500 * 2**20, "after_queries_bytes": outside, "method": "test"}))
        records.append(dict(records[0], experiment="memory-claim", precision="bf16",
                            metrics={"unit": "GiB", "claim_gib": 16.0, "measured_gib": 16.3, "ratio": 1.02,
                                     "verdict": "holds", "claim_text": "...", "outside_allocator_gib": 0.59,
                                     "needed_gib": 17.1, "fits_claimed_card": False}))
    else:
        records.append(dict(records[0], experiment="memory-claim", precision="bf16",
                            metrics={"claim_gb": 16.0, "ratio": 1.1, "verdict": "holds"}))
    (tmp_path / "results").mkdir(parents=True)
    (tmp_path / "results" / "01_loading_precisions.json").write_text(json.dumps({"schema": 1, "records": records}))
    return records


def test_memory_table_is_in_gib_counts_the_cuda_context_and_refuses_records_without_it(tmp_path):
    from vlmkit.book.readme_tables import memory_table
    from vlmkit.core.formatting import GIB
    from vlmkit.measure.memory import card_need_bytes

    _h200_run_as(tmp_path / "old", with_context=False)
    with pytest.raises(ValueError, match="missing: the cuda-context record, outside_allocator_bytes.*claim_gib.*re-run"):
        memory_table(tmp_path / "old")
    records = _h200_run_as(tmp_path / "new", with_context=True)
    table = memory_table(tmp_path / "new")
    assert "weights (GiB)" in table and "1 GiB = 2^30 bytes" in table and "CUDA context took 0.49 GiB" in table
    bf16 = next(r for r in records if r["experiment"] == "load" and r["precision"] == "bf16")["metrics"]
    weights = bf16["load"]["memory"]["retained_bytes"]
    need = card_need_bytes(bf16["load"]["memory"]["peak_bytes"], weights, bf16["ask"]["peak_memory_bytes"], 600 * 2**20)
    row = next(line for line in table.splitlines() if line.startswith("| BF16 |"))
    assert row == (f"| BF16 | {weights / GIB:.2f} | {bf16['load']['memory']['peak_bytes'] / GIB:.2f} | "
                   f"{bf16['load']['weights']['total_params'] * 2 / GIB:.2f} | {need / GIB:.2f} | 16 | 1.02 (holds) | "
                   "does not fit |")
    assert need > weights + 600 * 2**20 - 1  # the context comes on top of the weights


def test_card_need_is_the_higher_peak_plus_what_lies_outside_the_allocator():
    from vlmkit.core.formatting import human_binary_bytes
    from vlmkit.measure.memory import card_need_bytes

    assert card_need_bytes(load_peak=10, weights=8, call_peak=1, outside_allocator=5) == 15
    assert card_need_bytes(load_peak=8, weights=8, call_peak=3, outside_allocator=5) == 16
    assert human_binary_bytes(16 * 2**30) == "16 GiB" and human_binary_bytes(1.5 * 2**20) == "1.5 MiB"


def test_loading_settings_resolve_the_device_defaults_and_refuse_unknown_names():
    from vlmkit.errors import ConfigurationError
    from vlmkit.models.loading import loading_settings

    cpu = loading_settings("cpu")
    assert (cpu.model, cpu.image_size, cpu.context_bytes) == ("qwen3-vl-tiny", 64, None)
    assert cpu.precisions == list(PRECISION_NAMES)  # every precision on a CPU, twins included
    chosen = loading_settings("cpu", "qwen3-vl-8b", " nf4,int8 ", 224)
    assert (chosen.model, chosen.precisions, chosen.image_size) == ("qwen3-vl-8b", ["nf4", "int8"], 224)
    with pytest.raises(ConfigurationError, match="unknown precision 'int3'"):
        loading_settings("cpu", precisions="bf16,int3")
    with pytest.raises(ConfigurationError, match="image_size"):
        loading_settings("cpu", image_size=-1)


def test_a_cpu_run_has_no_cuda_context_and_tables_pick_their_binary_unit():
    from vlmkit.core.formatting import GIB, binary_unit
    from vlmkit.measure.memory import CudaContextMeasurement, measure_cuda_context

    assert measure_cuda_context(torch.device("cpu"), None) == CudaContextMeasurement(
        None, None, "none: no CUDA context on a CPU")
    assert binary_unit(8 * GIB) == (GIB, "GiB") and binary_unit(GIB) == (GIB, "GiB")
    assert binary_unit(4.4 * 2**20) == (2**20, "MiB")


def _markdown_outputs(notebook) -> list[str]:
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return [o["data"]["text/markdown"].strip() for c in cells if c.cell_type == "code" for o in c.get("outputs", [])
            if "text/markdown" in o.get("data", {})]


def test_the_h200_loads_give_back_its_recorded_verdicts_and_explanations():
    """Notebook 01's CUDA branch, replayed from the H200 reference run's records: the same memory-claim records, the
    same rows, and the explanations the reference notebook showed, word for word."""
    from pathlib import Path

    from vlmkit.book.prose import render
    from vlmkit.core.formatting import human_binary_bytes
    from vlmkit.measure.memory import CudaContextMeasurement
    from vlmkit.measure.records import read_measurements
    from vlmkit.models.loading import LoadMeasurement, same_bytes
    from vlmkit.verdicts.rules import (
        MemoryClaimMeasurement,
        judge_memory_claims,
        memory_claims_apply,
    )

    run = Path(__file__).resolve().parent.parent / "reference" / "nvidia-h200"
    notebook = "01_loading_precisions"
    loads = {r.precision: r.measurement for r in read_measurements(LoadMeasurement, run / "results", notebook)}
    recorded = {r.precision: r.measurement for r in read_measurements(MemoryClaimMeasurement, run / "results", notebook)}
    (context,) = [r.measurement for r in read_measurements(CudaContextMeasurement, run / "results", notebook)]
    assert memory_claims_apply("qwen3-vl-8b") and memory_claims_apply("Qwen/Qwen3-VL-8B-Instruct")
    assert not memory_claims_apply("qwen3-vl-tiny")
    claims = judge_memory_claims(loads)
    assert claims == recorded and set(claims) == {"bf16", "int8", "nf4"}
    assert claims["bf16"].row("bf16")["a card of the claimed size"] == "does not fit"
    bf16 = loads["bf16"]
    assert bf16.on_cuda and bf16.weights_bytes == bf16.load["memory"]["retained_bytes"]
    assert bf16.row()["left_in_16_bit"].startswith("all ") and loads["nf4"].row()["left_in_16_bit"] == "lm_head"
    assert same_bytes(loads) == []  # the CUDA default loads no twins
    shown = _markdown_outputs(run / f"{notebook}.ipynb")
    breakdown = render(f"{notebook}/breakdown", precisions=[m.breakdown_values() for p, m in loads.items()
                                                            if PRECISIONS[p].is_quantized])
    summary = render(f"{notebook}/what_the_numbers_say", twins=same_bytes(loads),
                     claims=[c.row(p) for p, c in claims.items()], context=human_binary_bytes(context.context_bytes),
                     after_queries=human_binary_bytes(context.after_queries_bytes))
    assert breakdown.strip() in shown and summary.strip() in shown


def test_twins_store_the_same_bytes_on_the_cpu_reference_run():
    from pathlib import Path

    from vlmkit.book.prose import render
    from vlmkit.measure.records import read_measurements
    from vlmkit.models.loading import LoadMeasurement, same_bytes

    run = Path(__file__).resolve().parent.parent / "reference" / "cpu-x86_64"
    loads = {r.precision: r.measurement for r in read_measurements(LoadMeasurement, run / "results",
                                                                   "01_loading_precisions")}
    assert [(t.precision, t.twin, t.same) for t in same_bytes(loads)] == [
        ("fp16", "bf16", True), ("int8-t0", "int8", True), ("fp4", "nf4", True)]
    assert not loads["bf16"].on_cuda and loads["bf16"].card_need_bytes is None
    assert loads["bf16"].weights_bytes == loads["bf16"].load["weights"]["total_bytes"]
    text = render("01_loading_precisions/what_the_numbers_say", twins=same_bytes(loads), claims=[], context=None,
                  after_queries=None)
    assert text.endswith("- This run is on a CPU: there is no CUDA context, and no card to fit.\n")
    assert text.startswith("- FP16 stores exactly the same bytes as BF16.\n")


def test_the_int4_kernel_candidate_loads_by_name_with_its_group_size_and_stays_out_of_the_tables(loaded_by_precision):
    from vlmkit.models.precisions import INT4_CANDIDATES, get_precision

    g64 = get_precision("int4-g64")
    assert g64 is INT4_CANDIDATES["int4-g64"] and g64.group_size == 64 and g64.quantization == "int4"
    assert "int4-g64" not in PRECISION_NAMES  # the book's tables compare storage, and it stores what int4 stores
    weights = [m.weight for n, m in loaded_by_precision("int4-g64").model.named_modules()
               if isinstance(m, nn.Linear) and ".language_model." in n]
    groups = {w.block_size[-1] for w in weights}  # torchao's per-group block: (1, group size)
    assert groups == {64} and "groups of 64" in loaded_by_precision("int4-g64").report.quant_backend
    base = [m.weight for n, m in loaded_by_precision("int4").model.named_modules()
            if isinstance(m, nn.Linear) and ".language_model." in n]
    assert {w.block_size[-1] for w in base} == {128}
