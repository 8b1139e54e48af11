"""Bootstrap confidence intervals for corpus BLEU and chrF (Efron & Tibshirani 1993; for MT,
Koehn 2004, "Statistical Significance Tests for Machine Translation Evaluation").

A corpus metric is a function of sufficient statistics summed over sentences (BLEU: n-gram
matches and totals and the two lengths; chrF: character and word n-gram counts), so one
resample of the N sentences, drawn with replacement, is a sum of N rows of the per-sentence
statistics. sacreBLEU's own statistics and scoring are used (`_extract_corpus_statistics`,
`_compute_score_from_stats`, the pair its paired bootstrap in `sacrebleu.significance` relies
on), so the score of the original sample equals `attnlab.metrics.corpus_scores`. The interval
is the percentile interval: the (1 - level)/2 and (1 + level)/2 quantiles of the R resampled
scores, taken as values of the empirical distribution (numpy's "inverted_cdf"), so on a sample
whose resample distribution can be enumerated the interval is exact. sacreBLEU's own
`corpus_score(n_bootstrap=...)` is not used: it reports mean ± 1.96 standard deviations, which
is symmetric where a ratio near 0 is not, and it offers no ratio of two samples.

Shapes: N sentences, K statistics per sentence, R resamples. Left out: paired comparisons of
two systems on the same sentences, and the BCa correction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from sacrebleu.metrics import BLEU, CHRF

Metric = Literal["bleu", "chrf"]
RESAMPLES = 1000  # the least the lab uses (Koehn 2004 used 1,000)
LEVEL = 0.95


def _metric(name: Metric) -> BLEU | CHRF:
    # force=True: the NT's English is tokenised on purpose; the warning would only add noise
    return BLEU(force=True) if name == "bleu" else CHRF()


def sentence_stats(name: Metric, hyps: list[str], refs: list[str]) -> np.ndarray:
    """sacreBLEU's sufficient statistics of each (hypothesis, reference) pair.  -> (N, K)"""
    if len(hyps) != len(refs) or not hyps:
        raise ValueError(f"need as many hypotheses as references, > 0 ({len(hyps)}, {len(refs)})")
    stats = _metric(name)._extract_corpus_statistics(hyps, [refs])
    return np.asarray(stats, dtype=float)  # (N, K)


def score_of(name: Metric) -> Callable[[np.ndarray], float]:
    """The corpus score (0-100) from statistics summed over sentences: (K,) -> float."""
    metric = _metric(name)

    def score(summed: np.ndarray) -> float:
        return float(metric._compute_score_from_stats(summed.tolist()).score)

    return score


def resampled_scores(
    stats: np.ndarray,
    score: Callable[[np.ndarray], float],
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
) -> np.ndarray:
    """score(sum of N rows drawn with replacement) for each of `resamples` resamples.
    stats (N, K) -> (R,)"""
    picks = rng.integers(0, stats.shape[0], size=(resamples, stats.shape[0]))  # (R, N)
    sums = stats[picks].sum(axis=1)  # (R, K)
    return np.array([score(row) for row in sums])


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The (1 - level)/2 and (1 + level)/2 quantiles of `values` (R,), each one of the values."""
    tail = round((1.0 - level) / 2.0, 12)  # 0.025 exactly, not 0.025000000000000022
    low, high = np.quantile(values, [tail, 1.0 - tail], method="inverted_cdf")
    return float(low), float(high)


def interval(
    stats: np.ndarray,
    score: Callable[[np.ndarray], float],
    seed: int,
    resamples: int = RESAMPLES,
) -> dict[str, float]:
    """score of the whole sample with its 95% percentile interval over resamples of its rows.
    stats (N, K) -> {"score", "low", "high"}"""
    rng = np.random.default_rng(seed)
    low, high = percentile_interval(resampled_scores(stats, score, rng, resamples))
    return {"score": score(stats.sum(axis=0)), "low": low, "high": high}


def score_interval(
    name: Metric, hyps: list[str], refs: list[str], seed: int, resamples: int = RESAMPLES
) -> dict[str, float]:
    """Corpus score of (hyps, refs) with its 95% bootstrap interval over the sentences.
    -> {"score", "low", "high"}"""
    return interval(sentence_stats(name, hyps, refs), score_of(name), seed, resamples)


def ratio_interval(
    numerator: np.ndarray,
    denominator: np.ndarray,
    score: Callable[[np.ndarray], float],
    seed: int,
    resamples: int = RESAMPLES,
) -> dict[str, float | None]:
    """score(numerator) / score(denominator) for two independent samples (e.g. two length
    buckets of one test set), with the percentile interval of the ratio over resamples that
    redraw each sample on its own. Resamples whose denominator scores 0 have no ratio; if more
    than (1 - level)/2 of them are such, the interval is None (the ratio is unbounded).
    numerator (N1, K), denominator (N2, K) -> {"ratio", "low", "high"} (None where undefined)"""
    rng = np.random.default_rng(seed)
    top = resampled_scores(numerator, score, rng, resamples)  # (R,)
    bottom = resampled_scores(denominator, score, rng, resamples)  # (R,)
    whole = score(denominator.sum(axis=0))
    ratio = score(numerator.sum(axis=0)) / whole if whole > 0 else None
    defined = bottom > 0
    if defined.mean() < 1.0 - round((1.0 - LEVEL) / 2.0, 12):
        return {"ratio": ratio, "low": None, "high": None}
    low, high = percentile_interval(top[defined] / bottom[defined])
    return {"ratio": ratio, "low": low, "high": high}
