"""The `length` experiment: data selection, the verdict against the literature, and a micro run
that produces the documented result keys."""

from __future__ import annotations

import math
from pathlib import Path

from attnlab.lab import length
from attnlab.lab.common import LabProgress, Split


def _split(lengths: list[int]) -> Split:
    src = [" ".join(["w"] * n) for n in lengths]
    return Split(src, [f"ref {k}" for k in range(len(lengths))])


def test_per_bucket_keeps_the_first_pairs_of_each_bucket() -> None:
    chosen = length._per_bucket(_split([1, 5, 12, 15, 3, 70, 65, 55]), 1)
    assert chosen.src_lengths == [1, 12, 70, 55]
    assert chosen.ref == ["ref 0", "ref 2", "ref 5", "ref 7"]  # pairs stay aligned
    assert length._per_bucket(_split([2, 4, 6]), 2).src_lengths == [2, 4]


def test_shorter_keeps_sources_up_to_the_limit() -> None:
    chosen = length._shorter(_split([30, 31, 1, 50]), 30)
    assert chosen.src_lengths == [30, 1] and chosen.ref == ["ref 0", "ref 2"]


def _run(
    model: str, short: float | None, long: float | None, in_range: float | None = None
) -> dict:
    buckets = [
        {"range": b, "n": 3, "bleu": None}
        for b in ("1-10", "11-20", "21-30", "31-40", "41-50", "51-60", "61+")
    ]
    buckets[0]["bleu"], buckets[2]["bleu"], buckets[5]["bleu"] = short, in_range, long
    run = {"model": model, "buckets": buckets, "corpus": "translation", "train_max": 30}
    return {**run, **length._summarise(run)}


def test_summarise_reads_the_buckets() -> None:
    run = _run("GRU fixed", 40.0, 10.0, 20.0)
    assert run["short_bleu"] == 40.0 and run["long_bleu"] == 10.0 and run["in_range_bleu"] == 20.0
    assert run["retention"] == 0.25 and run["in_range_retention"] == 0.5
    assert _run("GRU fixed", 0.0, 1.0)["retention"] is None  # no ratio to a zero BLEU


def test_verdict_follows_the_expected_thresholds() -> None:
    assert "as expected" in length._verdict(_run("GRU fixed", 40.0, 20.0))  # exactly half
    assert "less than the expected half" in length._verdict(_run("GRU fixed", 40.0, 21.0))
    assert "keeps its quality" in length._verdict(_run("GRU+Bahdanau", 50.0, 45.0))
    assert "more than the expected" in length._verdict(_run("Transformer", 50.0, 44.0))
    assert "has not learned" in length._verdict(_run("LSTM+Luong", 4.9, 4.9))
    assert "has not learned" in length._verdict(_run("GRU fixed", None, None))


def test_reading_states_the_measured_numbers() -> None:
    runs = {"translation/GRU fixed-30": _run("GRU fixed", 40.0, 10.0, 16.0),
            "translation/GRU+Bahdanau-30": _run("GRU+Bahdanau", 50.0, 30.0, 49.0)}  # fmt: skip
    text = length._reading(runs, length.PRESETS["quick"], {"translation": 300})
    assert "the fixed context kept GRU fixed-30 0.25 of its 1-10 word BLEU" in text
    assert "the attention models GRU+Bahdanau-30 0.60" in text
    assert "were GRU fixed-30 0.40 for the fixed context and GRU+Bahdanau-30 0.98" in text
    assert "the bottleneck is measured" in text
    assert "length extrapolation" in text  # 0.60 on 51-60 but 0.98 within the training lengths
    assert "BLEU 40.0 on 1-10 words, 16.0 at the longest training length, 10.0 on 51-60" in text
    assert "The Bible runs belong to --budget full only" in text  # quick has no Bible models
    assert "too little training" not in text
    runs["translation/GRU fixed-30"] = _run("GRU fixed", 40.0, 10.0, 30.0)  # 0.75 in range
    assert "the bottleneck is measured" not in length._reading(runs, length.PRESETS["full"],
                                                               {"translation": 300})  # fmt: skip


def test_reading_points_to_the_full_budget_only_from_a_smaller_one() -> None:
    def readings(runs: dict) -> tuple[str, str]:
        quick = length._reading(runs, length.PRESETS["quick"], {"translation": 300})
        steps = {"translation": 300, "bible": 300}
        return quick, length._reading(runs, length.PRESETS["full"], steps)

    extrapolating = {
        "translation/GRU fixed-30": _run("GRU fixed", 40.0, 10.0, 16.0),
        "translation/GRU+Bahdanau-30": _run("GRU+Bahdanau", 50.0, 30.0, 49.0),
    }
    quick, _ = readings(extrapolating)
    assert "--budget full adds the -50 variants" in quick
    with_50 = {**extrapolating, "translation/GRU+Bahdanau-50": {
        **_run("GRU+Bahdanau", 50.0, 30.0, 49.0), "train_max": 50}}  # fmt: skip
    _, full = readings(with_50)
    assert "length extrapolation" in full and "--budget full" not in full
    extrapolating["translation/GRU fixed-30"] = _run("GRU fixed", 2.0, 1.0, 1.5)  # undertrained
    quick, full = readings(extrapolating)
    assert "--budget full trains them for longer" in quick
    assert "--budget full" not in full and "training longer than this budget" in full


def test_micro_run_produces_the_documented_keys(tmp_path: Path) -> None:
    result = length.run("test", tmp_path, LabProgress(None))
    assert set(result) == {"figures", "tables", "metrics", "expected", "reading", "config"}
    runs = result["metrics"]["runs"]
    assert set(runs) == {"translation/GRU fixed-30", "translation/Transformer-30",
                         "bible/GRU fixed-30"}  # fmt: skip
    labels = [length.bucket_label(b) for b in length.BUCKETS]
    for run in runs.values():
        assert [row["range"] for row in run["buckets"]] == labels
        assert run["short_bleu"] == run["buckets"][0]["bleu"]
        assert run["long_bleu"] == run["buckets"][-2]["bleu"]
        assert run["params"] > 0 and 0 <= run["bleu"] <= 100
        if run["retention"] is not None:
            assert math.isclose(run["retention"], run["long_bleu"] / run["short_bleu"])
    synthetic = runs["translation/GRU fixed-30"]["buckets"]
    assert sum(row["n"] for row in synthetic) == length.PRESETS["test"].sizes[2]
    for figure in result["figures"]:
        assert (tmp_path / figure["file"]).stat().st_size > 1000
    assert [len(t["rows"]) for t in result["tables"]] == [2, 1]
    assert all(len(t["columns"]) == len(labels) + 3 for t in result["tables"])


def test_training_limit_mark_falls_after_its_bucket() -> None:
    assert length._between(30) == 2.5  # between 21-30 (index 2) and 31-40 (index 3)
    assert length._between(50) == 4.5
    assert length._between(25) == 2.5


def test_reading_compares_the_models_on_each_corpus_apart() -> None:
    bible = {**_run("GRU+Bahdanau", 5.4, 2.2, 4.1), "corpus": "bible"}  # in range 0.76
    runs = {"translation/GRU fixed-30": _run("GRU fixed", 40.0, 10.0, 16.0),
            "translation/GRU+Bahdanau-30": _run("GRU+Bahdanau", 50.0, 30.0, 49.0),
            "bible/GRU fixed-30": {**_run("GRU fixed", 6.0, 1.0, 2.0), "corpus": "bible"},
            "bible/GRU+Bahdanau-30": bible}  # fmt: skip
    steps = {"translation": 300, "bible": 300}
    text = length._reading(runs, length.PRESETS["full"], steps)
    synthetic, _, rest = text.partition(" On the Bible, ")
    assert "On the synthetic task, on 51-60 words the fixed context kept GRU fixed-30 0.25" in text
    assert "the bottleneck is measured" in synthetic  # the Bible's 0.76 does not hide it
    assert rest.startswith("on 51-60 words the fixed context kept GRU fixed-30 0.17")
    assert "the bottleneck is measured" not in rest.split(" translation/")[0]
