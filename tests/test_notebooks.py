"""The notebooks as programs: papermill runs with injected parameters, and the book runner."""

from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from vlmkit.book.lab import KERNEL_DISPLAY_NAME, KERNELSPEC, STRIP_OPTIONS
from vlmkit.book.runner import (
    NOTEBOOK_DIR,
    book_notebooks,
    notebook_needs,
    run_book,
)
from vlmkit.measure.records import load_records

ROOT = Path(__file__).resolve().parents[1]


def test_every_notebook_is_a_clean_source_with_one_parameters_cell():
    notebooks = book_notebooks()
    assert [p.name[:2] for p in notebooks] == ["00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11"]
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path
        # what JupyterLab's save writes: the nbstripout filter (vlmkit.book.lab) strips it on git add
        stripped = "run `git add` in a clone set up by make (nbstripout filter), or `nbstripout " + STRIP_OPTIONS + "`"
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in nb.cells if c.cell_type == "code"), f"{path.name} has outputs: {stripped}"
        assert set(nb.metadata) == {"kernelspec", "vlmkit"}, f"{path.name}: {sorted(nb.metadata)}: {stripped}"
        assert nb.metadata["kernelspec"] == KERNELSPEC, f"{path.name}: choose the kernel {KERNEL_DISPLAY_NAME!r}"
        needs = notebook_needs(path)
        assert {"title", "devices", "gpu_only_cells"} <= set(needs) and not {"cpu_minutes", "cuda_minutes"} & set(needs)
        first = nb.cells[0].source
        assert all(h in first for h in ("## Overview", "## Prerequisites", "Time to run", "System requirements"))
        assert "## Summary" in nb.cells[-1].source and "## What's next" in nb.cells[-1].source
        for line in tagged[0].source.splitlines():
            name = line.split("=")[0].strip()
            assert name.isupper() and "#" in line, line  # UPPERCASE and annotated


def test_loading_notebook_with_injected_parameters(tmp_path):
    """Papermill's injected parameters reach the code: a non-default device, precisions, image and answer length.

    Everything else about notebook 01's records is asserted by its own checks cell (nbval runs its defaults)."""
    out = tmp_path / "01.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK_DIR / "01_loading_precisions.ipynb"), str(out), cwd=str(NOTEBOOK_DIR),
        parameters={"DEVICE": "cpu", "PRECISIONS": "nf4,bf16", "NEW_TOKENS": 2, "IMAGE_SIZE": 32,
                    "RESULTS_DIR": str(tmp_path)},
        kernel_name="python3", progress_bar=False)
    recs = load_records(tmp_path / "01_loading_precisions.json")
    loads = [r for r in recs if r["experiment"] == "load"]
    assert [r["precision"] for r in loads] == ["nf4", "bf16"]  # the order asked for, not the default order
    assert len({r["run_id"] for r in recs}) == 1
    for r in loads:
        assert r["model"] == "qwen3-vl-tiny" and r["shapes"]["image"] == [32, 32] and r["shapes"]["new_tokens"] == 2
        assert r["metrics"]["ask"]["tokens_out"] == 2 and r["metrics"]["ask"]["visual_tokens"] == 1
        assert r["provenance"]["device"] == "cpu" and r["metrics"]["outside_allocator_bytes"] is None
    (context,) = [r["metrics"] for r in recs if r["experiment"] == "cuda-context"]
    assert context["context_bytes"] is None and context["after_queries_bytes"] is None
    assert not [r for r in recs if r["experiment"] == "memory-claim"]  # the seed's claims are about the 8B model


def test_book_runner_keeps_going_and_loses_nothing(tmp_path, capfd):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    good = new_notebook(cells=[
        new_code_cell('DEVICE = "auto"', metadata={"tags": ["parameters"]}),
        new_code_cell('from vlmkit.measure.records import ResultsStore\n'
                      'ResultsStore("00_good").record("x", model=None, precision=None, shapes={}, repeats=1, metrics={"v": 1})'),
    ])
    bad = new_notebook(cells=[new_code_cell('DEVICE = "auto"', metadata={"tags": ["parameters"]}),
                              new_code_cell("raise RuntimeError('boom')")])
    for nb, name in ((good, "00_good.ipynb"), (bad, "01_bad.ipynb"), (good, "02_good.ipynb")):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, notebooks / name)
    manifest = run_book("cpu", tmp_path / "build", notebooks=notebooks)
    assert [e["status"] for e in manifest["notebooks"]] == ["ok", "failed", "ok"]
    said = capfd.readouterr().err  # one line as each notebook starts and as it ends, and no kernel log
    assert "[1/3] 00_good ..." in said and "[3/3] 02_good ok in" in said and "[2/3] 01_bad FAILED (" in said
    assert "without encryption" not in said
    assert "boom" in manifest["notebooks"][1]["error"]
    target = next((tmp_path / "build").iterdir())
    assert target.name.startswith("cpu-")
    assert {p.name for p in target.iterdir()} >= {"00_good.ipynb", "01_bad.ipynb", "02_good.ipynb", "run.json", "results"}
    assert len(load_records(target / "results" / "00_good.json")) == 2  # both good notebooks recorded
    again = run_book("cpu", tmp_path / "build", only=["00"], notebooks=notebooks, resume=target / "run.json")
    assert again["run_id"] == manifest["run_id"]  # one run, made in two parts
    assert [(e["notebook"], e["status"]) for e in again["notebooks"]] == [
        ("00_good.ipynb", "ok"), ("01_bad.ipynb", "failed"), ("02_good.ipynb", "ok")]
    assert len(load_records(target / "results" / "00_good.json")) == 1  # only the re-run's record is current
    assert len(list((target / "results").glob("00_good.superseded-*.json"))) == 1  # the earlier ones kept aside


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_papermill_reads_every_parameter(path, caplog):
    """papermill parses each parameter (name, default, help) without its "Unable to parse line" warning: a help
    comment with a second "=" in it is not read (``papermill --help-notebook`` would not list it)."""
    from papermill.translators import PythonTranslator

    (cell,) = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    with caplog.at_level("WARNING", logger="papermill"):
        names = [p.name for p in PythonTranslator.inspect(cell)]
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    assert names == [line.split("=")[0].strip() for line in cell.source.splitlines() if line.strip()]


def test_the_book_command_exits_non_zero_when_nothing_ran(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "vlmkit.book", "--device", "cpu", "--only", "99", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "0 ok, 0 failed" in done.stdout, (done.returncode, done.stdout, done.stderr)
