"""The explanations a learner reads, as Markdown templates filled with a run's numbers.

Each notebook's "what the numbers say" text lives in ``vlmkit/book/prose/<notebook>/<section>.md``: Markdown with
Jinja2 placeholders (``{{ ratio|x }}``) and conditions (``{% if verdict == "holds" %}``), reviewed and edited as
text. A notebook cell only gathers the values from its records and calls :func:`explain`, which renders the
template and shows it as Markdown. An unknown placeholder is an error, never an empty gap.

Filters for numbers: ``x`` (``1.28x``), ``pct`` (``57 %``), ``ms`` (``1,084 ms``), ``gib`` (``12.00 GiB``),
``num(".3g")`` (any format spec). Taught in ``notebooks/00_environment.ipynb`` (how the book is written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from IPython.display import Markdown

from vlmkit.core.formatting import gib_text

#: Where the templates are: one folder per notebook.
PROSE_DIR = Path(__file__).resolve().parent / "prose"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(PROSE_DIR), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(
        x=lambda v, digits=2: f"{v:.{digits}f}x",
        pct=lambda v, digits=0: f"{100 * v:.{digits}f} %",
        ms=lambda v, digits=0: f"{v:,.{digits}f} ms",
        gib=gib_text,
        num=lambda v, spec="g": format(v, spec),
    )
    return env


def render(name: str, **values: Any) -> str:
    """The Markdown text of template ``name`` (``"03_dequantization/where_the_time_goes"``) filled with ``values``.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    return _environment().get_template(f"{name}.md").render(**values).strip() + "\n"


def explain(name: str, **values: Any) -> Markdown:
    """:func:`render` as a Markdown display object: the last line of a notebook cell shows it as text.

    Taught in ``notebooks/00_environment.ipynb``.
    """
    return Markdown(render(name, **values))
