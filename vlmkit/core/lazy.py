"""Rooms that load their modules when a name is first used, the way transformers' top-level package does.

``import vlmkit as vk`` then costs only what the top-level names need, ``vk.bench.measure_ceilings`` imports
``vlmkit.bench.roofline`` on first use, and ``python -m vlmkit.book.site`` runs its module once (a room that
imported all its modules up front would have imported it before running it). Taught in
``notebooks/00_environment.ipynb`` (how the package is laid out).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names live in its modules.

    ``exports`` maps each public name to the module of ``package`` that defines it; a module's own name maps to
    itself (``"exercises": "exercises"`` makes ``package.exercises`` the module).
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module: ModuleType = importlib.import_module(f"{package}.{exports[name]}")
        return module if exports[name] == name else getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
