"""The book itself: running it, its records turned into tables, reference runs, the site, the lab, the course.

- ``runner``: ``python -m vlmkit.book`` runs every notebook with papermill into ``build/<device>/``.
- ``readme_tables``: the README's tables, made from a reference run's records.
- ``reference_status``: is each committed reference run current, or marked stale?
- ``site``: the committed reference runs as a static HTML site.
- ``lab``: JupyterLab with the book's kernel and notebook filter.
- ``prose``: the notebooks' explanations, Markdown templates filled with a run's numbers (``explain``).
- ``course``: the course plan; ``exercises``: the checks behind the exercise notebooks.

The top floor: it may import every other room. Taught in ``notebooks/00_environment.ipynb``.
"""

from vlmkit.core.lazy import lazy_exports

#: Each public name of this room and the module that defines it (loaded on first use).
_EXPORTS = {
    "BLOCK": "course",
    "COURSE_FILE": "course",
    "PATHS": "course",
    "course": "course",
    "course_table": "course",
    "fill_course": "course",
    "exercises": "exercises",
    "FIRST_NOTEBOOK": "lab",
    "KERNELSPEC": "lab",
    "KERNEL_DISPLAY_NAME": "lab",
    "KERNEL_NAME": "lab",
    "STRIP_OPTIONS": "lab",
    "filter_python": "lab",
    "install_notebook_filter": "lab",
    "lab": "lab",
    "lab_command": "lab",
    "register_kernel": "lab",
    "PROSE_DIR": "prose",
    "explain": "prose",
    "prose": "prose",
    "render": "prose",
    "README_BLOCKS": "readme_tables",
    "SPEED_NOTEBOOKS": "readme_tables",
    "card_table": "readme_tables",
    "decode_table": "readme_tables",
    "fill_readme": "readme_tables",
    "memory_table": "readme_tables",
    "phase_table": "readme_tables",
    "quality_table": "readme_tables",
    "readme_block": "readme_tables",
    "readme_tables": "readme_tables",
    "speed_claim_summary": "readme_tables",
    "speed_verdict_table": "readme_tables",
    "PAGE_BUILDERS": "reference_status",
    "ROOT": "reference_status",
    "ReferenceStatus": "reference_status",
    "STALE_FILE": "reference_status",
    "clear_current_marks": "reference_status",
    "package_fingerprint": "reference_status",
    "code_of": "reference_status",
    "mark_stale": "reference_status",
    "reference_runs": "reference_status",
    "reference_status": "reference_status",
    "run_manifest": "reference_status",
    "run_table": "reference_status",
    "run_time_text": "reference_status",
    "stale_marks": "reference_status",
    "KERNEL_ARGUMENTS": "runner",
    "NOTEBOOK_DIR": "runner",
    "book_notebooks": "runner",
    "notebook_needs": "runner",
    "run_book": "runner",
    "runner": "runner",
    "CONF_DIR": "site",
    "LINK": "site",
    "MAIN_DEVICE": "site",
    "NOTEBOOK_GLOB": "site",
    "broken_links": "site",
    "build_site": "site",
    "exercise_page": "site",
    "landing_page": "site",
    "map_links": "site",
    "run_page": "site",
    "site": "site",
    "site_runs": "site",
    "site_target": "site",
    "stage": "site",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
