"""Corpus statistics for `attnlab data stats`: sizes, lengths, vocabulary, type/token ratio.

Tokens are whitespace-separated words, whatever tokenizer a config would use later. A pair counts
as empty or over the length limit exactly as `corpus.filter_pairs` decides, so the numbers say
what training will drop. The histogram has buckets of 10 tokens ("1-10", "11-20", ...) up to the
longest sentence of either side; empty sentences are in no bucket (see `empty_pairs`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from attnlab.data.corpus import filter_pairs, read_parallel

BUCKET = 10


def _histogram(src_lens: list[int], trg_lens: list[int]) -> list[dict[str, Any]]:
    """Sentences per length bucket of width BUCKET, for each side; empty sentences left out."""
    src_counts = Counter((n - 1) // BUCKET for n in src_lens if n > 0)
    trg_counts = Counter((n - 1) // BUCKET for n in trg_lens if n > 0)
    n_buckets = max([*src_counts, *trg_counts], default=-1) + 1
    return [
        {
            "range": f"{b * BUCKET + 1}-{(b + 1) * BUCKET}",
            "src": src_counts[b],
            "trg": trg_counts[b],
        }
        for b in range(n_buckets)
    ]


def corpus_stats(src: Path, trg: Path, max_len: int) -> dict[str, Any]:
    """Statistics of an aligned pair of files, as a JSON-ready dict.

    Keys: pairs, src_tokens, trg_tokens, src_vocab, trg_vocab (distinct tokens),
    src_type_token_ratio, trg_type_token_ratio (distinct / total; 0 without tokens),
    mean_src_len, mean_trg_len, over_max_len (share of pairs a side of which is longer than
    max_len, among non-empty pairs), max_len, histogram (list of {range, src, trg}), empty_pairs
    (pairs with an empty side).
    """
    pairs = [(s.split(), t.split()) for s, t in read_parallel(src, trg)]
    _, report = filter_pairs(pairs, max_len)
    src_lens = [len(s) for s, _ in pairs]
    trg_lens = [len(t) for _, t in pairs]
    src_types = {token for s, _ in pairs for token in s}
    trg_types = {token for _, t in pairs for token in t}
    n_src, n_trg, n = sum(src_lens), sum(trg_lens), len(pairs)
    return {
        "pairs": n,
        "src_tokens": n_src,
        "trg_tokens": n_trg,
        "src_vocab": len(src_types),
        "trg_vocab": len(trg_types),
        "src_type_token_ratio": len(src_types) / n_src if n_src else 0.0,
        "trg_type_token_ratio": len(trg_types) / n_trg if n_trg else 0.0,
        "mean_src_len": n_src / n if n else 0.0,
        "mean_trg_len": n_trg / n if n else 0.0,
        "over_max_len": report.too_long / n if n else 0.0,
        "max_len": max_len,
        "histogram": _histogram(src_lens, trg_lens),
        "empty_pairs": report.empty,
    }


def render_stats(stats: dict[str, Any]) -> None:
    """Print `corpus_stats` output as two Rich tables: per-side summary and length histogram."""
    summary = Table(title=f"{stats['pairs']} sentence pairs")
    summary.add_column("")
    summary.add_column("source", justify="right")
    summary.add_column("target", justify="right")
    summary.add_row("tokens", str(stats["src_tokens"]), str(stats["trg_tokens"]))
    summary.add_row("vocabulary", str(stats["src_vocab"]), str(stats["trg_vocab"]))
    summary.add_row(
        "type/token ratio",
        f"{stats['src_type_token_ratio']:.3f}",
        f"{stats['trg_type_token_ratio']:.3f}",
    )
    summary.add_row("mean length", f"{stats['mean_src_len']:.1f}", f"{stats['mean_trg_len']:.1f}")
    histogram = Table(title="sentences by length (tokens)")
    histogram.add_column("length")
    histogram.add_column("source", justify="right")
    histogram.add_column("target", justify="right")
    for row in stats["histogram"]:
        histogram.add_row(row["range"], str(row["src"]), str(row["trg"]))
    console = Console()
    console.print(summary)
    console.print(histogram)
    console.print(
        f"empty pairs: {stats['empty_pairs']}; over {stats['max_len']} tokens: "
        f"{stats['over_max_len']:.1%} of pairs"
    )
