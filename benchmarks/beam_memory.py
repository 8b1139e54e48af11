"""Beam search with the memory kept once per sentence against the memory repeated K times: one
checkpoint, the same lines, batches and settings, in one process, in one sitting.

    python benchmarks/beam_memory.py CKPT --source data/bible-en-fr/dev.src [--beam 5]
        [--length-penalty A] [--batch-size 64] [--sentences 320] [--rounds 3] [--threads 2]
        [--json F]

Both sides are `Translator.translate` (the CLI's search: length-sorted batches of --batch-size
sentences) of the first --sentences lines of SOURCE, with the checkpoint's decoding settings
but for --beam and --length-penalty. "per sentence" is the search as it runs
(`memory_per_sentence`, models/interface.py); "repeated" patches
`attnlab.search.memory_per_sentence` to False, so that search repeats each sentence's memory K
times, the path every model took before session 18. One untimed pass of each first, then
--rounds rounds, each timing one pass of each side, the side that goes first alternating; the
best of each side is reported. The n-best lists must be the same on both sides (text, scores
to 1e-4), or the script stops: the switch must not change a translation.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from common import load_average, write_report

from attnlab import search
from attnlab.models.interface import memory_per_sentence
from attnlab.translate import Translation, Translator

SIDES = ("per sentence", "repeated")


def translate(translator: Translator, lines: list[str], side: str, beam: int) -> list[Translation]:
    """`translator.translate(lines)` at beam size `beam` with the memory kept as `side` says."""
    keep = search.memory_per_sentence
    if side == "repeated":
        search.memory_per_sentence = lambda model: False
    try:
        return translator.translate(lines, beam_size=beam)
    finally:
        search.memory_per_sentence = keep


def same_output(a: list[Translation], b: list[Translation]) -> bool:
    """Whether two runs give the same n-best texts, with scores within 1e-4."""
    for x, y in zip(a, b, strict=True):
        if [t for t, _ in x.nbest] != [t for t, _ in y.nbest]:
            return False
        if any(abs(s - r) > 1e-4 for (_, s), (_, r) in zip(x.nbest, y.nbest, strict=True)):
            return False
    return True


def timed_rounds(
    translator: Translator, lines: list[str], beam: int, rounds: int
) -> dict[str, list[float]]:
    """A warm-up pass of each side, then `rounds` timed passes of each, alternating which side
    goes first; -> the seconds of each side's passes. Stops if the sides' outputs differ."""
    outputs = {side: translate(translator, lines, side, beam) for side in SIDES}
    if not same_output(outputs[SIDES[0]], outputs[SIDES[1]]):
        raise SystemExit("the memory kept per sentence changed a translation")
    seconds: dict[str, list[float]] = {side: [] for side in SIDES}
    for r in range(rounds):
        for side in SIDES if r % 2 == 0 else SIDES[::-1]:
            start = time.perf_counter()
            translate(translator, lines, side, beam)
            seconds[side].append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--length-penalty", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sentences", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/beam_memory.json"))
    args = parser.parse_args()
    if args.beam < 2:
        parser.error("--beam must be at least 2: greedy search keeps one hypothesis a sentence")
    torch.set_num_threads(args.threads)
    decoding: dict[str, Any] = {"batch_size": args.batch_size}
    if args.length_penalty is not None:
        decoding["length_penalty"] = args.length_penalty
    translator = Translator.from_checkpoint(args.checkpoint, "cpu", decoding)
    if not memory_per_sentence(translator.model):
        raise SystemExit(f"{args.checkpoint}: this model repeats its memory on both sides")
    lines = args.source.read_text(encoding="utf-8").splitlines()[: args.sentences]
    load_before = load_average()
    seconds = timed_rounds(translator, lines, args.beam, args.rounds)
    best = {side: min(times) for side, times in seconds.items()}
    print(f"{'side':<14}{'best s':>9}  rounds")
    for side in SIDES:
        print(f"{side:<14}{best[side]:>9.2f}  {', '.join(f'{s:.2f}' for s in seconds[side])}")
    ratio = best["repeated"] / best["per sentence"]
    print(f"repeated / per sentence: {ratio:.2f}x")
    write_report(
        args.json,
        "beam_memory",
        {
            "checkpoint": str(args.checkpoint),
            "model": translator.model.__class__.__name__,
            "source": str(args.source),
            "sentences": len(lines),
            "beam": args.beam,
            "length_penalty": translator.decoding.length_penalty,
            "stopping": translator.decoding.stopping,
            "batch_size": args.batch_size,
            "seconds": seconds,
            "best_seconds": best,
            "repeated_over_per_sentence": ratio,
            "identical_output": True,
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
    )


if __name__ == "__main__":
    main()
