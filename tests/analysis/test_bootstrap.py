"""Bootstrap intervals: exact on samples whose resample distribution can be enumerated, and the
point score equal to sacreBLEU's corpus score."""

from __future__ import annotations

import numpy as np
import pytest

from attnlab.analysis import bootstrap
from attnlab.metrics import corpus_scores


def _sum(summed: np.ndarray) -> float:
    return float(summed[0])


def test_interval_of_a_sum_matches_the_enumerated_resample_distribution() -> None:
    # N = 4 items, one of them 1: a resample's sum is Binomial(4, 1/4):
    # P(0) = 81/256, P(1) = 108/256, P(2) = 54/256, P(3) = 12/256, P(4) = 1/256.
    # CDF 0.316, 0.738, 0.949, 0.996, 1: the 2.5% quantile is 0, the 97.5% quantile is 3.
    stats = np.array([[0.0], [0.0], [0.0], [1.0]])
    values = bootstrap.resampled_scores(stats, _sum, np.random.default_rng(0), 20000)
    shares = np.bincount(values.astype(int), minlength=5) / len(values)
    assert shares == pytest.approx(np.array([81, 108, 54, 12, 1]) / 256, abs=0.01)
    assert bootstrap.percentile_interval(values) == (0.0, 3.0)


def test_percentile_interval_takes_values_of_the_sample() -> None:
    values = np.arange(1.0, 41.0)  # 40 values: 2.5% -> the 1st, 97.5% -> the 39th
    assert bootstrap.percentile_interval(values) == (1.0, 39.0)


def test_ratio_interval_by_enumeration() -> None:
    # numerator: one item, value 2 (always 2); denominator: items 1 and 3, N = 2: a resample's
    # sum is 2 (1/4), 4 (1/2) or 6 (1/4): ratios 1, 1/2, 1/3 -> the interval (1/3, 1).
    result = bootstrap.ratio_interval(
        np.array([[2.0]]), np.array([[1.0], [3.0]]), _sum, seed=3, resamples=4000
    )
    assert result["ratio"] == pytest.approx(2 / 4)
    assert result["low"] == pytest.approx(1 / 3) and result["high"] == pytest.approx(1.0)


def test_ratio_without_a_positive_denominator_has_no_interval() -> None:
    # the denominator is 0 in 1/4 of the resamples: far beyond the 2.5% a 95% interval may lose
    result = bootstrap.ratio_interval(np.array([[2.0]]), np.array([[0.0], [3.0]]), _sum, seed=3)
    assert (
        result["low"] is None and result["high"] is None and result["ratio"] == pytest.approx(2 / 3)
    )
    zero = bootstrap.ratio_interval(np.array([[2.0]]), np.array([[0.0]]), _sum, seed=3)
    assert zero == {"ratio": None, "low": None, "high": None}


HYPS = ["the cat sat on the mat .", "a dog barks .", "it rains today", "he is here now"]
REFS = ["the cat sat on a mat .", "a dog barks loudly .", "it is raining today", "he is here now"]


@pytest.mark.parametrize("name", ["bleu", "chrf"])
def test_point_score_is_sacrebleus_and_lies_in_the_interval(name: str) -> None:
    result = bootstrap.score_interval(name, HYPS, REFS, seed=1)
    assert result["score"] == pytest.approx(corpus_scores(HYPS, REFS)[name])
    assert 0.0 <= result["low"] <= result["score"] <= result["high"] <= 100.0
    assert result["low"] < result["high"]  # four different sentences: not a single value
    assert bootstrap.score_interval(name, HYPS, REFS, seed=1) == result  # seeded


def test_identical_sentences_give_a_zero_width_interval() -> None:
    result = bootstrap.score_interval("bleu", ["a b c d e"] * 3, ["a b c d e"] * 3, seed=1)
    assert result == {
        "score": pytest.approx(100.0),
        "low": pytest.approx(100.0),
        "high": pytest.approx(100.0),
    }
