"""vadbench: a plugin-based benchmark harness for unsupervised, cross-domain video anomaly
detection. The core knows no particular model or dataset; see docs/plugins.md."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vadbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
