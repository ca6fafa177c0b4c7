"""Opening the book in JupyterLab: the project's kernel, clean notebook sources, and the server.

``python -m vlmkit.book.lab`` (what ``make lab`` runs) sets up, then opens the book at notebook 00:

1. registers the kernel "Python (vlmkit)" (name ``vlmkit``) into this environment (``sys.prefix``): the kernel
   every notebook's metadata names, so JupyterLab starts this environment's Python without asking, and saving a
   notebook writes the kernelspec it already has;
2. installs nbstripout as this clone's git filter for ``notebooks/*.ipynb`` (``.gitattributes`` names it): ``git
   add`` stages a notebook without outputs, execution counts, widget state and ``language_info``, while the file
   JupyterLab saved keeps its outputs on disk. A filter rather than a pre-commit hook: nothing to fix by hand and
   no refused commit, and ``git status`` / ``git diff`` show only real source changes. ``reference/`` notebooks
   are executed runs whose outputs are the point: the filter never touches them;
3. starts JupyterLab with the checkout as its root, so ``reference/`` and the README are a click away.

``--setup-only`` does 1 and 2 (the Makefile's set-up runs it: ``make book`` and ``make test`` set the filter too).
Taught in ``notebooks/00_environment.ipynb``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from vlmkit.measure.records import CHECKOUT

KERNEL_NAME = "vlmkit"
KERNEL_DISPLAY_NAME = "Python (vlmkit)"
#: The kernelspec every notebook source carries (a test checks it).
KERNELSPEC = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
#: nbstripout's options for the filter: cell ids are kept (JupyterLab keeps them; renumbering would rewrite every
#: cell), ``language_info`` (the kernel's Python version, written by every save) is stripped.
STRIP_OPTIONS = "--keep-id --extra-keys metadata.language_info"
FIRST_NOTEBOOK = "notebooks/00_environment.ipynb"


def register_kernel(prefix: str = sys.prefix) -> Path:
    """Register this Python as the ``vlmkit`` kernel under ``prefix``/share/jupyter/kernels; return its folder.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    from ipykernel.kernelspec import install

    return Path(install(kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY_NAME, prefix=prefix))


def filter_python(checkout: Path, python: str = sys.executable) -> str:
    """The Python the git filter runs: relative to the checkout when inside it (git runs filters from the top of
    the working tree, so a moved clone, or another worktree with its own ``.venv``, uses its own), else absolute."""
    path = Path(python).absolute()
    return path.relative_to(checkout).as_posix() if path.is_relative_to(checkout) else path.as_posix()


def install_notebook_filter(checkout: Path = CHECKOUT, python: str = sys.executable) -> bool:
    """Set nbstripout as the ``nbstripout`` filter and ``ipynb`` diff driver in ``checkout``'s git config.

    ``required``: git refuses to stage a notebook if the filter cannot run, rather than stage its outputs.
    Returns False, saying why, where ``checkout`` is not a git clone (an unpacked archive).
    Taught in ``notebooks/00_environment.ipynb``.
    """
    inside = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--show-toplevel"],
                            capture_output=True, text=True)
    if inside.returncode != 0 or Path(inside.stdout.strip()).resolve() != checkout.resolve():
        print(f"{checkout} is not the top of a git clone: no notebook filter installed", file=sys.stderr)
        return False
    strip = f'"{filter_python(checkout.resolve(), python)}" -m nbstripout'
    for key, value in (("filter.nbstripout.clean", f"{strip} {STRIP_OPTIONS}"), ("filter.nbstripout.smudge", "cat"),
                       ("filter.nbstripout.required", "true"), ("diff.ipynb.textconv", f"{strip} {STRIP_OPTIONS} -t")):
        subprocess.run(["git", "-C", str(checkout), "config", key, value], check=True)
    return True


def lab_command(checkout: Path = CHECKOUT, extra: list[str] | None = None, *, as_root: bool | None = None) -> list[str]:
    """The JupyterLab command line: this Python, root at the checkout, notebook 00 open.

    As root (containers and cloud notebooks run as root) it adds ``--allow-root``, without which JupyterLab refuses
    to start. ``as_root``: whether this process is root (None: ask the OS). Taught in ``notebooks/00_environment.ipynb``.
    """
    extra = list(extra or [])
    root = (os.geteuid() == 0) if as_root is None else as_root
    if root and "--allow-root" not in extra:
        extra.append("--allow-root")
    return [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={checkout}",
            f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}", *extra]


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m vlmkit.book.lab [--setup-only] [JupyterLab options, e.g. --port 8899 --no-browser]``."""
    parser = argparse.ArgumentParser(description="Set up the vlmkit kernel and notebook filter, then open the book.")
    parser.add_argument("--setup-only", action="store_true", help="register the kernel and the git filter, then stop")
    args, extra = parser.parse_known_args(argv)
    print(f"kernel {KERNEL_DISPLAY_NAME!r}: {register_kernel()}")
    if install_notebook_filter():
        print("git filter: notebooks/*.ipynb are staged without outputs (nbstripout)")
    if args.setup_only:
        return 0
    command = lab_command(CHECKOUT, extra)
    print(f"JupyterLab opens {FIRST_NOTEBOOK}{' (as root: --allow-root)' if '--allow-root' in command else ''}; "
          "its address with the access token (http://localhost:...) follows in JupyterLab's log", flush=True)
    os.execv(command[0], command)  # JupyterLab takes over this process (Ctrl-C stops it)


if __name__ == "__main__":
    sys.exit(main())
