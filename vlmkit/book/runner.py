"""The book's runner: execute every notebook with papermill on this machine's device.

``python -m vlmkit.book`` writes the executed notebooks, their results JSON and
a ``run.json`` manifest into ``build/<device>/`` (e.g. ``build/nvidia-h200/``).
A failing notebook is reported and the others still run; nothing already
recorded is lost. Reference runs are such folders, copied under ``reference/``.

Taught in ``notebooks/00_environment.ipynb``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
import papermill
from tqdm import tqdm

from vlmkit.core.device import device_slug, resolve_device
from vlmkit.book.reference_status import package_fingerprint
from vlmkit.core.progress import TEXT_PROGRESS_ENV
from vlmkit.measure.records import CHECKOUT, atomic_write_json, load_records, provenance

NOTEBOOK_DIR = CHECKOUT / "notebooks"


def book_notebooks(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The book's notebooks in reading order (``NN_name.ipynb``)."""
    return sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))


def notebook_needs(path: Path) -> dict[str, Any]:
    """A notebook's declared needs (``metadata.vlmkit``): devices, minutes on each, what it teaches.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    meta = nbformat.read(path, as_version=4).metadata.get("vlmkit", {})
    return {"notebook": path.stem, **meta}


def run_book(device: str = "auto", out: Path = Path("build"), only: list[str] | None = None,
             notebooks: Path = NOTEBOOK_DIR, resume: Path | None = None) -> dict[str, Any]:
    """Execute the book's notebooks into ``out/<device-slug>/`` and return the run manifest.

    ``resume``: the ``run.json`` of an earlier part of the same run (a GPU reference run
    split over several calls): its run id is kept, and its notebooks stay listed unless
    run again. Taught in ``notebooks/00_environment.ipynb``.
    """
    dev = resolve_device(device)
    target = (out / device_slug(dev)).resolve()
    results = target / "results"
    results.mkdir(parents=True, exist_ok=True)
    if resume is not None:
        manifest: dict[str, Any] = json.loads(Path(resume).read_text())
        run_id = manifest["run_id"]
    else:
        run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        manifest = {"run_id": run_id, "device": provenance(dev), "notebooks": []}
    saved = {k: os.environ.get(k) for k in ("VLMKIT_RESULTS_DIR", "VLMKIT_RUN_ID", TEXT_PROGRESS_ENV)}
    # the kernels inherit these; stored notebooks get finished text bars, not frozen widgets
    os.environ.update(VLMKIT_RESULTS_DIR=str(results), VLMKIT_RUN_ID=run_id, **{TEXT_PROGRESS_ENV: "1"})
    try:
        _execute_all(book_notebooks(notebooks), only, dev.type, target, manifest)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return manifest


#: Kernel options for executed notebooks: its own log at ERROR, so the run prints no "Kernel is running over TCP
#: without encryption" warning per notebook (the kernel talks to papermill on this machine's loopback only).
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def _execute_all(sources: list[Path], only: list[str] | None, device_type: str, target: Path,
                 manifest: dict[str, Any]) -> None:
    selected = [s for s in sources if not only or any(s.name.startswith(prefix) for prefix in only)]
    bar = tqdm(selected, desc="notebooks", unit="notebook", file=sys.stderr, dynamic_ncols=True)
    for number, source in enumerate(bar, start=1):
        _set_aside_earlier_results(target / "results" / f"{source.stem}.json", manifest["run_id"])
        tqdm.write(f"[{number}/{len(selected)}] {source.stem} ...", file=sys.stderr)
        started = time.perf_counter()
        entry: dict[str, Any] = {"notebook": source.name, "status": "ok", "vlmkit": package_fingerprint()}
        try:
            papermill.execute_notebook(
                str(source), str(target / source.name), parameters={"DEVICE": device_type},
                cwd=str(source.parent), kernel_name="python3", language="python", progress_bar=False,
                extra_arguments=KERNEL_ARGUMENTS,
            )
        except Exception as exc:  # papermill raises its own error types; the run goes on
            entry.update(status="failed", error=f"{type(exc).__name__}: {str(exc)[-2000:]}")
        entry["seconds"] = round(time.perf_counter() - started, 1)
        outcome = "ok" if entry["status"] == "ok" else f"FAILED ({entry['error'].split(':')[0]})"
        tqdm.write(f"[{number}/{len(selected)}] {source.stem} {outcome} in {entry['seconds']:.1f} s", file=sys.stderr)
        kept = [e for e in manifest["notebooks"] if e["notebook"] != source.name]
        manifest["notebooks"] = sorted(kept + [entry], key=lambda e: e["notebook"])
        atomic_write_json(target / "run.json", manifest)


def _set_aside_earlier_results(path: Path, run_id: str) -> None:
    """A notebook run again within the same run id supersedes its earlier records: move them aside, keep them."""
    if path.exists() and any(r.get("run_id") == run_id for r in load_records(path)):
        path.rename(path.with_name(f"{path.stem}.superseded-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.json"))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m vlmkit.book [--device auto|cpu|cuda] [--out build] [--only 00 01]``."""
    parser = argparse.ArgumentParser(description="Run the vlmkit book on this machine's device with papermill.")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu or cuda")
    parser.add_argument("--out", default="build", type=Path, help="folder for build/<device>/ (default: build)")
    parser.add_argument("--only", nargs="*", help="notebook number prefixes to run, e.g. 00 01")
    parser.add_argument("--resume", type=Path, help="run.json of an earlier part of this run: keep its run id and entries")
    args = parser.parse_args(argv)
    if args.resume is not None and not args.resume.is_file():
        parser.error(f"--resume {args.resume}: no such run.json")
    manifest = run_book(args.device, args.out, args.only, resume=args.resume)
    for entry in manifest["notebooks"]:
        print(f"{entry['status']:>6}  {entry['seconds']:7.1f} s  {entry['notebook']}")
    target = (args.out / device_slug(resolve_device(args.device))).resolve()
    failed = sum(e["status"] != "ok" for e in manifest["notebooks"])
    print(f"{len(manifest['notebooks']) - failed} ok, {failed} failed; executed notebooks, results and run.json "
          f"in {target}")
    return 0 if all(e["status"] == "ok" for e in manifest["notebooks"]) and manifest["notebooks"] else 1


if __name__ == "__main__":
    sys.exit(main())
