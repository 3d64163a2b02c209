"""The FFP evaluation protocol against AUCs worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vadbench.sdk import protocol
from vadbench.sdk.contracts import DataError
from vadbench_plugins.metrics.detection import macro_auc, micro_auc


def bundle(scores, labels, context=0, kind="normality"):
    ids = [f"v{i}" for i in range(len(scores))]
    return protocol.detection_input(
        ids, [np.array(s, float) for s in scores], [np.array(x) for x in labels], context, kind
    )


def test_single_video_auc_by_hand() -> None:
    # normalised [1, .5, .75, 0] -> anomaly [0, .5, .25, 1]; positives {.5, .25} vs negatives
    # {0, 1}: 2 of 4 pairs ranked right.
    data = bundle([[30, 20, 25, 10]], [[0, 1, 1, 0]])
    assert micro_auc(data)[0].value == pytest.approx(0.5)


def test_first_context_frames_are_dropped_not_counted_as_normal() -> None:
    # Labels cover 5 frames, scores the last 4: the first label (1) must be dropped, not used.
    data = bundle([[30, 20, 25, 10]], [[1, 0, 1, 0, 1]], context=1)
    assert data.labels[0].tolist() == [0, 1, 0, 1]
    assert micro_auc(data)[0].value == pytest.approx(1.0)


def test_per_video_normalisation_changes_the_micro_auc() -> None:
    # Video A raw [10, 20] labels [1, 0] -> anomaly [1, 0]; video B raw [100, 50, 75], labels
    # [0, 1, 0] -> anomaly [0, 1, .5]. Concatenated: positives {1, 1} beat negatives {0, 0, .5}.
    # On raw scores the AUC would be 5/6.
    data = bundle([[10, 20], [100, 50, 75]], [[1, 0], [0, 1, 0]])
    assert micro_auc(data)[0].value == pytest.approx(1.0)


def test_macro_auc_is_the_mean_of_per_video_aucs() -> None:
    # A: AUC 1. B: anomaly [0, 1, .5], labels [0, 0, 1]: positive .5 beats 0, loses to 1 -> 0.5.
    data = bundle([[10, 20], [100, 50, 75]], [[1, 0], [0, 0, 1]])
    assert protocol.per_video_auc(data) == {"v0": 1.0, "v1": 0.5}
    assert macro_auc(data)[0].value == pytest.approx(0.75)


def test_anomaly_scores_are_not_inverted() -> None:
    data = bundle([[30, 20, 25, 10]], [[0, 1, 1, 0]], kind="anomaly")
    # anomaly = normalised [1, .5, .75, 0]: positives {.5, .75} vs negatives {1, 0} -> 0.5
    assert micro_auc(data)[0].value == pytest.approx(0.5)
    data = bundle([[0, 5, 9, 1]], [[0, 1, 1, 0]], kind="anomaly")
    assert micro_auc(data)[0].value == pytest.approx(1.0)


def test_constant_score_video_is_guarded() -> None:
    normalised = protocol.normalise(np.array([7.0, 7.0, 7.0]))
    assert np.all(np.isfinite(normalised)) and np.all(normalised == protocol.CONSTANT_VIDEO_SCORE)
    # A constant video next to an informative one: every constant frame ties at 0.5.
    # anomaly: A [.5, .5, .5] labels [0, 1, 0]; B [1, 0] labels [1, 0].
    # positives {.5, 1} vs negatives {.5, .5, 0}: .5 -> 0.5+0.5+1, 1 -> 3 => 5 / 6
    data = bundle([[7, 7, 7], [10, 20]], [[0, 1, 0], [1, 0]])
    assert micro_auc(data)[0].value == pytest.approx(5 / 6)


def test_single_class_video_is_left_out_of_macro_and_kept_in_micro() -> None:
    data = bundle([[10, 20], [1, 2, 3]], [[1, 0], [0, 0, 0]])
    macro = macro_auc(data)[0]
    assert macro.value == pytest.approx(1.0)
    assert "1 single-class video" in macro.note
    # micro: anomaly A [1, 0], B [1, .5, 0]; positive {1} vs negatives {0, 1, .5, 0} -> 3.5/4
    assert micro_auc(data)[0].value == pytest.approx(3.5 / 4)


def test_target_with_one_class_has_no_auc_and_says_why() -> None:
    data = bundle([[1, 2, 3]], [[0, 0, 0]])
    micro, macro = micro_auc(data)[0], macro_auc(data)[0]
    assert micro.value is None and "only one class" in micro.note
    assert macro.value is None and "no video has both classes" in macro.note


def test_mismatched_lengths_name_the_video() -> None:
    with pytest.raises(DataError, match=r"video 'v0': 3 scores for 5 frames \(expected 4"):
        bundle([[1, 2, 3]], [[0, 1, 0, 1, 0]], context=1)


def test_non_finite_scores_are_rejected_with_the_frame() -> None:
    with pytest.raises(DataError, match="score of frame 3 is nan"):
        bundle([[1, 2, float("nan")]], [[0, 1, 0, 1]], context=1)


def test_videos_are_evaluated_in_sorted_order() -> None:
    data = protocol.detection_input(
        ["b", "a"], [np.array([1.0, 2.0]), np.array([3.0, 4.0])], [[0, 1], [1, 0]], 0, "anomaly"
    )
    assert data.video_ids == ("a", "b")
    assert data.labels[0].tolist() == [1, 0]
