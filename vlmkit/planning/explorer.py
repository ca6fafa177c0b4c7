"""Notebook 08's explorer: :func:`explorer_view`, the plain function behind it (one setting of its controls in, what
it shows out), and :class:`Explorer`, the widget that calls it.

Taught in ``notebooks/08_decision.ipynb``.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import matplotlib
from markdown_it import MarkdownIt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vlmkit.core.formatting import GIB, gib_text
from vlmkit.models.architectures import ArchitectureSpec
from vlmkit.models.precisions import get_precision
from vlmkit.planning.recommend import CANDIDATES, recommend_precision
from vlmkit.planning.seed_tree import seed_tree

#: Markdown to HTML for the explorer's text (CommonMark with tables).
_markdown = MarkdownIt("commonmark").enable("table")


def explorer_view(model: str | Path | ArchitectureSpec, vram_gib: float, image_size: int, batch_size: int,
                  models: int, priority: str) -> dict[str, Any]:
    """What notebook 08's explorer shows for one setting of its widgets: the recommendation, the seed's pick, the
    predicted need of each precision against the card (for a bar chart, each bar marked by whether it fits, as
    ``recommend_precision`` decided: measured on an emulated card, else planned with the margin) and a Markdown
    summary.

    The seed's tree is asked as written; its "Do you have OOM errors?" is answered by ``recommend_precision``'s
    answer for BF16 (yes where BF16 does not fit). Taught in ``notebooks/08_decision.ipynb``.
    """
    rec = recommend_precision(model, vram_gib, image_size=image_size, batch_size=batch_size, models=models, priority=priority)
    oom = not rec.fit["bf16"]
    seed_pick = seed_tree(vram_gib, oom_errors=oom, models=models, batch_size=batch_size)
    bars = [(p, rec.needs[p] / GIB, rec.fit[p]) for p in CANDIDATES]
    if rec.fits:
        settings = ", ".join(f"{k}={v}" for k, v in rec.settings.items())
        head = (f"**Recommendation: {get_precision(rec.precision).short_label}** ({settings}), predicted "
                f"{gib_text(rec.predicted_peak_bytes)} of {gib_text(rec.card_bytes)}, {gib_text(rec.headroom_bytes)} headroom")
        if rec.speed_vs_bf16 is not None:
            head += f", {rec.speed_vs_bf16:.2f}x the speed of plain BF16"
    else:
        head = f"**Nothing fits** a {gib_text(rec.card_bytes)} card"
    seed_line = (f"The seed's tree: OOM errors? {'yes' if oom else 'no'} (BF16 {rec.fit_evidence['bf16']}); it picks "
                 f"**{get_precision(seed_pick).short_label}**, which "
                 + ("fits" if rec.fit[seed_pick] else "**does not fit**") + f" ({rec.fit_evidence[seed_pick]}).")
    evidence = [f"- `{e.file}` (run `{e.run_id}`): {e.what}" for e in rec.evidence]
    markdown = "\n".join([head + ".", "", *[f"- {r}" for r in rec.reasons], "", seed_line, "", "Evidence:", *evidence])
    return {"recommendation": rec, "seed_pick": seed_pick, "bars": bars, "card_gib": vram_gib, "markdown": markdown}


#: The explorer's controls: (kind, label, default, choices or (min, max, step)).
EXPLORER_CONTROLS: dict[str, tuple[str, str, Any, Any]] = {
    "vram_gib": ("float", "card GiB", 12.0, (4.0, 48.0, 0.5)),
    "image_size": ("choice", "image px", 448, (224, 448, 896, 1344, 1792)),
    "batch_size": ("int", "batch", 1, (1, 8, 1)),
    "models": ("int", "models", 1, (1, 3, 1)),
    "priority": ("toggle", "priority", "speed", ("speed", "memory", "quality")),
}


def need_chart(view: dict[str, Any]) -> Figure:
    """Each precision's predicted need as a bar against the card (green fits, red does not: measured on an emulated
    card, else planned with the margin, so a red bar may end left of the card's line), on a figure of its own
    (no pyplot state: a widget callback may draw while another cell runs). Taught in ``notebooks/08_decision.ipynb``.
    """
    figure = Figure(figsize=(6, 1.8))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    labels = [get_precision(p).label[:30] for p, _, _ in view["bars"]]
    needs = [gib for _, gib, _ in view["bars"]]
    bars = ax.barh(labels, needs, color=["tab:green" if fits else "tab:red" for _, _, fits in view["bars"]])
    ax.bar_label(bars, labels=[f"{gib:.2f} GiB" for gib in needs], padding=3, fontsize=8)
    ax.set_xlim(0, 1.2 * max(*needs, view["card_gib"]))
    ax.axvline(view["card_gib"], color="black", lw=1)
    ax.set(xlabel=f"predicted need (GiB); line: the {view['card_gib']:g} GiB card; green: fits (measured, or with the "
                  f"{100 * view['recommendation'].margin:.0f} % margin)")
    figure.tight_layout()
    return figure


def _svg(figure: Figure) -> str:
    """The figure as inline SVG whose labels stay text (a reader, or a test, can read the bars' numbers)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg")
    return buffer.getvalue()[buffer.getvalue().index("<svg"):]


class Explorer:
    """Notebook 08's explorer: controls, the recommendation in words and one bar chart, redrawn in place.

    Every change of a control recomputes :func:`explorer_view` and replaces the text and the chart's picture under a
    lock; the chart is drawn on a figure of the explorer's own, never on pyplot's current one. Shown in a notebook,
    its output carries a static fallback (the answer for the default values, labelled so) that a viewer without the
    widget's JavaScript shows instead (a stored notebook, the static site); JupyterLab shows the live explorer.
    Taught in ``notebooks/08_decision.ipynb``.
    """

    def __init__(self, model: str | Path | ArchitectureSpec):
        self.model = model
        self.controls = {name: _control(kind, label, default, spec)
                         for name, (kind, label, default, spec) in EXPLORER_CONTROLS.items()}
        self.text = widgets.HTML()
        self.chart = widgets.HTML()
        self._lock = threading.Lock()
        for control in self.controls.values():
            control.observe(self.update, names="value")
        rows = list(self.controls.values())
        self.widget = widgets.VBox([widgets.HBox(rows[:3]), widgets.HBox(rows[3:]), self.text, self.chart])
        self.view: dict[str, Any] = {}
        self.update()

    def values(self) -> dict[str, Any]:
        """The controls' current values, by :func:`explorer_view`'s argument names."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self, _change: object = None) -> None:
        """Recompute the answer for the controls' values and redraw the text and the chart."""
        with self._lock:
            self.view = explorer_view(self.model, **self.values())
            self.text.value = _markdown.render(self.view["markdown"])
            self.chart.value = _svg(need_chart(self.view))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/html"] = ("<p><em>The answer for the explorer's default values (a static copy: run the notebook "
                               "in JupyterLab for the live controls).</em></p>" + self.text.value + self.chart.value)
        return bundle


def _control(kind: str, label: str, default: Any, spec: Any) -> widgets.ValueWidget:
    if kind == "float":
        return widgets.FloatSlider(value=default, min=spec[0], max=spec[1], step=spec[2], description=label)
    if kind == "int":
        return widgets.IntSlider(value=default, min=spec[0], max=spec[1], step=spec[2], description=label)
    if kind == "choice":
        return widgets.Dropdown(options=list(spec), value=default, description=label)
    return widgets.ToggleButtons(options=list(spec), value=default, description=label)
