"""Corpus statistics on a tiny hand-made corpus, numbers worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnlab.data.stats import corpus_stats, render_stats

# source lengths 2, 3, 0, 12, 1 (18 tokens, types: a b c d + x = 5)
SRC = "a b\na b c\n\n" + " ".join(["x"] * 12) + "\nd\n"
# target lengths 1, 2, 1, 2, 25 (31 tokens, types: A B C y z = 5)
TRG = "A\nA B\nC\ny z\n" + " ".join(["y"] * 25) + "\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    src, trg = tmp_path / "t.src", tmp_path / "t.trg"
    src.write_text(SRC, encoding="utf-8")
    trg.write_text(TRG, encoding="utf-8")
    return src, trg


def test_numbers_by_hand(files: tuple[Path, Path]) -> None:
    stats = corpus_stats(*files, max_len=10)
    assert stats["pairs"] == 5
    assert (stats["src_tokens"], stats["trg_tokens"]) == (18, 31)
    assert (stats["src_vocab"], stats["trg_vocab"]) == (5, 5)
    assert stats["src_type_token_ratio"] == pytest.approx(5 / 18)
    assert stats["trg_type_token_ratio"] == pytest.approx(5 / 31)
    assert stats["mean_src_len"] == pytest.approx(18 / 5)
    assert stats["mean_trg_len"] == pytest.approx(31 / 5)
    assert stats["empty_pairs"] == 1  # pair 3 (empty source)
    assert stats["over_max_len"] == pytest.approx(2 / 5)  # pair 4 (src 12), pair 5 (trg 25)
    assert stats["max_len"] == 10
    assert stats["histogram"] == [
        {"range": "1-10", "src": 3, "trg": 4},
        {"range": "11-20", "src": 1, "trg": 0},
        {"range": "21-30", "src": 0, "trg": 1},
    ]


def test_limit_changes_only_the_share(files: tuple[Path, Path]) -> None:
    assert corpus_stats(*files, max_len=12)["over_max_len"] == pytest.approx(1 / 5)
    assert corpus_stats(*files, max_len=25)["over_max_len"] == 0.0


def test_empty_corpus(tmp_path: Path) -> None:
    (tmp_path / "e.src").write_bytes(b"")
    (tmp_path / "e.trg").write_bytes(b"")
    stats = corpus_stats(tmp_path / "e.src", tmp_path / "e.trg", max_len=5)
    assert stats["pairs"] == 0 and stats["histogram"] == []
    assert stats["src_type_token_ratio"] == stats["mean_trg_len"] == stats["over_max_len"] == 0.0


def test_render_prints_the_numbers(files: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    render_stats(corpus_stats(*files, max_len=10))
    out = capsys.readouterr().out
    for text in ("5 sentence pairs", "18", "31", "0.278", "11-20", "40.0%", "empty pairs: 1"):
        assert text in out
