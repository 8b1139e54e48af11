"""IBM Model 1: one EM step by hand, the obvious alignment of a toy corpus, AER, unseen words."""

from __future__ import annotations

import numpy as np
import pytest

from attnlab.analysis.ibm1 import (
    IBM1,
    DiagonalPrior,
    alignment_prior,
    posteriors,
    train_ibm1,
    translation_table,
    viterbi_alignment,
)
from attnlab.word_alignment import aer

# The textbook corpus (Koehn 2010, ch. 4): "la" always comes with "the", and the content words
# are pinned down by the sentences they share.
TOY_SRC = ["la maison", "la maison bleue", "la fleur", "la fleur bleue", "maison bleue"]
TOY_TRG = ["the house", "the blue house", "the flower", "the blue flower", "blue house"]


def toy() -> tuple[list[list[str]], list[list[str]]]:
    return [s.split() for s in TOY_SRC], [t.split() for t in TOY_TRG]


def t_of(model: IBM1, e: str, f: str) -> float:
    return float(translation_table(model, [e], [f])[0, 1])


def test_one_em_step_by_hand() -> None:
    # From uniform t, each target word splits its count equally over its S + 1 origins:
    # pair 1 (a b | x y): every (e, f) gets 1/3; pair 2 (a | x): (NULL, x) and (a, x) get 1/2.
    # c(x|a) = 5/6, c(y|a) = 1/3  ->  t(x|a) = 5/7;  c(x|b) = c(y|b) = 1/3  ->  t(x|b) = 1/2.
    model = train_ibm1([["a", "b"], ["a"]], [["x", "y"], ["x"]], iterations=1)
    assert t_of(model, "a", "x") == pytest.approx(5 / 7)
    assert t_of(model, "a", "y") == pytest.approx(2 / 7)
    assert t_of(model, "b", "x") == pytest.approx(1 / 2)
    assert translation_table(model, [], ["x"])[0, 0] == pytest.approx(5 / 7)  # t(x | NULL)
    # the likelihood before any step: uniform t = 1/2 over 2 target words, (S+1) origins each:
    # log p = 2 log((3 * 1/2) / 3) + log((2 * 1/2) / 2) = 3 log(1/2)
    assert model.log_likelihood[0] == pytest.approx(3 * np.log(0.5))


def test_em_never_lowers_the_likelihood() -> None:
    model = train_ibm1(*toy(), iterations=8)
    assert len(model.log_likelihood) == 9
    assert np.all(np.diff(model.log_likelihood) >= -1e-9)
    assert model.log_likelihood[-1] > model.log_likelihood[0] + 1.0


def test_translation_table_sums_to_one_for_every_source_word() -> None:
    model = train_ibm1(*toy(), iterations=5)
    n_trg = len(model.trg_index)
    totals = np.bincount(model.keys // n_trg, weights=model.t)
    assert np.allclose(totals[totals > 0], 1.0)


def test_toy_corpus_gets_the_obvious_alignment_and_zero_aer() -> None:
    src, trg = toy()
    model = train_ibm1(src, trg, iterations=20)
    assert max(model.trg_index, key=lambda f: t_of(model, "la", f)) == "the"
    assert max(model.trg_index, key=lambda f: t_of(model, "bleue", f)) == "blue"
    # la maison bleue -> the blue house: the adjective swap is found from co-occurrence alone
    assert viterbi_alignment(model, src[1], trg[1]) == {(0, 0), (1, 2), (2, 1)}
    gold = [
        ({(0, 0), (1, 1)}, set()),
        ({(0, 0), (1, 2), (2, 1)}, set()),
        ({(0, 0), (1, 1)}, set()),
        ({(0, 0), (1, 2), (2, 1)}, set()),
        ({(0, 1), (1, 0)}, set()),
    ]
    predicted = [viterbi_alignment(model, s, t) for s, t in zip(src, trg, strict=True)]
    assert aer(predicted, gold) == 0.0
    # a deliberately wrong aligner (everything to the first source word) is far worse
    wrong = [{(0, j) for j in range(len(t))} for t in trg]
    assert aer(wrong, gold) > 0.3


def test_posteriors_rows_sum_to_one_and_agree_with_viterbi() -> None:
    src, trg = toy()
    model = train_ibm1(src, trg, iterations=5)
    post = posteriors(model, src[3], trg[3])
    assert post.shape == (len(trg[3]), len(src[3]) + 1)
    assert np.allclose(post.sum(axis=1), 1.0)
    links = viterbi_alignment(model, src[3], trg[3])
    assert links == {(int(np.argmax(row)) - 1, j) for j, row in enumerate(post)}


def test_unseen_words_get_no_link_and_zero_rows() -> None:
    model = train_ibm1(*toy(), iterations=5)
    assert viterbi_alignment(model, ["la", "voiture"], ["the", "car"]) == {(0, 0)}
    post = posteriors(model, ["la", "voiture"], ["the", "car"])
    assert np.allclose(post[1], 0.0)
    assert np.allclose(translation_table(model, ["chien"], ["dog"]), 0.0)


def test_null_absorbs_a_target_word_with_no_counterpart() -> None:
    # "do" appears with every source sentence but only with different words: NULL explains it
    src = [["a"], ["b"], ["c"], ["a"], ["b"], ["c"]]
    trg = [["x", "do"], ["y", "do"], ["z", "do"], ["x"], ["y"], ["z"]]
    model = train_ibm1(src, trg, iterations=30)
    assert viterbi_alignment(model, ["a"], ["x", "do"]) == {(0, 0)}


def test_mismatched_corpus_sides_are_refused() -> None:
    with pytest.raises(ValueError, match="1 source sentences for 2"):
        train_ibm1([["a"]], [["x"], ["y"]])


def test_diagonal_prior_by_hand() -> None:
    # S = T = 2, lambda = 2 ln 2, p_0 = 0.1. j = 1: |1/2 - 1/2| = 0 -> 1, |2/2 - 1/2| = 1/2 ->
    # exp(-ln 2) = 1/2, so the words share 0.9 as 2:1 -> 0.6, 0.3; j = 2 the mirror image.
    prior = DiagonalPrior(tension=2 * np.log(2), p_null=0.1)
    expected = np.array([[0.1, 0.6, 0.3], [0.1, 0.3, 0.6]])
    assert alignment_prior(2, 2, prior) == pytest.approx(expected)
    assert alignment_prior(3, 2, None) == pytest.approx(np.full((2, 4), 0.25))  # Model 1
    assert alignment_prior(5, 7, DiagonalPrior()).sum(axis=1) == pytest.approx(np.ones(7))


def test_diagonal_prior_breaks_ties_along_the_diagonal() -> None:
    # "a a" / "x x": t cannot tell the two a's apart, so Model 1 gives both x the same origin
    # (here NULL: its t(x|NULL) ties and comes first); the diagonal prior links x_j to a_j
    src, trg = [["a", "a"]], [["x", "x"]]
    model1 = viterbi_alignment(train_ibm1(src, trg, 3), ["a", "a"], ["x", "x"])
    assert len({i for i, _ in model1}) <= 1
    diagonal = train_ibm1(src, trg, 3, prior=DiagonalPrior())
    assert viterbi_alignment(diagonal, ["a", "a"], ["x", "x"]) == {(0, 0), (1, 1)}
    assert np.all(np.diff(diagonal.log_likelihood) >= -1e-9)
    assert posteriors(diagonal, ["a", "a"], ["x", "x"]).sum(axis=1) == pytest.approx([1, 1])


def test_one_em_step_with_a_prior_by_hand() -> None:
    # pair 1 (a b | x y) under the prior of test_diagonal_prior_by_hand, pair 2 (a | x) with
    # S = 1 (NULL 0.1, a 0.9). From uniform t every posterior equals the prior:
    # c(x|a) = 0.6 + 0.9, c(y|a) = 0.3 -> t(x|a) = 1.5 / 1.8; c(x|b) = 0.3, c(y|b) = 0.6.
    prior = DiagonalPrior(tension=2 * np.log(2), p_null=0.1)
    model = train_ibm1([["a", "b"], ["a"]], [["x", "y"], ["x"]], iterations=1, prior=prior)
    assert t_of(model, "a", "x") == pytest.approx(1.5 / 1.8)
    assert t_of(model, "b", "x") == pytest.approx(1 / 3)
