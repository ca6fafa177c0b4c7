"""A committed reference run never silently differs from its notebook: current, or marked stale."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from vlmkit.book.reference_status import (
    clear_current_marks,
    code_of,
    mark_stale,
    package_fingerprint,
    reference_status,
    run_table,
)

ROOT = Path(__file__).resolve().parent.parent
RUNS = sorted(p for p in (ROOT / "reference").iterdir() if (p / "run.json").exists())


@pytest.mark.parametrize("run_dir", RUNS, ids=[p.name for p in RUNS])
def test_every_reference_notebook_matches_its_source_or_is_marked_stale(run_dir):
    statuses = reference_status(run_dir)
    assert statuses, run_dir
    bad = [f"{s.notebook}: {s.describe()}" for s in statuses if not s.consistent]
    assert not bad, ("re-run them on their device, or python -m vlmkit.book.reference_status --mark "
                     f"{run_dir.relative_to(ROOT)} NN --reason '...': {bad}")


def _notebook(path: Path, code: str) -> None:
    nb = new_notebook(cells=[new_code_cell('DEVICE = "auto"', metadata={"tags": ["parameters"]}), new_code_cell(code)])
    nbformat.write(nb, path)


def test_a_changed_source_is_caught_until_marked_and_the_mark_goes_once_current(tmp_path):
    sources, run = tmp_path / "notebooks", tmp_path / "reference" / "cpu"
    sources.mkdir()
    run.mkdir(parents=True)
    _notebook(sources / "00_a.ipynb", "x = 1")
    executed = new_notebook(cells=[new_code_cell('DEVICE = "auto"', metadata={"tags": ["parameters"]}),
                                   new_code_cell('DEVICE = "cpu"', metadata={"tags": ["injected-parameters"]}),
                                   new_code_cell("x = 1")])
    nbformat.write(executed, run / "00_a.ipynb")
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "device": {"device_name": "CPU"},
                                              "notebooks": [{"notebook": "00_a.ipynb", "status": "ok", "seconds": 75.0,
                                                             "vlmkit": package_fingerprint()}]}))
    [status] = reference_status(run, sources)
    assert status.matches_source and status.consistent  # papermill's injected cell does not count

    _notebook(sources / "00_a.ipynb", "x = 2")
    [status] = reference_status(run, sources)
    assert not status.matches_source and not status.consistent

    marks_path = run / "stale.json"
    marks_path.write_text(json.dumps({"00_a.ipynb": {"since": "abc1234", "reason": "x changed"}}))
    [status] = reference_status(run, sources)
    assert status.consistent and status.describe() == "stale since abc1234 (x changed): re-run pending"

    shutil.copy(sources / "00_a.ipynb", run / "00_a.ipynb")  # as if re-run
    [status] = reference_status(run, sources)
    assert not status.consistent and "remove the mark" in status.describe()


def test_a_run_with_other_vlmkit_code_is_not_current_until_marked(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "sub" / "m.py").write_text("A = 1\n")
    ran_with = package_fingerprint(package)
    sources, run = tmp_path / "notebooks", tmp_path / "run"
    sources.mkdir()
    run.mkdir()
    _notebook(sources / "00_a.ipynb", "x = 1")
    shutil.copy(sources / "00_a.ipynb", run / "00_a.ipynb")
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "notebooks": [
        {"notebook": "00_a.ipynb", "status": "ok", "vlmkit": ran_with}]}))
    [status] = reference_status(run, sources, package)
    assert status.current and status.consistent

    (package / "sub" / "m.py").write_text("A = 2\n")  # the package changed after the run
    assert package_fingerprint(package) != ran_with
    [status] = reference_status(run, sources, package)
    assert status.matches_source and not status.current and not status.consistent
    assert status.describe() == "ran with other vlmkit code and is not marked stale"

    (package / "sub" / "m.py").write_text("A = 1\n")
    (package / "sub" / "__pycache__").mkdir()
    (package / "sub" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"compiled")  # not source
    assert package_fingerprint(package) == ran_with


def test_marking_uses_the_current_commit_and_clearing_removes_only_current_notebooks(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(ROOT / "notebooks" / "00_environment.ipynb", run / "00_environment.ipynb")
    _notebook(run / "01_loading_precisions.ipynb", "not the source")
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "notebooks": [
        {"notebook": name, "status": "ok", "vlmkit": package_fingerprint()}
        for name in ("00_environment.ipynb", "01_loading_precisions.ipynb")]}))
    assert mark_stale(run, ["00", "01"], "testing") == ["00_environment.ipynb", "01_loading_precisions.ipynb"]
    marks = json.loads((run / "stale.json").read_text())
    assert set(marks) == {"00_environment.ipynb", "01_loading_precisions.ipynb"}
    assert all(len(m["since"]) >= 7 and m["reason"] == "testing" for m in marks.values())
    assert clear_current_marks(run) == ["00_environment.ipynb"]
    assert set(json.loads((run / "stale.json").read_text())) == {"01_loading_precisions.ipynb"}
    with pytest.raises(ValueError, match="no reference notebook"):
        mark_stale(run, ["09"], "nothing there")


def test_run_table_takes_times_from_run_json():
    table = run_table(ROOT / "reference")
    for run_dir in RUNS:
        manifest = json.loads((run_dir / "run.json").read_text())
        assert manifest["run_id"] in table
        for entry in manifest["notebooks"]:
            assert entry["notebook"][:-6] in table


def test_no_notebook_runs_the_modules_the_fingerprint_leaves_out():
    """PAGE_BUILDERS may change without staling a reference only because no notebook can reach them."""
    import ast

    from vlmkit.book import _EXPORTS
    from vlmkit.book.reference_status import PAGE_BUILDERS

    package = ROOT / "vlmkit"
    left_out = {"vlmkit." + name.removesuffix(".py").replace("/", ".") for name in PAGE_BUILDERS}
    assert all((package / name).is_file() for name in PAGE_BUILDERS)
    for path in package.rglob("*.py"):
        if path.relative_to(package).as_posix() in PAGE_BUILDERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            imported = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                        [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            assert not left_out & set(imported), f"{path.name} imports {left_out & set(imported)}"
    exported = {name for name, module in _EXPORTS.items() if f"vlmkit.book.{module}" in left_out}
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        code = "\n".join(code_of(notebook))
        used = {n for n in exported if f"book.{n}" in code} | {m for m in left_out if m in code}
        assert not used, f"{notebook.name} runs {used}: take it out of PAGE_BUILDERS"
