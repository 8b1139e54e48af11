"""Output-layer rows and FLOPs of the recurrent decoders, `model.kernels` reference against
fast: counted, not timed, so the figures do not depend on the load of the machine.

    python benchmarks/real_positions.py [--vocab 8000] [--json out.json]

The models have the sizes of the Bible recipes (configs/bible-en-fr/: embeddings 128, hidden
256, a bidirectional encoder, untied output layer) and a target vocabulary of `--vocab`. On one
batch of 64 sentences, source and target lengths drawn uniformly from 5-80 apart (the padding
of unsorted batches): B*T target positions, N real target tokens, the rows the output layer
computed (a forward hook), and matmul FLOPs of forward + backward (torch.utils.flop_counter,
with oneDNN's RNN kernels switched off so that the LSTM's matmuls are seen): the output
layer's and the whole model's. FLOPs are counted with a vocabulary of 8 and the output layer's
scaled to `--vocab` (they grow as V; nothing else does), so no V-wide matmul runs.
The trainer's loss (`sequence_loss`) takes a log-softmax over all B*T rows under both settings.
For comparison, the share of real target positions in the token-budget batches (3,000 padded
positions, as `attnlab train` cuts them) of 4,000 pairs with sources of 5-80 tokens and targets
of 0.8-1.25 times their length.

Letters: none beyond DESIGN's. Left out: wall time (benchmarks/models.py measures it).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attnlab.config import ModelConfig
from attnlab.data.batching import Batch, collate, make_batches
from attnlab.models.build import build_model

COUNTING_VOCAB = 8
SIZES: dict[str, Any] = {"embedding_size": 128, "hidden_size": 256, "bidirectional": True}
DECODERS: dict[str, dict[str, Any]] = {
    "gru-fixed-feed-context": {"context": "fixed", "cell": "gru", "feed_context": True},
    "lstm-fixed": {"context": "fixed", "cell": "lstm", "feed_context": False},
    "lstm-luong-general": {"context": "luong", "cell": "lstm", "luong_score": "general"},
    "gru-luong-concat": {"context": "luong", "cell": "gru", "luong_score": "concat"},
    "lstm-bahdanau": {"context": "bahdanau", "cell": "lstm"},
    "gru-bahdanau": {"context": "bahdanau", "cell": "gru"},
}


def random_batch(vocab: int, rng: random.Random) -> Batch:
    """64 pairs, source and target lengths uniform in 5-80, drawn apart."""
    words = range(4, vocab)
    pairs = [
        (rng.choices(words, k=rng.randint(5, 80)), rng.choices(words, k=rng.randint(5, 80)))
        for _ in range(64)
    ]
    return collate(pairs)


def bucketed_batches(vocab: int, rng: random.Random) -> list[Batch]:
    """The token-budget batches (3,000 positions) of 4,000 length-correlated pairs."""
    words = range(4, vocab)
    pairs = []
    for _ in range(4000):
        n = rng.randint(5, 80)
        pairs.append(
            (rng.choices(words, k=n), rng.choices(words, k=round(n * rng.uniform(0.8, 1.25))))
        )
    lengths = [(len(s), len(t)) for s, t in pairs]
    batches = make_batches(lengths, 3000, seed=1, epoch=0, shuffle=True)
    return [collate([pairs[i] for i in index]) for index in batches]


def count(model: nn.Module, batches: list[Batch], vocab: int) -> dict[str, float]:
    """Rows through the output layer, and forward + backward matmul GFLOPs with the output
    layer's scaled from COUNTING_VOCAB to `vocab`."""
    output = model.decoder.output
    rows = 0

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        nonlocal rows
        rows += inputs[0].numel() // inputs[0].size(-1)

    handle = output.register_forward_pre_hook(hook)
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as flops:
        for batch in batches:
            logits, _ = model(batch)
            logits.sum().backward()
    handle.remove()
    by_module = {name: sum(ops.values()) for name, ops in flops.get_flop_counts().items()}
    output_flops = by_module[f"{type(model).__name__}.decoder.output"] * vocab / COUNTING_VOCAB
    rest = flops.get_total_flops() - by_module[f"{type(model).__name__}.decoder.output"]
    return {
        "rows": rows,
        "output_gflop": output_flops / 1e9,
        "total_gflop": (rest + output_flops) / 1e9,
    }


def measure(vocab: int) -> dict[str, Any]:
    """Every decoder x kernels setting on the random batch; the padding of the bucketed ones."""
    rng = random.Random(0)
    batch = random_batch(COUNTING_VOCAB, rng)
    bucketed = bucketed_batches(COUNTING_VOCAB, rng)
    decoders: dict[str, dict[str, Any]] = {}
    for name, decoder in DECODERS.items():
        row: dict[str, Any] = {}
        for kernels in ("reference", "fast"):
            torch.manual_seed(0)
            cfg = ModelConfig(**SIZES, **decoder, dropout=0.0, kernels=kernels)
            model = build_model(cfg, COUNTING_VOCAB, COUNTING_VOCAB).train()
            row[kernels] = count(model, [batch], vocab)
        decoders[name] = row
    return {
        "random": {"positions": batch.trg_mask.numel(), "real_tokens": batch.n_trg_tokens},
        "bucketed": {
            "batches": len(bucketed),
            "positions": sum(b.trg_mask.numel() for b in bucketed),
            "real_tokens": sum(b.n_trg_tokens for b in bucketed),
        },
        "decoders": decoders,
    }


def table(results: dict[str, Any], vocab: int) -> Table:
    random_ = results["random"]
    title = (
        f"Output layer on the real target positions: one batch of 64, lengths 5-80, "
        f"{random_['positions']:,} target positions, {random_['real_tokens']:,} real; "
        f"vocabulary {vocab:,}; GFLOP forward + backward"
    )
    out = Table(title=title)
    columns = ["decoder", "rows ref", "rows fast", "output ref", "output fast", "total ref"]
    for column in [*columns, "total fast"]:
        out.add_column(column, justify="left" if column == "decoder" else "right")
    for name, r in results["decoders"].items():
        ref, fast = r["reference"], r["fast"]
        out.add_row(
            name,
            f"{ref['rows']:,}",
            f"{fast['rows']:,}",
            f"{ref['output_gflop']:.1f}",
            f"{fast['output_gflop']:.1f}",
            f"{ref['total_gflop']:.1f}",
            f"{fast['total_gflop']:.1f}",
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, default=8000, help="target vocabulary size")
    parser.add_argument("--json", type=Path, help="write the counts here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = measure(args.vocab)
    console = Console(width=160)
    console.print(table(results, args.vocab))
    b = results["bucketed"]
    console.print(
        f"{b['batches']} token-budget batches of the same lengths, as `attnlab train` cuts them: "
        f"{b['real_tokens']:,} real of {b['positions']:,} target positions "
        f"({b['real_tokens'] / b['positions']:.1%})."
    )
    if args.json:
        args.json.write_text(json.dumps({"vocab": args.vocab, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
