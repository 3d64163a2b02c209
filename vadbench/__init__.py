"""vadbench: a plugin-based benchmark harness for unsupervised, cross-domain video anomaly
detection. The core knows no particular model or dataset; see docs/plugins.md.

``vadbench.run_matrix(path, vadbench.RunOptions(...))`` runs a matrix from Python, as
``vadbench run`` does (vadbench/run.py)."""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

RUN_API = ("run_matrix", "RunOptions", "RunSummary", "CellJob")

try:
    __version__ = version("vadbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    """The run API, imported on first use so that ``import vadbench`` stays light."""
    if name in RUN_API:
        from vadbench import run

        return getattr(run, name)
    raise AttributeError(f"module 'vadbench' has no attribute {name!r}")
