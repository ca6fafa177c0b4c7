"""The rendered book (``make site``): every reference notebook a page with its plots, every link resolved."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from vlmkit.book.runner import book_notebooks
from vlmkit.book.site import (
    broken_links,
    build_site,
    map_links,
    site_runs,
    site_target,
)

ROOT = Path(__file__).resolve().parent.parent
# myst-parser still reads Sphinx's deprecated resolver.app, once per link: noise, not a finding of this book
pytestmark = pytest.mark.filterwarnings("ignore::sphinx.deprecation.RemovedInSphinx11Warning")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site of the committed reference runs, built once for this module."""
    return build_site(tmp_path_factory.mktemp("site")).parent


def _pngs(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_every_reference_notebook_has_a_page_with_its_plots(site):
    runs = site_runs(ROOT / "reference")
    assert [r.name for r in runs][:1] == ["nvidia-h200"] and len(runs) >= 2
    pages = 0
    for run in runs:
        assert (site / run.name / "index.html").exists()
        for source in book_notebooks(ROOT / "notebooks"):
            if not (run / source.name).exists():
                continue
            page = (site / run.name / f"{source.stem}.html").read_text()
            images = re.findall(r'<img [^>]*src="(\.\./_images/[^"]+\.png)"', page)
            assert len(images) >= _pngs(run / source.name), f"{run.name}/{source.name} lost plots"
            assert all((site / run.name / src).exists() for src in images)
            pages += 1
    assert pages >= len(book_notebooks(ROOT / "notebooks"))  # the main run alone has every notebook


def test_links_lead_to_the_rendered_pages(site):
    assert broken_links(site) == []
    landing = (site / "index.html").read_text()
    assert 'href="nvidia-h200/03_dequantization.html"' in landing  # the README's notebooks/... link
    assert 'href="cpu-x86_64/index.html"' in landing
    environment = (site / "nvidia-h200" / "00_environment.html").read_text()
    assert 'href="03_dequantization.html' in environment and 'href="../index.html' in environment


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout's layout: a main run with notebooks 00 and 01, a CPU run with 00 only, a data file."""
    for path in ["reference/nvidia-h200/00_a.ipynb", "reference/nvidia-h200/01_b.ipynb",
                 "reference/cpu-x86_64/00_a.ipynb", "data/card.md", "README.md"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    return tmp_path


@pytest.mark.parametrize(("target", "source_dir", "page_dir", "expected"), [
    ("notebooks/01_b.ipynb", "", "", "nvidia-h200/01_b.ipynb"),  # the README: the main run's page
    ("00_a.ipynb#setup", "notebooks", "cpu-x86_64", "00_a.ipynb#setup"),  # a notebook: its own run's page
    ("01_b.ipynb", "notebooks", "cpu-x86_64", "../nvidia-h200/01_b.ipynb"),  # not run there: the main run's
    ("../README.md", "notebooks", "nvidia-h200", "../index.md"),
    ("reference/cpu-x86_64/", "", "", "cpu-x86_64/index.md"),
    ("reference/cpu-x86_64/00_a.ipynb", "", "", "cpu-x86_64/00_a.ipynb"),
    ("data/card.md", "", "", None),  # in the repository, not on the site: plain text
    ("02_missing.ipynb", "notebooks", "nvidia-h200", "02_missing.ipynb"),  # left for Sphinx to report
    ("../../outside.md", "notebooks", "nvidia-h200", "../../outside.md"),  # outside the checkout: the same
    ("https://example.org/x.ipynb", "", "", "https://example.org/x.ipynb"),
    ("#a-heading", "", "", "#a-heading"),
])
def test_site_target_maps_repository_links_to_pages(repo, target, source_dir, page_dir, expected):
    assert site_target(target, source_dir, page_dir, repo, ["nvidia-h200", "cpu-x86_64"]) == expected


def test_map_links_keeps_the_text_of_links_off_the_site_and_leaves_images(repo):
    text = "See [the card](data/card.md), [01](notebooks/01_b.ipynb) and ![plot](data/card.md)."
    assert map_links(text, "", "", repo, ["nvidia-h200"]) == (
        "See the card, [01](nvidia-h200/01_b.ipynb) and ![plot](data/card.md).")


def test_broken_links_finds_missing_files_and_unrendered_notebooks(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#x">b</a> <a href="c.ipynb">c</a> <img src="gone.png">'
                                     '<a href="https://example.org/">x</a> <a href="#top">top</a>')
    (tmp_path / "b.html").write_text("")
    (tmp_path / "c.ipynb").write_text("")
    assert broken_links(tmp_path) == ["a.html: c.ipynb", "a.html: gone.png"]


def _tiny_checkout(root: Path, link: str) -> Path:
    """A checkout with one notebook run on one device; the notebook's Markdown links to ``link``, and its code cell
    would fail if it were executed."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell(f"# 00 · Tiny\n\nNext: [it]({link}), then [the README](../README.md)."),
                nbformat.v4.new_code_cell('raise RuntimeError("the site must not execute notebooks")')]
    for folder in ("notebooks", "reference/cpu-x86_64"):
        (root / folder).mkdir(parents=True)
        nbformat.write(nb, root / folder / "00_tiny.ipynb")
    device = {"device_name": "A CPU", "versions": {"python": "3.11"}, "timestamp": "2026-12-01T00:00:00+00:00",
              "platform": "Linux"}
    run = {"run_id": "r1", "device": device, "notebooks": [{"notebook": "00_tiny.ipynb", "status": "ok", "seconds": 1}]}
    (root / "reference" / "cpu-x86_64" / "run.json").write_text(json.dumps(run))
    (root / "README.md").write_text("# Tiny\n\nThe [notebook](notebooks/00_tiny.ipynb).\n")
    return root


def test_a_tiny_checkout_builds_without_executing_its_notebook(tmp_path):
    index = build_site(tmp_path / "site", _tiny_checkout(tmp_path / "repo", "00_tiny.ipynb"))
    page = (index.parent / "cpu-x86_64" / "00_tiny.html").read_text()
    assert "the site must not execute notebooks" in page and "Traceback" not in page


def test_a_link_to_a_missing_notebook_fails_the_build(tmp_path):
    with pytest.raises(RuntimeError, match="01_missing"):
        build_site(tmp_path / "site", _tiny_checkout(tmp_path / "repo", "01_missing.ipynb"))


def test_build_refuses_to_replace_a_folder_it_did_not_build(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_site(tmp_path, ROOT)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_docs_are_pages_linked_from_the_landing_page(site):
    landing = (site / "index.html").read_text()
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert (site / "docs" / f"{doc.stem}.html").exists(), doc.name
    assert 'href="docs/architecture.html"' in landing  # the README's link to the package's map
    course = (site / "docs" / "course.html").read_text()
    assert 'href="glossary.html' in course  # docs link each other as pages
    assert 'href="../nvidia-h200/00_environment.html' in course  # and lead to the book's notebook pages


def test_every_exercise_has_a_page_with_its_solution_folded(site):
    listing = (site / "exercises" / "index.html").read_text()
    for path in sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb")):
        page = (site / "exercises" / f"{path.stem}.html").read_text()
        assert f'href="{path.stem}.html"' in listing
        assert "<details>" in page and "Solution (try first)" in page and "</details>" in page
    assert 'href="exercises/index.html"' in (site / "index.html").read_text()  # the README's exercises/ link
