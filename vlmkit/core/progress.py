"""Progress bars that are plain text: live in JupyterLab, finished in stored notebooks.

No bar is an ipywidget: a widget bar is stored as its first frame (``0%``) and, reopened without its
widget state, shows "Error displaying widget: model not found". In an interactive kernel a bar is a
text line that updates in place (JupyterLab honours the carriage return). In a notebook executed by
the book runner, papermill or nbval (``VLMKIT_TEXT_PROGRESS=1``, which the runner and the tests set)
a bar prints one line when it finishes, ``precisions: 100%|##########| 8/8 [00:12<00:00]``, and
nothing before. transformers' own bars ("Loading weights", "Writing model shards") become the same
text bars in an interactive kernel, transient (they clear their line when done, so a notebook's own bar
around a load stays one line); executed for storing they are silenced together with transformers'
advice-level log lines. ``import vlmkit`` applies this (:func:`quiet_libraries`).

Taught in ``notebooks/00_environment.ipynb``.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tqdm.std import tqdm

T = TypeVar("T")

TEXT_PROGRESS_ENV = "VLMKIT_TEXT_PROGRESS"


def text_progress() -> bool:
    """True when the notebook is executed for storing: bars print only their finished line."""
    return os.environ.get(TEXT_PROGRESS_ENV, "") not in ("", "0")


class FinishedTextBar(tqdm):
    """A text bar that writes nothing while it runs and its final state, one line, when it closes.

    ``leave=False`` bars print nothing at all. Taught in ``notebooks/00_environment.ipynb``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "file": io.StringIO(), "ascii": True})

    def close(self) -> None:
        if not self.disable and self.leave:
            print(self, file=sys.stdout)  # str(bar): the bar's current (final) state, on stdout with the cell
        super().close()


def text_bar(*args: Any, **kwargs: Any) -> tqdm:
    """A ``tqdm`` text bar (same arguments): a :class:`FinishedTextBar` when executed for storing, else a live one.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    if text_progress():
        return FinishedTextBar(*args, **kwargs)
    return tqdm(*args, **{"file": sys.stdout, "ascii": True, **kwargs})


def progress(iterable: Iterable[T], desc: str, **kwargs: Any) -> Iterable[T]:
    """A text bar over ``iterable`` (:func:`text_bar`): live in JupyterLab, one finished line in a stored notebook.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    return text_bar(iterable, desc=desc, **kwargs)


def _transformers_bar(factory: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """transformers' tqdm hook: its bars as transient vlmkit text bars while they are enabled, else its silent shim."""
    from transformers.utils import logging as hf_logging

    if not hf_logging.is_progress_bar_enabled():
        return factory(*args, **kwargs)
    return text_bar(*args, **{**kwargs, "leave": False, "position": 0})  # on the line of any bar around it


def quiet_libraries() -> None:
    """Make transformers' progress bars text bars (:func:`text_bar`, never widgets); when executed for storing,
    silence them and transformers' info/warning log lines, noise in a stored notebook. Real warnings the book
    explains stay visible. ``import vlmkit`` calls it; calling it again changes nothing.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.set_tqdm_hook(_transformers_bar)
    if text_progress():
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
