"""Tests for attnlab.metrics: sacreBLEU scores and length buckets."""

from __future__ import annotations

import pytest
import sacrebleu

from attnlab.errors import UserError
from attnlab.metrics import bucket_scores, corpus_bleu, corpus_scores, parse_buckets

HYPS = ["The cat sat on the mat.", "A dog barks!", "It is raining today, isn't it?", "Yes."]
REFS = ["The cat sat on a mat.", "The dog barks!", "It rains today, doesn't it?", "Yes."]

# --- corpus scores ------------------------------------------------------------------------------


def test_corpus_scores_equal_sacrebleu() -> None:
    scores = corpus_scores(HYPS, REFS)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    assert 0 < scores["bleu"] < 100 and 0 < scores["chrf"] < 100


def test_identical_text_scores_100() -> None:
    scores = corpus_scores(REFS, REFS)
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)


def test_signatures_name_metric_and_tokenisation() -> None:
    signature = corpus_scores(HYPS, REFS)["signature"]
    assert signature["bleu"].startswith("BLEU: nrefs:1|case:mixed|")
    assert "tok:13a" in signature["bleu"]
    assert signature["chrf"].startswith("chrF2: nrefs:1|")
    assert f"version:{sacrebleu.__version__}" in signature["chrf"]


# --- buckets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10,20,30,40,50", [(1, 10), (11, 20), (21, 30), (31, 40), (41, 50), (51, None)]),
        (" 5 , 9 ", [(1, 5), (6, 9), (10, None)]),
        ("1", [(1, 1), (2, None)]),
    ],
)
def test_parse_buckets(text: str, expected: list) -> None:
    assert parse_buckets(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not an integer"),
        ("10,,20", "not an integer"),
        ("ten", "'ten' is not an integer"),
        ("1.5", "not an integer"),
        ("10,5", "must increase"),
        ("10,10", "must increase"),
        ("0,10", ">= 1"),
        ("-3", ">= 1"),
    ],
)
def test_parse_buckets_rejects(text: str, fragment: str) -> None:
    with pytest.raises(UserError) as info:
        parse_buckets(text)
    assert info.value.where == "--buckets"
    assert fragment in info.value.what


def test_bucket_scores_partition_by_source_length() -> None:
    lengths = [3, 10, 11, 25, 60, 0]  # 0: an empty source line, counted in the first bucket
    hyps = [f"hyp {k} a b c" for k in range(6)]
    refs = ["x y z w v" if k % 2 else hyps[k] for k in range(6)]  # odd sentences all wrong
    rows = bucket_scores(lengths, hyps, refs, parse_buckets("10,20,30,50"))
    assert [r["range"] for r in rows] == ["1-10", "11-20", "21-30", "31-50", "51+"]
    assert [r["n"] for r in rows] == [3, 1, 1, 0, 1]
    first = [0, 1, 5]
    expected = sacrebleu.corpus_bleu([hyps[k] for k in first], [[refs[k] for k in first]]).score
    assert rows[0]["bleu"] == pytest.approx(expected)
    assert rows[2]["bleu"] == pytest.approx(0.0)  # sentence 3 shares no word with its reference
    assert rows[4]["bleu"] == pytest.approx(100.0)  # sentence 4 is identical
    assert rows[3] == {"range": "31-50", "n": 0, "bleu": None, "chrf": None}


def test_corpus_bleu_is_corpus_scores_bleu_warning_or_not() -> None:
    hyps, refs = ["the cat sat on the mat .", "a dog ."], ["the cat sat on a mat .", "a dog ."]
    expected = corpus_scores(hyps, refs)["bleu"]
    assert corpus_bleu(hyps, refs) == expected
    assert corpus_bleu(hyps, refs, tokenized=True) == expected
    assert corpus_scores(hyps, refs, tokenized=True)["bleu"] == expected


def test_scores_need_one_reference_per_hypothesis() -> None:
    with pytest.raises(ValueError, match="as many hypotheses as references"):
        corpus_bleu(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="as many hypotheses as references"):
        corpus_scores([], [])
