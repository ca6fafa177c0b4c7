"""Progress bars that read well live in JupyterLab and as finished text in stored notebooks.

Interactive kernels get ``tqdm.auto``'s widget bar. A notebook executed by the book runner,
papermill or nbval (``VLMKIT_TEXT_PROGRESS=1``, which the runner and the tests set) gets a text
bar that prints only its final state: a stored notebook then shows ``100% 8/8 [00:12]``, not a
widget frozen at 0 % or "model not found". The same switch silences transformers' own
"Loading weights" bars and its advice-level log lines there.

Taught in ``notebooks/00_environment.ipynb``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")

TEXT_PROGRESS_ENV = "VLMKIT_TEXT_PROGRESS"


def text_progress() -> bool:
    """True when bars must be plain text (a notebook executed for storing, or a terminal)."""
    return os.environ.get(TEXT_PROGRESS_ENV, "") not in ("", "0")


def progress(iterable: Iterable[T], desc: str, **kwargs: Any) -> Iterable[T]:
    """``tqdm`` over ``iterable``: a widget in an interactive kernel, a one-line text bar when executed for storing.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    if text_progress():
        from tqdm.std import tqdm

        # one line at the end: a huge interval means no intermediate refreshes are written into the output
        return tqdm(iterable, desc=desc, file=sys.stdout, mininterval=1e9, maxinterval=1e9, ascii=True, **kwargs)
    from tqdm.auto import tqdm as auto_tqdm

    return auto_tqdm(iterable, desc=desc, **kwargs)


def quiet_libraries() -> None:
    """Silence what libraries print that is noise in a stored notebook: transformers' weight-loading bars and
    its info/warning log lines (when executed for storing). Real warnings the book explains stay visible.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    if not text_progress():
        return
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
