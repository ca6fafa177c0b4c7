"""JupyterLab set-up: the project's kernel, and the git filter that keeps notebook sources clean."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from vlmkit.book.lab import (
    KERNEL_DISPLAY_NAME,
    KERNELSPEC,
    filter_python,
    install_notebook_filter,
    lab_command,
    register_kernel,
)
from vlmkit.measure.records import CHECKOUT


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _saved_by_jupyterlab() -> nbformat.NotebookNode:
    """A notebook as JupyterLab saves it after a run: outputs, execution counts, the kernel's language_info."""
    cell = new_code_cell("print('hi')", execution_count=3, outputs=[new_output("stream", name="stdout", text="hi\n")])
    return new_notebook(cells=[cell], metadata={"kernelspec": KERNELSPEC, "vlmkit": {"title": "t"},
                                                "language_info": {"name": "python", "version": "3.11.7"}})


def test_git_add_stages_notebook_sources_stripped_and_reference_runs_whole(tmp_path):
    repo = tmp_path / "clone"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "reference" / "cpu").mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / ".gitattributes").write_text((CHECKOUT / ".gitattributes").read_text())
    saved = _saved_by_jupyterlab()
    for where in ("notebooks/00_x.ipynb", "reference/cpu/00_x.ipynb"):
        nbformat.write(saved, repo / where)
    assert install_notebook_filter(repo, sys.executable)
    _git(repo, "add", "-A")
    staged = nbformat.reads(_git(repo, "show", ":notebooks/00_x.ipynb"), as_version=4)
    (cell,) = staged.cells
    assert cell.outputs == [] and cell.execution_count is None and cell.id == saved.cells[0].id
    assert staged.metadata == {"kernelspec": KERNELSPEC, "vlmkit": {"title": "t"}}
    assert nbformat.read(repo / "notebooks/00_x.ipynb", as_version=4).cells[0].outputs  # the saved file keeps them
    reference = nbformat.reads(_git(repo, "show", ":reference/cpu/00_x.ipynb"), as_version=4)
    assert reference.cells[0].outputs and "language_info" in reference.metadata  # an executed run stays whole


def test_filter_runs_the_checkouts_own_python_and_needs_a_clone(tmp_path):
    assert filter_python(tmp_path, str(tmp_path / ".venv/bin/python")) == ".venv/bin/python"
    assert filter_python(tmp_path / "a", "/usr/bin/python3") == "/usr/bin/python3"
    assert not install_notebook_filter(tmp_path, sys.executable)  # not a git clone: nothing to configure


def test_kernel_is_this_python_under_the_projects_name(tmp_path):
    spec = json.loads((register_kernel(str(tmp_path)) / "kernel.json").read_text())
    assert spec["display_name"] == KERNEL_DISPLAY_NAME and spec["argv"][0] == sys.executable
    assert (tmp_path / "share/jupyter/kernels" / KERNELSPEC["name"] / "kernel.json").exists()


def test_lab_opens_the_first_notebook_at_the_checkout_root():
    command = lab_command(CHECKOUT, ["--no-browser"], as_root=False)
    assert command[:3] == [sys.executable, "-m", "jupyterlab"] and command[-1] == "--no-browser"
    opened = next(a for a in command if a.startswith("--LabApp.default_url=")).split("/lab/tree/")[1]
    assert (CHECKOUT / opened).is_file() and f"--ServerApp.root_dir={CHECKOUT}" in command


def test_lab_as_root_passes_allow_root_once():
    assert "--allow-root" in lab_command(CHECKOUT, ["--no-browser"], as_root=True)
    assert "--allow-root" not in lab_command(CHECKOUT, ["--no-browser"], as_root=False)
    assert lab_command(CHECKOUT, ["--allow-root"], as_root=True).count("--allow-root") == 1
