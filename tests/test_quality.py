import random

import numpy as np
import pytest
import torch

from vlmkit.verdicts.quality import (
    every_kth_of_each_family,
    logit_fidelity,
    majority_baseline,
    mcnemar_exact,
    paired_accuracy,
)
from vlmkit.verdicts.rules import verdict


def test_majority_baseline():
    rows = [{"family": "a", "answer": "x"}, {"family": "a", "answer": "x"}, {"family": "a", "answer": "y"},
            {"family": "b", "answer": "z"}]
    assert majority_baseline(rows) == {"a": pytest.approx(2 / 3), "b": 1.0}


def test_every_kth_of_each_family_keeps_the_family_mix():
    rows = [{"family": f, "i": i} for i, f in enumerate("aabababbbb")]  # a: 4 questions, b: 6
    half = every_kth_of_each_family(rows, 2)
    assert [r["i"] for r in half] == [0, 2, 3, 6, 8]  # a's 1st and 3rd, b's 1st, 3rd and 5th, in file order
    assert every_kth_of_each_family(rows, 1) == rows
    with pytest.raises(ValueError):
        every_kth_of_each_family(rows, 0)


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


def test_mcnemar_exact_is_the_binomial_tail():
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)  # 2 * P(X <= 1), X ~ binomial(10, 1/2)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 40) < 1e-11  # 2 / 2^40
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def _hits(n: int, both: int, only_ref: int, only_other: int) -> tuple[list[bool], list[bool]]:
    """Hits of a reference and another precision with the given cell counts (the rest both wrong), in a fixed shuffle."""
    pairs = [(True, True)] * both + [(True, False)] * only_ref + [(False, True)] * only_other
    pairs += [(False, False)] * (n - len(pairs))
    random.Random(0).shuffle(pairs)
    return [p[0] for p in pairs], [p[1] for p in pairs]


def test_paired_accuracy_counts_disagreements_and_is_reproducible():
    ref, other = _hits(1335, 1260, 15, 8)
    p = paired_accuracy(ref, other)
    assert (p.n, p.both_right, p.only_reference_right, p.only_other_right, p.both_wrong) == (1335, 1260, 15, 8, 52)
    assert p.disagreements == 23
    assert p.relative == pytest.approx(1268 / 1275)
    assert p.interval[0] < p.relative < p.interval[1] < 1.01
    assert p.mcnemar_p == pytest.approx(mcnemar_exact(15, 8))
    assert paired_accuracy(ref, other) == p  # fixed seed: the same interval every time
    assert p.as_dict()["interval"] == list(p.interval) and p.as_dict()["only_reference_right"] == 15


def test_identical_answers_give_a_point_interval():
    ref, _ = _hits(200, 150, 0, 0)
    p = paired_accuracy(ref, ref)
    assert p.relative == 1.0 and p.interval == (1.0, 1.0) and p.mcnemar_p == 1.0 and p.disagreements == 0


def test_paired_accuracy_refuses_what_it_cannot_compare():
    with pytest.raises(ValueError):
        paired_accuracy([True, False], [True])
    with pytest.raises(ValueError):
        paired_accuracy([False, False], [True, False])  # the reference got nothing right


def test_pairing_decides_the_verdict_when_answers_are_correlated():
    # The other precision loses 40 of the reference's 1275 right answers and gains none: relative 0.969.
    # Paired, only those 40 disagreements are uncertain: the interval lies wholly below the seed's INT8 range.
    ref, other = _hits(1335, 1235, 40, 0)
    paired = paired_accuracy(ref, other)
    assert paired.relative == pytest.approx(1235 / 1275)
    assert paired.interval[1] < 0.98 and paired.mcnemar_p < 1e-11
    assert verdict(paired.relative, 0.98, 0.99, tolerance=0.0, spread=paired.interval).outcome == "below"
    # The same two accuracies with the answers unrelated (other's hits shuffled): far more disagreements,
    # a wider interval that reaches into the claim. Ignoring the pairing would have let the claim hold.
    shuffled = other[:]
    random.Random(1).shuffle(shuffled)
    unpaired = paired_accuracy(ref, shuffled)
    assert unpaired.relative == pytest.approx(paired.relative)
    assert unpaired.disagreements > 2 * paired.disagreements
    assert unpaired.interval[1] - unpaired.interval[0] > 1.5 * (paired.interval[1] - paired.interval[0])
    assert verdict(unpaired.relative, 0.98, 0.99, tolerance=0.0, spread=unpaired.interval).outcome == "holds"


def test_a_precision_that_keeps_more_than_claimed_is_above():
    ref, other = _hits(1335, 1270, 3, 2)
    p = paired_accuracy(ref, other)
    assert p.interval[0] > 0.99
    assert verdict(p.relative, 0.98, 0.99, tolerance=0.0, spread=p.interval).outcome == "above"


def _quality_run(tmp_path, paired: bool) -> None:
    """A notebook-02 results file: BF16 and NF4 accuracy, with paired-accuracy records or (as before them) a Wilson claim."""
    import json

    from vlmkit.measure.records import provenance

    def rec(experiment, precision, metrics, shapes):
        return {"schema": 1, "notebook": "02_quality", "experiment": experiment, "run_id": "r", "model": "m",
                "precision": precision, "shapes": shapes, "repeats": 1, "metrics": metrics, "provenance": prov}

    prov = provenance("cpu")
    shapes = {"questions": 670, "split_questions": 1335, "question_stride": 2, "batch_size": 64}
    records = [rec("accuracy", "bf16", {"overall": 0.95, "by_family": {}, "n": 670}, shapes),
               rec("accuracy", "nf4", {"overall": 0.94, "by_family": {}, "n": 670}, shapes)]
    if paired:
        ref, other = _hits(670, 628, 9, 2)
        p = paired_accuracy(ref, other)
        records.append(rec("paired-accuracy", "nf4", dict(p.as_dict(), reference="bf16", claim=[0.95, 0.98],
                                                          claim_text="...", verdict="holds"), shapes))
    else:
        records.append(rec("quality-claim", "nf4", {"relative": 0.99, "interval": [0.97, 1.0], "claim": [0.95, 0.98],
                                                     "verdict": "holds"}, {"questions": 1335}))
    records.append(rec("logit-fidelity", "nf4", {"top1_agreement": 0.99, "mean_kl": 0.0002, "max_kl": 0.01}, shapes))
    (tmp_path / "results").mkdir(parents=True)
    (tmp_path / "results" / "02_quality.json").write_text(json.dumps({"schema": 1, "records": records}))


def test_quality_table_shows_the_paired_comparison_and_refuses_records_without_it(tmp_path):
    from vlmkit.book.readme_tables import quality_table

    _quality_run(tmp_path / "old", paired=False)
    with pytest.raises(ValueError, match="missing: paired-accuracy records for nf4.*re-run"):
        quality_table(tmp_path / "old")
    _quality_run(tmp_path / "new", paired=True)
    table = quality_table(tmp_path / "new")
    p = paired_accuracy(*_hits(670, 628, 9, 2))
    assert "670 test questions (every 2nd question of each family of the split's 1335)" in table
    assert "paired bootstrap over questions (10,000 resamples)" in table
    row = next(line for line in table.splitlines() if line.startswith("| NF4 |"))
    assert row == (f"| NF4 | 0.940 | {p.relative:.3f} [{p.interval[0]:.3f}, {p.interval[1]:.3f}] | 9 / 2 | "
                   f"{p.mcnemar_p:.2g} | 0.95-0.98 | holds | 0.990 | 0.0002 |")
    assert "| BF16 | 0.950 | 1.000 | – | – | – | – | – | – |" in table


def test_quality_settings_resolve_the_device_defaults_and_always_keep_bf16():
    from vlmkit.errors import ConfigurationError
    from vlmkit.models.precisions import PRECISION_NAMES
    from vlmkit.verdicts.quality import (
        CPU_DEFAULT_PRECISIONS,
        FIDELITY_DEFAULT_PRECISIONS,
        every_kth_words,
        quality_settings,
    )

    cpu = quality_settings("cpu")
    assert (cpu.stride, cpu.precisions, cpu.fidelity_model) == (2, list(CPU_DEFAULT_PRECISIONS), "none")
    assert cpu.fidelity_precisions == list(FIDELITY_DEFAULT_PRECISIONS)
    chosen = quality_settings("cpu", "nf4, int8", 1, "qwen3-vl-8b", "int8,bf16")
    assert (chosen.stride, chosen.precisions, chosen.fidelity_model) == (1, ["bf16", "nf4", "int8"], "qwen3-vl-8b")
    assert chosen.fidelity_precisions == ["bf16", "int8"]
    assert quality_settings("cpu", "all", fidelity_precisions="all").fidelity_precisions == list(PRECISION_NAMES)
    with pytest.raises(ConfigurationError, match="unknown precision"):
        quality_settings("cpu", fidelity_precisions="int3")
    with pytest.raises(ConfigurationError, match="question_stride"):
        quality_settings("cpu", question_stride=-1)
    assert [every_kth_words(k) for k in (1, 2, 3, 4, 21)] == ["every", "every 2nd", "every 3rd", "every 4th",
                                                               "every 21th"]


def _accuracy(hits: list[bool]):
    from vlmkit.verdicts.quality import Accuracy

    return Accuracy(sum(hits) / len(hits), {"f": sum(hits) / len(hits)}, ["x"] * len(hits), hits, len(hits),
                    torch.zeros(len(hits), 3))


def test_a_quality_claim_is_judged_on_the_paired_interval_and_recorded_under_its_committed_keys():
    import json
    from pathlib import Path

    from vlmkit.verdicts.quality import (
        AccuracyMeasurement,
        PairedAccuracyMeasurement,
        judge_quality_claim,
    )

    ref, other = _hits(1335, 1235, 40, 0)
    judged = judge_quality_claim(_accuracy(ref), _accuracy(other), "int8", resamples=2000)
    p = paired_accuracy(ref, other, resamples=2000)
    assert judged.relative == p.relative and judged.interval == list(p.interval) and judged.verdict == "below"
    assert (judged.claim, judged.reference) == ([0.98, 0.99], "bf16")
    assert judge_quality_claim(_accuracy(ref), _accuracy(ref), "fp32", resamples=100).verdict is None
    row = judged.row("int8")
    assert row["accuracy"] == sum(other) / len(other) and row["seed claim"] == "98%-99%" and row["verdict"] == "below"
    committed = Path(__file__).resolve().parent.parent / "reference" / "nvidia-h200" / "results" / "02_quality.json"
    records = json.loads(committed.read_text())["records"]
    keys = {r["experiment"]: set(r["metrics"]) for r in records}
    assert set(judged.metrics()) == keys[PairedAccuracyMeasurement.EXPERIMENT]
    assert set(_accuracy(ref).measurement().metrics()) == keys[AccuracyMeasurement.EXPERIMENT]
    assert set(logit_fidelity(torch.ones(2, 3), torch.ones(2, 3)).measurement("bf16").metrics()) == keys["logit-fidelity"]


def test_the_reference_runs_explanations_are_the_template_filled_with_their_records():
    from pathlib import Path

    import nbformat

    from vlmkit.book.prose import render
    from vlmkit.measure.records import read_measurements
    from vlmkit.models.precisions import get_precision
    from vlmkit.verdicts.quality import AccuracyMeasurement, PairedAccuracyMeasurement

    for device in ("nvidia-h200", "cpu-x86_64"):
        run = Path(__file__).resolve().parent.parent / "reference" / device
        bf16 = [r.measurement for r in read_measurements(AccuracyMeasurement, run / "results", "02_quality")
                if r.precision == "bf16"][0]
        paired = {r.precision: r.measurement
                  for r in read_measurements(PairedAccuracyMeasurement, run / "results", "02_quality")}
        text = render("02_quality/what_the_numbers_say", questions=bf16.n, bf16_accuracy=bf16.overall, paired=paired,
                      labels={p: get_precision(p).label for p in paired})
        shown = [o["data"]["text/markdown"].strip() for c in nbformat.read(run / "02_quality.ipynb", as_version=4).cells
                 if c.cell_type == "code" for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
        assert text.strip() in shown, device


def test_first_token_logits_come_for_every_precision_and_input(tiny_checkpoint):
    from vlmkit.verdicts.quality import first_token_logits_by_precision

    images = [(np.random.default_rng(i).random((64, 64, 3)) * 255).astype(np.uint8) for i in range(3)]
    logits = first_token_logits_by_precision("qwen3-vl-tiny", ["bf16", "fp32"], images, ["what?"] * 3,
                                             torch.device("cpu"), batch_size=2)
    assert list(logits) == ["bf16", "fp32"] and logits["bf16"].shape == logits["fp32"].shape
    assert logits["bf16"].shape[0] == 3
    assert logit_fidelity(logits["bf16"], logits["fp32"]).top1_agreement > 0.5
