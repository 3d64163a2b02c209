"""How sure a result is: bootstrap intervals, paired differences between models, rank tests.

Frames of one video are not independent, so every interval resamples *test videos* (and seeds,
when a model was trained with several). One resampling of a target's videos is drawn per
bootstrap round and shared by every model scored on that target, and one resampling of seed
positions is shared by every model with the same seeds: differences between models are then
paired, which is what makes a small difference decidable.

Each round only changes how often each video counts, so the AUC of a round is a weighted
Mann-Whitney statistic over the frames sorted once: all rounds of a target come out of two sparse
matrix products and a cumulative sum, instead of a thousand calls to a ROC routine.

Rank tests across targets use scipy (Friedman) and scikit-posthocs (Conover, Holm-corrected);
the critical difference of the mean ranks is Nemenyi's, from scipy's studentized range.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from vadbench.sdk.contracts import ResampledStatistic
from vadbench.sdk.protocol import NORMAL_TYPE

RESAMPLES = 1000
CONFIDENCE = 0.95
MIN_VIDEOS = 2  # one video resamples to itself: a zero-width interval that means nothing
ROUNDS_PER_BLOCK = 200  # rounds evaluated at once: bounds memory to ~200 × unique scores


class WeightedAUC:
    """ROC AUC of pooled frames when each video counts a given number of times.

    ``weights`` of shape (rounds, videos) gives, per round, how often each video was drawn; the
    result is each round's AUC (NaN when a round holds one class only). Ties count one half,
    as in scikit-learn's ``roc_auc_score``.
    """

    def __init__(self, scores: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> None:
        pooled = np.concatenate(scores) if scores else np.zeros(0)
        pooled_labels = np.concatenate(labels).astype(bool) if labels else np.zeros(0, bool)
        video = np.repeat(np.arange(len(scores)), [len(s) for s in scores])
        _, group = np.unique(pooled, return_inverse=True)
        shape = (len(scores), int(group.max()) + 1 if len(group) else 0)
        ones = np.ones(int(pooled_labels.sum()))
        self.positives = sparse.csr_matrix(
            (ones, (video[pooled_labels], group[pooled_labels])), shape=shape
        )
        others = ~pooled_labels
        self.negatives = sparse.csr_matrix(
            (np.ones(int(others.sum())), (video[others], group[others])), shape=shape
        )

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        result = np.empty(len(weights))
        for start in range(0, len(weights), ROUNDS_PER_BLOCK):
            block = weights[start : start + ROUNDS_PER_BLOCK]
            positive = np.asarray((self.positives.T @ block.T).T)
            negative = np.asarray((self.negatives.T @ block.T).T)
            below = np.cumsum(negative, axis=1) - negative
            pairs = positive.sum(axis=1) * negative.sum(axis=1)
            wins = (positive * (below + 0.5 * negative)).sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                result[start : start + len(block)] = np.where(pairs > 0, wins / pairs, np.nan)
        return result


def mean_video_auc(
    scores: Sequence[np.ndarray], labels: Sequence[np.ndarray]
) -> Callable[[np.ndarray], np.ndarray]:
    """Mean per-video AUC under video weights; single-class videos are left out, as in the
    protocol's macro AUC."""
    per_video = np.array(
        [
            WeightedAUC([s], [lab])(np.ones((1, 1)))[0] if len(np.unique(lab)) == 2 else np.nan
            for s, lab in zip(scores, labels, strict=True)
        ]
    )
    valid = ~np.isnan(per_video)

    def statistic(weights: np.ndarray) -> np.ndarray:
        weights = np.atleast_2d(weights)[:, valid]
        total = weights.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, weights @ per_video[valid] / total, np.nan)

    return statistic


def stable_seed(*parts: Any) -> int:
    """A seed from names and numbers that is the same in every process and on every machine."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def video_draws(target: str, videos: int, resamples: int, seed: int) -> np.ndarray:
    """How often each of a target's videos is drawn in each round: (resamples, videos).
    Every model scored on the target gets these same rounds."""
    rng = np.random.default_rng(stable_seed("videos", target, videos, seed))
    return rng.multinomial(videos, np.full(videos, 1 / videos), size=resamples).astype(float)


def seed_draws(seeds: int, resamples: int, seed: int) -> np.ndarray:
    """How often each seed position is drawn in each round: (resamples, seeds), shared by every
    model trained with the same number of seeds."""
    if seeds == 1:
        return np.ones((resamples, 1))
    rng = np.random.default_rng(stable_seed("seeds", seeds, seed))
    return rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=resamples).astype(float)


@dataclass(frozen=True)
class Estimate:
    """A point value with a bootstrap interval (None where the value is undefined)."""

    value: float | None
    lower: float | None = None
    upper: float | None = None
    resamples: int = 0
    seeds: int = 0

    @property
    def half_width(self) -> float | None:
        if self.lower is None or self.upper is None:
            return None
        return (self.upper - self.lower) / 2


def interval(rounds: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """Percentile interval of the finite rounds; None when fewer than half are finite."""
    finite = rounds[np.isfinite(rounds)]
    if len(finite) < max(2, len(rounds) // 2):
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


@dataclass
class TargetRuns:
    """One model's scores on one target, per seed: normalised anomaly scores per video."""

    video_ids: tuple[str, ...]
    per_seed: dict[int, tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]] = field(
        default_factory=dict
    )
    types: tuple[np.ndarray, ...] | None = None  # per-frame anomaly type names, if named


def by_anomaly_type(
    runs: Mapping[tuple[str, str, str, str, str], TargetRuns],
) -> dict[str, dict[tuple[str, str, str, str, str], TargetRuns]]:
    """Per anomaly type, every target's runs cut down to its normal frames and the frames of
    that type (labelled 1), so that any statistic of the frames, its intervals and paired
    differences follow for each type on its own. Targets without type names are left out."""
    found: dict[str, dict[tuple[str, str, str, str, str], TargetRuns]] = {}
    for key, target_runs in runs.items():
        types = target_runs.types
        if types is None or not types:
            continue
        names = sorted(set(np.concatenate(types).tolist()) - {NORMAL_TYPE})
        for name in names:
            kept = [(video == NORMAL_TYPE) | (video == name) for video in types]
            videos = [i for i, keep in enumerate(kept) if keep.any()]
            cut = TargetRuns(tuple(target_runs.video_ids[i] for i in videos))
            for seed, (scores, _) in target_runs.per_seed.items():
                cut.per_seed[seed] = (
                    tuple(scores[i][kept[i]] for i in videos),
                    tuple((types[i][kept[i]] == name).astype(np.int8) for i in videos),
                )
            found.setdefault(name, {})[key] = cut
    return found


POOLED = "all targets"


def pooled_targets(
    runs: Mapping[tuple[str, str, str, str, str], TargetRuns],
) -> dict[tuple[str, str, str, str, str], TargetRuns]:
    """Per model, source and protocol, the videos of every target that names anomaly types as
    one target (``POOLED``; video ids prefixed by their target). A type appears in few videos
    of any one target, too few to resample; pooled, its frames are resampled video by video
    like any target's. Only seeds every such target has are kept."""
    groups: dict[tuple[str, str, str, str], list[tuple[str, TargetRuns]]] = {}
    for (model, source, train, protocol, target), target_runs in sorted(runs.items()):
        if target_runs.types is not None:
            groups.setdefault((model, source, train, protocol), []).append((target, target_runs))
    pooled: dict[tuple[str, str, str, str, str], TargetRuns] = {}
    for (model, source, train, protocol), members in groups.items():
        seeds = set.intersection(*(set(r.per_seed) for _, r in members))
        if not seeds:
            continue
        joined = TargetRuns(
            tuple(f"{target}/{video}" for target, r in members for video in r.video_ids),
            types=tuple(t for _, r in members for t in r.types or ()),
        )
        for seed in sorted(seeds):
            joined.per_seed[seed] = (
                tuple(s for _, r in members for s in r.per_seed[seed][0]),
                tuple(label for _, r in members for label in r.per_seed[seed][1]),
            )
        pooled[(model, source, train, protocol, POOLED)] = joined
    return pooled


def type_metric(name: str) -> str:
    """The metric name of detection per anomaly type (the ``type_auc`` metric's results)."""
    return f"type_auc[{name}]"


@dataclass
class Rounds:
    """The bootstrap rounds of one model on one target, already averaged over drawn seeds."""

    value: float | None
    rounds: np.ndarray
    seeds: int


def target_rounds(
    runs: TargetRuns, statistic: ResampledStatistic, target: str, resamples: int, seed: int
) -> Rounds:
    """The point value (mean over seeds) and the rounds of one model on one target, under a
    metric's resampled ``statistic``. With fewer
    than MIN_VIDEOS test videos there is nothing to resample: the rounds are all NaN, so the
    target gets no interval and no paired decision."""
    seeds = sorted(runs.per_seed)
    if len(runs.video_ids) < MIN_VIDEOS:
        ones = np.ones((1, len(runs.video_ids)))
        values = [
            float(statistic(*runs.per_seed[s])(ones)[0]) if runs.video_ids else np.nan
            for s in seeds
        ]
        value = None if not values or np.any(np.isnan(values)) else float(np.mean(values))
        return Rounds(value, np.full(resamples, np.nan), len(seeds))
    draws = video_draws(target, len(runs.video_ids), resamples, seed)
    ones = np.ones((1, len(runs.video_ids)))
    values, per_round = [], []
    for seed_value in seeds:
        weighted = statistic(*runs.per_seed[seed_value])
        values.append(float(weighted(ones)[0]))
        per_round.append(weighted(draws))
    if any(np.isnan(values)):
        return Rounds(None, np.full(resamples, np.nan), len(seeds))
    weights = seed_draws(len(seeds), resamples, seed)
    rounds = (weights * np.stack(per_round, axis=1)).sum(axis=1) / len(seeds)
    return Rounds(float(np.mean(values)), rounds, len(seeds))


@dataclass(frozen=True)
class Comparison:
    """A model's paired difference from the best model of its group, with its interval."""

    model: str
    best: str
    difference: float
    lower: float | None
    upper: float | None

    @property
    def decided(self) -> bool:
        """Whether there is an interval to decide with (enough videos, defined rounds)."""
        return self.lower is not None and self.upper is not None

    @property
    def tied(self) -> bool:
        """Not significantly different from the best (the interval holds zero)."""
        if self.lower is None or self.upper is None:
            return True
        return self.lower <= 0 <= self.upper


def mean_rounds(per_target: Sequence[Rounds]) -> Rounds:
    """The mean over targets, round by round: each target's videos were resampled on their
    own (a stratified bootstrap)."""
    values = [r.value for r in per_target]
    if not per_target or any(v is None for v in values):
        return Rounds(None, np.full(len(per_target[0].rounds) if per_target else 0, np.nan), 0)
    rounds = np.mean(np.stack([r.rounds for r in per_target]), axis=0)
    return Rounds(float(np.mean([v for v in values if v is not None])), rounds, per_target[0].seeds)


def estimate(rounds: Rounds, confidence: float) -> Estimate:
    if rounds.value is None:
        return Estimate(None, seeds=rounds.seeds)
    low, high = interval(rounds.rounds, confidence)
    return Estimate(rounds.value, low, high, len(rounds.rounds), rounds.seeds)


def paired_difference(
    model: Rounds, other: Rounds, confidence: float
) -> tuple[float | None, float | None, float | None]:
    """``model − other`` and its interval, round by round on the same resampled videos and
    seeds (both must come from the same draws: the same targets, resamples and seed)."""
    if model.value is None or other.value is None:
        return None, None, None
    low, high = interval(model.rounds - other.rounds, confidence)
    return model.value - other.value, low, high


def compare_with_best(rounds: Mapping[str, Rounds], confidence: float) -> list[Comparison]:
    """Every model against the one with the highest value, on the same rounds (paired)."""
    scored = {model: r for model, r in rounds.items() if r.value is not None}
    if len(scored) < 2:
        return []
    values = {model: r.value for model, r in scored.items() if r.value is not None}
    best = max(values, key=lambda model: values[model])
    comparisons = []
    for model, r in scored.items():
        if model == best:
            comparisons.append(Comparison(model, best, 0.0, 0.0, 0.0))
            continue
        _, low, high = paired_difference(r, scored[best], confidence)
        comparisons.append(Comparison(model, best, values[model] - values[best], low, high))
    return comparisons


@dataclass(frozen=True)
class RankTest:
    """Friedman's test of the models' ranks across blocks (targets), a Holm-corrected Conover
    post-hoc test between pairs, and Nemenyi's critical difference of the mean ranks."""

    models: tuple[str, ...]
    blocks: int
    mean_ranks: dict[str, float]
    statistic: float
    p_value: float
    critical_difference: float
    pairwise_p: dict[tuple[str, str], float]
    alpha: float

    @property
    def pairs_tested(self) -> bool:
        """Whether post-hoc pairs were tested: Friedman rejected and the test was defined."""
        return bool(self.pairwise_p)

    def different_pairs(self) -> list[tuple[str, str]]:
        return [pair for pair, p in self.pairwise_p.items() if p < self.alpha]


def rank_test(values: Mapping[str, Sequence[float]], alpha: float = 0.05) -> RankTest | None:
    """The rank test over models (keys) measured on the same blocks (one value per block, higher
    is better), or None with fewer than three models or two blocks."""
    models = tuple(values)
    table = np.array([values[model] for model in models], dtype=float).T  # blocks × models
    if len(models) < 3 or len(table) < 2 or not np.all(np.isfinite(table)):
        return None
    import scikit_posthocs
    from scipy import stats

    with warnings.catch_warnings():  # all-tied blocks: the statistic is NaN, said below
        warnings.simplefilter("ignore", RuntimeWarning)
        statistic, p_value = stats.friedmanchisquare(*table.T)
    ranks = stats.rankdata(-table, axis=1).mean(axis=0)
    blocks, count = table.shape
    pairwise_p: dict[tuple[str, str], float] = {}
    # Pairs are tested only after Friedman rejects "all models rank alike" (the usual two-step
    # procedure); Conover's statistic is undefined when every block ranks the models the same
    # way (a zero variance term), so a non-finite or zero p-value means "not tested".
    if np.isfinite(p_value) and p_value < alpha:
        with np.errstate(divide="ignore", invalid="ignore"):
            table_p = scikit_posthocs.posthoc_conover_friedman(table, p_adjust="holm")
        for i in range(count):
            for j in range(i + 1, count):
                value = float(table_p.iloc[i, j])
                if np.isfinite(value) and value > 0:
                    pairwise_p[(models[i], models[j])] = value
    q = stats.studentized_range.ppf(1 - alpha, count, np.inf) / np.sqrt(2)
    difference = float(q * np.sqrt(count * (count + 1) / (6 * blocks)))
    return RankTest(
        models=models,
        blocks=blocks,
        mean_ranks={model: float(rank) for model, rank in zip(models, ranks, strict=True)},
        statistic=float(statistic),
        p_value=float(p_value),
        critical_difference=difference,
        pairwise_p=pairwise_p,
        alpha=alpha,
    )


# A row of the leaderboard: (model title, source label, protocol).
RowKey = tuple[str, str, str]


@dataclass
class RunStatistics:
    """Every interval, paired comparison and rank test of one run, for one confidence level.

    ``targets`` is keyed by (metric, model, source, protocol, target); ``means`` by (metric,
    model, source, protocol, scope) with scope "mean" (all targets the row's group has in
    common) or "cross-domain" (those that are not the training set); ``comparisons`` by
    (metric, source, protocol, scope); ``ranks`` by (metric, protocol).
    """

    confidence: float
    resamples: int
    targets: dict[tuple[str, str, str, str, str], Estimate] = field(default_factory=dict)
    means: dict[tuple[str, str, str, str, str], Estimate] = field(default_factory=dict)
    common_targets: dict[tuple[str, str, str, str], tuple[str, ...]] = field(default_factory=dict)
    comparisons: dict[tuple[str, str, str, str], list[Comparison]] = field(default_factory=dict)
    ranks: dict[tuple[str, str], RankTest] = field(default_factory=dict)

    def __deepcopy__(self, memo: dict[int, Any]) -> RunStatistics:
        """Itself: it is read-only once summarised, and pandas deep-copies ``DataFrame.attrs``
        (where the results table carries it) on nearly every operation, which made rendering
        the reports of a large run take most of its report time."""
        return self


SCOPES = ("mean", "cross-domain")


def merge(into: RunStatistics, other: RunStatistics) -> None:
    """Add ``other``'s intervals and comparisons (of other metrics) to ``into``."""
    into.targets.update(other.targets)
    into.means.update(other.means)
    into.common_targets.update(other.common_targets)
    into.comparisons.update(other.comparisons)


def summarise(
    runs: Mapping[tuple[str, str, str, str, str], TargetRuns],
    metrics: Mapping[str, ResampledStatistic],
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> RunStatistics:
    """Intervals, paired comparisons and rank tests from every model's stored scores.

    ``runs`` is keyed by (model, source, train, protocol, target); ``metrics`` maps each metric
    to the statistic its plugin declares.
    """
    result = RunStatistics(confidence, resamples)
    for metric, statistic in metrics.items():
        rounds: dict[tuple[str, str, str, str, str], Rounds] = {}
        trains: dict[tuple[str, str], str] = {}
        for (model, source, train, protocol, target), target_runs in runs.items():
            rounds[(model, source, train, protocol, target)] = target_rounds(
                target_runs, statistic, target, resamples, seed
            )
            trains[(source, protocol)] = train
        for (model, source, _, protocol, target), r in rounds.items():
            result.targets[(metric, model, source, protocol, target)] = estimate(r, confidence)
        for (source, protocol), train in trains.items():
            group = {key: r for key, r in rounds.items() if key[1] == source and key[3] == protocol}
            models = sorted({key[0] for key in group})
            by_model = {
                model: {
                    key[4]: r for key, r in group.items() if key[0] == model and r.value is not None
                }
                for model in models
            }
            common = sorted(set.intersection(*(set(t) for t in by_model.values())))
            for scope in SCOPES:
                targets = [t for t in common if scope == "mean" or t != train]
                result.common_targets[(metric, source, protocol, scope)] = tuple(targets)
                if not targets:
                    continue
                means = {
                    model: mean_rounds([by_model[model][t] for t in targets]) for model in models
                }
                for model, mean in means.items():
                    key = (metric, model, source, protocol, scope)
                    result.means[key] = estimate(mean, confidence)
                result.comparisons[(metric, source, protocol, scope)] = compare_with_best(
                    means, confidence
                )
        for protocol in sorted({key[3] for key in rounds}):
            blocks: dict[str, dict[tuple[str, str], float]] = {}
            for (model, source, train, row_protocol, target), r in rounds.items():
                if row_protocol == protocol and target != train and r.value is not None:
                    blocks.setdefault(model, {})[(source, target)] = r.value
            if not blocks:
                continue
            shared = sorted(set.intersection(*(set(b) for b in blocks.values())))
            test = rank_test({model: [b[k] for k in shared] for model, b in blocks.items()})
            if test is not None:
                result.ranks[(metric, protocol)] = test
    return result
