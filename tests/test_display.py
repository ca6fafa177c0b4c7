"""How the notebooks' tables show: text cells in full (pandas cuts them at 50 characters by default)."""

import pandas as pd

import vlmkit  # noqa: F401  (importing vlmkit sets the display options, as in every notebook)

STATEMENT = "INT8 (LLM.int8, threshold 6.0): 8 GB, 0.8-1.2x the speed, 98%-99% of the quality (the seed's table)"


def test_importing_vlmkit_shows_whole_text_cells_and_every_column():
    table = pd.DataFrame({"the seed says": [STATEMENT], **{f"column {i}": [i] for i in range(30)}})
    assert len(STATEMENT) > 50
    assert STATEMENT in table._repr_html_() and STATEMENT in table.to_string()
    assert "column 29" in table._repr_html_() and "..." not in table._repr_html_()
