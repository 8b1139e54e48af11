"""What the in-process benchmarks of the Bible recipes' training steps share
(output_alignment.py, products_share.py): the recipe's Trainer, and a command line that runs
one measurement per recipe, prints a table and writes the JSON."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from common import attnlab, load_average, write_report
from joeynmt_side import ROOT
from joeynmt_steps import RECIPES, recipe_config
from realistic_train import fixed_batches
from rich.console import Console
from rich.table import Table

from attnlab.data.batching import Batch
from attnlab.data.dataset import load_training_data
from attnlab.distributed import DistEnv
from attnlab.seeding import seed_everything
from attnlab.train import Trainer

WARMUP_STEPS = 3  # untimed steps before the timed ones


@contextmanager
def recipe_trainer(name: str, data: Path, smoke: bool) -> Iterator[Trainer]:
    """The recipe's Trainer as `attnlab train` builds it (its tokenizers fitted, its seed),
    on `data`, in a scratch run folder; with `smoke` the tiny models of joeynmt_steps.SMOKE."""
    config = recipe_config(name, data, smoke)
    seed_everything(config.training.seed)
    training_data = load_training_data(config.data, None)
    with tempfile.TemporaryDirectory() as run_dir:
        yield Trainer(config, training_data, Path(run_dir), DistEnv(), torch.device("cpu"))


def timed_batches(trainer: Trainer, steps: int) -> list[Batch]:
    """The first WARMUP_STEPS + `steps` batches of epoch 0 (realistic_train.fixed_batches):
    the trainer trained on the first WARMUP_STEPS, untimed; -> the other `steps`."""
    batches = fixed_batches(trainer, WARMUP_STEPS + steps)
    for batch in batches[:WARMUP_STEPS]:
        trainer.train_step([batch])
    return batches[WARMUP_STEPS:]


def run_recipes(
    argv: list[str] | None,
    doc: str,
    benchmark: str,
    measure: Callable[[Trainer, argparse.Namespace], dict],
    table: Callable[[dict[str, dict], int], Table],
    extra: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
) -> int:
    """The command line: --recipes, --threads, --steps, --data, --json, --smoke and `extra`'s
    options; `measure` on each recipe's trainer; the table; benchmarks/results/BENCHMARK.json."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bible-en-fr")
    parser.add_argument("--json", type=Path, default=ROOT / f"benchmarks/results/{benchmark}.json")
    parser.add_argument("--smoke", action="store_true", help="tiny models: the plumbing only")
    extra(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not (args.data / "train.src").exists():
        attnlab("data", "make", "bible-en-fr", "--out", str(args.data))
    load_before = load_average()
    results = {}
    for name in args.recipes:
        with recipe_trainer(name, args.data, args.smoke) as trainer:
            results[name] = measure(trainer, args)
    Console().print(table(results, args.threads))
    options = {k: v for k, v in vars(args).items() if k not in ("recipes", "data", "json")}
    fields = {
        **options,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "results": results,
    }
    write_report(args.json, benchmark, fields)
    return 0
