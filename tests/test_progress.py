"""Progress bars are text: one finished line in a stored notebook, a live line in JupyterLab, never a widget."""

import pytest
from tqdm.std import tqdm
from transformers.utils import logging as hf_logging

from vlmkit.core.progress import TEXT_PROGRESS_ENV, progress, quiet_libraries


@pytest.fixture
def interactive(monkeypatch):
    """An interactive kernel (no VLMKIT_TEXT_PROGRESS); transformers' switches restored afterwards."""
    monkeypatch.delenv(TEXT_PROGRESS_ENV)
    quiet_libraries()
    hf_logging.enable_progress_bar()  # as in a fresh interactive kernel
    yield
    monkeypatch.undo()
    quiet_libraries()  # back to the test session's settings (executed for storing)


def test_stored_bar_prints_only_its_finished_line(capsys):
    assert list(progress(range(8), desc="precisions")) == list(range(8))
    out = capsys.readouterr().out
    assert out.startswith("precisions: 100%|##########| 8/8 [") and out.count("\n") == 1
    assert "0%|" not in out.replace("100%|", "") and "\r" not in out
    list(progress(range(3), desc="inner", leave=False))
    assert capsys.readouterr().out == ""


def test_stored_notebook_gets_no_transformers_bars():
    bar = hf_logging.tqdm(range(2), desc="Loading weights")
    assert not isinstance(bar, tqdm)  # transformers' silent shim


def test_interactive_bars_are_live_text_never_widgets(interactive, capsys):
    bar = progress(range(3), desc="precisions")
    assert type(bar) is tqdm  # tqdm.std's text bar (not FinishedTextBar, not tqdm.notebook's widget)
    list(bar)
    out = capsys.readouterr().out
    assert out.startswith("\rprecisions:   0%") and "\rprecisions: 100%|##########| 3/3 [" in out  # updated in place
    loading = hf_logging.tqdm(range(2), desc="Loading weights")  # transformers' own bar, through vlmkit's hook
    assert type(loading) is tqdm and loading.desc == "Loading weights"
    capsys.readouterr()
    loading.close()
    assert "Loading weights" not in capsys.readouterr().out  # transient: it clears its line when done
