"""The `length` experiment: data selection, bucket scores with bootstrap intervals, retention,
structured verdicts, the floor, a micro run with the documented keys, and --reuse."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import pytest

from attnlab.lab import length, real
from attnlab.lab.common import LabProgress, Split
from attnlab.metrics import corpus_scores


def _split(lengths: list[int]) -> Split:
    src = [" ".join(["w"] * n) for n in lengths]
    return Split(src, [f"ref {k}" for k in range(len(lengths))])


def test_per_bucket_keeps_the_first_pairs_of_each_bucket() -> None:
    chosen = length._per_bucket(_split([1, 5, 12, 15, 3, 70, 65, 55]), 1)
    assert chosen.src_lengths == [1, 12, 70, 55]
    assert chosen.ref == ["ref 0", "ref 2", "ref 5", "ref 7"]  # pairs stay aligned
    assert length._per_bucket(_split([2, 4, 6]), 2).src_lengths == [2, 4]
    assert length._per_bucket(_split([2, 0, 75, 95]), None, length.BIBLE_BUCKETS).src_lengths == [
        2,
        75,
        95,
    ]


def test_shorter_keeps_sources_up_to_the_limit() -> None:
    chosen = length._shorter(_split([30, 31, 1, 50]), 30)
    assert chosen.src_lengths == [30, 1] and chosen.ref == ["ref 0", "ref 2"]


SENTENCES = [
    f"the {w} saw a {w} near the river today"
    for w in ("cat", "dog", "bird", "man", "boy", "girl", "horse")
]


def test_bucket_rows_score_each_bucket_with_an_interval() -> None:
    # bucket 1-10: 3 perfect translations; 11-20: 2 perfect, 2 wrong; 21-30 empty
    lengths = [3, 5, 9, 12, 15, 18, 20]
    hyps = [*SENTENCES[:5], "x y z", "x y z"]
    rows, stats = length.bucket_rows(lengths, hyps, SENTENCES, length.SYNTHETIC_BUCKETS, seed=1)
    assert [r["n"] for r in rows] == [3, 4, 0, 0, 0, 0, 0]
    assert rows[0]["bleu"] == pytest.approx(100.0)
    assert rows[0]["bleu_low"] == pytest.approx(100.0) == rows[0]["bleu_high"]
    expected = corpus_scores(hyps[3:], SENTENCES[3:])
    assert rows[1]["bleu"] == pytest.approx(expected["bleu"])
    assert rows[1]["chrf"] == pytest.approx(expected["chrf"])
    assert rows[1]["bleu_low"] < rows[1]["bleu"] < rows[1]["bleu_high"]
    assert rows[2]["bleu"] is None and rows[2]["bleu_low"] is None
    assert set(stats) == {0, 1} and stats[1].shape[0] == 4


def test_summarise_takes_the_longest_bucket_with_enough_sentences() -> None:
    # 5 sentences of 1-10 words and 5 of 11-20 (perfect), 4 of 21-30 (too few to count)
    lengths = [5] * 5 + [15] * 5 + [25] * 4
    refs = (SENTENCES * 2)[:14]
    hyps = refs[:10] + ["x y z"] * 4
    rows, stats = length.bucket_rows(lengths, hyps, refs, length.SYNTHETIC_BUCKETS, seed=1)
    summary = length.summarise(rows, stats, 30, length.SYNTHETIC_BUCKETS, seed=1)
    assert summary["long_range"] == "11-20"
    assert summary["retention"] == pytest.approx(1.0)
    assert summary["retention_low"] == pytest.approx(1.0) == summary["retention_high"]
    assert summary["in_range_bleu"] == pytest.approx(rows[2]["bleu"])  # 21-30 holds 30 words
    assert summary["in_range_retention"] == pytest.approx(rows[2]["bleu"] / 100.0)
    few = length.summarise(
        [*rows[:1], {**rows[1], "n": 4}, *rows[2:]], stats, 30, length.SYNTHETIC_BUCKETS, seed=1
    )
    assert few["long_range"] is None and few["retention"] is None


def _run(
    model: str,
    retention: float | None,
    low: float | None,
    high: float | None,
    bleu: float = 30.0,
    corpus: str = "bible-en-fr",
) -> dict:
    return {
        "model": model,
        "train_max": 80,
        "seed": 1,
        "corpus": corpus,
        "retention": retention,
        "retention_low": low,
        "retention_high": high,
        "long_bleu": 9.0,
        "short_bleu": 30.0,
        "long_range": "61-70",
        "evidence": bleu >= real.FLOOR_BLEU,
    }


def test_verdicts_judge_the_interval_against_the_literature() -> None:
    fixed = length.run_verdict(_run("GRU fixed", 0.3, 0.2, 0.45))
    assert (fixed["question"], fixed["holds"], fixed["real"]) == ("bottleneck", "yes", True)
    assert length.run_verdict(_run("GRU fixed", 0.45, 0.3, 0.7))["holds"] == "unclear"
    assert length.run_verdict(_run("GRU fixed", 0.8, 0.6, 0.9))["holds"] == "no"
    attention = length.run_verdict(_run("GRU+Bahdanau", 0.95, 0.91, 1.1))
    assert (attention["question"], attention["holds"]) == ("attention", "yes")
    assert length.run_verdict(_run("LSTM+Luong", 0.95, 0.8, 1.1))["holds"] == "unclear"
    assert length.run_verdict(_run("Transformer", 0.5, 0.4, 0.6))["question"] == "transformer"
    assert length.run_verdict(_run("Transformer", 0.5, 0.4, 0.6))["holds"] == "no"
    assert length.run_verdict(_run("GRU fixed", None, None, None))["holds"] == "unclear"
    synthetic = length.run_verdict(_run("GRU fixed", 0.3, 0.2, 0.45, corpus="translation"))
    assert synthetic["real"] is False and synthetic["corpus"] == "translation"


def test_a_model_below_the_floor_is_no_evidence() -> None:
    below = length.run_verdict(_run("GRU fixed", 0.3, 0.2, 0.45, bleu=real.FLOOR_BLEU - 0.1))
    assert below["evidence"] is False
    assert length.run_verdict(_run("GRU fixed", 0.3, 0.2, 0.45, bleu=real.FLOOR_BLEU))["evidence"]


def test_micro_run_produces_the_documented_keys(tmp_path: Path) -> None:
    result = length.run("test", tmp_path, LabProgress(None))
    assert {"figures", "tables", "metrics", "expected", "reading", "config", "verdicts"} == set(
        result
    )
    runs = result["metrics"]["runs"]
    assert set(runs) == {
        "translation/GRU fixed-30",
        "translation/Transformer-30",
        "bible-en-fr/GRU fixed-80",
        "bible-en-fr/GRU+Bahdanau-30/seed2",
    }
    for run in runs.values():
        labels = [length.bucket_label(b) for b in length.BUCKETS[run["corpus"]]]
        assert [row["range"] for row in run["buckets"]] == labels
        assert run["short_bleu"] == run["buckets"][0]["bleu"]
        assert run["params"] > 0 and 0 <= run["bleu"] <= 100
        assert run["evidence"] == (run["bleu"] >= real.FLOOR_BLEU)
        for row in run["buckets"]:
            if row["n"]:
                assert row["bleu_low"] <= row["bleu"] + 1e-9 <= row["bleu_high"] + 2e-9
        if run["retention"] is not None:
            assert math.isclose(run["retention"], run["long_bleu"] / run["short_bleu"])
    bible = runs["bible-en-fr/GRU fixed-80"]
    assert bible["recipe"].startswith("lab preset") or bible["recipe"].startswith("configs/")
    assert sum(row["n"] for row in runs["translation/GRU fixed-30"]["buckets"]) == 14
    assert len(result["verdicts"]) == len(runs)
    # two Bible steps teach nothing: below the floor, greyed in the table, left out of plots
    assert not bible["evidence"]
    bible_table = next(t for t in result["tables"] if "Bible" in t["caption"])
    assert bible_table["greyed"] == [0, 1]
    assert "bleu_by_length_bible-en-fr.png" not in [f["file"] for f in result["figures"]]
    for figure in result["figures"]:
        assert (tmp_path / figure["file"]).stat().st_size > 1000


@pytest.mark.slow
def test_reuse_measures_trained_models_without_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = tmp_path / "first"
    first = length.run("test", trained, LabProgress(None))["metrics"]["runs"]
    reuse = tmp_path / "models"
    (reuse / "bible-en-fr" / "gru-fixed").mkdir(parents=True)
    shutil.copy(
        trained / "runs" / "bible-en-fr-gru-fixed" / "best.pt",
        reuse / "bible-en-fr" / "gru-fixed" / "best.pt",
    )
    no_bible_training = dataclasses.replace(length.PRESETS["test"], bible=real.TrainingBudget(0))
    monkeypatch.setitem(length.PRESETS, "test", no_bible_training)
    result = length.run("test", tmp_path / "second", LabProgress(None), reuse=reuse)
    runs = result["metrics"]["runs"]
    assert "bible-en-fr/GRU+Bahdanau-30/seed2" not in runs  # neither trained nor reused
    reused = runs["bible-en-fr/GRU fixed-80"]
    assert reused["source"] == str(reuse / "bible-en-fr" / "gru-fixed" / "best.pt")
    assert reused["bleu"] == pytest.approx(first["bible-en-fr/GRU fixed-80"]["bleu"])
    assert not (tmp_path / "second" / "runs" / "bible-en-fr-gru-fixed").exists()
