"""What every lab experiment shares: progress bars, budget presets, training a model, the data
sets, and the machine and library versions recorded beside each result.

Training goes through `attnlab.train.run_training` (quiet, so only the lab's bars show) and the
trained model comes back as an `attnlab.translate.Translator`; the synthetic `translation` task
comes from `attnlab.data.make.make_dataset` and the English->French Bible from
`attnlab.data.builtin.write_builtin`. Left out: caching data or models between experiments (each
experiment makes its own in its own folder; making the data takes well under a second).
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TypeVar

import torch
from rich.console import Console
from rich.progress import Progress, TaskID

from attnlab.config import Config, TrainingConfig
from attnlab.data.builtin import write_builtin
from attnlab.data.make import make_dataset
from attnlab.errors import UserError
from attnlab.train import run_training
from attnlab.translate import Translator

BUDGETS = ("quick", "full")  # what users choose; "test" is a seconds-long preset for the tests
SEED = 1  # the lab's seed: data sets and the first training seed of every experiment
P = TypeVar("P")


# --- progress -----------------------------------------------------------------------------------


@dataclass
class ProgressTask:
    """One bar of the lab's progress; `advance` moves it, `update` sets it."""

    progress: Progress | None
    task_id: TaskID | None

    def advance(self, n: float = 1) -> None:
        if self.progress is not None and self.task_id is not None:
            self.progress.advance(self.task_id, n)

    def update(self, completed: float) -> None:
        if self.progress is not None and self.task_id is not None:
            self.progress.update(self.task_id, completed=completed)


class LabProgress:
    """The lab's Rich progress: the runner's overall bar plus one bar per piece of work inside an
    experiment. `LabProgress(None)` shows nothing (tests, or a caller without a terminal)."""

    def __init__(self, progress: Progress | None, console: Console | None = None) -> None:
        self.progress = progress
        self.console = console or Console(stderr=True)
        self._owned: list[TaskID] = []

    def task(self, description: str, total: float | None) -> ProgressTask:
        """A new bar; it is removed when the experiment that made it ends (`close_tasks`)."""
        if self.progress is None:
            return ProgressTask(None, None)
        task_id = self.progress.add_task(description, total=total)
        self._owned.append(task_id)
        return ProgressTask(self.progress, task_id)

    def close_tasks(self) -> None:
        """Remove the bars made since the last call (the runner calls it after each experiment)."""
        if self.progress is not None:
            for task_id in self._owned:
                self.progress.remove_task(task_id)
        self._owned = []

    def log(self, message: str) -> None:
        """A line above the bars (warnings, a finished experiment's headline)."""
        if self.progress is not None:
            self.progress.console.print(message)
        else:
            self.console.print(message)


# --- budgets ------------------------------------------------------------------------------------


def preset(presets: dict[str, P], budget: str) -> P:
    """The preset of `budget` from an experiment's table of presets (quick, full and test)."""
    if budget not in presets:
        raise UserError("--budget", f"unknown budget {budget!r}; choose from {', '.join(BUDGETS)}")
    return presets[budget]


# --- architectures ------------------------------------------------------------------------------

# The architectures the lab compares, at comparable parameter counts (about 0.3 M on the synthetic
# task; the vocabularies dominate on real corpora). The fixed-context model is Cho et al.'s
# RNNencdec: a unidirectional encoder whose last state c is fed to every decoder step.
_LUONG = [
    "model.type=rnn",
    "model.cell=lstm",
    "model.context=luong",
    "model.luong_score=general",
    "model.bidirectional=false",
    "model.hidden_size=96",
]
ARCHITECTURES: dict[str, list[str]] = {
    "GRU fixed": [
        "model.type=rnn",
        "model.cell=gru",
        "model.context=fixed",
        "model.feed_context=true",
        "model.bidirectional=false",
        "model.hidden_size=96",
    ],
    "GRU+Bahdanau": [
        "model.type=rnn",
        "model.cell=gru",
        "model.context=bahdanau",
        "model.bidirectional=true",
        "model.hidden_size=64",
    ],
    "LSTM+Luong": _LUONG,
    "LSTM+Luong global": [*_LUONG, "model.luong_mode=global"],
    "LSTM+Luong local-p": [*_LUONG, "model.luong_mode=local-p"],
    "Transformer": [
        "model.type=transformer",
        "model.num_layers=2",
        "model.heads=4",
        "model.hidden_size=64",
        "model.ff_size=256",
    ],
}  # one architecture a row, as its overrides read
# Adam's step size: 3e-3 lets these small RNNs learn the synthetic task within a few hundred steps
# (GRU+Bahdanau: dev BLEU 83 after 600 steps against 26 at 1e-3 after 200); the Transformer gets
# 2e-3 after a linear warm-up over the first tenth of its steps.
LEARNING_RATES = {"Transformer": 0.002}
RNN_LEARNING_RATE = 0.003


def architecture_training(model: str, steps: int, batch_tokens: int, dropout: float) -> list[str]:
    """The lab's own overrides for architecture `model`: its layers (ARCHITECTURES), batch size,
    learning rate and warm-up (for a budget of `steps`) and dropout."""
    return [
        *ARCHITECTURES[model],
        f"training.batch_tokens={batch_tokens}",
        f"training.lr={LEARNING_RATES.get(model, RNN_LEARNING_RATE)}",
        f"training.warmup_steps={steps // 10 if model == 'Transformer' else 0}",
        f"model.dropout={dropout}",
    ]


# --- training -----------------------------------------------------------------------------------


def last_step(log_path: Path) -> int | None:
    """The step of the last complete line of a run's log.jsonl, or None."""
    try:
        lines = log_path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue  # a line being written
    return None


@contextmanager
def _follow(
    log_path: Path, bar: ProgressTask, training: TrainingConfig, every_s: float = 0.5
) -> Iterator[None]:
    """Move `bar` (0..1) to the part of the training budget spent while the body runs: the
    larger of the steps done (from the log, which run_training, quiet, writes every
    `training.log_every` steps) over `max_steps` and the minutes gone over `max_minutes`."""
    stop = threading.Event()
    start = time.monotonic()

    def poll() -> None:
        while not stop.wait(every_s):
            step = last_step(log_path) or 0
            spent = step / training.max_steps
            if training.max_minutes:
                spent = max(spent, (time.monotonic() - start) / (60 * training.max_minutes))
            bar.update(min(spent, 1.0))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def lab_training(data: Path, steps: int, seed: int) -> list[str]:
    """What the lab sets on every recipe it trains: its data, seed, step budget (one evaluation,
    at the end, by dev loss) and one thread."""
    return [
        f"data.dir={data}",
        f"training.seed={seed}",
        f"training.max_steps={steps}",
        f"training.eval_every={steps}",
        "training.eval_bleu=false",
        f"training.log_every={max(1, steps // 20)}",
        "training.num_threads=1",  # small models: a second thread costs more than it gives
        "decoding.beam_size=1",
    ]


def train_model(
    config: Config, out: Path, progress: LabProgress | None = None, description: str = "train"
) -> Translator:
    """Train `config` into the run folder `out` (config.yaml, log.jsonl, best.pt, last.pt) with a
    progress bar of its steps, and return the best checkpoint ready to translate."""
    bar = (progress or LabProgress(None)).task(description, 1.0)
    with _follow(out / "log.jsonl", bar, config.training):
        run_training(config, out, quiet=True)
    bar.update(1.0)
    best = out / "best.pt"
    return Translator.from_checkpoint(best if best.exists() else out / "last.pt", device="auto")


def dev_metrics(out: Path) -> dict[str, float]:
    """The last dev evaluation of a finished run (dev_loss, dev_ppl and dev_bleu when measured)."""
    entries = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line]
    dev = [e for e in entries if e.get("kind") == "dev"]
    if not dev:
        raise ValueError(f"{out / 'log.jsonl'} has no dev evaluation")
    return {k: float(v) for k, v in dev[-1].items() if k.startswith("dev_")}


def parameter_count(translator: Translator) -> int:
    return sum(p.numel() for p in translator.model.parameters())


def translate_lines(translator: Translator, lines: list[str], beam_size: int = 1) -> list[str]:
    """Detokenised translations of `lines`, in order (greedy search by default: the lab compares
    models, and beam search would add minutes on a CPU without changing the comparison)."""
    return [t.text for t in translator.translate(lines, beam_size=beam_size)]


# --- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """One split of a parallel data folder: source and reference lines, aligned."""

    src: list[str]
    ref: list[str]

    @property
    def src_lengths(self) -> list[int]:
        return [len(line.split()) for line in self.src]


def read_split(folder: Path, split: str) -> Split:
    src = (folder / f"{split}.src").read_text(encoding="utf-8").splitlines()
    ref = (folder / f"{split}.trg").read_text(encoding="utf-8").splitlines()
    return Split(src, ref)


def write_split(folder: Path, split: str, data: Split) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.src").write_text("".join(s + "\n" for s in data.src), encoding="utf-8")
    (folder / f"{split}.trg").write_text("".join(t + "\n" for t in data.ref), encoding="utf-8")


def synthetic_translation(
    out: Path, sizes: tuple[int, int, int], max_len: int, seed: int = SEED
) -> Path:
    """The synthetic `translation` task (source lengths 1..max_len, uniform) in `out`."""
    n_train, n_dev, n_test = sizes
    make_dataset("translation", out, n_train, n_dev, n_test, 1, max_len, seed)
    return out


def bible_en_fr(out: Path) -> Path:
    """The embedded English->French Bible (train/dev/test split by book) in `out`."""
    write_builtin("bible-en-fr", out)
    return out


# --- where and with what it ran -----------------------------------------------------------------


def versions() -> dict[str, str]:
    """Python and the libraries whose versions change the numbers."""
    found = {"python": platform.python_version()}
    for name in ("attnlab", "torch", "numpy", "sacrebleu", "sentencepiece", "matplotlib"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, str | int | None]:
    """The machine the numbers were measured on."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
    }
