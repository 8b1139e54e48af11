"""The Trainer: one loop for every model.

Token-budget batches from length buckets, `accumulate` of them an update; Adam/AdamW; LR
schedules (schedule.py); gradient clipping; label smoothing; AMP (bf16/fp16); validation every
`eval_every` steps with dev loss, perplexity and greedy BLEU; early stopping; atomic checkpoints
carrying everything a resume needs (optimizer, scheduler, RNG states, data-iterator position), so
that a run killed at any moment and resumed ends with the same weights as the uninterrupted run;
DDP under torchrun.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from attnlab import __version__
from attnlab.atomic import link_atomic, write_text_atomic
from attnlab.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    average_checkpoints,
    load_checkpoint,
    remove_temporaries,
    save_atomic,
)
from attnlab.config import Config, ModelConfig, architecture, saved_config
from attnlab.data.batching import Batch, collate, make_batches
from attnlab.data.dataset import Encoders, TrainingData, load_training_data, target_log_prior
from attnlab.data.vocab import PAD_ID
from attnlab.device import resolve_device
from attnlab.distributed import (
    DistEnv,
    all_reduce_sum,
    broadcast_from_main,
    init_distributed,
    shard,
    shutdown,
    wait_for_all_ranks,
)
from attnlab.errors import UserError, WriteError
from attnlab.metrics import corpus_bleu
from attnlab.models.build import build_model, init_output_bias
from attnlab.models.interface import Seq2SeqModel
from attnlab.schedule import build_scheduler
from attnlab.seeding import rng_state, seed_everything, set_rng_state
from attnlab.translate import Translator

EVAL_BLEU_SENTENCES = 1000  # dev sentences decoded for BLEU at each evaluation


@dataclass
class RunProgress:
    """Where the run is; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_score: float | None = None
    best_step: int = 0
    bad_evals: int = 0
    tokens: int = 0
    seconds: float = 0.0  # wall clock of the training loop, validation included


# --- small pure helpers -------------------------------------------------------------------------


def sequence_loss(logits: Tensor, batch: Batch, label_smoothing: float) -> Tensor:
    """Summed cross-entropy over the real target tokens. logits (B, T, V) -> scalar."""
    return F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)),  # (B*T, V)
        batch.trg_out.reshape(-1),
        ignore_index=PAD_ID,
        label_smoothing=label_smoothing,
        reduction="sum",
    )


def initialise_output_bias(model: nn.Module, cfg: ModelConfig, data: TrainingData) -> None:
    """With `model.output_bias: unigram`, the output layer's bias b = log p(y) of the training
    targets (`models.build.init_output_bias`); with `default`, PyTorch's stays."""
    if cfg.output_bias == "unigram":
        vocab_size = len(data.encoders.trg_vocab)
        init_output_bias(model, target_log_prior(data.train_ids, vocab_size))


def plain_training_step(
    model: Seq2SeqModel, optimizer: torch.optim.Optimizer, batch: Batch, clip_norm: float = 1.0
) -> float:
    """One teacher-forced update without AMP or DDP, for the lab's own small loops: mean
    cross-entropy per target token, backward, clip the gradient norm, step. Returns the loss."""
    logits, _ = model(batch)
    loss = sequence_loss(logits, batch, 0.0) / batch.n_trg_tokens
    descend(model, optimizer, loss, clip_norm)
    return float(loss.detach())


def descend(
    model: nn.Module, optimizer: torch.optim.Optimizer, loss: Tensor, clip_norm: float
) -> None:
    """One plain gradient step on `loss`: clear the gradients, backward, clip their norm, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()


# --- the trainer --------------------------------------------------------------------------------


class Trainer:
    """Trains `model` on `data` as `config.training` says, writing into `out`."""

    def __init__(
        self, config: Config, data: TrainingData, out: Path, env: DistEnv, device: torch.device
    ) -> None:
        self.config, self.cfg, self.data, self.out, self.env = (
            config,
            config.training,
            data,
            out,
            env,
        )
        self.device = device
        encoders = data.encoders
        self.model = build_model(
            config.model,
            len(encoders.src_vocab),
            len(encoders.trg_vocab),
            shared_vocab=config.data.joint_vocab,
        )
        initialise_output_bias(self.model, config.model, data)
        self.model.to(device)
        self.ddp = (
            DistributedDataParallel(self.model, device_ids=[device.index] if device.index else None)
            if env.enabled
            else None
        )
        optim_cls = torch.optim.AdamW if self.cfg.optimizer == "adamw" else torch.optim.Adam
        # fused: one kernel for every parameter, where the per-tensor loop dispatches about a
        # thousand small ops a step
        self.optimizer = optim_cls(
            self.model.parameters(),
            lr=self.cfg.lr,
            weight_decay=self.cfg.weight_decay,
            fused=device.type in ("cpu", "cuda"),
        )
        self.higher_is_better = self.metric_name() == "bleu"
        self.progress = RunProgress()
        self.scheduler = build_scheduler(
            self.optimizer, self.cfg, self.higher_is_better, self.budget_spent
        )
        self.scaler = torch.amp.GradScaler(
            device.type, enabled=self.cfg.amp == "fp16" and device.type == "cuda"
        )
        self.lengths = [(len(s), len(t)) for s, t in data.train_ids]

    def budget_spent(self) -> float:
        """The fraction of `training.max_minutes` used so far; 0 without that budget."""
        if self.cfg.max_minutes is None:
            return 0.0
        return self.progress.seconds / (60 * self.cfg.max_minutes)

    def metric_name(self) -> str:
        return self.cfg.early_stopping_metric if self.cfg.eval_bleu else "loss"

    # checkpoints

    def state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "versions": {"attnlab": __version__, "torch": str(torch.__version__)},
            "config": self.config.model_dump(mode="json"),
            "model": self.model.state_dict(),
            **self.data.encoders.to_state(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "progress": asdict(self.progress),
        }

    def load_state(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        set_rng_state(ckpt["rng"])
        self.progress = RunProgress(**ckpt["progress"])

    def save(self, improved: bool) -> None:
        """ckpt-STEP.pt atomically; last.pt and (if improved) best.pt as atomic hard links; keep
        the newest `keep_last` step checkpoints."""
        path = self.out / f"ckpt-{self.progress.step:07d}.pt"
        save_atomic(self.state(), path)
        link_atomic(path, self.out / "last.pt")
        if improved:
            link_atomic(path, self.out / "best.pt")
        for old in sorted(self.out.glob("ckpt-*.pt"))[: -self.cfg.keep_last]:
            old.unlink()

    # steps

    def train_step(self, batches: list[Batch]) -> tuple[float, int]:
        """One update from `batches` (`training.accumulate` of them, fewer at an epoch's end):
        the gradient of sum(loss) / sum(target tokens) over all of them, one batch at a time.
        Returns the summed loss and the number of target tokens of this rank."""
        self.model.train()
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.cfg.amp)
        n_tokens = sum(batch.n_trg_tokens for batch in batches)
        # summed on the device, in float64 as Python floats were: one sync a step, not a batch
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            # DDP all-reduces the gradients once, after the last batch
            with self.ddp.no_sync() if self.ddp and not last else contextlib.nullcontext():
                with torch.autocast(
                    self.device.type, dtype=amp_dtype, enabled=amp_dtype is not None
                ):
                    logits, _ = (self.ddp or self.model)(batch)
                    loss_sum = sequence_loss(logits, batch, self.cfg.label_smoothing)
                self.scaler.scale(loss_sum / n_tokens).backward()
            total += loss_sum.detach()
        if self.cfg.clip_norm is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm, foreach=True)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if not isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step()
        return float(total), n_tokens

    @torch.inference_mode()
    def dev_loss(self) -> float:
        """Mean cross-entropy per target token on the dev split (no label smoothing)."""
        self.model.eval()
        total, tokens = 0.0, 0
        for indices in make_batches(
            [(len(s), len(t)) for s, t in self.data.dev_ids], self.cfg.batch_tokens, 0, 0, False
        ):
            batch = collate([self.data.dev_ids[i] for i in indices]).to(self.device)
            logits, _ = self.model(batch)
            total += float(sequence_loss(logits, batch, 0.0))
            tokens += batch.n_trg_tokens
        return total / max(tokens, 1)

    def dev_bleu(self) -> float:
        translator = Translator.from_encoders(self.model, self.data.encoders, self.config)
        pairs = self.data.dev_pairs[:EVAL_BLEU_SENTENCES]
        hyps = [t.text for t in translator.translate([s for s, _ in pairs], beam_size=1)]
        return corpus_bleu(hyps, [t for _, t in pairs])

    def evaluate(self) -> dict[str, float]:
        loss = self.dev_loss()
        result = {"dev_loss": loss, "dev_ppl": float(np.exp(min(loss, 50.0)))}
        if self.cfg.eval_bleu:
            result["dev_bleu"] = self.dev_bleu()
        return result

    def average_last(self, k: int) -> dict[str, Any] | None:
        """Average the weights of the newest k step checkpoints into averaged.pt, evaluate it
        on dev, and make it best.pt if it beats the best checkpoint; None if fewer than two
        checkpoints exist. Loads the averaged weights into the model."""
        paths = sorted(self.out.glob("ckpt-*.pt"))[-k:]
        if len(paths) < 2:
            return None
        averaged = self.out / "averaged.pt"
        self.model.load_state_dict(average_checkpoints(paths, averaged))
        metrics = self.evaluate()
        score = metrics["dev_bleu"] if self.higher_is_better else metrics["dev_loss"]
        best = self.progress.best_score
        improved = best is None or (score > best if self.higher_is_better else score < best)
        if improved:
            link_atomic(averaged, self.out / "best.pt")
        return {"averaged": [p.name for p in paths], "improved": improved, **metrics}


# --- the loop -----------------------------------------------------------------------------------


class RunLog:
    """Progress a person can follow: a Rich bar (stderr), log.jsonl and TensorBoard. Rank 0 only."""

    def __init__(
        self, out: Path, env: DistEnv, max_steps: int, start_step: int, quiet: bool = False
    ) -> None:
        self.enabled = env.is_main
        self.quiet = quiet
        self.console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            disable=quiet or not self.enabled,
        )
        self.task = self.bar.add_task("train", total=max_steps, completed=start_step, info="")
        self.path = out / "log.jsonl"
        self.writer = None
        if self.enabled:
            _truncate_log(self.path, start_step)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=start_step or None)

    def __enter__(self) -> RunLog:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
        if self.writer is not None:
            self.writer.close()

    def advance(self, step: int, info: str) -> None:
        self.bar.update(self.task, completed=step, info=info)

    def record(self, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")
        except OSError as exc:
            raise WriteError(str(self.path), exc) from None
        assert self.writer is not None  # set whenever enabled
        for key, value in entry.items():
            if key not in ("step", "epoch", "kind") and isinstance(value, int | float):
                self.writer.add_scalar(f"{entry['kind']}/{key}", value, entry["step"])
        self.writer.flush()

    def say(self, message: str) -> None:
        if self.enabled and not self.quiet:
            self.console.print(message)


def _truncate_log(path: Path, keep_until_step: int) -> None:
    """On resume, drop log lines the killed run wrote after its last checkpoint, the partial
    line a kill or a full disk can leave at the end, and the `average` record: the end of
    training averages again, whether or not the run had reached it."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            entry = json.loads(line)
            if entry["step"] <= keep_until_step and entry["kind"] != "average":
                kept.append(line)
    write_text_atomic(path, "".join(line + "\n" for line in kept))


class TrainLoop:
    """Runs a Trainer to `max_steps` or early stopping; logs, evaluates and checkpoints."""

    def __init__(self, trainer: Trainer, log: RunLog) -> None:
        self.t, self.log = trainer, log
        self.window_loss, self.window_tokens, self.window_start = 0.0, 0, time.perf_counter()
        # the clock of `training.max_minutes`: seconds of earlier sittings plus this one's
        self.sitting_start, self.earlier_seconds = time.perf_counter(), trainer.progress.seconds

    def run(self) -> dict[str, Any]:
        t, cfg = self.t, self.t.cfg
        stop = t.progress.step >= cfg.max_steps or self.out_of_time()
        while not stop:
            batches = shard(
                make_batches(
                    t.lengths,
                    cfg.batch_tokens,
                    cfg.seed,
                    t.progress.epoch,
                    by_length=cfg.batching == "length",
                ),
                t.env,
            )
            if not batches:
                raise UserError("data.train", f"too few batches for {t.env.world_size} processes")
            while t.progress.batch_in_epoch < len(batches):
                first = t.progress.batch_in_epoch
                update = [
                    collate([t.data.train_ids[i] for i in indices]).to(t.device)
                    for indices in batches[first : first + cfg.accumulate]
                ]
                loss, n_tokens = t.train_step(update)
                t.progress.step += 1
                t.progress.batch_in_epoch += len(update)
                t.progress.tokens += n_tokens
                stop = self.after_step(loss, n_tokens)
                if stop:
                    break
            else:
                t.progress.epoch += 1
                t.progress.batch_in_epoch = 0
        return {
            "step": t.progress.step,
            "best_score": t.progress.best_score,
            "best_step": t.progress.best_step,
            "metric": t.metric_name(),
        }

    def after_step(self, loss: float, n_tokens: int) -> bool:
        cfg, step = self.t.cfg, self.t.progress.step
        self.window_loss += loss
        self.window_tokens += n_tokens
        self.t.progress.seconds = self.earlier_seconds + time.perf_counter() - self.sitting_start
        logged = step % cfg.log_every == 0
        stop = step >= cfg.max_steps or (logged and self.out_of_time())
        if logged or stop:
            self.log_window()
        if step % cfg.eval_every == 0 or stop:
            stop = self.validate() or stop
        return stop

    def out_of_time(self) -> bool:
        """Whether `training.max_minutes` is spent (rank 0's clock decides for every rank)."""
        budget = self.t.cfg.max_minutes
        if budget is None:
            return False
        spent = self.t.progress.seconds >= 60 * budget
        return bool(broadcast_from_main(spent, self.t.env))

    def log_window(self) -> None:
        t = self.t
        loss, tokens = all_reduce_sum([self.window_loss, float(self.window_tokens)], t.env)
        elapsed = time.perf_counter() - self.window_start
        entry = {
            "kind": "train",
            "step": t.progress.step,
            "epoch": t.progress.epoch,
            "loss": loss / max(tokens, 1),
            "lr": t.optimizer.param_groups[0]["lr"],
            "tokens_per_s": tokens / max(elapsed, 1e-9),
        }
        self.log.record(entry)
        self.log.advance(
            t.progress.step,
            f"loss {entry['loss']:.3f}  {entry['tokens_per_s']:,.0f} tok/s  lr {entry['lr']:.2e}",
        )
        self.window_loss, self.window_tokens, self.window_start = 0.0, 0, time.perf_counter()

    def validate(self) -> bool:
        """Evaluate on dev (rank 0), share the result, checkpoint; True means stop early."""
        t, cfg, progress = self.t, self.t.cfg, self.t.progress
        eval_start = time.perf_counter()
        metrics = broadcast_from_main(t.evaluate() if t.env.is_main else None, t.env)
        score = metrics["dev_bleu"] if t.higher_is_better else metrics["dev_loss"]
        best = progress.best_score
        improved = best is None or (score > best if t.higher_is_better else score < best)
        if improved:
            progress.best_score, progress.best_step, progress.bad_evals = score, progress.step, 0
        else:
            progress.bad_evals += 1
        if isinstance(t.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            t.scheduler.step(score)
        # the log first: a kill between the two then leaves a record that resume drops, never a
        # checkpoint whose evaluation is missing from the log
        self.log.record(
            {"kind": "dev", "step": progress.step, "seconds": progress.seconds, **metrics}
        )
        if t.env.is_main:
            t.save(improved)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
        self.log.say(f"step {progress.step}: {shown}{'  (best)' if improved else ''}")
        self.window_start += time.perf_counter() - eval_start  # validation is not training time
        patience = cfg.early_stopping_patience
        return patience is not None and progress.bad_evals >= patience


def _config_difference(saved: dict[str, Any], new: dict[str, Any], prefix: str = "") -> str | None:
    """The first dotted key whose value differs between two config dicts, as 'key: a -> b'."""
    for key in sorted(set(saved) | set(new)):
        a, b = saved.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = _config_difference(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"{prefix}{key}: {a!r} -> {b!r}"
    return None


def prepare_run_folder(
    config: Config, out: Path, resume: bool, env: DistEnv
) -> tuple[dict | None, Config]:
    """Check the run folder; returns the checkpoint to resume from (None for a fresh run) and
    the config to run with: `config`, with a resumed run's `model.output_bias` as it started.

    Never overwrites a run: a fresh start into a folder holding one is an error. Writes nothing:
    `start_run_folder` does, once the data has been read.
    """
    if out.exists() and not out.is_dir():
        raise UserError(str(out), "exists and is not a folder")
    last = out / "last.pt"
    if resume:
        if not last.exists():
            raise UserError(str(out), "has no last.pt to resume from")
        ckpt = load_checkpoint(last)
        saved = saved_config(ckpt["config"], str(last))
        difference = _config_difference(architecture(saved), architecture(config))
        if difference:
            raise UserError(str(last), f"the run was made with another config ({difference})")
        started = config.model.model_copy(update={"output_bias": saved.model.output_bias})
        return ckpt, config.model_copy(update={"model": started})
    if last.exists() or (out / "log.jsonl").exists():
        raise UserError(
            str(out), "holds a run already; add --resume to continue it, or choose another --out"
        )
    return None, config


def start_run_folder(config: Config, out: Path, env: DistEnv) -> None:
    """Make the run folder of a fresh run and write its config.yaml."""
    if not env.is_main:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(str(out), exc) from None
    write_text_atomic(out / "config.yaml", config.to_yaml())


def last_good_checkpoint(out: Path) -> str:
    """Which checkpoint of a run folder loads, in words, for an error message."""
    last = out / "last.pt"
    if not last.exists():
        return "no checkpoint was written"
    try:
        step = load_checkpoint(last)["progress"]["step"]
    except UserError:
        return f"{last} does not load"
    return f"the last good checkpoint is {last} (step {step}); continue with --resume"


@contextlib.contextmanager
def naming_the_last_good_checkpoint(out: Path) -> Iterator[None]:
    """A WriteError inside (a full disk, say) also says which checkpoint of `out` still loads."""
    try:
        yield
    except WriteError as exc:
        raise WriteError(exc.where, exc.os_error, last_good_checkpoint(out)) from None


def run_training(
    config: Config, out: Path, resume: bool = False, quiet: bool = False
) -> dict[str, Any]:
    """`attnlab train`: train a model into the run folder `out` (or continue it with resume).

    `quiet` turns off the progress bar and messages (the lab runs many trainings under its own).
    """
    device = resolve_device(config.training.device)
    if config.training.amp == "fp16" and device.type != "cuda":
        # float16 needs loss scaling, which torch does on CUDA only; bf16 has float32's range
        raise UserError(
            "training.amp", f"fp16 needs a CUDA device (this run is on {device}); use bf16"
        )
    if config.training.num_threads:
        torch.set_num_threads(config.training.num_threads)
    env = init_distributed(device)
    try:
        if device.type == "cuda" and env.enabled:
            device = torch.device("cuda", env.local_rank)
            torch.cuda.set_device(device)
        ckpt, config = prepare_run_folder(config, out, resume, env)
        seed_everything(config.training.seed)
        data = load_training_data(config.data, Encoders.from_state(ckpt) if ckpt else None)
        trainer = Trainer(config, data, out, env, device)
        if ckpt is not None:
            trainer.load_state(ckpt)
            if env.is_main:
                remove_temporaries(out)  # the writes a kill interrupted
        else:
            start_run_folder(config, out, env)
        with (
            naming_the_last_good_checkpoint(out),
            RunLog(out, env, config.training.max_steps, trainer.progress.step, quiet) as log,
        ):
            r = data.report
            log.say(
                f"train: {len(data.train_ids)} pairs (dropped {r.empty} empty, {r.too_long} over "
                f"data.max_len={config.data.max_len}); dev: {len(data.dev_pairs)} pairs; "
                f"vocab {len(data.encoders.src_vocab)}/{len(data.encoders.trg_vocab)}; "
                f"{sum(p.numel() for p in trainer.model.parameters()):,} parameters; {device}"
                + (f"; resuming at step {trainer.progress.step}" if ckpt else "")
            )
            summary = TrainLoop(trainer, log).run()
            log.say(
                f"done: step {summary['step']}, best dev {summary['metric']} "
                f"{summary['best_score']:.3f} at step {summary['best_step']}; {out}/best.pt"
            )
            k = config.training.average_last
            averaged = trainer.average_last(k) if k and env.is_main else None
            if averaged is not None:
                summary["averaged"] = averaged
                log.record({"kind": "average", "step": trainer.progress.step, **averaged})
                shown = ", ".join(
                    f"{key} {v:.3f}" for key, v in averaged.items() if key.startswith("dev_")
                )
                verdict = "now best.pt" if averaged["improved"] else "best.pt stays"
                log.say(f"average of {len(averaged['averaged'])} checkpoints: {shown}; {verdict}")
        wait_for_all_ranks(env)
        return summary
    finally:
        shutdown(env)
