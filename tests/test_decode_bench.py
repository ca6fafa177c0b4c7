"""The decode benchmark command runs every precision and variant on a CPU and writes typed records (no times
are asserted: the numbers are the command's report, not a test's)."""

import pytest

from vlmkit.bench.decode_bench import DecodeBench, bench_settings, kernel_part, main
from vlmkit.errors import ConfigurationError
from vlmkit.measure.records import read_measurements


def test_the_command_measures_each_precision_and_variant_and_records_it(tiny_checkpoint, tmp_path, capsys):
    main(["--device", "cpu", "--precisions", "bf16,int4,nf4,int4-hopper", "--variants", "compiled,eager",
          "--repeats", "2", "--new-tokens", "4", "--results", str(tmp_path)])
    printed = capsys.readouterr().out
    runs = {(r.precision, r.measurement.variant): r for r in read_measurements(DecodeBench, tmp_path, "decode_bench")}
    assert set(runs) == {(p, v) for p in ("bf16", "int4", "nf4") for v in ("compiled", "eager")}
    for (precision, variant), r in runs.items():
        m = r.measurement
        assert r.shapes == {"image": [64, 64], "new_tokens": 4, "batch": 1} and r.repeats == 2
        assert m.tokens_per_s == pytest.approx(1e3 / m.decode_ms_per_token)
        assert m.bandwidth_share == pytest.approx(m.bytes_per_token * m.tokens_per_s / m.copy_bandwidth)
        assert m.whole_query_spread[0] <= m.whole_query_ms <= m.whole_query_spread[1]
        assert m.compiled == (variant == "compiled" and precision != "nf4")  # bitsandbytes: transformers refuses
        if m.compiled:  # the step compiled in the warm-up, the timed answers reused it, and again after a reset
            assert m.graphs_in_warmup >= 1 and m.graphs_after_warmup == 0 and m.cached_warmup_s > 0
            assert any("vlmkit's decode loop" in n for n in m.notes)
        else:
            assert m.cached_warmup_s is None and m.graphs_after_warmup is None
    assert runs["int4", "compiled"].measurement.bytes_per_token < runs["bf16", "compiled"].measurement.bytes_per_token
    assert "nf4 not compiled (transformers refuses)" in printed and f"records: {tmp_path}" in printed
    # mslk's Hopper kernel cannot run on a CPU: said in a line per variant, nothing recorded, the rest measured
    assert printed.count("int4-hopper compiled not measured: torchao's 'plain' INT4 packing") == 1


def test_bad_options_are_refused_by_name():
    with pytest.raises(ConfigurationError, match="variants"):
        bench_settings("cpu", variants="fast")
    with pytest.raises(Exception, match="int3"):
        bench_settings("cpu", precisions="int3")
    with pytest.raises(ConfigurationError, match="CUDA"):
        bench_settings("cpu", profile=True)
    with pytest.raises(ConfigurationError, match="repeats"):
        bench_settings("cpu", repeats=0)
    s = bench_settings("cpu")
    assert (s.model, s.precisions, s.compile_backend, s.query.image_size) == ("qwen3-vl-tiny", ["bf16", "int4"],
                                                                              "eager", 64)


def test_kernel_names_fall_into_the_parts_of_a_token():
    assert kernel_part("void flash_fwd_splitkv_kernel<...>") == "attention"
    assert kernel_part("void at::native::_weight_int4pack_mm_kernel<...>") == "matmuls"
    assert kernel_part("sm90_xmma_gemm_bf16bf16_bf16f32") == "matmuls"
    assert kernel_part("triton_red_fused__to_copy_add_mean_mul_pow_rsqrt_0") == "norms, rope, activations"
    assert kernel_part("void at::native::reduce_kernel<argmax>") == "sampling"
    assert kernel_part("Memcpy DtoD (Device -> Device)") == "other"


def test_notebook_10_loads_the_int4_candidates_beside_bf16_and_int4_on_cuda_only(monkeypatch):
    import torch

    from vlmkit.bench import decode_bench
    from vlmkit.bench.decode_bench import CUDA_CANDIDATES, as_user_precisions
    from vlmkit.errors import BackendUnavailableError

    cuda, cpu = torch.device("cuda"), torch.device("cpu")  # no GPU is needed to resolve the choice
    assert CUDA_CANDIDATES == ("int4-head", "int4-hopper")
    monkeypatch.setattr(decode_bench, "check_mslk_packing", lambda packing, device_type: None)  # a Hopper with mslk
    assert as_user_precisions("auto", cuda) == ("bf16", "int4", *CUDA_CANDIDATES)

    def no_mslk(packing, device_type):
        raise BackendUnavailableError("no mslk")

    monkeypatch.setattr(decode_bench, "check_mslk_packing", no_mslk)  # any other GPU: the tinygemm candidate only
    assert as_user_precisions("auto", cuda) == ("bf16", "int4", "int4-head")
    assert as_user_precisions("auto", cpu) == as_user_precisions("none", cuda) == ("bf16", "int4")
    assert as_user_precisions(" int4-g64 ,int4-g64", cpu) == ("bf16", "int4", "int4-g64")
    for wrong in ("nf4", "int4", "bf16,int4-head"):
        with pytest.raises(ConfigurationError, match="INT4 candidates"):
            as_user_precisions(wrong, cuda)
    with pytest.raises(ConfigurationError, match="unknown precision"):
        as_user_precisions("int3", cuda)


def test_the_hopper_packings_refuse_clearly_where_mslk_cannot_run():
    from vlmkit.errors import BackendUnavailableError
    from vlmkit.models.loading import load_model
    from vlmkit.models.precisions import check_mslk_packing, get_precision

    assert get_precision("int4-hopper").int4_packing == "plain"
    assert get_precision("int4-preshuffled").int4_packing == "preshuffled"
    with pytest.raises(BackendUnavailableError, match="built for Hopper GPUs.*cpu, no CUDA GPU: use int4"):
        load_model("qwen3-vl-tiny", get_precision("int4-hopper"), device="cpu")
    with pytest.raises(ConfigurationError, match="unknown INT4 packing 'tiled'"):
        check_mslk_packing("tiled", "cuda")


def test_a_failing_run_is_said_the_others_are_measured_and_the_command_exits_non_zero(tiny_checkpoint, tmp_path,
                                                                                        capsys, monkeypatch):
    from vlmkit.bench import decode_bench

    measure = decode_bench.measure_variant

    def int4_breaks(vlm, variant, *args, **kwargs):
        if vlm.report.precision == "int4":
            raise RuntimeError("the kernel broke")
        return measure(vlm, variant, *args, **kwargs)

    monkeypatch.setattr(decode_bench, "measure_variant", int4_breaks)
    with pytest.raises(SystemExit) as exit_:
        main(["--device", "cpu", "--precisions", "int4,bf16", "--variants", "eager", "--repeats", "1",
              "--new-tokens", "2", "--results", str(tmp_path)])
    printed = capsys.readouterr().out
    assert exit_.value.code == 1 and " int4 eager    FAILED: RuntimeError: the kernel broke" in printed
    assert "1 of 2 runs failed: int4 eager: RuntimeError: the kernel broke" in printed
    assert [r.precision for r in read_measurements(DecodeBench, tmp_path, "decode_bench")] == ["bf16"]


def test_notebook_10_says_which_candidate_failed_but_never_lets_bf16_or_int4_fail_quietly(monkeypatch):
    from types import SimpleNamespace

    import torch

    from vlmkit.bench import decode_bench

    def as_user(settings, precision, query):
        if precision in settings.breaking:
            raise RuntimeError(f"{precision} did not compile\nsecond line")
        return f"run of {precision}", None

    monkeypatch.setattr(decode_bench, "_as_user", as_user)
    settings = SimpleNamespace(query=SimpleNamespace(image_size=64), new_tokens=4, device=torch.device("cpu"),
                               breaking={"int4-hopper"})
    user = decode_bench.measure_as_user(settings, ("bf16", "int4", "int4-hopper", "int4-head"))
    assert list(user.runs) == ["bf16", "int4", "int4-head"] and user.profiles == {}
    assert user.failed == {"int4-hopper": "RuntimeError: int4-hopper did not compile"}
    settings.breaking = {"int4"}
    with pytest.raises(RuntimeError, match="int4 did not compile"):
        decode_bench.measure_as_user(settings, ("bf16", "int4"))
