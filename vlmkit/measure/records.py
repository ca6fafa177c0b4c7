"""One results format for the whole book: JSON records with provenance, written atomically.

Every notebook records what it measured through ``ResultsStore.record`` (or, for a typed record,
``ResultsStore.record_measurement``). Each
record carries the device, its memory, the versions of everything that matters,
the model, precision, shapes, repeats and a timestamp. A record is appended by
writing a new file beside the old one and renaming it over it, so a notebook
that fails half-way leaves every earlier record intact.

A record's metrics have one shape per experiment. :class:`Measurement` writes that shape down once, as a frozen
dataclass in the room that owns the concept: the notebook builds it, ``ResultsStore.record_measurement`` writes
it, and every reader gets it back typed with :func:`read_measurements`; nobody spells a metric's key twice.

Taught in ``notebooks/00_environment.ipynb``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import uuid
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import torch

from vlmkit.core.device import device_name, resolve_device, total_memory_bytes
from vlmkit.core.version import __version__

SCHEMA_VERSION = 1
#: Packages whose version changes the numbers: every attention and kernel package a run may use is named, so that
#: a run's provenance says which ran (None: not installed).
TRACKED_PACKAGES = ("torch", "transformers", "bitsandbytes", "accelerate", "vlmkit", "flash-attn", "flash-attn-4",
                    "nvidia-cutlass-dsl", "triton", "torchao", "mslk-cuda", "gemlite")


def package_versions() -> dict[str, str | None]:
    """Versions of Python and of the packages whose version changes the numbers."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    if found["vlmkit"] is None:  # run from a checkout on PYTHONPATH, not installed
        found["vlmkit"] = __version__
    found["cuda"] = torch.version.cuda
    return found


def provenance(device: str | torch.device | None = None) -> dict[str, Any]:
    """Where and when a measurement was made: device, memory, versions, host and UTC time.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    dev = resolve_device(device)
    info: dict[str, Any] = {
        "device": str(dev),
        "device_name": device_name(dev),
        "total_memory_bytes": total_memory_bytes(dev),
        "versions": package_versions(),
        "platform": platform.platform(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if dev.type == "cuda":
        info["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability(dev)))
    return info


#: :data:`CHECKOUT` where it is a project checkout (it has ``pyproject.toml``), or None for an installed copy.
#: The folder holding the vlmkit package: the project checkout when vlmkit runs from one (reference runs live there).
CHECKOUT = Path(__file__).resolve().parents[2]
PROJECT_ROOT: Path | None = CHECKOUT if (CHECKOUT / "pyproject.toml").exists() else None


def default_results_dir() -> Path:
    """``$VLMKIT_RESULTS_DIR`` (the book runner sets it), else ``build/results`` of the project checkout, whatever
    the working directory (a notebook's kernel runs in ``notebooks/``), else of the working directory.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    if "VLMKIT_RESULTS_DIR" in os.environ:
        return Path(os.environ["VLMKIT_RESULTS_DIR"]).resolve()
    return ((PROJECT_ROOT or Path.cwd()) / "build" / "results").resolve()


def atomic_write_json(path: Path, payload: Any) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it over ``path``: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=1, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """All records in a results file (an empty list if it does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    payload = json.loads(path.read_text())
    return list(payload["records"])


def latest_run(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of the most recent run in a file (runs are told apart by ``run_id``)."""
    if not records:
        return []
    last = records[-1]["run_id"]
    return [r for r in records if r["run_id"] == last]


def experiment_records(results_dir: str | Path, notebook: str, experiment: str) -> list[dict[str, Any]]:
    """The latest run's records of one experiment in a results folder (``<results_dir>/<notebook>.json``).

    Taught in ``notebooks/08_decision.ipynb`` (the seed report reads every notebook's records this way).
    """
    return [r for r in latest_run(load_records(Path(results_dir) / f"{notebook}.json")) if r["experiment"] == experiment]


def notebook_runs(results_dir: str | Path, notebook: str) -> list[list[dict[str, Any]]]:
    """Every execution of a notebook whose records a results folder keeps: one list of records per run id in its
    results file, and per run id in each file the book's runner set aside (``<notebook>.superseded-*.json``: the
    same run id executed again), oldest first. Taught in ``notebooks/08_decision.ipynb`` (runs that disagree).
    """
    folder = Path(results_dir)
    files = [*sorted(folder.glob(f"{notebook}.superseded-*.json")), folder / f"{notebook}.json"]
    runs: list[list[dict[str, Any]]] = []
    for path in files:
        by_run: dict[str, list[dict[str, Any]]] = {}
        for record in load_records(path):
            by_run.setdefault(record["run_id"], []).append(record)
        runs += by_run.values()
    return runs


def metric(key: str, default: Any = MISSING) -> Any:
    """A :class:`Measurement` field stored under ``key`` in the record's metrics (keys of committed records keep
    their spelling, e.g. ``"whole query (ms)"``); ``default`` for keys older records lack."""
    return field(metadata={"key": key}) if default is MISSING else field(default=default, metadata={"key": key})


@dataclass(frozen=True)
class Measurement:
    """The metrics of one experiment's records as a typed value: subclasses set :attr:`EXPERIMENT` and their fields.

    A field is stored under its own name, or under :func:`metric`'s key. Reading back ignores keys the class does
    not name (a record may carry more) and fills fields with defaults from older records.
    Taught in ``notebooks/00_environment.ipynb``.
    """

    EXPERIMENT: ClassVar[str] = ""

    def metrics(self) -> dict[str, Any]:
        """The record's ``metrics`` dict."""
        return {f.metadata.get("key", f.name): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]):
        """The typed value of a record's ``metrics`` (a missing key without a default raises ``KeyError``)."""
        values = {}
        for f in fields(cls):
            key = f.metadata.get("key", f.name)
            if key in metrics:
                values[f.name] = metrics[key]
            elif f.default is MISSING and f.default_factory is MISSING:
                raise KeyError(f"{cls.__name__}: a {cls.EXPERIMENT!r} record without {key!r}")
        return cls(**values)


M = TypeVar("M", bound=Measurement)


@dataclass(frozen=True)
class Recorded(Generic[M]):
    """One record read back: its typed metrics and what the record says about them."""

    measurement: M
    model: str | None
    precision: str | None
    shapes: dict[str, Any]
    repeats: int
    run_id: str
    provenance: dict[str, Any]
    file: Path


def read_measurements(kind: type[M], results_dir: str | Path, notebook: str) -> list[Recorded[M]]:
    """The latest run's records of ``kind.EXPERIMENT`` in ``<results_dir>/<notebook>.json``, typed.

    Taught in ``notebooks/08_decision.ipynb`` (the decision tree reads every notebook's records this way).
    """
    path = Path(results_dir) / f"{notebook}.json"
    return [Recorded(kind.from_metrics(r["metrics"]), r["model"], r["precision"], r["shapes"], r["repeats"],
                     r["run_id"], r["provenance"], path)
            for r in experiment_records(results_dir, notebook, kind.EXPERIMENT)]


class ResultsStore:
    """Appends records for one notebook to ``<directory>/<notebook>.json``.

    Taught in ``notebooks/00_environment.ipynb``::

        store = ResultsStore("01_loading_precisions")
        store.record("load", model=..., precision="nf4", shapes={...}, repeats=1, metrics={...})
    """

    def __init__(self, notebook: str, directory: str | Path | None = None, device: str | torch.device | None = None):
        self.notebook = notebook
        self.path = Path(directory) if directory is not None else default_results_dir()
        self.path = self.path / f"{notebook}.json"
        self.run_id = os.environ.get("VLMKIT_RUN_ID") or f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
        self.device = resolve_device(device)
        self._provenance = provenance(self.device)

    def record(
        self,
        experiment: str,
        *,
        model: str | None,
        precision: str | None,
        shapes: dict[str, Any],
        repeats: int,
        metrics: dict[str, Any],
    ) -> dict[str, Any]:
        """Append one measurement with full provenance; returns the record as written."""
        entry = {
            "schema": SCHEMA_VERSION,
            "notebook": self.notebook,
            "experiment": experiment,
            "run_id": self.run_id,
            "model": model,
            "precision": precision,
            "shapes": shapes,
            "repeats": repeats,
            "metrics": metrics,
            "provenance": dict(self._provenance, timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds")),
        }
        try:
            records = load_records(self.path)
        except (ValueError, KeyError):
            # never overwrite a file we cannot read: keep it aside, start a new one
            self.path.rename(self.path.with_suffix(f".unreadable-{uuid.uuid4().hex[:6]}.json"))
            print(f"warning: {self.path} was not a vlmkit results file; kept it aside and started a new one", file=sys.stderr)
            records = []
        records.append(entry)
        atomic_write_json(self.path, {"schema": SCHEMA_VERSION, "records": records})
        return entry

    def record_measurement(self, measurement: Measurement, *, model: str | None, precision: str | None,
                           shapes: dict[str, Any], repeats: int) -> dict[str, Any]:
        """:meth:`record` for a typed :class:`Measurement`: its experiment and metrics come from the value."""
        return self.record(measurement.EXPERIMENT, model=model, precision=precision, shapes=shapes, repeats=repeats,
                           metrics=measurement.metrics())

    @property
    def provenance(self) -> dict[str, Any]:
        """Where this run's measurements come from (device, versions, platform), stamped now: for plot titles."""
        return dict(self._provenance, timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def records(self) -> list[dict[str, Any]]:
        """This run's records so far."""
        return [r for r in load_records(self.path) if r["run_id"] == self.run_id]
