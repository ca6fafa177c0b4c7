"""The course plan: which notebook for which lesson, on the CPU path and on the GPU path, and how long each took.

``docs/course.md`` is written by hand except for one generated block, made here from the notebooks' metadata
(title, what a CPU run leaves out), the exercise notebooks (how many exercises) and the reference runs' ``run.json``
(each notebook's wall time, measured by the book runner: never typed)::

    python -m vlmkit.book.course --update   # rewrite the block
    python -m vlmkit.book.course --check    # exit 1 if the block is out of date (a test does the same)

Taught in ``notebooks/00_environment.ipynb`` (how to read the book).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from vlmkit.book.exercises import CHECK_TAG
from vlmkit.book.reference_status import run_manifest, run_time_text
from vlmkit.book.runner import book_notebooks, notebook_needs
from vlmkit.measure.records import CHECKOUT

#: The course plan, relative to the checkout.
COURSE_FILE = Path("docs") / "course.md"
#: The generated block's name: it sits between ``<!-- course-plan:start -->`` and ``<!-- course-plan:end -->``.
BLOCK = "course-plan"
#: The two ways through the book and the reference run that times each.
PATHS: dict[str, str] = {"CPU path": "cpu-x86_64", "GPU path": "nvidia-h200"}


def _exercise_count(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum(CHECK_TAG in c.metadata.get("tags", []) for c in nb.cells)


def _time_cell(entry: dict | None) -> str:
    if entry is None:
        return "not run"
    time = run_time_text(entry["seconds"])
    return time if entry["status"] == "ok" else f"{entry['status']} after {time}"


def course_table(root: Path = CHECKOUT) -> str:
    """The generated block: one row per notebook (lesson, time on each path's reference run, its exercises), the
    time of each whole path, and what a CPU run leaves to the GPU (each notebook's ``gpu_only_cells``).

    Links are relative to ``docs/``. Taught in ``notebooks/00_environment.ipynb``.
    """
    notebooks = book_notebooks(root / "notebooks")
    needs = {nb: notebook_needs(nb) for nb in notebooks}
    runs = {}
    for path_name, run in PATHS.items():
        manifest = run_manifest(root / "reference" / run)
        runs[path_name] = (manifest["device"]["device_name"], {e["notebook"]: e for e in manifest["notebooks"]})
    header = "| # | lesson | " + " | ".join(f"{p}: {name} (`{PATHS[p]}`)" for p, (name, _) in runs.items())
    lines = [header + " | exercises |", "| --- | --- |" + " --- |" * len(runs) + " --- |"]
    for nb in notebooks:
        count = _exercise_count(root / "exercises" / nb.name)
        times = " | ".join(_time_cell(entries.get(nb.name)) for _, entries in runs.values())
        lines.append(f"| {nb.name[:2]} | [{needs[nb]['title']}](../notebooks/{nb.name}) | {times} | "
                     f"[{count} exercise{'s' if count > 1 else ''}](../exercises/{nb.name}) |")
    totals = []
    for _, entries in runs.values():
        ran = [entries[nb.name] for nb in notebooks if entries.get(nb.name, {}).get("status") == "ok"]
        total = run_time_text(sum(e["seconds"] for e in ran))
        totals.append(total if len(ran) == len(notebooks) else f"{total} ({len(ran)} of {len(notebooks)} notebooks)")
    lines.append("| | **the whole path** | " + " | ".join(totals) + " | |")
    lines += ["", "What a CPU run leaves to the GPU (each notebook's own statement, "
              "`metadata.vlmkit.gpu_only_cells`):", ""]
    lines += [f"- {nb.name[:2]} · {needs[nb]['title']}: {needs[nb]['gpu_only_cells']}" for nb in notebooks]
    return "\n".join(lines)


def fill_course(text: str, root: Path = CHECKOUT) -> str:
    """``text`` (the course plan) with its generated block made again from ``root``'s notebooks and reference runs."""
    start, end = f"<!-- {BLOCK}:start -->", f"<!-- {BLOCK}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"the course plan has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{course_table(root)}\n{end}{rest.split(end, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m vlmkit.book.course [--update | --check]``; without an option, print the block."""
    parser = argparse.ArgumentParser(description="Generate the course plan's table from the reference runs.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--update", action="store_true", help=f"rewrite the generated block of {COURSE_FILE}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 if {COURSE_FILE}'s block is out of date")
    args = parser.parse_args(argv)
    path = CHECKOUT / COURSE_FILE
    if not (args.update or args.check):
        print(course_table())
        return 0
    text = path.read_text()
    filled = fill_course(text)
    if args.update:
        path.write_text(filled)
        return 0
    if filled != text:
        print(f"{COURSE_FILE} is out of date: python -m vlmkit.book.course --update", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
