"""The book as a static HTML site, rendered from the committed reference runs: nothing is executed.

``python -m vlmkit.book.site`` (``make site``) writes ``build/site/index.html``: the README as the landing page,
one page per reference run (``reference/<device>/``: device, versions, run time and status of each notebook,
its results JSON) and that run's executed notebooks with their outputs and plots. The H200 run comes first:
it is the book; every other run is the same book on another device.

The tool is Sphinx with MyST-NB (what Jupyter Book 1 is built on, without its extra extensions; the
configuration is ``site/conf.py``): it renders committed outputs without executing them, installs from
PyPI (about 110 MB, 15 s) and, with ``-W``, fails on any link between pages it cannot resolve. Jupyter
Book 2 (mystmd) would need Node.js and fetches its theme from the network at build time.

The sources Sphinx reads are staged first, because the links in the README and the notebooks are written
for the repository: ``notebooks/03_dequantization.ipynb`` (or ``03_dequantization.ipynb`` from a notebook)
becomes the rendered page of the same run (the README's of the main run), ``../README.md`` the landing page,
``reference/<device>/`` that run's page; a link to another file of the repository becomes plain text, and a
link to a path that does not exist is left for Sphinx to report.
"""

from __future__ import annotations

import argparse
import copy
import posixpath
import re
import shutil
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import nbformat
from sphinx.cmd.build import build_main

from vlmkit.book.exercises import worked_solutions
from vlmkit.book.reference_status import (
    reference_runs,
    reference_status,
    run_manifest,
    run_time_text,
)
from vlmkit.measure.records import CHECKOUT

#: The reference run that is the book; the other runs follow it.
MAIN_DEVICE = "nvidia-h200"
CONF_DIR = CHECKOUT / "site"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
#: An inline Markdown link (not an image): ``[text](target)``.
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^()\s]+)\)")


def site_runs(reference: Path) -> list[Path]:
    """The run folders under ``reference/`` (those with a ``run.json``), the main device's first."""
    return sorted(reference_runs(reference), key=lambda p: p.name != MAIN_DEVICE)


def site_target(target: str, source_dir: str, page_dir: str, root: Path, runs: list[str]) -> str | None:
    """Where a link of the repository leads on the site, relative to the page that holds it.

    ``source_dir``: the repository folder the link was written from (``""`` for the README, ``notebooks`` for a
    notebook); ``page_dir``: the run the page belongs to (``""`` for the landing page). Returns None for a file
    of the repository that the site does not render, and ``target`` unchanged for URLs, anchors and paths that
    do not exist (Sphinx reports those).
    """
    path, hash_mark, fragment = target.partition("#")
    if not path or urlsplit(path).scheme or path.startswith("/"):
        return target
    repo_path = posixpath.normpath(posixpath.join(source_dir, unquote(path)))
    parts = repo_path.split("/")
    page: str | None = None
    if repo_path == "README.md":
        page = "index.md"
    elif parts[0] == "docs" and len(parts) == 2 and parts[1].endswith(".md") and (root / repo_path).exists():
        page = repo_path  # the package's map, the course plan, the glossary: pages of their own
    elif parts[0] == "exercises" and (len(parts) == 1 or parts[1].endswith(".ipynb") and (root / repo_path).exists()):
        page = "exercises/index.md" if len(parts) == 1 else repo_path  # each exercise notebook, and their index
    elif parts[-1].endswith(".ipynb") and (parts[:-1] == ["notebooks"] or parts[0] == "reference" and len(parts) == 3):
        # a source notebook: the page of the same run where it has one, else of the first run that has it
        candidates = [parts[1]] if parts[0] == "reference" else [page_dir, *runs] if page_dir else runs
        page = next((f"{run}/{parts[-1]}" for run in candidates
                     if run in runs and (root / "reference" / run / parts[-1]).exists()), None)
    elif len(parts) == 2 and parts[0] == "reference" and parts[1] in runs:
        page = f"{parts[1]}/index.md"
    if page is None:
        return None if not repo_path.startswith("..") and (root / repo_path).exists() else target
    return posixpath.relpath(page, page_dir or ".") + hash_mark + fragment


def map_links(markdown: str, source_dir: str, page_dir: str, root: Path, runs: list[str]) -> str:
    """Markdown with every inline link mapped by :func:`site_target` (a link to a file not on the site: its text)."""
    def replace(match: re.Match[str]) -> str:
        mapped = site_target(match["target"], source_dir, page_dir, root, runs)
        return match["text"] if mapped is None else f"[{match['text']}]({mapped})"
    return LINK.sub(replace, markdown)


def run_page(run_dir: Path, notebooks: Path, main: Path) -> str:
    """The Markdown page of one reference run: device, versions, each notebook's status and time, the toctree.
    ``main``: the run that is the book."""
    manifest = run_manifest(run_dir)
    device = manifest["device"]
    versions = ", ".join(f"{name} {version}" for name, version in device["versions"].items() if version)
    entries = {e["notebook"]: e for e in manifest["notebooks"]}
    role = ("This run is the book." if run_dir == main else
            f"The book is the [{run_manifest(main)['device']['device_name']} run](../{main.name}/index.md); this is the "
            f"same book on another device.")
    lines = [f"# The book on {device['device_name']} (`{run_dir.name}`)", "",
             f"{role} Run `{manifest['run_id']}` of `python -m vlmkit.book`, started {device['timestamp']} on "
             f"{device['device_name']} ({device['platform']}); {versions}. Times are the runner's; *current* means "
             f"the notebook's code is that of its source in `notebooks/`.", "",
             "| notebook | status | time | code | results |", "| --- | --- | --- | --- | --- |"]
    for status in reference_status(run_dir, notebooks):
        entry = entries.get(status.notebook)
        stem = status.notebook.removesuffix(".ipynb")
        results = run_dir / "results" / f"{stem}.json"
        lines.append(f"| [{stem}]({status.notebook}) | {entry['status'] if entry else 'not in run.json'} | "
                     f"{run_time_text(entry['seconds']) if entry else ''} | {status.describe()} | "
                     + (f"[{results.name}](results/{results.name}) |" if results.exists() else "|"))
    names = "\n".join(p.stem for p in sorted(run_dir.glob(NOTEBOOK_GLOB)))
    return "\n".join(lines) + f"\n\n```{{toctree}}\n:hidden:\n{names}\n```\n"


def landing_page(readme: str, runs: list[Path], root: Path) -> str:
    """The README with its links mapped to the site, a line on what the site shows after its title, the toctree."""
    names = [r.name for r in runs]
    title, _, body = map_links(readme, "", "", root, names).partition("\n")
    devices = [f"[{run_manifest(r)['device']['device_name']}]({r.name}/index.md)" for r in runs]
    intro = (f"This site shows the committed reference runs, rendered without running anything: the book as run on "
             f"{devices[0]}" + (f", and on {', '.join(devices[1:])}" if devices[1:] else "") + ".")
    toctree = "\n".join([*(f"{name}/index" for name in names), *(f"docs/{d.stem}" for d in _docs(root)),
                         *(["exercises/index"] if _exercises(root) else [])])
    return f"{title}\n\n{intro}\n{body}\n```{{toctree}}\n:hidden:\n{toctree}\n```\n"


def _docs(root: Path) -> list[Path]:
    """The Markdown pages under ``docs/`` (architecture, course plan, glossary), each a page of the site."""
    return sorted((root / "docs").glob("*.md"))


def _exercises(root: Path) -> list[Path]:
    """The exercise notebooks (``exercises/NN_*.ipynb``), each a page of the site with its solution folded away."""
    return sorted((root / "exercises").glob(NOTEBOOK_GLOB))


def exercise_page(notebook: nbformat.NotebookNode, answers: dict[str, Any]) -> nbformat.NotebookNode:
    """An exercise notebook as a site page: its cells as written (nothing run), then its solution in a folded
    ``<details>`` block a reader opens after trying. Taught in ``notebooks/00_environment.ipynb``."""
    rows = "\n".join(f"| `{name}` | `{value!r}` |" for name, value in answers.items())
    folded = (f"<details>\n<summary>Solution (try first)</summary>\n\n| answer | value |\n| --- | --- |\n{rows}\n\n"
              "How each value is computed: `exercises/solutions.py`.\n\n</details>")
    page = copy.deepcopy(notebook)
    page.cells.append(nbformat.v4.new_markdown_cell(folded))
    return page


def stage(root: Path, staging: Path) -> None:
    """Write the sources Sphinx reads: ``index.md``, and per run ``<device>/index.md``, its notebooks (the links of
    their Markdown cells and Markdown outputs mapped) and its results JSON."""
    runs = site_runs(root / "reference")
    names = [r.name for r in runs]
    staging.mkdir(parents=True)
    (staging / "index.md").write_text(landing_page((root / "README.md").read_text(), runs, root))
    if _docs(root):
        (staging / "docs").mkdir()
    for doc in _docs(root):
        (staging / "docs" / doc.name).write_text(map_links(doc.read_text(), "docs", "docs", root, names))
    if _exercises(root):
        (staging / "exercises").mkdir()
        solutions = worked_solutions(root)
        listing = "\n".join(f"- [{p.stem}]({p.name})" for p in _exercises(root))
        (staging / "exercises" / "index.md").write_text(
            f"# Exercises\n\nOne exercise notebook per notebook of the book; each page ends with its solution, folded "
            f"away. Run them in JupyterLab (`make lab`) to have your answers checked.\n\n{listing}\n\n"
            "```{toctree}\n:hidden:\n" + "\n".join(p.stem for p in _exercises(root)) + "\n```\n")
    for path in _exercises(root):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = map_links(cell.source, "exercises", "exercises", root, names)
        nbformat.write(exercise_page(nb, solutions.get(path.stem, {})), staging / "exercises" / path.name)
    for run_dir in runs:
        page_dir = staging / run_dir.name
        (page_dir / "results").mkdir(parents=True)
        (page_dir / "index.md").write_text(run_page(run_dir, root / "notebooks", runs[0]))
        for path in sorted(run_dir.glob(NOTEBOOK_GLOB)):
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                if cell.cell_type == "markdown":
                    cell.source = map_links(cell.source, "notebooks", run_dir.name, root, names)
                for output in cell.get("outputs", []):
                    if "text/markdown" in output.get("data", {}):
                        output.data["text/markdown"] = map_links(output.data["text/markdown"], "notebooks",
                                                                 run_dir.name, root, names)
            nbformat.write(nb, page_dir / path.name)
            results = run_dir / "results" / f"{path.stem}.json"
            if results.exists():
                shutil.copy2(results, page_dir / "results" / results.name)


class _Links(HTMLParser):
    """Collects the ``href`` and ``src`` of every tag of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.targets += [value for name, value in attrs if name in ("href", "src") and value]


def broken_links(site: Path) -> list[str]:
    """``page: target`` for each link of the built site's pages (the theme's templates in ``_static`` aside) that
    leads nowhere: a relative link to a missing file, or to a ``.ipynb`` / ``.md`` file rather than its page."""
    broken = []
    for page in sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts):
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for target in parser.targets:
            url = urlsplit(target)
            if url.scheme or url.netloc or not url.path:
                continue
            path = unquote(url.path)
            if path.endswith((".ipynb", ".md")) or not (page.parent / path).exists():
                broken.append(f"{page.relative_to(site)}: {target}")
    return broken


def build_site(out: Path = CHECKOUT / "build" / "site", root: Path = CHECKOUT) -> Path:
    """Build the site of ``root``'s reference runs into ``out`` (replaced; only ever a folder Sphinx built) and
    return its ``index.html``. Raises RuntimeError with Sphinx's warnings (all are errors) or the broken links."""
    if out.exists() and any(out.iterdir()) and not (out / ".buildinfo").exists():
        raise FileExistsError(f"{out} is not empty and holds no Sphinx build: not replacing it")
    shutil.rmtree(out, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="vlmkit-site-") as tmp:
        staging, warnings = Path(tmp) / "src", Path(tmp) / "warnings.txt"
        stage(root, staging)
        code = build_main(["-b", "html", "-W", "--keep-going", "-q", "-c", str(CONF_DIR),
                           "-d", str(Path(tmp) / "doctrees"), "-w", str(warnings), str(staging), str(out)])
        if code:
            raise RuntimeError(f"Sphinx failed (exit {code}):\n{warnings.read_text()}")
    broken = broken_links(out)
    if broken:
        raise RuntimeError("broken links in the built site:\n" + "\n".join(broken))
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    """``python -m vlmkit.book.site [--out build/site]``: build the site and print where to open it."""
    parser = argparse.ArgumentParser(description="Render the committed reference runs as a static HTML site.")
    parser.add_argument("--out", type=Path, default=CHECKOUT / "build" / "site", help="site folder (replaced)")
    index = build_site(parser.parse_args(argv).out.resolve())
    print(f"site: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
