"""How much of a training step is matrix products, at the Bible recipe sizes (issue 18): a
ceiling on what faster elementwise work could give.

    python benchmarks/products_share.py [--recipes gru-bahdanau lstm-luong transformer]
        [--threads 2] [--steps 20] [--data DIR] [--json F] [--smoke]

For each recipe (configs/bible-en-fr/NAME.yaml, data.dir = `--data`, made by `attnlab data make
bible-en-fr` when missing), its Trainer as `attnlab train` builds it; after 3 warm-up steps,
for each of the next `--steps` batches of epoch 0 (realistic_train.fixed_batches), in turn:
  step      one `Trainer.train_step`, timed
  products  one more step with its matrix products recorded, then those products run alone,
            in order, on random tensors of their layouts (matmul_peak.products_seconds: once
            untimed, once timed)
Each batch's two timings are taken within a second of each other, so both sides of the share
see the same machine state, which on a shared machine moves by 30% within minutes.
Reported: products seconds / step seconds over all batches, and the tokens/s the steps would
reach if nothing but the products took time (a ceiling for these kernels and FLOPs; products
alone reuse their tensors, so they find them in cache more often than the step does).
`--smoke` runs tiny models (recipe_steps.recipe_trainer) for a test of the plumbing.
"""

from __future__ import annotations

import argparse
import sys
import time

from matmul_peak import products_seconds, recorded_products
from recipe_steps import run_recipes, timed_batches
from rich.table import Table

from attnlab.train import Trainer


def measure(trainer: Trainer, args: argparse.Namespace) -> dict:
    step_seconds = products = 0.0
    tokens = 0
    for batch in timed_batches(trainer, args.steps):
        start = time.perf_counter()
        _, n_tokens = trainer.train_step([batch])
        step_seconds += time.perf_counter() - start
        tokens += n_tokens
        recorded = recorded_products(lambda b=batch: trainer.train_step([b]))
        products += products_seconds(recorded, repeat=1)
    return {
        "target_tokens": tokens,
        "step_seconds": step_seconds,
        "products_seconds": products,
        "products_share": products / step_seconds,
        "tokens_per_s": tokens / step_seconds,
        "products_only_tokens_per_s": tokens / products,
    }


def table(results: dict[str, dict], threads: int) -> Table:
    out = Table(title=f"matrix products in a training step, {threads} threads, fp32")
    for column in ("recipe", "step s", "products s", "share", "tokens/s", "products only"):
        out.add_column(column, justify="left" if column == "recipe" else "right")
    for name, r in results.items():
        out.add_row(
            name,
            f"{r['step_seconds']:.2f}",
            f"{r['products_seconds']:.2f}",
            f"{r['products_share']:.0%}",
            f"{r['tokens_per_s']:,.0f}",
            f"{r['products_only_tokens_per_s']:,.0f}",
        )
    return out


if __name__ == "__main__":
    sys.exit(run_recipes(None, __doc__, "products_share", measure, table))
