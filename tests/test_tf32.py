"""The TF32 switch flips float32 matmuls and cuDNN convolutions together, and puts both back."""

import pytest
import torch

from vlmkit.runtime.tf32 import tf32, tf32_switches, time_tf32_off_on

CPU = torch.device("cpu")


def _cudnn_conv_allows_tf32() -> bool:
    """cuDNN's TF32 setting for convolutions, read through whichever API this torch has."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        return conv.fp32_precision == "tf32"
    return torch.backends.cudnn.allow_tf32


@pytest.mark.parametrize("start_enabled", [False, True])
def test_tf32_switches_matmuls_and_convolutions_and_restores_both(start_enabled):
    with tf32(start_enabled):  # a known starting point either way round
        before = tf32_switches()
        for enabled in (False, True):
            with tf32(enabled):
                assert torch.get_float32_matmul_precision() == ("high" if enabled else "highest")
                assert _cudnn_conv_allows_tf32() is enabled
            assert tf32_switches() == before
    assert isinstance(torch.backends.cudnn.allow_tf32, bool)  # the older flag is readable again once restored


def test_tf32_restores_the_settings_when_the_block_raises():
    before = tf32_switches()
    with pytest.raises(RuntimeError, match="inside"):
        with tf32(before["float32_matmul_precision"] == "highest"):  # the opposite of the current matmul setting
            assert tf32_switches() != before
            raise RuntimeError("inside")
    assert tf32_switches() == before


def test_tf32_switches_names_the_conv_switch_this_torch_has():
    names = set(tf32_switches())
    assert "float32_matmul_precision" in names
    assert len(names & {"cudnn.conv.fp32_precision", "cudnn.allow_tf32"}) == 1


def test_off_and_on_are_timed_in_as_many_rounds_with_the_switch_applied():
    seen = []

    def matmul():
        seen.append(torch.get_float32_matmul_precision())
        return torch.ones(8, 8) @ torch.ones(8, 8)

    before = tf32_switches()
    timed = time_tf32_off_on(matmul, CPU, rounds=3)
    assert set(timed) == {False, True}
    assert all(len(stats.samples) == 3 and stats.median > 0 for stats in timed.values())
    assert {"high", "highest"} <= set(seen)
    assert tf32_switches() == before
    with pytest.raises(ValueError, match="rounds"):
        time_tf32_off_on(matmul, CPU, rounds=0)
