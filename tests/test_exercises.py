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
from vlmkit.book.lab import KERNELSPEC
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
    return exercises.worked_solutions()


Failure = tuple[str, nbformat.NotebookNode, CellExecutionError]


def _run_spoiled(answers: dict[str, dict[str, Any]]) -> tuple[nbformat.NotebookNode, dict[str, Failure]]:
    """The executed joined notebook, and per notebook: the answer spoiled, the cell that failed and its error (the
    solutions everywhere else)."""
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
    return nb, failed


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    """The three runs, each in its own kernel, side by side (kernel start and imports dominate each)."""
    out = tmp_path_factory.mktemp("exercises")
    answers = _solutions()  # once, before the threads (two threads computing them at once gave a wrong pick)
    with ThreadPoolExecutor(max_workers=3) as pool:
        unanswered = pool.submit(_run_with_papermill, _joined({}), out / "unanswered.ipynb")
        solved = pool.submit(_run_with_papermill, _joined(answers), out / "solved.ipynb")
        spoiled = pool.submit(_run_spoiled, answers)
        spoiled_run, failures = spoiled.result()
        return {"unanswered": unanswered.result(), "solved": solved.result(), "spoiled": failures,
                "spoiled run": spoiled_run}


def test_every_book_notebook_has_an_exercise_notebook_of_the_same_name():
    assert sorted(p.stem for p in EXERCISES.glob("*.ipynb")) == STEMS


@pytest.mark.parametrize("stem", STEMS)
def test_exercise_notebook_is_a_clean_source_with_one_check_per_answer(stem):
    nb = _read(stem)
    assert nb.metadata["kernelspec"] == KERNELSPEC  # "Python (vlmkit)", like the book's notebooks
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
    summaries = [i for i, c in enumerate(nb.cells) if "exercise-summary" in c.metadata.get("tags", [])]
    assert len(summaries) == 1 and summaries[0] > max(nb.cells.index(c) for c in checks)  # counted after all
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
def test_a_wrong_answer_gets_a_hint_every_answer_is_judged_and_the_summary_fails(stem, runs):
    target, cell, error = runs["spoiled"][stem]
    assert "exercise-summary" in cell.metadata.get("tags", [])  # Run All reached the last cell
    assert error.ename == "WrongAnswers" and target in error.evalue
    (shown,) = [o for o in cell.outputs if o.output_type == "error"]
    assert len(shown.traceback) == 1 and "Traceback" not in shown.traceback[0]  # one line, no traceback
    outputs = _check_outputs(runs["spoiled run"], stem)
    (judged,) = [text for text in outputs if f"✗ {target}" in text]
    assert "Hint:" in judged or "should be" in judged or "not one of" in judged
    assert "check_" not in judged and "Traceback" not in judged  # no code of the check, no traceback
    others = set(_parameters(_read(stem))) - {target}  # every other answer of the notebook was judged, right
    assert all(any(line.startswith(n) and "correct" in line for text in outputs for line in text.splitlines())
               for n in others), (others, outputs)


def test_a_check_rejects_answers_of_the_wrong_kind_and_the_summary_counts_them(capsys):
    exercises.check_compile_break_even(None)
    assert capsys.readouterr().out == f"COMPILE_BREAK_EVEN_QUERIES: {exercises.NOT_ANSWERED}\n"
    exercises.check_compile_break_even(68.5)
    exercises.check_forum_claim("fits")
    exercises.check_double_quant_saving("0.37")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[1] for line in lines] == ["COMPILE_BREAK_EVEN_QUERIES", "FORUM_CLAIM_VERDICT",
                                                      "DQ_SAVING_BITS_PER_WEIGHT"]
    assert "whole number" in lines[0] and "not one of" in lines[1] and "should be a number" in lines[2]
    with pytest.raises(exercises.WrongAnswers, match="COMPILE_BREAK_EVEN_QUERIES, DQ_SAVING_BITS_PER_WEIGHT"):
        exercises.summary()
    assert capsys.readouterr().out.startswith("0 right, 3 wrong, 0 not answered (of 3)")
    exercises.summary()  # counted since the last summary: nothing now, nothing wrong
    assert capsys.readouterr().out.startswith("0 right, 0 wrong, 0 not answered (of 0)")


def test_break_even_counts_the_warm_up_query():
    assert exercises.break_even_queries(1.0, 1.0, 1.0, 0.5) == 1  # no slower to start: even at once
    assert exercises.break_even_queries(1.0, 1.0, 3.0, 0.5) == 5  # 2 s behind, 0.5 s back per query
    assert exercises.break_even_queries(1.0, 1.0, 3.0, 1.0) is None  # never catches up
