import torch

from vlmkit.core.device import device_slug
from vlmkit.runtime.environment import capability_report, probe_sdpa_backends


def test_capability_report_on_cpu():
    report = capability_report("cpu")
    assert report["device"] == "cpu" and report["total_memory_bytes"] > 0
    assert set(report["sdpa_backends"]) == {"math", "flash", "memory-efficient", "cudnn"}
    assert report["sdpa_backends"]["math"] == "works"
    assert report["bitsandbytes_backend"].startswith("bitsandbytes")
    assert report["tf32"]["supported"] is False
    assert "CUDA" in report["flash_attn_package"] and "CUDA" in report["flash_attn_4_package"]


def test_probe_reports_refusals_instead_of_raising():
    result = probe_sdpa_backends(torch.device("cpu"))
    assert all(v == "works" or v.startswith("unavailable") for v in result.values())


def test_device_slug():
    assert device_slug(torch.device("cpu")).startswith("cpu-")


def test_flash_attn_usability_is_transformers_answer(monkeypatch):
    from vlmkit.models import attention_backends as attention

    cuda = torch.device("cuda")  # a device object only: nothing runs on it
    for answer, expected in ((False, "is_flash_attn_2_available() is False"), (True, None)):
        def check() -> bool:
            return answer

        check.__name__ = "is_flash_attn_2_available"
        monkeypatch.setitem(attention.FLASH_ATTN_PACKAGES, "flash_attention_2", ("flash-attn 2 package", check))
        reason = attention.flash_attn_unavailable_reason(cuda)
        assert reason is None if expected is None else expected in reason


def test_versions_table_reads_without_nan_or_a_phantom_gpu():
    from vlmkit.runtime.environment import readable_versions

    raw = {"torch": "2.14.1", "flash-attn": None, "cuda": "13.0"}
    assert readable_versions(raw, gpu_present=False) == {
        "torch": "2.14.1", "flash-attn": "not installed", "cuda": "13.0: torch's CUDA build; no GPU here"}
    assert readable_versions(raw, gpu_present=True)["cuda"] == "13.0"
    assert readable_versions({"cuda": None}, gpu_present=False) == {"cuda": "none: a CPU-only build of torch"}
    shown = capability_report("cpu")["versions"]  # what notebook 00's versions table shows
    assert all(isinstance(v, str) for v in shown.values()) and {"flash-attn", "cuda"} <= set(shown)
