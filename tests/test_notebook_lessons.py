"""Notebooks read as lessons: one import of vlmkit, short code cells, no prose written by code, no record shapes.

What a notebook may do is tell the story: set up (one call), measure (vlmkit functions), show (tables, plots) and
explain (``vk.book.explain`` renders the Markdown template of ``vlmkit/book/prose/<notebook>/``). Record shapes
are ``vlmkit.measure.Measurement`` classes in the room that owns the concept, written with
``store.record_measurement`` (or by a vlmkit function that records), never a dict literal in a cell.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: A code cell longer than this is logic a library should hold (the parameters cell is a list of knobs: exempt).
MAX_CELL_LINES = 25


def code_cells(path: Path) -> list[str]:
    cells = nbformat.read(path, as_version=4).cells
    return [c.source for c in cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_vlmkit_is_imported_once_as_vk(path):
    imports = []
    for source in code_cells(path):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "vlmkit":
                imports.append(f"from {node.module} import ...")
            elif isinstance(node, ast.Import):
                imports += [f"import {a.name} as {a.asname}" for a in node.names if a.name.split(".")[0] == "vlmkit"]
    assert imports == ["import vlmkit as vk"], imports


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_short(path):
    long = [(i, len(s.splitlines())) for i, s in enumerate(code_cells(path)) if len(s.splitlines()) > MAX_CELL_LINES]
    assert not long, f"code cells (index, lines) over {MAX_CELL_LINES} lines: {long}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_writes_prose_or_defines_a_record(path):
    for source in code_cells(path):
        assert not re.search(r"\bMarkdown\(\s*f?[\"']", source), f"prose written in a code cell:\n{source}"
        assert not re.search(r"\.record\(", source), f"a record shaped in a cell (use record_measurement):\n{source}"
        for node in ast.walk(ast.parse(source)):  # a sentence in an f-string is prose: it belongs in a template
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                assert len(text.split()) <= 12, f"an f-string sentence in a code cell: {ast.unparse(node)[:120]}"


def test_every_template_is_used_by_its_notebook():
    prose = ROOT / "vlmkit" / "book" / "prose"
    for template in prose.glob("*/*.md"):
        notebook = ROOT / "notebooks" / f"{template.parent.name}.ipynb"
        assert notebook.exists(), f"{template} belongs to no notebook"
        assert f"{template.parent.name}/{template.stem}" in "\n".join(code_cells(notebook)), f"{template} is unused"
