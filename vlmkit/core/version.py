"""The package's version: ``vlmkit.__version__``, and every record's provenance when vlmkit runs from a checkout
on ``PYTHONPATH`` (not installed). Taught in ``notebooks/00_environment.ipynb``."""

__version__ = "0.1.0"
