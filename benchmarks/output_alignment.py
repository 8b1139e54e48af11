"""The training output layer with its rows aligned (models/fast/linear.py, AlignedOutputLinear)
against nn.Linear's own forward, both in one process, interleaved (issue 18).

    python benchmarks/output_alignment.py [--recipes gru-bahdanau lstm-luong transformer]
        [--threads 2] [--steps 20] [--rounds 9] [--data DIR] [--json F] [--smoke]

For each recipe (configs/bible-en-fr/NAME.yaml, data.dir = `--data`, made by `attnlab data make
bible-en-fr` when missing), its Trainer with fast kernels, as `attnlab train` builds it:
  product   the output layer's forward x W^T + b with autograd on, x (N, F) random, N the
            target tokens of the recipe's first batch: `--rounds` times each way, alternating;
            the median milliseconds
  steps     after 3 warm-up steps, each of the next `--steps` batches of epoch 0
            (realistic_train.fixed_batches) trained twice, once with each forward, the order
            alternating from batch to batch; tokens/s = target tokens / summed wall seconds
            of each side's steps (the weights move twice per batch: a timing, not a run)
Interleaving in one process puts both sides under the same machine state, which on a shared
machine moves by more than the difference measured (benchmarks/README.md, "The output layer's
rows"). `--smoke` runs tiny models (recipe_steps.recipe_trainer) for a test of the plumbing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from realistic_train import fixed_batches
from recipe_steps import run_recipes, timed_batches
from rich.table import Table
from torch import nn

from attnlab.models.fast.linear import AlignedOutputLinear
from attnlab.train import Trainer

WAYS: dict[str, Callable] = {"nn.Linear": nn.Linear.forward, "aligned": AlignedOutputLinear.forward}


def output_layer(model: nn.Module) -> AlignedOutputLinear:
    (layer,) = (m for m in model.modules() if isinstance(m, AlignedOutputLinear))
    return layer


def product_ms(layer: AlignedOutputLinear, rows: int, rounds: int) -> dict[str, float]:
    """Median ms of the layer's forward on (rows, F) with autograd on, each way (docstring)."""
    x = torch.randn(rows, layer.in_features, requires_grad=True)
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    for k in range(rounds + 1):
        for way, forward in WAYS.items():
            start = time.perf_counter()
            forward(layer, x)
            if k:  # the first round warms up
                times[way].append((time.perf_counter() - start) * 1e3)
    return {way: statistics.median(ms) for way, ms in times.items()}


def step_rates(trainer: Trainer, steps: int) -> dict[str, float]:
    """Target tokens/s of each forward over the same batches, interleaved (docstring)."""
    seconds, tokens = dict.fromkeys(WAYS, 0.0), 0
    for k, batch in enumerate(timed_batches(trainer, steps)):
        for way in list(WAYS)[:: 1 if k % 2 == 0 else -1]:
            AlignedOutputLinear.forward = WAYS[way]
            start = time.perf_counter()
            _, n_tokens = trainer.train_step([batch])
            seconds[way] += time.perf_counter() - start
        tokens += n_tokens
    AlignedOutputLinear.forward = WAYS["aligned"]
    return {way: tokens / s for way, s in seconds.items()}


def measure(trainer: Trainer, args: argparse.Namespace) -> dict:
    layer = output_layer(trainer.model)
    rows = int(fixed_batches(trainer, 1)[0].trg_mask.sum())
    product = product_ms(layer, rows, args.rounds)
    rates = step_rates(trainer, args.steps)
    return {
        "features": layer.in_features,
        "vocab": layer.out_features,
        "rows": rows,
        "product_ms": product,
        "product_speedup": product["nn.Linear"] / product["aligned"],
        "tokens_per_s": rates,
        "step_speedup": rates["aligned"] / rates["nn.Linear"],
    }


def table(results: dict[str, dict], threads: int) -> Table:
    out = Table(title=f"output layer, nn.Linear vs aligned rows, {threads} threads, fp32")
    for column in ("recipe", "F x V", "forward ms", "speed-up", "tokens/s", "speed-up "):
        out.add_column(column, justify="left" if column == "recipe" else "right")
    for name, r in results.items():
        ms, rates = r["product_ms"], r["tokens_per_s"]
        out.add_row(
            name,
            f"{r['features']} x {r['vocab']:,}",
            f"{ms['nn.Linear']:.1f} / {ms['aligned']:.1f}",
            f"{r['product_speedup']:.2f}x",
            f"{rates['nn.Linear']:,.0f} / {rates['aligned']:,.0f}",
            f"{r['step_speedup']:.3f}x",
        )
    return out


if __name__ == "__main__":
    sys.exit(
        run_recipes(
            None,
            __doc__,
            "output_alignment",
            measure,
            table,
            lambda parser: parser.add_argument("--rounds", type=int, default=9),
        )
    )
