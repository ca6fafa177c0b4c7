"""The book in a real browser: JupyterLab on loopback, Debian's chromium driven by Playwright.

Notebooks 00, 01 and 08, and exercise 01 answered wrong and then right, are run through the UI (Run > Run All
Cells) as a learner would, in an interactive kernel
(no ``VLMKIT_TEXT_PROGRESS``), from a scratch copy of ``notebooks/`` (JupyterLab saves into what it serves; the
checkout is never written). Each is saved from the UI and the saved file is checked: every code cell ran, no error
output, no progress-bar widget, the project's kernelspec, and nbstripout (the git filter) gives back the source
byte for byte. Notebook 08's explorer widget must answer a changed control. Screenshots and the measured times go
to ``build/browser/``. A run is over when the saved notebook has every code cell counted, so a busy CPU makes the
test slower, not red. ``make browser-test`` runs this file (``pytest -m browser tests/test_browser.py``; ``make test``
leaves it out: it takes minutes); without playwright or chromium it skips, saying which.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from vlmkit.book.exercises import worked_solutions
from vlmkit.book.lab import (
    KERNELSPEC,
    STRIP_OPTIONS,
    lab_command,
    register_kernel,
)
from vlmkit.core.progress import TEXT_PROGRESS_ENV
from vlmkit.measure.records import CHECKOUT
from vlmkit.planning.recommend import CANDIDATES

pytestmark = pytest.mark.browser

SHOTS = CHECKOUT / "build" / "browser"
RUN_TIMEOUT_S = 600  # a whole notebook on a busy 2-core CPU; the measured times land in build/browser/
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage"]
# JupyterLab settings for a quiet, deterministic session: no news toast, no update check, no autosave racing ours
SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                                 "checkForUpdates": False},
            "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False}}
TIMES: dict[str, float] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A JupyterLab server on loopback with a token, scratch JUPYTER_* folders and a scratch copy of the book."""
    scratch = tmp_path_factory.mktemp("lab")
    root = scratch / "book"
    shutil.copytree(CHECKOUT / "notebooks", root / "notebooks")
    shutil.copytree(CHECKOUT / "exercises", root / "exercises")
    config = scratch / "config"
    for name, values in SETTINGS.items():
        path = config / "lab" / "user-settings" / name.replace("/", os.sep, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    register_kernel(str(scratch / "prefix"))  # the vlmkit kernel, as `make lab` registers it into the venv
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(scratch / "data"),
           "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"), "JUPYTER_PATH": str(scratch / "prefix/share/jupyter")}
    env.pop(TEXT_PROGRESS_ENV, None)  # an interactive kernel, as a learner's
    port, token = _free_port(), os.urandom(16).hex()
    extra = ["--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:
        extra.append("--allow-root")
    log = open(scratch / "server.log", "w")
    server = subprocess.Popen(lab_command(root, extra), env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    try:
        while True:
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None or time.perf_counter() - started > 120:
                    pytest.fail(f"JupyterLab did not start: {(scratch / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        TIMES["server start"] = time.perf_counter() - started
        yield {"base": base, "token": token, "root": root}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "timings.json").write_text(json.dumps({k: round(v, 1) for k, v in TIMES.items()}, indent=1))


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    """One chromium page (Debian's chromium, not Playwright's download)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    executable = os.environ.get("VLMKIT_CHROMIUM") or shutil.which("chromium")
    if executable is None:
        pytest.skip("no chromium: apt-get install -y chromium (Debian), or set VLMKIT_CHROMIUM to a chromium binary")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def _kernels_idle(lab: dict[str, Any]) -> bool:
    sessions = _get(f"{lab['base']}/api/sessions?token={lab['token']}")
    return bool(sessions) and all(s["kernel"]["execution_state"] == "idle" for s in sessions)


def _run_all(page: Any, lab: dict[str, Any], name: str, folder: str = "notebooks", before_run: Any = None) -> Path:
    """Open ``folder/name``, Run All Cells from the menu, wait until every cell ran, save from the UI; the saved
    file. ``before_run(page)``: what a learner does first (type answers)."""
    page.goto(f"{lab['base']}/lab/tree/{folder}/{name}.ipynb?reset&token={lab['token']}")
    page.wait_for_selector(".jp-NotebookPanel", timeout=120_000)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=120_000)
    started = time.perf_counter()
    while not _kernels_idle(lab):  # the notebook's kernel started and answered
        assert time.perf_counter() - started < 120, f"no idle kernel for {name}"
        time.sleep(0.5)
    dialogs = page.locator(".jp-Dialog")
    if dialogs.count():  # e.g. a kernel chooser: the notebook's kernel was not found
        page.screenshot(path=str(SHOTS / f"{name}-dialog.png"))
        pytest.fail(f"JupyterLab asked instead of opening {name}: {dialogs.first.text_content()}")
    if before_run is not None:
        before_run(page)
    started = time.perf_counter()
    page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
    path = lab["root"] / folder / f"{name}.ipynb"
    idle_polls = 0
    while True:  # done when every code cell of the saved notebook has run: a busy CPU makes this slower, not red
        assert time.perf_counter() - started < RUN_TIMEOUT_S, f"{name} still running after {RUN_TIMEOUT_S} s"
        time.sleep(1)
        idle = page.locator(".jp-InputPrompt", has_text="[*]").count() == 0 and _kernels_idle(lab)
        idle_polls = idle_polls + 1 if idle else 0
        if idle_polls >= 3 and _all_cells_ran(_save(page, path)):
            break
    TIMES[f"{name} run all"] = time.perf_counter() - started  # to within a few polls
    return path


def _save(page: Any, path: Path) -> Path:
    """Save the open notebook from the UI (Ctrl+S) and wait until the file on disk changed."""
    saved_before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel").first.click(position={"x": 5, "y": 5})  # focus the notebook, not a cell editor
    page.keyboard.press("Control+s")
    deadline = time.perf_counter() + 30
    while path.stat().st_mtime_ns == saved_before:
        assert time.perf_counter() < deadline, f"{path.name} was not saved"
        time.sleep(0.2)
    time.sleep(0.5)  # the write is not atomic: let it finish
    return path


def _all_cells_ran(path: Path) -> bool:
    """Whether every code cell of the saved notebook has an execution count (Run All has reached the end)."""
    try:
        saved = nbformat.read(path, as_version=4)
    except Exception:  # caught mid-write: look again at the next poll
        return False
    return all(c.execution_count for c in saved.cells if c.cell_type == "code")


def _screenshots(page: Any, name: str) -> None:
    """The notebook from the top, one screen at a time (at most six screens)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    scroller = page.locator(".jp-WindowedPanel-outer").first
    scroller.evaluate("e => { e.scrollTop = 0; }")
    for i in range(6):
        page.wait_for_timeout(1000)  # the windowed notebook renders the cells scrolled into view
        page.screenshot(path=str(SHOTS / f"{name}-{i}.png"))
        moved = scroller.evaluate("e => { const before = e.scrollTop; e.scrollTop += 0.9 * e.clientHeight; "
                                  "return e.scrollTop !== before; }")
        if not moved:
            break


def _check_saved(path: Path, name: str, page: Any) -> None:
    """Every code cell ran without an error output, no progress bar is a widget, the source comes back stripped.

    The saved notebook is kept in ``build/browser/saved/``."""
    (SHOTS / "saved").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SHOTS / "saved" / path.name)
    saved = nbformat.read(path, as_version=4)
    code = [c for c in saved.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), [c.source[:60] for c in code if not c.execution_count]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]
    shown = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]').count()
    assert shown == 0, f"{shown} error outputs on the page"
    assert "Traceback (most recent call last)" not in page.locator(".jp-NotebookPanel").first.text_content()
    widgets = [c.source for c in code for o in c.outputs
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert all("Explorer(" in source for source in widgets), widgets  # only 08's explorer is a widget
    bars = [line for c in code for o in c.outputs if o.output_type == "stream" for line in o.text.splitlines()
            if re.search(r"(?<!\d)\d{1,2}%\|", line)]
    assert not bars, bars  # every progress bar shown as finished text (JupyterLab keeps a line's last state)
    assert saved.metadata.kernelspec == KERNELSPEC  # the project's kernel: saving leaves the kernelspec as it was
    # what the git filter stages is the source (stripped too: a clone's working copy may hold saved outputs)
    assert _stripped(path) == _stripped(CHECKOUT / "notebooks" / f"{name}.ipynb")


def _stripped(path: Path) -> str:
    """The notebook as the git filter stages it (nbstripout with vlmkit.book.lab's options)."""
    return subprocess.run([sys.executable, "-m", "nbstripout", *STRIP_OPTIONS.split(), "-t", str(path)],
                          check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("name", ["00_environment", "01_loading_precisions"])
def test_notebook_runs_through_jupyterlab(page, lab, name):  # page first: no server started for a skip
    saved = _run_all(page, lab, name)
    _screenshots(page, name)
    _check_saved(saved, name, page)


def _explorer_numbers(explorer: Any) -> tuple[list[str], list[str]]:
    """The predicted needs as the explorer's text states them and as its chart's bars are labelled, read off the page."""
    text, chart = explorer.locator(".widget-html").all()
    stated = re.findall(r"(?:BF16|INT8|NF4|INT4) (\d+\.\d\d GiB)", text.text_content())[:len(CANDIDATES)]
    drawn = [t.text_content() for t in chart.locator("svg text").all() if t.text_content().endswith(" GiB")]
    return stated, drawn


def test_decision_notebook_runs_and_its_explorer_answers_every_control(page, lab):
    name = "08_decision"
    _check_saved(_run_all(page, lab, name), name, page)
    explorer = page.locator(".widget-vbox", has_text="card GiB").first
    explorer.scroll_into_view_if_needed()
    text = explorer.locator(".widget-html").first
    before = text.text_content()
    assert "Recommendation:" in before and explorer.locator("svg").count() == 1  # the words and one chart
    stated, drawn = _explorer_numbers(explorer)
    assert stated == drawn and len(drawn) == len(CANDIDATES), (stated, drawn)
    explorer.screenshot(path=str(SHOTS / f"{name}-explorer-12GiB.png"))

    def type_into(label: str, value: str) -> None:
        readout = explorer.locator(".widget-slider", has_text=label).locator(".widget-readout")
        readout.click()
        page.keyboard.press("Control+a")
        page.keyboard.type(value)
        page.keyboard.press("Enter")

    changes = [("card", lambda: type_into("card GiB", "24")), ("batch", lambda: type_into("batch", "4")),
               ("models", lambda: type_into("models", "2")),
               ("image", lambda: explorer.locator("select").select_option("1792")),
               ("priority", lambda: explorer.locator("button", has_text="memory").click())]
    for what, change in changes:
        shown = text.text_content()
        change()
        started = time.perf_counter()
        while text.text_content() == shown:
            assert time.perf_counter() - started < 60, f"the explorer did not answer a changed {what}"
            time.sleep(0.5)
        time.sleep(0.5)  # the chart is replaced in the same update
        stated, drawn = _explorer_numbers(explorer)
        assert stated == drawn and len(drawn) == len(CANDIDATES), (what, stated, drawn)  # the bars say what the text says
        TIMES[f"{name} explorer answer ({what})"] = time.perf_counter() - started
    assert "24.00 GiB" in text.text_content() and "12.00 GiB" not in text.text_content()
    explorer.screenshot(path=str(SHOTS / f"{name}-explorer-changed.png"))
    _screenshots(page, name)


def _answer(source: str) -> Any:
    """Type ``source`` into the notebook's parameters cell (the first code cell), replacing what it holds."""
    def type_answers(page: Any) -> None:
        editor = page.locator(".jp-CodeCell .cm-content").first
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.type(source)
        page.keyboard.press("Escape")
    return type_answers


def test_an_exercise_answered_wrong_then_right(page, lab):
    """Exercise 01 through the UI: a wrong answer gets a one-line hint and the summary fails in one line; every
    answer is judged; answered right, the summary counts it and nothing fails."""
    name = "01_loading_precisions"
    solutions = worked_solutions()[name]
    right = "\n".join(f"{k} = {v!r}" for k, v in solutions.items())
    wrong = right.replace(f"NF4_FOOTPRINT_GIB = {solutions['NF4_FOOTPRINT_GIB']!r}", "NF4_FOOTPRINT_GIB = 9.0")
    _run_all(page, lab, name, "exercises", _answer(wrong))
    text = page.locator(".jp-NotebookPanel").first.text_content()
    assert "✗ NF4_FOOTPRINT_GIB = 9 is" in text and "Hint:" in text and "DQ_SAVING_BITS_PER_WEIGHT = " in text
    assert "WrongAnswers: wrong: NF4_FOOTPRINT_GIB" in text and "Traceback" not in text and "plan_memory(" not in text
    assert "2 right, 1 wrong, 0 not answered (of 3)" in text
    page.screenshot(path=str(SHOTS / f"exercise-{name}-wrong.png"))
    _run_all(page, lab, name, "exercises", _answer(right))
    text = page.locator(".jp-NotebookPanel").first.text_content()
    assert "3 right, 0 wrong, 0 not answered (of 3)" in text and "WrongAnswers" not in text and "✗" not in text
