"""The paper's TI-VAD relevancy: S̄ = mean over all (TI label, VAD label) pairs of |cos-sim|.

A label's vector is the mean of its words' vectors (the paper averages multi-word labels). A
word the vocabulary lacks is left out of that mean and reported; a label none of whose words is
known has no vector, is reported, and takes no part in any S̄ (the count of labels used is
reported beside every list), so nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.sdk import ConfigError

from .embedding import WordVectors
from .labels import LabelSet, words

# The paper's calibration pairs and their S̄ with word2vec Google News (Sec. 3.3).
REFERENCE_PAIRS: tuple[tuple[str, str, float], ...] = (
    ("object", "scene", 0.829),
    ("bag", "dime", 0.209),
    ("fox", "paper", 0.109),
)
# The paper's largest S̄ (Fig. 4): HMDB against Avenue.
PAPER_MAXIMUM = ("HMDB", "Ave", 0.207)
BASELINE_PAIRS = 20_000
BASELINE_VOCABULARY = 50_000
BASELINE_SEED = 0


@dataclass(frozen=True)
class EmbeddedSet:
    """A label set with one vector per label that has at least one known word."""

    title: str
    source: Path
    labels: tuple[str, ...]
    embedded: tuple[str, ...]
    vectors: np.ndarray
    missing: dict[str, list[str]] = field(default_factory=dict)

    @property
    def unembedded(self) -> list[str]:
        """Labels none of whose words the vocabulary has: they take no part in S̄."""
        return [label for label in self.labels if label not in self.embedded]

    def summary(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "source": str(self.source),
            "labels": len(self.labels),
            "labels_used": len(self.embedded),
            "missing_words": self.missing,
            "labels_without_vector": self.unembedded,
        }


def embed_label(label: str, vectors: WordVectors) -> tuple[np.ndarray | None, list[str]]:
    """The mean vector of the label's known words (None when it has none) and its unknown words."""
    tokens = words(label)
    known = [w for w in tokens if w in vectors]
    missing = [w for w in tokens if w not in vectors]
    if not known:
        return None, missing
    return np.mean([vectors.vector(w) for w in known], axis=0), missing


def embed(label_set: LabelSet, vectors: WordVectors) -> EmbeddedSet:
    """Every label of the set embedded; a set where no label embeds is an error naming its file."""
    rows, embedded, missing = [], [], {}
    for label in label_set.labels:
        vector, unknown = embed_label(label, vectors)
        if unknown:
            missing[label] = unknown
        if vector is not None:
            rows.append(vector)
            embedded.append(label)
    if not rows:
        raise ConfigError(
            f"{label_set.source}: none of its {len(label_set.labels)} labels has a word in the "
            f"vocabulary of {vectors.name}"
        )
    return EmbeddedSet(
        label_set.title,
        label_set.source,
        label_set.labels,
        tuple(embedded),
        np.stack(rows),
        missing,
    )


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def mean_abs_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """S̄ of two sets of vectors (rows): the mean |cos-sim| over all pairs, in [0, 1]."""
    cosines = unit_rows(a) @ unit_rows(b).T
    return float(np.clip(np.abs(cosines), 0.0, 1.0).mean())


def relevancy_matrix(ti: list[EmbeddedSet], vad: list[EmbeddedSet]) -> np.ndarray:
    """S̄ for every (TI set, VAD set): rows TI, columns VAD."""
    return np.array([[mean_abs_cosine(t.vectors, v.vectors) for v in vad] for t in ti])


def pair_relevancy(first: str, second: str, vectors: WordVectors) -> float | None:
    """S̄ of two single labels (their |cos-sim|), or None when either has no known word."""
    a, _ = embed_label(first, vectors)
    b, _ = embed_label(second, vectors)
    if a is None or b is None:
        return None
    return mean_abs_cosine(a[None, :], b[None, :])


def chance_level(vectors: WordVectors) -> float:
    """Mean |cos-sim| of random pairs of frequent words: what S̄ reads for unrelated words with
    these vectors, to read the matrix against (GloVe rows are sorted by frequency)."""
    alphabetic = [
        row for row, word in enumerate(vectors.words[:BASELINE_VOCABULARY]) if word.isalpha()
    ]
    rng = np.random.default_rng(BASELINE_SEED)
    first = rng.choice(alphabetic, BASELINE_PAIRS)
    second = rng.choice(alphabetic, BASELINE_PAIRS)
    keep = first != second
    a = unit_rows(np.asarray(vectors.vectors[first[keep]], dtype=np.float64))
    b = unit_rows(np.asarray(vectors.vectors[second[keep]], dtype=np.float64))
    return float(np.abs((a * b).sum(axis=1)).mean())


@dataclass(frozen=True)
class Relevancy:
    """Everything the command reports: the matrix, the calibration pairs, the chance level."""

    embedding: str
    embedding_source: str
    ti: list[EmbeddedSet]
    vad: list[EmbeddedSet]
    matrix: np.ndarray
    reference: list[tuple[str, str, float | None, float]]
    chance: float

    def maximum(self) -> tuple[str, str, float]:
        row, column = np.unravel_index(int(np.argmax(self.matrix)), self.matrix.shape)
        return self.ti[row].title, self.vad[column].title, float(self.matrix[row, column])

    def to_json(self) -> dict[str, Any]:
        ti_title, vad_title, value = self.maximum()
        return {
            "embedding": self.embedding,
            "embedding_source": self.embedding_source,
            "measure": "mean |cos-sim| over all (TI label, VAD label) pairs",
            "ti": [s.summary() for s in self.ti],
            "vad": [s.summary() for s in self.vad],
            "matrix": {
                t.title: {v.title: float(self.matrix[i, j]) for j, v in enumerate(self.vad)}
                for i, t in enumerate(self.ti)
            },
            "maximum": {"ti": ti_title, "vad": vad_title, "value": value},
            "paper_maximum": dict(zip(("ti", "vad", "value"), PAPER_MAXIMUM, strict=True)),
            "reference_pairs": [
                {"pair": [a, b], "measured": measured, "paper": paper}
                for a, b, measured, paper in self.reference
            ],
            "chance_level": {
                "value": self.chance,
                "pairs": BASELINE_PAIRS,
                "vocabulary": BASELINE_VOCABULARY,
                "seed": BASELINE_SEED,
            },
        }


def measure(ti: list[LabelSet], vad: list[LabelSet], vectors: WordVectors) -> Relevancy:
    """Embed both sides, fill the matrix, and score the paper's reference pairs."""
    ti_sets = [embed(s, vectors) for s in ti]
    vad_sets = [embed(s, vectors) for s in vad]
    reference = [(a, b, pair_relevancy(a, b, vectors), paper) for a, b, paper in REFERENCE_PAIRS]
    return Relevancy(
        vectors.name,
        vectors.source,
        ti_sets,
        vad_sets,
        relevancy_matrix(ti_sets, vad_sets),
        reference,
        chance_level(vectors),
    )
