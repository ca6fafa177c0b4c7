"""Sphinx configuration of the rendered book: ``make site`` (``python -m vlmkit.book.site``) -> build/site/.

Sphinx reads the sources that ``vlmkit.book.site`` stages from the committed reference runs (the README as
the landing page, one page per run, the run's executed notebooks). MyST-NB renders each notebook with
the outputs it was committed with: nothing is executed.
"""

project = "vlmkit · Quantization Reality"
html_title = project
extensions = ["myst_nb"]
root_doc = "index"

nb_execution_mode = "off"  # render the outputs of the reference runs, never run a cell
nb_render_markdown_format = "myst"  # links in Markdown outputs (run tables) resolve to pages like any other
myst_heading_anchors = 3  # `page.ipynb#a-heading` links resolve like on GitHub

html_theme = "sphinx_book_theme"
html_theme_options = {"show_navbar_depth": 1, "home_page_in_toc": True}
html_static_path = ["_static"]
html_css_files = ["vlmkit.css"]  # wide tables scroll sideways, long output lines wrap
html_copy_source = False  # the notebooks are a few MB each: the committed files are the source
