"""Tiny trained models for the tests of `attnlab export` and `attnlab serve`: the reverse task
(target = source reversed), small enough to train in seconds on one thread."""

from __future__ import annotations

from pathlib import Path

from attnlab.config import load_config
from attnlab.train import run_training
from tests.conftest import write_reverse_task

TINY = [
    "model.type=transformer",
    "model.embedding_size=32",
    "model.hidden_size=32",
    "model.heads=2",
    "model.ff_size=64",
    "model.num_layers=2",
    "model.max_positions=24",
    "model.dropout=0.0",
    "training.eval_bleu=false",
    "training.batch_tokens=400",
    "training.num_threads=1",
    "training.lr=3e-3",
]


def train_tiny(root: Path, name: str, steps: int, overrides: list[str]) -> Path:
    """Train a tiny model (a Transformer unless `overrides` say otherwise) on the reverse task
    in `root/name`; returns its last checkpoint."""
    data = root / "data"
    if not data.exists():
        write_reverse_task(data, n_train=300, n_eval=20)
    config = root / "tiny.yaml"
    config.write_text(f"data:\n  dir: {data}\n", encoding="utf-8")
    settings = [*TINY, f"training.max_steps={steps}", f"training.eval_every={steps}", *overrides]
    run_training(load_config(config, settings), root / name)
    return root / name / "last.pt"
