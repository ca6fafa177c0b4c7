"""The book as a course: objectives and exercises in every notebook, the reading order, links that resolve, the
glossary, and the course plan's generated table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from vlmkit.book.course import COURSE_FILE, course_table, fill_course
from vlmkit.book.exercises import CHECK_TAG
from vlmkit.book.runner import book_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = book_notebooks()
LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
#: Terms the book relies on that the glossary must explain (each heading contains one of them).
GLOSSARY_TERMS = ("roofline", "ridge point", "overhead bound", "IQR spread", "paired interval", "absmax",
                  "double quantization", "CUDA graph", "static cache", "TF32", "GQA", "visual token", "KV cache",
                  "CUDA context", "GiB", "LLM.int8", "NF4", "SDPA", "prefill", "decode", "verdict", "warm-up",
                  "McNemar", "bootstrap", "memory planner", "bytes per token")


def _markdown(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


def _section(text: str, heading: str) -> str:
    """The text under ``## heading`` up to the next level-2 heading."""
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _exercise_titles(stem: str) -> list[str]:
    found = [re.match(r"## Exercise \d+ · (.+)", source) for source in _markdown(ROOT / "exercises" / f"{stem}.ipynb")]
    return [m.group(1) for m in found if m]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_says_what_it_teaches_and_ends_with_its_exercises(path):
    cells = _markdown(path)
    overview = _section(cells[0], "Overview")
    assert re.search(r"\*\*You will learn\*\*\n1\. ", overview), "a '**You will learn**' list in the Overview"
    last = cells[-1]
    assert last.rstrip().rsplit("\n## ", 1)[1].startswith("Exercises")  # the last section
    items = LINK.findall(_section(last + "\n", "Exercises"))
    link = f"../exercises/{path.name}"
    titles = _exercise_titles(path.stem)
    assert [(t, link) for t in titles] == [i for i in items if i[0] in titles]  # every exercise, in order, linked
    assert len(titles) == sum(CHECK_TAG in c.metadata.get("tags", [])
                              for c in nbformat.read(ROOT / "exercises" / path.name, as_version=4).cells)


@pytest.mark.parametrize("index", range(len(NOTEBOOKS)), ids=[p.stem for p in NOTEBOOKS])
def test_whats_next_follows_the_reading_order(index):
    text = _section(_markdown(NOTEBOOKS[index])[-1], "What's next")
    links = [target for _, target in LINK.findall(text) if re.fullmatch(r"\d\d_\w+\.ipynb", target)]
    if index + 1 < len(NOTEBOOKS):
        assert links and links[0] == NOTEBOOKS[index + 1].name, links
    else:
        assert "last notebook" in text and all(int(t[:2]) < int(NOTEBOOKS[index].name[:2]) for t in links)


def _documents() -> list[tuple[Path, str]]:
    docs = [(p, s) for folder in ("notebooks", "exercises") for p in sorted((ROOT / folder).glob("*.ipynb"))
            for s in _markdown(p)]
    return docs + [(p, p.read_text()) for p in sorted((ROOT / "docs").glob("*.md"))]


def test_every_relative_link_of_the_course_resolves():
    broken = [(path.relative_to(ROOT), target) for path, text in _documents() for _, target in LINK.findall(text)
              if not re.match(r"[a-z]+:", target) and not target.startswith("#")
              and not (path.parent / target.split("#")[0]).resolve().exists()]
    assert not broken


def test_glossary_explains_the_books_terms_and_points_to_existing_notebooks():
    text = (ROOT / "docs" / "glossary.md").read_text()
    entries = re.split(r"^## ", text, flags=re.M)[1:]
    headings = [e.splitlines()[0] for e in entries]
    assert headings == sorted(headings, key=str.lower)  # alphabetical
    for term in GLOSSARY_TERMS:
        assert any(term.lower() in h.lower() for h in headings), term
    for entry in entries:
        taught = [t for _, t in LINK.findall(entry) if t.startswith("../notebooks/")]
        assert taught and all((ROOT / "docs" / t).resolve().exists() for t in taught), entry.splitlines()[0]


def test_course_plan_is_generated_from_the_reference_runs_and_lists_every_notebook():
    text = (ROOT / COURSE_FILE).read_text()
    assert fill_course(text) == text  # else: python -m vlmkit.book.course --update
    block = text.split("<!-- course-plan:start -->")[1].split("<!-- course-plan:end -->")[0]
    for path in NOTEBOOKS:
        assert f"(../notebooks/{path.name})" in block and f"(../exercises/{path.name})" in block, path.name


def _tiny_book(root: Path, runs: dict[str, list[dict]]) -> None:
    for folder in ("notebooks", "exercises"):
        (root / folder).mkdir()
    for stem in ("00_first", "01_second"):
        nb = new_notebook(cells=[new_code_cell("x = 1", metadata={"tags": [CHECK_TAG]})],
                          metadata={"vlmkit": {"title": stem.title(), "gpu_only_cells": "none"}})
        nbformat.write(nb, root / "notebooks" / f"{stem}.ipynb")
        nbformat.write(nb, root / "exercises" / f"{stem}.ipynb")
    for run, entries in runs.items():
        (root / "reference" / run).mkdir(parents=True)
        manifest = {"run_id": "r", "device": {"device_name": run.upper()}, "notebooks": entries}
        (root / "reference" / run / "run.json").write_text(json.dumps(manifest))


def test_course_table_says_what_did_not_run_and_totals_only_what_did(tmp_path):
    _tiny_book(tmp_path, {
        "cpu-x86_64": [{"notebook": "00_first.ipynb", "status": "ok", "seconds": 30.0}],
        "nvidia-h200": [{"notebook": "00_first.ipynb", "status": "ok", "seconds": 90.0},
                        {"notebook": "01_second.ipynb", "status": "failed", "seconds": 12.0}],
    })
    rows = course_table(tmp_path).splitlines()
    assert rows[2] == ("| 00 | [00_First](../notebooks/00_first.ipynb) | 30 s | 1.5 min | "
                       "[1 exercise](../exercises/00_first.ipynb) |")
    assert "| not run | failed after 12 s |" in rows[3]
    assert rows[4] == "| | **the whole path** | 30 s (1 of 2 notebooks) | 1.5 min (1 of 2 notebooks) | |"
