"""Beam size, length penalty and stopping rule, chosen on dev: one checkpoint decoded with each
setting.

    python benchmarks/decoding_sweep.py runs/q/best.pt --data data/bible-en-fr --split dev \
        --beams 1 5 10 --alphas 0 1 1.5 2 [--stoppings heuristic exact] --json F

Each setting is one `attnlab translate --beam K --length-penalty A --stopping R` of SPLIT.src
(greedy search, K = 1, once: it has neither; alpha 0 with the first rule only, since both rules
are the same there), scored against SPLIT.trg with sacreBLEU's defaults. Beside
BLEU and chrF: the brevity penalty and the ratio of output to reference length (13a tokens),
since output that is too short is what a length penalty mends, and the seconds of the child
process (loading included). Choose on dev, then score test once with the chosen setting.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from common import attnlab, load_average, write_report
from sacrebleu.metrics import BLEU

from attnlab.metrics import corpus_scores
from attnlab.search import STOPPING_RULES

Setting = tuple[int, float, str]  # beam size, alpha, stopping rule


def decode(checkpoint: Path, source: Path, setting: Setting) -> tuple[list[str], float]:
    """`attnlab translate` of every line of `source`; -> the lines out, seconds taken."""
    beam, alpha, stopping = setting
    start = time.perf_counter()
    args = ["--input", str(source), "--beam", str(beam), "--length-penalty", str(alpha)]
    out = attnlab("translate", str(checkpoint), *args, "--stopping", stopping)
    return out.split("\n")[:-1], time.perf_counter() - start


def scores(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    """BLEU and chrF as `attnlab evaluate` gives them, with BLEU's brevity penalty and the
    output / reference length ratio."""
    bleu = BLEU().corpus_score(hypotheses, [references])
    ratio = bleu.sys_len / bleu.ref_len
    return corpus_scores(hypotheses, references) | {
        "brevity_penalty": bleu.bp,
        "length_ratio": ratio,
    }


def settings(
    beams: list[int], alphas: list[float], stoppings: tuple[str, ...] = ("heuristic",)
) -> list[Setting]:
    """Every (beam, alpha, stopping rule), greedy search once, alpha 0 with the first rule only
    (the two rules are the same there)."""
    greedy = [(1, 0.0, "heuristic")] if 1 in beams else []
    return greedy + [
        (beam, alpha, stopping)
        for beam in beams
        if beam > 1
        for alpha in alphas
        for stopping in stoppings
        if alpha > 0 or stopping == stoppings[0]
    ]


def sweep(checkpoint: Path, data: Path, split: str, chosen: list[Setting]) -> list[dict[str, Any]]:
    """Decode DATA/SPLIT.src with each setting, score it against SPLIT.trg, print a row each
    -> the rows."""
    source = data / f"{split}.src"
    references = (data / f"{split}.trg").read_text(encoding="utf-8").splitlines()
    rows = []
    print(f"{'beam':>5}{'alpha':>7}{'stop':>10}{'BLEU':>7}{'chrF':>7}{'BP':>7}{'ratio':>7}{'s':>7}")
    for setting in chosen:
        hypotheses, seconds = decode(checkpoint, source, setting)
        beam, alpha, stopping = setting
        row = {"beam": beam, "alpha": alpha, "stopping": stopping}
        row |= scores(hypotheses, references) | {"seconds": seconds}
        rows.append(row)
        print(
            f"{beam:>5}{alpha:>7.2f}{stopping:>10}{row['bleu']:>7.2f}{row['chrf']:>7.2f}"
            f"{row['brevity_penalty']:>7.3f}{row['length_ratio']:>7.3f}{seconds:>7.1f}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="folder of SPLIT.src/trg")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 1.0, 1.5, 2.0])
    parser.add_argument("--stoppings", nargs="+", choices=STOPPING_RULES, default=["heuristic"])
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/decoding_sweep.json"))
    args = parser.parse_args()
    load_before = load_average()
    chosen = settings(args.beams, args.alphas, tuple(args.stoppings))
    rows = sweep(args.checkpoint, args.data, args.split, chosen)
    write_report(
        args.json,
        "decoding_sweep",
        {
            "checkpoint": str(args.checkpoint),
            "data": str(args.data),
            "split": args.split,
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
