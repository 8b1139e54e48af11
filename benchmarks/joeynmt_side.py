"""JoeyNMT 2.3 itself on the reverse task, measured here, beside benchmarks/throughput.py.

    python benchmarks/joeynmt_side.py [--venv DIR] [--data DIR] [--threads 2] [--updates 471]
                                      [--json out.json] [--models gru-bahdanau transformer-small]
                                      [--out DIR] [--repeat 2] [--plain-env]

Setup (untimed): JoeyNMT lives in its own venv (`--venv`, default bench-out/joey-venv),
made with `python -m venv --system-site-packages` so that it reuses the installed torch (a
pip-resolved torch would be a multi-GB CUDA build: everything is installed with --no-deps,
and the script stops if the venv's torch is not the system's). Into it go the JoeyNMT wheel
(`--wheel`) and, one by one and only where the import fails, the pure-python modules that
JoeyNMT imports on the train/test path (PURE_DEPS, pinned to versions of JoeyNMT 2.3's time);
the compiled ones (torch, numpy, sentencepiece, matplotlib, tensorboard) must already be there.
Patches (PATCHES, idempotent, in the venv's copy): JoeyNMT passes `verbose=False` to
ReduceLROnPlateau, which this torch rejects, so joeynmt/builders.py loses that argument; its
SentencePiece tokenizer calls SetVocabulary, which sentencepiece 0.2.3 no longer has, so
joeynmt/tokenizers.py calls it only where it exists (the restriction to JoeyNMT's vocabulary
is then skipped: it restricts nothing when the vocabulary holds every piece, as
joeynmt_bible.py's does). They change nothing else in JoeyNMT.

For each model, JoeyNMT YAML configs that match configs/NAME.yaml (CONFIGS below), then:
  1. training: `python -m joeynmt train cfg.yaml --skip-test` on the `--data` reverse-task
     folder (`attnlab data make reverse`), batches of 64 sentences (batch_type sentence,
     shuffled), `--updates` updates (471 = 3 epochs of 157 batches of the 10,000 pairs), no
     validation (validation_freq far beyond the run). tokens/s = target tokens (non-pad, </s>
     included: JoeyNMT's batch.ntokens) / seconds of JoeyNMT's training loop, both read from
     its log: each finished epoch logs "num. of tokens: N, T[sec]" (T is the loop's time,
     data loading included, validation excluded). When the updates end inside an epoch, that
     epoch's part is the one logged window (logging_freq = updates) "Tokens per Sec: R",
     times its length (log timestamps "EPOCH k" -> the step line). train_cpu_s is the CPU time
     of the whole train process (start-up, vocabulary, checkpoint included).
  2. decoding: `python -m joeynmt test` with a config that names only the test set (500
     sentences) and the last checkpoint, greedy and beam 5, batches of 64 sentences; seconds
     are JoeyNMT's own "Generation took T[sec]" (batching and search; model loading, data
     loading and detokenising excluded), best of `--repeat` processes.
  3. test BLEU: sacreBLEU (defaults, as attnlab's corpus_bleu) of the written hypotheses
     against test.trg.
Every timed process runs under `flock bench-out/cpu.lock` (this machine is shared; timed
runs of other users take the same lock); the load average is read once the lock is held
(load before: the training process; after: the last decoding process).

Threads and environment: OMP_NUM_THREADS = MKL_NUM_THREADS = `--threads` (JoeyNMT sets no
thread count itself; torch takes OMP_NUM_THREADS). The children also get the environment that
`import attnlab` gives throughput.py's children, unless set already or `--plain-env`:
GOMP_SPINCOUNT=3000 (OpenMP spin before sleeping) and glibc's MALLOC_MMAP_THRESHOLD_ /
MALLOC_TRIM_THRESHOLD_ = 1 GiB (attnlab sets those with mallopt; as environment variables
glibc may cap them). The JSON records what was used.

Not matched (JoeyNMT 2.3 has no option for it):
  * Batching: JoeyNMT's "sentence" batches are random 64-sentence batches; throughput.py
    uses attnlab's token-budget batches of about 64 sentences (1,536 padded positions with
    batches of one length, 2,624 with random ones). Both count non-pad tokens.
  * GRU+Bahdanau: JoeyNMT's recurrent decoder runs the GRU first and attends with the new state
    (Luong order), feeds the previous attentional vector back (input feeding) and predicts
    from tanh(W [s_i; c_i]); ours attends with s_{i-1} before the GRU (Bahdanau et al.) and
    predicts from W_o [s_i; c_i; y_{i-1}]. Attention size = decoder hidden size (128) in both;
    the decoder's initial state is a tanh bridge of the encoder's final states in JoeyNMT.
  * LSTM+Luong (joeynmt_bible.py, joeynmt_steps.py): the same decoder (an LSTM step, then the
    general score h_t^T W_a h_s, h~_t = tanh(W_c [c_t; h_t]) fed back, output from h~_t);
    JoeyNMT's output layer has no bias and its W_c has one (ours: the reverse); its first
    memory cell equals its first hidden state, the tanh bridge of the encoder's final state,
    where ours is W_m of the encoder's final memory cell (models/seq2seq.Bridge).
  * Transformer: JoeyNMT's output layer has no bias and its positional encoding has no length
    limit (ours: max_positions 256); otherwise the same (pre-LN, sqrt(d)-scaled embeddings,
    decoder input embedding tied to the output layer, sinusoidal positions, dropout 0).
  * Schedules: noam is matched exactly (learning_rate_factor = lr * sqrt(d_model * warmup),
    so JoeyNMT's rate peaks at lr after `warmup` steps like ours); plateau only steps at
    validations, which neither side runs here, so lr is constant 0.002 on both sides.
  * Decoding length limit: JoeyNMT 1.5 x the longest source of the batch (max_output_length
    -1); ours 1.5 x source + 10 per sentence. Length penalty: beam_alpha 1.0 is the GNMT
    penalty of ours (alpha 1.0).
  * Initialisation follows each toolkit's defaults (JoeyNMT: Xavier uniform); seeds differ in
    effect, so BLEU after 3 epochs is comparable only roughly (see README's remark on it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml
from common import make_reverse_task
from rich.console import Console
from rich.table import Table

import attnlab
from attnlab.metrics import corpus_bleu

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench-out"  # git-ignored, like throughput.py's
LOCK = BENCH / "cpu.lock"  # timed runs never overlap, with each other or with other jobs
JOEYNMT = "joeynmt==2.3.0"  # what --wheel falls back to when the file is not there
BATCH_SENTENCES = 64
# (module JoeyNMT imports, pip requirement installed with --no-deps when the import fails).
PURE_DEPS = [
    ("yaml", "pyyaml==6.0.1"),
    ("packaging", "packaging==23.2"),
    ("tqdm", "tqdm==4.66.1"),
    ("zipp", "zipp==3.17.0"),
    ("importlib_metadata", "importlib-metadata==6.8.0"),
    ("subword_nmt", "subword-nmt==0.3.8"),
    ("portalocker", "portalocker==2.8.2"),
    ("regex", "regex==2023.10.3"),
    ("tabulate", "tabulate==0.9.0"),
    ("colorama", "colorama==0.4.6"),
    ("sacrebleu", "sacrebleu==2.3.1"),
    ("six", "six==1.16.0"),
    ("wrapt", "wrapt==1.16.0"),
]
COMPILED_DEPS = ["torch", "numpy", "sentencepiece", "matplotlib", "tensorboard", "lxml"]
# (file in the joeynmt package, text, its replacement, what the change does)
PATCHES = [
    ("builders.py", '"verbose": False,', "", "ReduceLROnPlateau without verbose="),
    (
        "tokenizers.py",
        "self.spm.SetVocabulary(vocab._itos)",
        'getattr(self.spm, "SetVocabulary", lambda _: None)(vocab._itos)',
        "SetVocabulary only where sentencepiece still has it",
    ),
]


def _data(data: Path) -> dict:
    lang = {
        "level": "word",
        "lowercase": False,
        "normalize": False,
        "max_length": 100,  # the reverse task's sentences have at most 40 words: none dropped
        "min_length": 1,
        "voc_min_freq": 1,
        "voc_limit": 10_000,
    }
    return {
        "train": str(data / "train"),
        "dev": str(data / "dev"),
        "test": str(data / "test"),
        "dataset_type": "plain",
        "src": {"lang": "src", **lang},
        "trg": {"lang": "trg", **lang},
    }


def recurrent_model(
    cell: str,
    attention: str,
    embedding: int,
    hidden: int,
    dropout: float,
    embedding_dropout: float,
    bidirectional: bool,
) -> dict:
    """JoeyNMT's recurrent encoder-decoder, one layer each side: `cell` gru or lstm, `attention`
    bahdanau (additive) or luong (general, bilinear); input feeding and a tanh bridge of the
    encoder's final states to the decoder's first state (JoeyNMT's recurrent decoder)."""
    emb = {"embedding_dim": embedding, "scale": False, "dropout": embedding_dropout}
    return {
        "initializer": "xavier_uniform",
        "encoder": {
            "type": "recurrent",
            "rnn_type": cell,
            "embeddings": emb,
            "hidden_size": hidden,
            "bidirectional": bidirectional,
            "num_layers": 1,
            "dropout": dropout,
        },
        "decoder": {
            "type": "recurrent",
            "rnn_type": cell,
            "embeddings": emb,
            "hidden_size": hidden,
            "num_layers": 1,
            "dropout": dropout,
            "hidden_dropout": dropout,
            "attention": attention,
            "input_feeding": True,
            "init_hidden": "bridge",
        },
    }


def transformer_model(
    layers: int, heads: int, d_model: int, ff: int, dropout: float, tied_embeddings: bool
) -> dict:
    """JoeyNMT's pre-LN Transformer, sqrt(d)-scaled embeddings, the decoder's input embedding
    tied to the output layer; `tied_embeddings` also ties the source embedding (one vocabulary)."""
    side = {
        "type": "transformer",
        "num_layers": layers,
        "num_heads": heads,
        "embeddings": {"embedding_dim": d_model, "scale": True, "dropout": dropout},
        "hidden_size": d_model,
        "ff_size": ff,
        "dropout": dropout,
        "layer_norm": "pre",
    }
    return {
        "initializer": "xavier_uniform",
        "tied_embeddings": tied_embeddings,
        "tied_softmax": True,
        "encoder": dict(side),
        "decoder": dict(side),
    }


def _gru_model() -> dict:
    """configs/gru-bahdanau.yaml: emb 64, bidirectional GRU 128, GRU 128 + additive attention."""
    return recurrent_model(
        "gru", "bahdanau", 64, 128, 0.1, embedding_dropout=0.1, bidirectional=True
    )


def _transformer_model() -> dict:
    """configs/transformer-small.yaml: 2+2 layers, d 128, 4 heads, FFN 512, pre-LN, no dropout."""
    return transformer_model(2, 4, 128, 512, dropout=0.0, tied_embeddings=False)


# name -> (model section, optimizer/schedule part of the training section)
CONFIGS = {
    "gru-bahdanau": (
        _gru_model,
        {"learning_rate": 0.002, "scheduling": "plateau", "decrease_factor": 0.5, "patience": 2},
    ),
    "transformer-small": (
        _transformer_model,
        {
            "learning_rate": 0.002,
            "scheduling": "noam",
            "learning_rate_warmup": 400,
            # JoeyNMT: factor * d^-0.5 * min(n^-0.5, n w^-1.5); peak at n = w is lr when
            # factor = lr * sqrt(d * w) (ours: lr * min(n / w, sqrt(w / n)), the same curve).
            "learning_rate_factor": 0.002 * math.sqrt(128 * 400),
        },
    ),
}


def joey_config(
    name: str, data: Path, model_dir: Path, updates: int, n_train: int, seed: int
) -> dict:
    """The training config: epochs and updates such that the log gives every epoch's time."""
    model, schedule = CONFIGS[name]
    per_epoch = math.ceil(n_train / BATCH_SENTENCES)
    epochs = math.ceil(updates / per_epoch)
    # An update limit that ends training exactly at an epoch's end would skip that epoch's
    # summary line; when the updates are whole epochs, let the epoch count end it instead.
    max_updates = updates if updates % per_epoch else updates + 1
    return {
        "name": f"joeynmt-side-{name}",
        "joeynmt_version": "2.3.0",
        "model_dir": str(model_dir),
        "use_cuda": False,
        "fp16": False,
        "random_seed": seed,
        "data": _data(data),
        "testing": {"batch_size": BATCH_SENTENCES, "batch_type": "sentence"},
        "training": {
            "optimizer": "adam",
            "adam_betas": [0.9, 0.999],
            "learning_rate_min": 1.0e-8,
            **schedule,
            "loss": "crossentropy",
            "label_smoothing": 0.0,
            "normalization": "tokens",
            "clip_grad_norm": 1.0,
            "batch_size": BATCH_SENTENCES,
            "batch_type": "sentence",
            "shuffle": True,
            "epochs": epochs,
            "updates": max_updates,
            "logging_freq": updates,
            "validation_freq": updates * 1000,
            "early_stopping_metric": "bleu",
            "keep_best_ckpts": 1,
            "overwrite": True,
            "print_valid_sents": [],
        },
        "model": model(),
    }


def test_config(train_cfg: dict, data: Path, beam: int, checkpoint: str = "latest.ckpt") -> dict:
    """Decode the test set only (no train/dev paths), with `checkpoint` of the model folder."""
    cfg = json.loads(json.dumps(train_cfg))
    cfg["data"].pop("train")
    cfg["data"].pop("dev")
    cfg["data"]["test"] = str(data / "test")
    cfg["testing"] = {
        "load_model": str(Path(cfg["model_dir"]) / checkpoint),
        "batch_size": BATCH_SENTENCES,
        "batch_type": "sentence",
        "beam_size": beam,
        "beam_alpha": 1.0 if beam > 1 else -1,
        "max_output_length": -1,
        "eval_metrics": ["bleu"],
    }
    return cfg


# --- the venv -------------------------------------------------------------------------------


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _imports(venv: Path, module: str) -> bool:
    done = subprocess.run(
        [str(_venv_python(venv)), "-c", f"import {module}"], capture_output=True, check=False
    )
    return done.returncode == 0


def _pip(venv: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "pip"), "install", "--no-deps", *args], check=True)


def ensure_venv(venv: Path, wheel: Path | None, console: Console) -> dict[str, str]:
    """Make/complete the JoeyNMT venv (see the module docstring); -> versions found in it."""
    if not _venv_python(venv).exists():
        console.print(f"[dim]creating {venv} ...[/dim]")
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True
        )
    if not _imports(venv, "joeynmt"):
        _pip(venv, str(wheel) if wheel else JOEYNMT)
    missing = [module for module in COMPILED_DEPS if not _imports(venv, module)]
    if missing:
        raise SystemExit(f"not installed (compiled, not installed by this script): {missing}")
    for module, requirement in PURE_DEPS:
        if not _imports(venv, module):
            console.print(f"[dim]installing {requirement} (--no-deps)[/dim]")
            _pip(venv, requirement)
    probe = (
        "import json, joeynmt, joeynmt.builders as b, torch;"
        "print(json.dumps({'torch': torch.__version__, 'joeynmt': joeynmt.__version__,"
        "'torch_file': torch.__file__, 'builders': b.__file__}))"
    )
    out = subprocess.run(
        [str(_venv_python(venv)), "-c", probe], capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    import torch  # the system's: the venv must see this very installation

    if found["torch"] != torch.__version__:
        raise SystemExit(f"venv torch {found['torch']} is not the system's {torch.__version__}")
    package = Path(found["builders"]).parent
    for name, old, new, note in PATCHES:
        text = (package / name).read_text(encoding="utf-8")
        if old in text:
            (package / name).write_text(text.replace(old, new), encoding="utf-8")
            console.print(f"[dim]patched {package / name}: {note}[/dim]")
    return {"torch": found["torch"], "joeynmt": found["joeynmt"], "torch_file": found["torch_file"]}


# --- running JoeyNMT ------------------------------------------------------------------------


def child_env(threads: int, plain: bool) -> dict[str, str]:
    """JoeyNMT's environment: the settings `import attnlab` applied here (attnlab.APPLIED_ENV),
    or with `plain` none of them (libgomp's and glibc's defaults)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    for name, value in attnlab.APPLIED_ENV.items():
        if plain:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_locked(command: list[str], env: dict[str, str], log: Path) -> tuple[str, str, float]:
    """`command` under flock LOCK; -> (its output, load average once locked, its CPU seconds)."""
    shell = 'echo "LOADAVG $(cut -d" " -f1-3 /proc/loadavg)"; exec "$@"'
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        ["flock", str(LOCK), "sh", "-c", shell, "sh", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log.write_text(done.stdout, encoding="utf-8")
    if done.returncode != 0:
        tail = done.stdout.strip().splitlines()[-5:]
        raise RuntimeError(f"{' '.join(command[:4])} failed ({log}): " + " | ".join(tail))
    load = re.search(r"^LOADAVG (.*)$", done.stdout, re.M)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return done.stdout, load.group(1) if load else "", cpu


def _stamp(line: str) -> float:
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def parse_training(log: str) -> dict:
    """Tokens and seconds of JoeyNMT's training loop from its log (module docstring)."""
    summaries = re.findall(
        r"Epoch +(\d+), total training loss: [^,]+, num\. of seqs: \d+, "
        r"num\. of tokens: (\d+), ([\d.]+)\[sec\]",
        log,
    )
    tokens = sum(int(n) for _, n, _ in summaries)
    seconds = sum(float(t) for _, _, t in summaries)
    lines = log.splitlines()
    steps = [line for line in lines if re.search(r"Epoch +\d+, Step: +\d+,", line)]
    if not steps:
        raise RuntimeError("no step line in the JoeyNMT log")
    last = steps[-1]
    m = re.search(
        r"Epoch +(\d+), Step: +(\d+), Batch Loss: +([\d.]+).*Tokens per Sec: +(\d+)", last
    )
    assert m is not None, last
    epoch, step, loss, rate = int(m[1]), int(m[2]), float(m[3]), float(m[4])
    if epoch not in {int(e) for e, _, _ in summaries}:  # the updates ended inside this epoch
        start = next(line for line in lines if line.endswith(f"EPOCH {epoch}"))
        part = _stamp(last) - _stamp(start)
        tokens, seconds = tokens + round(rate * part), seconds + part
    params = re.search(r"Total params: (\d+)", log)
    return {
        "parameters": int(params[1]) if params else 0,
        "updates": step,
        "epochs": len(summaries) + (epoch not in {int(e) for e, _, _ in summaries}),
        "train_tokens": tokens,
        "train_s": seconds,
        "tokens_per_s": tokens / seconds,
        "final_loss": loss,
    }


def write_yaml(cfg: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def bench_model(name: str, args: argparse.Namespace, env: dict[str, str], console: Console) -> dict:
    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)
    n_train = len((args.data / "train.src").read_text(encoding="utf-8").splitlines())
    train_cfg = joey_config(name, args.data, out / "model", args.updates, n_train, args.seed)
    python = str(_venv_python(args.venv))
    cfg_path = write_yaml(train_cfg, out / "train.yaml")
    console.print(f"[dim]{name}: training {args.updates} updates (JoeyNMT) ...[/dim]")
    log, load_before, cpu = run_locked(
        [python, "-m", "joeynmt", "train", str(cfg_path), "--skip-test"], env, out / "train.out"
    )
    result = parse_training(log)
    result |= {"train_cpu_s": cpu, "load_before": load_before}
    refs = (args.data / "test.trg").read_text(encoding="utf-8").splitlines()
    for label, beam in (("greedy", 1), ("beam5", 5)):
        cfg_path = write_yaml(test_config(train_cfg, args.data, beam), out / f"test-{label}.yaml")
        times = []
        for run in range(args.repeat):
            console.print(f"[dim]{name}: decoding {label}, run {run + 1} ...[/dim]")
            hyp_prefix = out / f"hyp-{label}-{run}"
            log, load, _ = run_locked(
                [python, "-m", "joeynmt", "test", str(cfg_path), "-o", str(hyp_prefix)],
                env,
                out / f"test-{label}-{run}.out",
            )
            took = re.findall(r"Generation took ([\d.]+)\[sec\]", log)
            if len(took) != 1:
                raise RuntimeError(f"expected one 'Generation took' line, found {len(took)}")
            times.append(float(took[0]))
            hyps = Path(f"{hyp_prefix}.test").read_text(encoding="utf-8").splitlines()
            result[f"{label}_bleu"] = corpus_bleu(hyps, refs)
        result[f"{label}_s"] = min(times)
        result[f"{label}_runs_s"] = times
    result["load_after"] = load
    return result


# --- report ---------------------------------------------------------------------------------


def table(results: dict[str, dict], threads: int) -> Table:
    out = Table(title=f"JoeyNMT 2.3 measured here: reverse task, {threads} CPU thread(s)")
    columns = [
        "model",
        "params",
        "updates",
        "train tok/s",
        "greedy s",
        "beam5 s",
        "BLEU greedy/beam",
        "load",
    ]
    for column in columns:
        out.add_column(column, justify="left" if column == "model" else "right")
    for name, r in results.items():
        if "error" in r:
            out.add_row(name, "error", r["error"], "", "", "", "", "")
            continue
        out.add_row(
            name,
            f"{r['parameters']:,}",
            f"{r['updates']} ({r['epochs']} ep)",
            f"{r['tokens_per_s']:,.0f}",
            f"{r['greedy_s']:.2f}",
            f"{r['beam5_s']:.2f}",
            f"{r['greedy_bleu']:.1f} / {r['beam5_bleu']:.1f}",
            f"{r['load_before'].split()[0]}->{r['load_after'].split()[0]}",
        )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=BENCH / "joey-venv")
    parser.add_argument(
        "--wheel", type=Path, help=f"a local JoeyNMT 2.3.0 wheel (default: pip's {JOEYNMT})"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=BENCH / "reverse",
        help="a folder made by `attnlab data make reverse --out DIR` (made there if missing)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=BENCH / "joey-side",
        help="configs, models, logs and hypotheses go here",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of JoeyNMT")
    parser.add_argument("--models", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--updates", type=int, default=471, help="training updates")
    parser.add_argument("--repeat", type=int, default=2, help="decoding runs (best is reported)")
    parser.add_argument("--seed", type=int, default=42, help="JoeyNMT's random_seed")
    parser.add_argument(
        "--plain-env",
        action="store_true",
        help="no GOMP_SPINCOUNT/MALLOC_* settings (libgomp and glibc defaults)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.data, args.out, args.venv = args.data.resolve(), args.out.resolve(), args.venv.resolve()
    if not (args.data / "train.src").exists():  # the data throughput.py makes by default
        make_reverse_task(args.data)
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    console = Console(width=140)
    versions = ensure_venv(args.venv, args.wheel, console)
    env = child_env(args.threads, args.plain_env)
    threads = subprocess.run(
        [str(_venv_python(args.venv)), "-c", "import torch; print(torch.get_num_threads())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    results = {}
    started = time.time()
    for name in args.models:
        try:
            results[name] = bench_model(name, args, env, console)
        except (RuntimeError, subprocess.CalledProcessError) as error:
            results[name] = {"error": str(error)[-200:]}
    console.print(table(results, args.threads))
    if args.json:
        report = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "versions": versions,
            "torch_threads_in_joeynmt": threads,
            "environment": {
                key: env.get(key)
                for key in (
                    "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS",
                    "OMP_WAIT_POLICY",
                    "GOMP_SPINCOUNT",
                    "MALLOC_MMAP_THRESHOLD_",
                    "MALLOC_TRIM_THRESHOLD_",
                )
            },
            "wall_s": time.time() - started,
        }
        args.json.write_text(json.dumps({**report, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
