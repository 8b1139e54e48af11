"""benchmarks/per_book.py: its word statistics (hand-worked) and a run from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.benchmark_runs import ROOT, run_benchmark
from tests.tiny_models import train_tiny

sys.path.append(str(ROOT / "benchmarks"))  # the scripts import their siblings by name

import per_book


def test_words_are_lowercased_letter_runs() -> None:
    assert per_book.words("L'Éternel dit: 12 fois, «Va!»") == ["l", "éternel", "dit", "fois", "va"]


def test_unseen_share_counts_tokens_not_types() -> None:
    # 5 words, of which "x" twice and "y" once never occur in `known`: 3 / 5
    assert per_book.unseen_share(["a x x", "b y"], {"a", "b"}) == pytest.approx(0.6)
    assert per_book.unseen_share([""], set()) == 0.0


def test_each_book_and_the_whole_split_are_scored(tmp_path: Path) -> None:
    checkpoint = train_tiny(tmp_path, "tiny", 5, ["decoding.beam_size=1"])
    report = run_benchmark(
        "per_book.py",
        [str(checkpoint), "--corpus", "bible-en-fr", "--splits", "test"],
        tmp_path / "per_book.json",
    )
    rows = {row["book"]: row for row in report["rows"]}
    assert list(rows) == ["DAN", "ROM", "all"]
    assert (rows["DAN"]["lines"], rows["ROM"]["lines"], rows["all"]["lines"]) == (357, 426, 783)
    for row in rows.values():
        assert 0 <= row["bleu"] <= 100 and 0 <= row["reference_words_unseen_in_train"] < 1
        assert row["signature"]["bleu"].startswith("BLEU: nrefs:1")
