"""vadbench: a plugin-based benchmark harness for unsupervised, cross-domain video anomaly
detection. The core knows no particular model or dataset; see docs/plugins.md.

``vadbench.run_matrix(path, vadbench.RunOptions(...))`` runs a matrix from Python, as
``vadbench run`` does (vadbench/harness/run.py); ``vadbench.cell_jobs`` plans a matrix into
jobs and ``vadbench.run_job`` runs one (vadbench/harness/jobs.py)."""

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# The run API, by the module that holds each name.
RUN_API = {
    "run_matrix": "vadbench.harness.run",
    "RunOptions": "vadbench.harness.run",
    "RunSummary": "vadbench.harness.run",
    "cell_jobs": "vadbench.harness.run",
    "CellJob": "vadbench.harness.jobs",
    "run_job": "vadbench.harness.worker",
}

try:
    __version__ = version("vadbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    """The run API, imported on first use so that ``import vadbench`` stays light."""
    if name in RUN_API:
        return getattr(importlib.import_module(RUN_API[name]), name)
    raise AttributeError(f"module 'vadbench' has no attribute {name!r}")
