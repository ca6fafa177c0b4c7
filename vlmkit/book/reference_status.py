"""Is each committed reference run still the notebook it claims to be? Current, or declared stale.

A reference notebook (``reference/<device>/NN_x.ipynb``, written by the book runner) is *current* when
its code cells are exactly those of ``notebooks/NN_x.ipynb`` (papermill's injected-parameters cell
aside) and it ran with today's vlmkit: the runner writes the package's fingerprint (:func:`package_fingerprint`,
a hash of every module and prose template) into each notebook's entry of ``run.json``. After a notebook's code,
or the vlmkit code it runs, changes, its reference runs must be made again on their device, or
declared stale until that device is free::

    python -m vlmkit.book.reference_status --mark reference/nvidia-h200 03 --reason "timing with device events"

writes ``reference/<device>/stale.json`` (notebook -> the commit the mark was made at, and why); the
README's reference-run table shows the mark beside the notebook. A test fails when a reference
notebook differs from its source without a mark, or carries a mark while it is current.
``--times`` of the table come from each run's ``run.json`` (measured by the runner, never typed).

Taught in ``notebooks/00_environment.ipynb``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from vlmkit.measure.records import CHECKOUT, atomic_write_json

ROOT = CHECKOUT
STALE_FILE = "stale.json"
PACKAGE = Path(__file__).resolve().parents[1]
#: The modules that build the repository's pages and tools from finished runs (README tables, the site, the course
#: plan, JupyterLab, the exercise checks, the command line): no numbered notebook runs them (a test checks that none
#: imports them and no other module does), so the fingerprint leaves them out and editing them stales no reference.
PAGE_BUILDERS = frozenset({"book/readme_tables.py", "book/site.py", "book/course.py", "book/lab.py",
                           "book/exercises.py", "book/__main__.py"})


def package_fingerprint(package: Path = PACKAGE) -> str:
    """A hash of the vlmkit source a notebook can run: every ``.py`` module and ``.md`` prose template by path and
    content, :data:`PAGE_BUILDERS` aside. Taught in ``notebooks/00_environment.ipynb``.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.suffix in (".py", ".md") and "__pycache__" not in p.parts):
        name = path.relative_to(package).as_posix()
        if name not in PAGE_BUILDERS:
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def code_of(path: Path) -> list[str]:
    """The source of every code cell of a notebook, papermill's injected-parameters cell left out."""
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


@dataclass(frozen=True)
class ReferenceStatus:
    """One reference notebook against its source: does the code match, and is it declared stale?"""

    notebook: str
    matches_source: bool
    stale_since: str | None
    reason: str | None
    same_package: bool = True  # it ran with today's vlmkit (run.json's fingerprint is this checkout's)

    @property
    def current(self) -> bool:
        """The notebook's code is its source's and it ran with today's vlmkit."""
        return self.matches_source and self.same_package

    @property
    def consistent(self) -> bool:
        """Current and unmarked, or different and marked: never a silent difference, never a needless mark."""
        return self.current == (self.stale_since is None)

    def describe(self) -> str:
        """``current``, ``stale since abc1234 (why): re-run pending``, or what is inconsistent."""
        if self.current and self.stale_since is None:
            return "current"
        if not self.current and self.stale_since is not None:
            return f"stale since {self.stale_since} ({self.reason}): re-run pending"
        if self.stale_since is None:
            what = "differs from its source" if not self.matches_source else "ran with other vlmkit code"
            return f"{what} and is not marked stale"
        return f"marked stale since {self.stale_since} but is current: remove the mark"


def stale_marks(run_dir: Path) -> dict[str, dict[str, str]]:
    """``stale.json`` of a reference run: notebook file name -> {"since": commit, "reason": text}."""
    path = run_dir / STALE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def reference_status(run_dir: Path, notebooks: Path = ROOT / "notebooks",
                     package: Path = PACKAGE) -> list[ReferenceStatus]:
    """The status of every notebook in a reference run folder, in reading order.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    marks = stale_marks(run_dir)
    manifest = run_dir / "run.json"
    ran_with = ({e["notebook"]: e.get("vlmkit") for e in json.loads(manifest.read_text())["notebooks"]}
                if manifest.exists() else {})
    today = package_fingerprint(package)
    found = []
    for path in sorted(run_dir.glob("[0-9][0-9]_*.ipynb")):
        source = notebooks / path.name
        matches = source.exists() and code_of(path) == code_of(source)
        mark = marks.get(path.name)
        found.append(ReferenceStatus(path.name, matches, mark and mark["since"], mark and mark["reason"],
                                     same_package=ran_with.get(path.name) == today))
    return found


def mark_stale(run_dir: Path, prefixes: list[str], reason: str) -> list[str]:
    """Declare the reference notebooks starting with ``prefixes`` stale as of the current commit; returns their names."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    marks = stale_marks(run_dir)
    named = [p.name for p in sorted(run_dir.glob("[0-9][0-9]_*.ipynb")) if any(p.name.startswith(x) for x in prefixes)]
    if not named:
        raise ValueError(f"no reference notebook under {run_dir} starts with {prefixes}")
    for name in named:
        marks[name] = {"since": commit, "reason": reason}
    atomic_write_json(run_dir / STALE_FILE, marks)
    return named


def clear_current_marks(run_dir: Path) -> list[str]:
    """Remove the marks of notebooks that match their source again (after a re-run); returns their names."""
    marks = stale_marks(run_dir)
    cleared = [s.notebook for s in reference_status(run_dir) if s.current and s.notebook in marks]
    for name in cleared:
        del marks[name]
    if marks:
        atomic_write_json(run_dir / STALE_FILE, marks)
    else:
        (run_dir / STALE_FILE).unlink(missing_ok=True)
    return cleared


def run_time_text(seconds: float) -> str:
    """A measured run time as the tables show it: whole seconds below a minute, minutes with one decimal above."""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def reference_runs(reference_root: Path) -> list[Path]:
    """The run folders under ``reference_root``: those holding a runner's ``run.json``, by name.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    return sorted(p for p in reference_root.iterdir() if (p / "run.json").exists())


def run_manifest(run_dir: Path) -> dict:
    """A reference run's ``run.json``: its run id, device and each notebook's status and measured time.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    return json.loads((run_dir / "run.json").read_text())


def run_table(reference_root: Path, link_prefix: str = "notebooks/") -> str:
    """Markdown table: each notebook's measured run time (from ``run.json``) and status, per reference run
    (every folder under ``reference_root`` with a ``run.json``). ``link_prefix`` leads from where the table
    is shown to the notebook sources (``""`` inside a notebook).

    Taught in ``notebooks/00_environment.ipynb``.
    """
    columns = []
    for run_dir in reference_runs(reference_root):
        manifest = run_manifest(run_dir)
        seconds = {e["notebook"]: e for e in manifest["notebooks"]}
        status = {s.notebook: s for s in reference_status(run_dir)}
        columns.append((run_dir, manifest, seconds, status))
    names = sorted({n for _, _, seconds, _ in columns for n in seconds})
    header = "| notebook | " + " | ".join(
        f"{m['device']['device_name']} (`{d.name}`, run `{m['run_id']}`)" for d, m, _, _ in columns) + " |"
    lines = [header, "| --- |" + " --- |" * len(columns)]
    for name in names:
        cells = []
        for _, _, seconds, status in columns:
            entry = seconds.get(name)
            if entry is None:
                cells.append("not run")
                continue
            state = status[name].describe() if name in status else "no executed notebook kept"
            cells.append(f"{entry['status']}, {run_time_text(entry['seconds'])}, {state}")
        lines.append(f"| [{name[:-6]}]({link_prefix}{name}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m vlmkit.book.reference_status [RUN_DIR ...]`` prints the status; ``--mark RUN_DIR NN ... --reason``
    declares notebooks stale; ``--clear RUN_DIR`` removes marks of notebooks that match again."""
    parser = argparse.ArgumentParser(description="Compare committed reference runs with the notebook sources.")
    parser.add_argument("runs", nargs="*", type=Path, help="reference run folders (default: every reference/*)")
    parser.add_argument("--mark", nargs="+", metavar=("RUN_DIR", "NN"), help="declare these notebooks of RUN_DIR stale")
    parser.add_argument("--reason", help="why the marked notebooks are stale (with --mark)")
    parser.add_argument("--clear", type=Path, metavar="RUN_DIR", help="remove the marks of notebooks that match again")
    args = parser.parse_args(argv)
    if args.mark:
        if not args.reason or len(args.mark) < 2:
            parser.error("--mark RUN_DIR NN [NN ...] needs --reason")
        print("marked stale:", *mark_stale(Path(args.mark[0]), args.mark[1:], args.reason))
        return 0
    if args.clear:
        print("cleared:", *clear_current_marks(args.clear))
        return 0
    runs = args.runs or reference_runs(ROOT / "reference")
    bad = 0
    for run_dir in runs:
        for status in reference_status(run_dir):
            bad += not status.consistent
            print(f"{run_dir.name}/{status.notebook}: {status.describe()}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
