"""The exercise notebooks run three ways: unanswered (clean, "not answered yet"), with the solutions injected by
papermill (every check passes) and with one answer per notebook spoiled (its check fails). So solutions cannot rot
and checks can fail.

A kernel start and vlmkit's imports take seconds, so each way runs every exercise notebook in one kernel: the
notebooks are joined in reading order, each behind a cell that forgets every name the one before defined, with
papermill's own ``parameterize_notebook`` injecting each notebook's answers, and the three runs go side by side.
The unanswered and the solved runs go through ``papermill.execute_notebook`` (which stops at any error); the
spoiled run through nbclient, papermill's engine, one cell at a time, so that each notebook's failure is caught
and the next notebook still runs.
"""

from __future__ import annotations

import importlib.util
import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from vlmkit.book import exercises
from vlmkit.book.runner import book_notebooks

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
STEMS = [p.stem for p in book_notebooks()]
#: Run before each notebook of a joined run: what ``%reset -f`` does to the user's names, without its garbage
#: collection (a second each time once torch is loaded). Nothing a notebook defines survives into the next.
FORGET = """\
_ip = get_ipython()
for _name in [n for n in _ip.user_ns if not n.startswith("_") and n not in _ip.user_ns_hidden]:
    del _ip.user_ns[_name]"""


def _read(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(EXERCISES / f"{stem}.ipynb", as_version=4)


def _parameters(nb: nbformat.NotebookNode) -> list[str]:
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return [line.split("=")[0].strip() for line in cell.source.splitlines() if line.strip()]


def _checks(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if exercises.CHECK_TAG in c.metadata.get("tags", [])]


def _spoiled(value: Any) -> Any:
    """A wrong answer near a right number: an integer one off, any other number half as large again."""
    return value + 1 if isinstance(value, int) else value * 1.5


def _spoil_target(answers: dict[str, Any]) -> str:
    """The answer each notebook's spoiled run gets wrong: its first number (every exercise notebook has one)."""
    return next(k for k, v in answers.items() if isinstance(v, (int, float)) and not isinstance(v, bool))


def _joined(answers: dict[str, dict[str, Any]]) -> nbformat.NotebookNode:
    """Every exercise notebook in reading order as one notebook, each behind a :data:`FORGET` cell, with the given
    answers injected by papermill; every cell's metadata names the notebook it comes from."""
    cells = []
    for stem in STEMS:
        nb = load_notebook_node(str(EXERCISES / f"{stem}.ipynb"))  # papermill's reader adds what injecting needs
        if stem in answers:
            nb = parameterize_notebook(nb, answers[stem], kernel_name="python3", language="python")
        for cell in [new_code_cell(FORGET), *nb.cells]:
            cell.metadata["exercise_notebook"] = stem
            cells.append(cell)
    joined = new_notebook(cells=cells)
    joined.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return joined


def _run_with_papermill(nb: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    nbformat.write(nb, path.with_suffix(".in.ipynb"))
    return papermill.execute_notebook(str(path.with_suffix(".in.ipynb")), str(path), cwd=str(EXERCISES),
                                      kernel_name="python3", progress_bar=False)


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def _check_outputs(executed: nbformat.NotebookNode, stem: str) -> list[str]:
    return [_text(c) for c in _checks(executed) if c.metadata["exercise_notebook"] == stem]


@lru_cache(maxsize=1)
def _solutions() -> dict[str, dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("exercise_solutions", EXERCISES / "solutions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.solutions()


Failure = tuple[str, nbformat.NotebookNode, CellExecutionError]


def _run_spoiled(answers: dict[str, dict[str, Any]]) -> dict[str, Failure]:
    """Per notebook: the answer spoiled, the cell that failed and its error (the solutions everywhere else)."""
    targets = {stem: _spoil_target(given) for stem, given in answers.items()}
    nb = _joined({stem: {**given, targets[stem]: _spoiled(given[targets[stem]])} for stem, given in answers.items()})
    client = NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(EXERCISES)}})
    failed: dict[str, Failure] = {}
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            stem = cell.metadata["exercise_notebook"]
            if cell.cell_type != "code" or stem in failed:
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                failed[stem] = (targets[stem], cell, error)
    return failed


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    """The three runs, each in its own kernel, side by side (kernel start and imports dominate each)."""
    out = tmp_path_factory.mktemp("exercises")
    with ThreadPoolExecutor(max_workers=3) as pool:
        unanswered = pool.submit(_run_with_papermill, _joined({}), out / "unanswered.ipynb")
        solved = pool.submit(_run_with_papermill, _joined(_solutions()), out / "solved.ipynb")
        spoiled = pool.submit(_run_spoiled, _solutions())
        return {"unanswered": unanswered.result(), "solved": solved.result(), "spoiled": spoiled.result()}


def test_every_book_notebook_has_an_exercise_notebook_of_the_same_name():
    assert sorted(p.stem for p in EXERCISES.glob("*.ipynb")) == STEMS


@pytest.mark.parametrize("stem", STEMS)
def test_exercise_notebook_is_a_clean_source_with_one_check_per_answer(stem):
    nb = _read(stem)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    for line in params.source.splitlines():
        name, value = (part.strip() for part in line.split("#")[0].split("="))
        assert name.isupper() and value == "None" and "#" in line, line  # unanswered, annotated
    names = _parameters(nb)
    checks = _checks(nb)
    assert 1 <= len(checks) <= 3  # one to three exercises
    assert sorted(n for c in checks for n in re.findall(r"\b[A-Z][A-Z0-9_]+\b", c.source)) == sorted(names)
    assert all(re.fullmatch(r"check_\w+\([A-Z0-9_, ]*\)", c.source) for c in checks)
    assert f"../notebooks/{stem}.ipynb" in nb.cells[0].source


@pytest.mark.parametrize("stem", STEMS)
def test_unanswered_notebook_runs_clean_and_says_so(stem, runs):
    text = "".join(_check_outputs(runs["unanswered"], stem))
    for name in _parameters(_read(stem)):
        assert f"{name}: {exercises.NOT_ANSWERED}" in text
    assert "correct" not in text


@pytest.mark.parametrize("stem", STEMS)
def test_solutions_pass_every_check(stem, runs):
    assert set(_solutions()[stem]) == set(_parameters(_read(stem)))  # exactly this notebook's questions
    lines = "".join(_check_outputs(runs["solved"], stem)).splitlines()
    assert not [line for line in lines if exercises.NOT_ANSWERED in line]
    for name in _parameters(_read(stem)):
        assert any(line.startswith(name) and "correct" in line for line in lines), (name, lines)


@pytest.mark.parametrize("stem", STEMS)
def test_a_wrong_answer_fails_its_check_with_a_hint(stem, runs):
    target, cell, error = runs["spoiled"][stem]
    assert exercises.CHECK_TAG in cell.metadata.get("tags", []) and target in cell.source, (target, cell.source)
    assert error.ename == "AssertionError" and target in error.evalue and "Hint:" in error.evalue


def test_a_check_rejects_answers_of_the_wrong_kind(capsys):
    exercises.check_compile_break_even(None)
    assert capsys.readouterr().out == f"COMPILE_BREAK_EVEN_QUERIES: {exercises.NOT_ANSWERED}\n"
    with pytest.raises(AssertionError, match="whole number"):
        exercises.check_compile_break_even(68.5)
    with pytest.raises(AssertionError, match="not one of"):
        exercises.check_forum_claim("fits")
    with pytest.raises(AssertionError, match="should be a number"):
        exercises.check_double_quant_saving("0.37")


def test_break_even_counts_the_warm_up_query():
    assert exercises.break_even_queries(1.0, 1.0, 1.0, 0.5) == 1  # no slower to start: even at once
    assert exercises.break_even_queries(1.0, 1.0, 3.0, 0.5) == 5  # 2 s behind, 0.5 s back per query
    assert exercises.break_even_queries(1.0, 1.0, 3.0, 1.0) is None  # never catches up
