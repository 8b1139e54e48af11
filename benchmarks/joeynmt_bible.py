"""JoeyNMT 2.3 beside attnlab on bible-en-fr, each for the same wall-clock minutes (issue 13, 5).

    python benchmarks/joeynmt_bible.py [--minutes 60] [--models gru-bahdanau lstm-luong transformer]
        [--threads 2] [--side-by-side] [--validation-freq K] [--data DIR] [--out DIR]
        [--json F] [--seed 42] [--venv DIR] [--wheel F] [--plain-env]

For each recipe, configs/bible-en-fr/NAME.yaml, one after the other in one sitting, attnlab
first (its run gives the SentencePiece models that JoeyNMT then reads):
  1. attnlab: `attnlab train RECIPE --out OUT/NAME/attnlab` with data.dir = `--data` (made by
     `attnlab data make bible-en-fr` when missing), training.max_minutes = `--minutes`,
     training.num_threads = `--threads`, training.eval_every = K (`--validation-freq`) and
     log_every = min(50, K). Its clock counts the training loop, validations included, from
     the loop's start; its cosine schedule knows the budget and decays to min_lr exactly at it.
  2. The SentencePiece models: attnlab trains them (the recipe's sp_model_type and
     sp_vocab_size, one per side, or one for both with data.joint_vocab) on the whole training
     split and keeps them in its checkpoint. They are written from best.pt to OUT/NAME/sp/
     ({src,trg}.model, the same bytes for a joint model) with a JoeyNMT vocabulary file
     listing every piece, so that JoeyNMT (`tokenizer_type: sentencepiece`, `model_file`)
     cuts the very same pieces: JoeyNMT restricts SentencePiece to its vocabulary, and all
     the pieces restrict nothing. (attnlab's own vocabulary holds the pieces met in training;
     a piece never met is <unk> there and an untrained embedding in JoeyNMT.)
  3. JoeyNMT: `python -m joeynmt train` with the nearest config (below), validating (greedy dev
     BLEU, as attnlab's) and checkpointing every K updates. It has no wall-clock stop: it gets
     SIGTERM once `--minutes` have passed since its training loop began (its "EPOCH 1" log
     line; data loading and vocabulary before it are not counted, as on attnlab's side), or,
     when it has written no checkpoint by then (a budget shorter than K updates), at its first
     checkpoint. Its warm-up then inverse-square-root schedule does not know the budget.
  With --side-by-side both trainings run at the same time, each on --threads (1 on a 2-core
  machine), in one hold of the CPU lock: half the wall clock, and both sides meet the same
  machine state. The SentencePiece models are then fitted first, here, as `attnlab train`
  fits them (SentencePiece gives the same model for the same lines and settings), given to
  JoeyNMT, and checked byte for byte against those attnlab's run kept (the script stops if
  they differ).
  4. Scoring, the same for both, after the trainings: the test split; beam 5, GNMT length
     penalty alpha 1.0, batches of 64 sentences; attnlab decodes best.pt (best dev BLEU, or the
     average of its last checkpoints where that scored higher on dev), JoeyNMT best.ckpt (best
     dev BLEU); both outputs are SentencePiece-decoded text, scored by
     attnlab.metrics.corpus_scores against test.trg (sacreBLEU BLEU and chrF, defaults).

Max length: both drop a training pair when either side has more than data.max_len (100)
pieces, </s> not counted (attnlab data.max_len; JoeyNMT max_length of each side, applied to
training data only); dev and test are never filtered on either side.

Reported per side: test BLEU and chrF, training target tokens/s (non-pad target tokens, </s>
included, over the training windows of the log, validation excluded: attnlab's log.jsonl
"tokens_per_s", JoeyNMT's "Tokens per Sec", the mean of the windows after the first, which
holds the warm-up, as real_quality.py reads attnlab's; the first alone if it is the only one),
steps (JoeyNMT: the last
logged step, so up to log_every short of the step it was stopped at), minutes of the training
clock, parameters. Every process runs under `flock bench-out/cpu.lock` (as joeynmt_side.py);
the JSON records the load average before and after each training. The venv and its setup are
joeynmt_side.py's (ensure_venv: --system-site-packages, --no-deps, the ReduceLROnPlateau patch).

Nearest JoeyNMT config, read from the recipe, and what is not matched:
  * Model: the recipe's sizes and dropout (joeynmt_side.recurrent_model / transformer_model);
    the differences of the recurrent decoders and of the Transformer are joeynmt_side.py's. The
    Transformer's joint vocabulary and three-way tying: one vocabulary file for both sides and
    tied_embeddings + tied_softmax. Word dropout (attnlab recipes: 0.1): JoeyNMT has none.
  * Schedule: attnlab's cosine over max_minutes (warm-up, then down to min_lr at the budget).
    JoeyNMT has no cosine and no budget: warmupinversesquareroot with the recipe's lr as peak,
    its warm-up steps and min_lr; after warm-up lr = peak * sqrt(warmup / step).
  * Batches: both fill a batch to batch_tokens padded positions (attnlab: n * max(src, trg + 1)
    within the budget; JoeyNMT: n * max(src + 1, trg + 1), closing at the first batch over it),
    shuffled each epoch; attnlab's batches hold sentences of one length, JoeyNMT's are cut
    from a random order (more padding, fewer real tokens per update).
  * Optimiser: Adam, the recipe's lr, clipping at the recipe's norm, label smoothing, loss
    normalised by target tokens on both sides.
  * Beam search: attnlab stops a sentence when no open hypothesis can beat its best finished
    one, with a length limit of 1.5 x source + 10 tokens per sentence; JoeyNMT stops when
    every entry of its beam has ended, with a limit of 1.5 x the longest source of the batch
    (</s> counted). Dev BLEU for model selection: greedy on both sides.
  * Checkpoints: attnlab also checkpoints at the budget; JoeyNMT's last is up to K updates
    before it was stopped. attnlab averages its last checkpoints (training.average_last) when
    that scores higher on dev; JoeyNMT does not.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sentencepiece as spm
from common import load_average
from joeynmt_side import (
    BENCH,
    LOCK,
    _venv_python,
    child_env,
    ensure_venv,
    recurrent_model,
    run_locked,
    test_config,
    transformer_model,
    write_yaml,
)
from real_quality import log_entries, summarise_run
from rich.console import Console
from rich.table import Table

from attnlab import __version__
from attnlab.config import Config, load_config
from attnlab.data.dataset import fit_encoders, read_split, split_path
from attnlab.metrics import corpus_scores
from attnlab.translate import Translator

ROOT = Path(__file__).resolve().parent.parent
RECIPES = {
    name: ROOT / "configs" / "bible-en-fr" / f"{name}.yaml"
    for name in ("gru-bahdanau", "lstm-luong", "transformer")
}
BEAM, LENGTH_PENALTY, DECODE_BATCH = 5, 1.0, 64
SMOKE_MINUTES = 5  # below this, K defaults to SMOKE_FREQ so that JoeyNMT checkpoints in time
DEFAULT_FREQ, SMOKE_FREQ = 400, 10
SCHEDULES = {
    "attnlab": "cosine over training.max_minutes: warm-up, then decayed to min_lr at the budget",
    "joeynmt": "warm-up, then lr = peak * sqrt(warmup / step); it does not know the budget and "
    "is cut off by SIGTERM",
}


# --- the shared SentencePiece models ---------------------------------------------------------


def checkpoint_tokenizers(checkpoint: Path) -> tuple[Any, Any]:
    """The source and target SentencePiece tokenizers an attnlab checkpoint holds."""
    translator = Translator.from_checkpoint(checkpoint, device="cpu")
    return translator.src_tokenizer, translator.trg_tokenizer


def fitted_tokenizers(cfg: Config) -> tuple[Any, Any]:
    """The source and target tokenizers `attnlab train` fits for `cfg` on its training split
    (SentencePiece gives the same model for the same lines and settings)."""
    encoders = fit_encoders(cfg.data, read_split(split_path(cfg.data, "train")))
    return encoders.src_tokenizer, encoders.trg_tokenizer


def write_sentencepiece(tokenizers: tuple[Any, Any], out: Path) -> dict[str, Path]:
    """attnlab's SentencePiece models (source, target) as files JoeyNMT reads, one per side
    (the same bytes twice with data.joint_vocab); each with a vocabulary file of all its pieces
    (control and unknown pieces left out: JoeyNMT adds its own specials).
    -> {"src_model", "trg_model", "src_vocab", "trg_vocab"}"""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for side, tokenizer in zip(("src", "trg"), tokenizers, strict=True):
        model, vocab = out / f"{side}.model", out / f"{side}.vocab.txt"
        model.write_bytes(tokenizer.model_proto)
        processor = spm.SentencePieceProcessor(model_proto=tokenizer.model_proto)
        pieces = [
            processor.id_to_piece(i)
            for i in range(processor.get_piece_size())
            if not (processor.is_control(i) or processor.is_unknown(i))
        ]
        vocab.write_text("".join(f"{piece}\n" for piece in pieces), encoding="utf-8")
        files[f"{side}_model"], files[f"{side}_vocab"] = model, vocab
    return files


# --- configs ---------------------------------------------------------------------------------


def joey_model(cfg: Config) -> dict:
    """The JoeyNMT model section nearest to the recipe's model (module docstring)."""
    m = cfg.model
    if m.type == "transformer":
        tied = cfg.data.joint_vocab and m.tie_embeddings
        return transformer_model(m.num_layers, m.heads, m.hidden_size, m.ff_size, m.dropout, tied)
    nearest = {("gru", "bahdanau"): "bahdanau", ("lstm", "luong"): "luong"}
    luong_as_joeynmt = (m.luong_score, m.luong_mode, m.input_feeding) == ("general", "global", True)
    attention = nearest.get((m.cell, m.context))
    if attention is None or m.num_layers != 1 or (attention == "luong" and not luong_as_joeynmt):
        raise SystemExit(f"no JoeyNMT equivalent here for {m.cell}/{m.context}/{m.num_layers}")
    embedding_dropout = m.dropout if m.embedding_dropout is None else m.embedding_dropout
    sizes = (m.embedding_size, m.hidden_size, m.dropout, embedding_dropout, m.bidirectional)
    return recurrent_model(m.cell, attention, *sizes)


def joey_train_config(
    cfg: Config, data: Path, sp: dict[str, Path], model_dir: Path, freq: int, seed: int
) -> dict:
    """JoeyNMT's training config for one recipe: same data, pieces, length filter, optimiser,
    batch budget and validation interval; no update or epoch limit (SIGTERM ends it)."""
    t = cfg.training

    def side(lang: str) -> dict:
        return {
            "lang": lang,
            "level": "bpe",
            "tokenizer_type": "sentencepiece",
            "tokenizer_cfg": {"model_file": str(sp[f"{lang}_model"])},
            "voc_file": str(sp[f"{lang}_vocab"]),
            "lowercase": cfg.data.lowercase,
            "normalize": False,
            "max_length": cfg.data.max_len,
            "min_length": 1,
        }

    return {
        "name": f"joeynmt-bible-{cfg.model.type}",
        "joeynmt_version": "2.3.0",
        "model_dir": str(model_dir),
        "use_cuda": False,
        "fp16": False,
        "random_seed": seed,
        "data": {
            "train": str(data / "train"),
            "dev": str(data / "dev"),
            "test": str(data / "test"),
            "dataset_type": "plain",
            "src": side("src"),
            "trg": side("trg"),
        },
        # read for the greedy dev decoding of validation
        "testing": {"batch_size": DECODE_BATCH, "batch_type": "sentence", "eval_metrics": ["bleu"]},
        "training": {
            "optimizer": "adam",
            "adam_betas": [0.9, 0.999],
            "learning_rate": t.lr,
            "learning_rate_min": t.min_lr,
            "scheduling": "warmupinversesquareroot",
            "learning_rate_warmup": max(1, t.warmup_steps),
            "loss": "crossentropy",
            "label_smoothing": t.label_smoothing,
            "normalization": "tokens",
            "clip_grad_norm": t.clip_norm,
            "batch_size": t.batch_tokens,
            "batch_type": "token",
            "shuffle": True,
            "epochs": 10_000,
            "logging_freq": min(50, freq),
            "validation_freq": freq,
            "early_stopping_metric": "bleu",
            "keep_best_ckpts": 1,
            "overwrite": True,
            "print_valid_sents": [],
        },
        "model": joey_model(cfg),
    }


# --- the two sides ---------------------------------------------------------------------------


def lock(locked: bool) -> list[str]:
    """The command prefix that runs a child under the CPU lock, or none where the caller holds
    the lock for it (`--side-by-side`)."""
    return ["flock", str(LOCK)] if locked else []


@contextmanager
def holding_lock() -> Iterator[None]:
    """The CPU lock held by this process while the context is open."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def attnlab_locked(args: list[str], env: dict[str, str], stdout: Path, locked: bool = True) -> None:
    """`python -m attnlab ARGS` (under the CPU lock unless `locked` is False), stdout to a file;
    a failure stops here."""
    with stdout.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [*lock(locked), sys.executable, "-m", "attnlab", *args],
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"attnlab {' '.join(args[:2])}: {done.stderr.strip()[-300:]}")


def score(hyp_file: Path, data: Path) -> dict[str, Any]:
    hyps = hyp_file.read_text(encoding="utf-8").splitlines()
    refs = (data / "test.trg").read_text(encoding="utf-8").splitlines()
    scores = corpus_scores(hyps, refs)
    return {
        "test_bleu": scores["bleu"],
        "test_chrf": scores["chrf"],
        "signature": scores["signature"],
    }


def windows_mean(rates: list[float]) -> float:
    """tokens/s of a run: the mean of its logged windows after the first (which holds the
    warm-up, as real_quality.py reads it), or the first alone when there is one."""
    kept = rates[1:] or rates
    return sum(kept) / len(kept)


def train_attnlab(
    recipe: Path, args: argparse.Namespace, env: dict[str, str], out: Path, locked: bool
) -> dict[str, Any]:
    """Train the recipe for the budget; -> the training figures of its run."""
    run = out / "attnlab"
    overrides = {
        "data.dir": args.data,
        "training.max_minutes": args.minutes,
        "training.num_threads": args.threads,
        "training.eval_every": args.validation_freq,
        "training.log_every": min(50, args.validation_freq),
        "training.seed": args.seed,
    }
    sets = [item for key, value in overrides.items() for item in ("--set", f"{key}={value}")]
    load_before = load_average()
    train = ["train", str(recipe), "--out", str(run), *sets]
    attnlab_locked(train, env, out / "attnlab-train.out", locked)
    load_after = load_average()
    summary = summarise_run(run)
    return {
        "tokens_per_s": windows_mean([e["tokens_per_s"] for e in log_entries(run, "train")]),
        "steps": summary["steps"],
        "minutes": summary["train_seconds"] / 60,
        "parameters": summary["parameters"],
        "best_dev_bleu": summary["best_dev_bleu"],
        "averaged_dev_bleu": summary["averaged_dev_bleu"],
        "schedule_at_budget": SCHEDULES["attnlab"],
        "load_before": load_before,
        "load_after": load_after,
        "run": str(run),
    }


def test_attnlab(run: Path, args: argparse.Namespace, env: dict[str, str], out: Path) -> dict:
    """Translate the test split with the run's best.pt and score it."""
    hyp = out / "attnlab-test.hyp"
    test_src = str(args.data / "test.src")
    decode = ["--beam", str(BEAM), "--length-penalty", str(LENGTH_PENALTY)]
    decode += ["--batch-size", str(DECODE_BATCH)]
    attnlab_locked(["translate", str(run / "best.pt"), "--input", test_src, *decode], env, hyp)
    return score(hyp, args.data)


def train_joey(
    command: list[str],
    env: dict[str, str],
    log: Path,
    budget_s: float,
    model_dir: Path,
    locked: bool,
) -> float:
    """Run JoeyNMT's training (under the CPU lock unless `locked` is False) and stop it with
    SIGTERM at the budget (or at its first checkpoint after it); -> seconds from its "EPOCH 1"
    line to the stop."""
    with log.open("w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            [*lock(locked), *command],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: flock and JoeyNMT stop together
        )
    started = None
    try:
        while process.poll() is None:
            time.sleep(0.5)
            if started is None and re.search(r"EPOCH 1$", log.read_text(encoding="utf-8"), re.M):
                started = time.perf_counter()
            spent = started is not None and time.perf_counter() - started >= budget_s
            if spent and (model_dir / "best.ckpt").exists():
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
                return time.perf_counter() - started
    finally:  # an interrupted benchmark leaves no JoeyNMT behind
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
    tail = " | ".join(log.read_text(encoding="utf-8").strip().splitlines()[-5:])
    raise RuntimeError(f"JoeyNMT training ended by itself before the budget ({log}): {tail}")


def parse_joey_log(log: str) -> dict[str, Any]:
    """Parameters, last logged step and training tokens/s (windows_mean) from JoeyNMT's log."""
    windows = re.findall(r"Step: +(\d+), Batch Loss: .*Tokens per Sec: +(\d+)", log)
    params = re.search(r"Total params: (\d+)", log)
    if not windows or params is None:
        raise RuntimeError("the JoeyNMT log has no step line or no parameter count")
    return {
        "parameters": int(params[1]),
        "steps": int(windows[-1][0]),
        "tokens_per_s": windows_mean([float(rate) for _, rate in windows]),
    }


def train_joeynmt(
    cfg: Config,
    sp: dict[str, Path],
    args: argparse.Namespace,
    env: dict[str, str],
    out: Path,
    locked: bool,
) -> dict[str, Any]:
    """Train JoeyNMT's nearest config for the budget; -> the training figures of its run."""
    model_dir = out / "joeynmt"
    train_cfg = joey_train_config(cfg, args.data, sp, model_dir, args.validation_freq, args.seed)
    cfg_path = write_yaml(train_cfg, out / "joeynmt-train.yaml")
    load_before = load_average()
    log = out / "joeynmt-train.out"
    command = [str(_venv_python(args.venv)), "-m", "joeynmt", "train", str(cfg_path), "--skip-test"]
    seconds = train_joey(command, env, log, 60 * args.minutes, model_dir, locked)
    load_after = load_average()
    return {
        **parse_joey_log(log.read_text(encoding="utf-8")),
        "minutes": seconds / 60,
        "best_checkpoint_step": int((model_dir / "best.ckpt").resolve().stem),
        "schedule_at_budget": SCHEDULES["joeynmt"],
        "load_before": load_before,
        "load_after": load_after,
        "run": str(model_dir),
        "train_config": train_cfg,
    }


def test_joeynmt(train_cfg: dict, args: argparse.Namespace, env: dict[str, str], out: Path) -> dict:
    """Decode the test split with JoeyNMT's best.ckpt and score it."""
    test_cfg = test_config(train_cfg, args.data, BEAM, checkpoint="best.ckpt")
    test_cfg["testing"]["beam_alpha"] = LENGTH_PENALTY
    test_path = write_yaml(test_cfg, out / "joeynmt-test.yaml")
    prefix = out / "joeynmt-test"
    run_locked(
        [str(_venv_python(args.venv)), "-m", "joeynmt", "test", str(test_path), "-o", str(prefix)],
        env,
        out / "joeynmt-test.out",
    )
    return score(Path(f"{prefix}.test"), args.data)


def compare(name: str, args: argparse.Namespace, env: dict[str, str], console: Console) -> dict:
    """One recipe: both trainings (one after the other, attnlab first, its pieces given to
    JoeyNMT; or with `--side-by-side` at once, on pieces fitted first), then both tests."""
    out = args.out / name
    shutil.rmtree(out, ignore_errors=True)  # a fresh run: neither toolkit resumes an old one
    out.mkdir(parents=True)
    cfg = load_config(RECIPES[name], [f"data.dir={args.data}"])
    if args.side_by_side:
        sp = write_sentencepiece(fitted_tokenizers(cfg), out / "sp")
        console.print(
            f"[dim]{name}: attnlab and JoeyNMT side by side, {args.minutes} min ...[/dim]"
        )
        with holding_lock(), ThreadPoolExecutor(max_workers=2) as pool:
            ours = pool.submit(train_attnlab, RECIPES[name], args, env, out, False)
            theirs = pool.submit(train_joeynmt, cfg, sp, args, env, out, False)
            attnlab_side, joey_side = ours.result(), theirs.result()
        run_pieces = checkpoint_tokenizers(Path(attnlab_side["run"]) / "best.pt")
        fitted = [path.read_bytes() for path in (sp["src_model"], sp["trg_model"])]
        if [tokenizer.model_proto for tokenizer in run_pieces] != fitted:
            raise RuntimeError(f"{name}: attnlab's run fitted other SentencePiece models")
    else:
        console.print(f"[dim]{name}: attnlab, {args.minutes} min ...[/dim]")
        attnlab_side = train_attnlab(RECIPES[name], args, env, out, True)
        tokenizers = checkpoint_tokenizers(Path(attnlab_side["run"]) / "best.pt")
        sp = write_sentencepiece(tokenizers, out / "sp")
        console.print(f"[dim]{name}: JoeyNMT, {args.minutes} min ...[/dim]")
        joey_side = train_joeynmt(cfg, sp, args, env, out, True)
    attnlab_side |= test_attnlab(Path(attnlab_side["run"]), args, env, out)
    joey_side |= test_joeynmt(joey_side.pop("train_config"), args, env, out)
    pieces = {
        side: sum(1 for _ in sp[f"{side}_vocab"].open(encoding="utf-8")) for side in ("src", "trg")
    }
    return {
        "recipe": str(RECIPES[name].relative_to(ROOT)),
        "side_by_side": args.side_by_side,
        "sentencepiece": {key: str(path) for key, path in sp.items()} | {"pieces": pieces},
        "attnlab": attnlab_side,
        "joeynmt": joey_side,
    }


# --- report ----------------------------------------------------------------------------------


def table(results: dict[str, dict], minutes: float, threads: int) -> Table:
    out = Table(
        title=f"bible-en-fr, {minutes:g} min each, {threads} CPU thread(s): test split, beam 5"
    )
    columns = ["model", "toolkit", "params", "steps", "minutes", "tok/s", "BLEU", "chrF"]
    for column in columns:
        out.add_column(column, justify="left" if column in ("model", "toolkit") else "right")
    for name, result in results.items():
        if "error" in result:
            out.add_row(name, "error", result["error"], "", "", "", "", "")
            continue
        for toolkit in ("attnlab", "joeynmt"):
            r = result[toolkit]
            out.add_row(
                name,
                toolkit,
                f"{r['parameters']:,}",
                f"{r['steps']:,}",
                f"{r['minutes']:.1f}",
                f"{r['tokens_per_s']:,.0f}",
                f"{r['test_bleu']:.2f}",
                f"{r['test_chrf']:.2f}",
            )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60, help="training minutes per side")
    parser.add_argument("--models", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of each toolkit")
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="train both toolkits at once (each on --threads; 1 on a 2-core machine)",
    )
    parser.add_argument(
        "--validation-freq",
        type=int,
        help=f"K: dev evaluation and checkpoint every K updates on both sides "
        f"(default {DEFAULT_FREQ}; {SMOKE_FREQ} when --minutes < {SMOKE_MINUTES})",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=BENCH / "bible-en-fr",
        help="`attnlab data make bible-en-fr --out DIR` (made there if missing)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=BENCH / "joey-bible",
        help="runs and logs (OUT/NAME is emptied first)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="default: benchmarks/results/joeynmt_bible-<M>min.json (smoke budgets: bench-out/)",
    )
    parser.add_argument("--seed", type=int, default=42, help="training seed of both sides")
    parser.add_argument("--venv", type=Path, default=BENCH / "joey-venv")
    parser.add_argument("--wheel", type=Path, help="a local JoeyNMT 2.3.0 wheel (default: pip's)")
    parser.add_argument(
        "--plain-env",
        action="store_true",
        help="no GOMP_SPINCOUNT/MALLOC_* settings in the children",
    )
    args = parser.parse_args(argv)
    if args.validation_freq is None:
        args.validation_freq = SMOKE_FREQ if args.minutes < SMOKE_MINUTES else DEFAULT_FREQ
    if args.json is None:  # a smoke run's figures are not results
        folder = BENCH if args.minutes < SMOKE_MINUTES else ROOT / "benchmarks" / "results"
        args.json = folder / f"joeynmt_bible-{args.minutes:g}min.json"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.data, args.out, args.venv = args.data.resolve(), args.out.resolve(), args.venv.resolve()
    console = Console(width=140)
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    if not (args.data / "train.src").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "attnlab",
                "data",
                "make",
                "bible-en-fr",
                "--out",
                str(args.data),
            ],
            check=True,
        )
    versions = ensure_venv(args.venv, args.wheel, console)
    env = child_env(args.threads, args.plain_env)
    started = time.time()
    results = {}
    for name in args.models:
        try:
            results[name] = compare(name, args, env, console)
        except (RuntimeError, subprocess.CalledProcessError) as error:
            results[name] = {"error": str(error)[-300:]}
    console.print(table(results, args.minutes, args.threads))
    report = {
        "benchmark": "joeynmt_bible",
        "minutes": args.minutes,
        "threads": args.threads,
        "side_by_side": args.side_by_side,
        "validation_freq": args.validation_freq,
        "seed": args.seed,
        "decoding": {
            "beam": BEAM,
            "length_penalty": LENGTH_PENALTY,
            "batch_sentences": DECODE_BATCH,
        },
        "data": str(args.data),
        "versions": versions | {"attnlab": __version__},
        "machine": {"cpu": platform.machine(), "cores": os.cpu_count()},
        "environment": {
            key: env.get(key) for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT")
        },
        "started_at": started,
        "wall_s": time.time() - started,
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.json}")
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
