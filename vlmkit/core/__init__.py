"""The ground floor: what every other room needs, and nothing of the book's own.

- ``device``: which device runs (``resolve_device``), its name, synchronising it, bitsandbytes' backend for it.
- ``progress``: text progress bars (live in JupyterLab, one finished line in stored notebooks).
- ``formatting``: bytes as text (``human_bytes``, ``gib_text``, ``GIB``), a figure's source line, table options.
- ``version``: the package's version; ``lazy``: how a room loads its modules on first use.

Imports nothing from vlmkit but ``vlmkit.errors``. Taught in ``notebooks/00_environment.ipynb``.
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "bitsandbytes_backend": "device",
    "device": "device",
    "device_name": "device",
    "device_slug": "device",
    "resolve_device": "device",
    "synchronize": "device",
    "total_memory_bytes": "device",
    "GIB": "formatting",
    "binary_unit": "formatting",
    "formatting": "formatting",
    "gib": "formatting",
    "gib_text": "formatting",
    "human_binary_bytes": "formatting",
    "human_bytes": "formatting",
    "provenance_line": "formatting",
    "readable_log_axis": "formatting",
    "show_whole_tables": "formatting",
    "lazy": "lazy",
    "FinishedTextBar": "progress",
    "TEXT_PROGRESS_ENV": "progress",
    "progress": "progress",
    "quiet_libraries": "progress",
    "text_bar": "progress",
    "text_progress": "progress",
    "version": "version",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
