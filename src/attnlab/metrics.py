"""Corpus scores: sacreBLEU BLEU and chrF, overall and per source-length bucket; the one place
attnlab computes them (training's dev BLEU, `attnlab evaluate`, the lab).

Papers: BLEU (Papineni et al., 2002), chrF (Popović, 2015), both computed by sacreBLEU (Post,
2018) on detokenised text with its default 13a tokenisation, so that the numbers and signatures
are comparable with published ones. Scores by source length follow Cho et al. (2014) and
Bahdanau et al. (2015, Fig. 2), where fixed-context models fall apart on long sentences.

Left out: multiple references, TER, significance tests (`analysis.bootstrap` has intervals),
learned metrics (COMET).
"""

from __future__ import annotations

from typing import Any

from sacrebleu.metrics import BLEU, CHRF

from attnlab.errors import UserError

Bucket = tuple[int, int | None]  # inclusive source-length range; None = open upper end


# --- corpus scores ------------------------------------------------------------------------------


def _check_pairs(hyps: list[str], refs: list[str]) -> None:
    if len(hyps) != len(refs) or not hyps:
        raise ValueError(f"need as many hypotheses as references, > 0 ({len(hyps)}, {len(refs)})")


def corpus_scores(hyps: list[str], refs: list[str], tokenized: bool = False) -> dict[str, Any]:
    """Corpus BLEU and chrF of detokenised `hyps` against one reference each (sacreBLEU defaults).

    Returns {"bleu": float, "chrf": float, "signature": {"bleu": "BLEU: nrefs:1|...",
    "chrf": "chrF2: nrefs:1|..."}}; scores are on sacreBLEU's 0-100 scale. `tokenized`: the text
    is tokenized on purpose, so sacreBLEU's "forgot to detokenize?" warning stays off (the score
    is the same).
    """
    _check_pairs(hyps, refs)
    bleu, chrf = BLEU(force=tokenized), CHRF()
    bleu_score = bleu.corpus_score(hyps, [refs])
    chrf_score = chrf.corpus_score(hyps, [refs])
    return {
        "bleu": float(bleu_score.score),
        "chrf": float(chrf_score.score),
        "signature": {
            "bleu": f"{bleu_score.name}: {bleu.get_signature()}",
            "chrf": f"{chrf_score.name}: {chrf.get_signature()}",
        },
    }


def corpus_bleu(hyps: list[str], refs: list[str], tokenized: bool = False) -> float:
    """Corpus BLEU alone, as `corpus_scores` computes it (without the cost of chrF)."""
    _check_pairs(hyps, refs)
    return float(BLEU(force=tokenized).corpus_score(hyps, [refs]).score)


# --- length buckets -----------------------------------------------------------------------------


def parse_buckets(text: str) -> list[Bucket]:
    """Upper bounds "10,20,50" -> [(1, 10), (11, 20), (21, 50), (51, None)] (the last one open)."""
    bounds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            bound = int(part)
        except ValueError:
            raise UserError(
                "--buckets", f"{part!r} is not an integer; expected upper bounds such as 10,20,30"
            ) from None
        if bound < 1:
            raise UserError("--buckets", f"bounds must be >= 1 (got {bound})")
        if bounds and bound <= bounds[-1]:
            raise UserError("--buckets", f"bounds must increase (got {bound} after {bounds[-1]})")
        bounds.append(bound)
    lows = [1] + [b + 1 for b in bounds]
    highs: list[int | None] = [*bounds, None]
    return list(zip(lows, highs, strict=True))


def bucket_label(bucket: Bucket) -> str:
    """(1, 10) -> "1-10"; (51, None) -> "51+"."""
    low, high = bucket
    return f"{low}+" if high is None else f"{low}-{high}"


def bucket_scores(
    src_lengths: list[int], hyps: list[str], refs: list[str], buckets: list[Bucket]
) -> list[dict[str, Any]]:
    """BLEU and chrF of the sentences whose source length falls in each bucket.

    Every sentence lands in exactly one bucket: the one whose range holds its length; lengths
    below the first bucket (empty source lines) count in the first. An empty bucket has n 0 and
    bleu/chrf None.
    """
    if not len(src_lengths) == len(hyps) == len(refs):
        raise ValueError(f"lengths differ: {len(src_lengths)}, {len(hyps)}, {len(refs)}")
    members: list[list[int]] = [[] for _ in buckets]
    for k, length in enumerate(src_lengths):
        index = next(
            (b for b, (_, high) in enumerate(buckets) if high is None or length <= high),
            len(buckets) - 1,
        )
        members[index].append(k)
    rows = []
    for bucket, indices in zip(buckets, members, strict=True):
        row: dict[str, Any] = {"range": bucket_label(bucket), "n": len(indices)}
        if indices:
            scores = corpus_scores([hyps[k] for k in indices], [refs[k] for k in indices])
            row.update(bleu=scores["bleu"], chrf=scores["chrf"])
        else:
            row.update(bleu=None, chrf=None)
        rows.append(row)
    return rows
