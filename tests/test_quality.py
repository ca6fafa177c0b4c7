import pytest
import torch

from vlmkit.quality import logit_fidelity, majority_baseline, wilson_interval


def test_majority_baseline():
    rows = [{"family": "a", "answer": "x"}, {"family": "a", "answer": "x"}, {"family": "a", "answer": "y"},
            {"family": "b", "answer": "z"}]
    assert majority_baseline(rows) == {"a": pytest.approx(2 / 3), "b": 1.0}


def test_identical_logits_are_perfectly_faithful():
    logits = torch.randn(50, 300)
    f = logit_fidelity(logits, logits.clone())
    assert f.top1_agreement == 1.0 and f.mean_kl == pytest.approx(0.0, abs=1e-6)


def test_noisy_logits_are_less_faithful():
    torch.manual_seed(0)
    logits = torch.randn(400, 300) * 3
    small = logit_fidelity(logits, logits + 0.05 * torch.randn_like(logits))
    large = logit_fidelity(logits, logits + 2.0 * torch.randn_like(logits))
    assert 1.0 >= small.top1_agreement > large.top1_agreement
    assert 0 < small.mean_kl < large.mean_kl <= large.max_kl
    with pytest.raises(ValueError):
        logit_fidelity(logits, logits[:10])


def test_wilson_interval():
    lo, hi = wilson_interval(0.9, 1000)  # the textbook 95 % Wilson interval for 900 of 1000
    assert lo == pytest.approx(0.8798, abs=2e-4) and hi == pytest.approx(0.9171, abs=2e-4)
    assert wilson_interval(1.0, 50)[1] == 1.0 and wilson_interval(0.0, 50)[0] == 0.0
    with pytest.raises(ValueError):
        wilson_interval(0.5, 0)
