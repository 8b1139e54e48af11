"""Training and decoding speed through the real code paths, and the BLEU they reach.

    python benchmarks/throughput.py [--json out.json] [--threads 2] [--updates 471]
                                    [--models gru-bahdanau transformer-small] [--out bench-out]
                                    [--set training.lr=0.002 ...]

For each model (configs/NAME.yaml, run in its own subprocess):
  1. training: `--updates` updates through the Trainer of `attnlab train` (make_batches ->
     collate -> Trainer.train_step: forward, loss, backward, clipping, optimizer and schedule)
     on the reverse task (`attnlab data make reverse`: 10,000 training pairs, lengths 5-40),
     with `--batch-tokens` padded positions a batch. The default gives about 64 sentences, the
     batch of JoeyNMT's reference run, so that 471 updates are about its 3 epochs: 1,536 for
     batches of one length (mean width 23.5), 2,624 = 64 x 41 for batches of mixed lengths
     (`training.batching: random`, padded to about the longest length, 40 + </s>). No validation.
     tokens/s = target tokens (non-pad, </s> included) / wall seconds of the update loop;
     train_cpu_s, the process CPU seconds of the loop, tells how much of the wall time was
     spent waiting for a core on a busy machine.
  2. decoding: the 500 test sentences through `Translator.translate` (tokenize, batches of 64,
     search, detokenize), greedy and beam 5; best of `--repeat` runs.
  3. test BLEU (sacreBLEU) of both outputs.

With `--joeynmt FILE` (the `--json` output of benchmarks/joeynmt_side.py, measured on this
machine) JoeyNMT 2.3's figures are printed beside ours as ratios; without it, none (figures
typed in from another machine are no comparison). Load averages are recorded.

Threads: the children inherit the OpenMP spin setting that `import attnlab` made here
(GOMP_SPINCOUNT=3000 unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set; README.md); the JSON
records it.
Left out: GPU runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import load_average, make_reverse_task, openmp_settings
from rich.console import Console
from rich.table import Table

from attnlab.config import load_config
from attnlab.data.batching import collate, make_batches
from attnlab.data.dataset import load_training_data
from attnlab.distributed import DistEnv
from attnlab.metrics import corpus_bleu
from attnlab.seeding import seed_everything
from attnlab.train import Trainer
from attnlab.translate import Translator

ROOT = Path(__file__).resolve().parent.parent

# padded positions a batch for about 64 sentences, by `training.batching` (see above)
BATCH_TOKENS = {"length": 1536, "random": 2624}


def train(trainer: Trainer, updates: int, batch_tokens: int, seed: int) -> dict:
    """`updates` Trainer.train_step calls over epochs of token-budget batches; timed."""
    tokens, seconds, losses, epoch, done = 0, 0.0, [], 0, 0
    cpu_start = time.process_time()
    by_length = trainer.cfg.batching == "length"
    while done < updates:
        for indices in make_batches(trainer.lengths, batch_tokens, seed, epoch, True, by_length):
            start = time.perf_counter()
            batch = collate([trainer.data.train_ids[i] for i in indices]).to(trainer.device)
            loss, n_tokens = trainer.train_step([batch])
            seconds += time.perf_counter() - start
            tokens, done = tokens + n_tokens, done + 1
            losses.append(loss / n_tokens)
            if done == updates:
                break
        epoch += 1
    return {
        "updates": done,
        "epochs": round(
            done / len(make_batches(trainer.lengths, batch_tokens, seed, 0, True, by_length)), 2
        ),
        "train_tokens": tokens,
        "train_s": seconds,
        "train_cpu_s": time.process_time() - cpu_start,
        "tokens_per_s": tokens / seconds,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
    }


def decode(translator: Translator, sources: list[str], refs: list[str], repeat: int) -> dict:
    """Seconds (best of `repeat`) and BLEU of greedy and beam-5 translation of `sources`."""
    out = {}
    for name, beam in (("greedy", 1), ("beam5", 5)):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            hyps = [t.text for t in translator.translate(sources, beam_size=beam, batch_size=64)]
            times.append(time.perf_counter() - start)
        out[f"{name}_s"] = min(times)
        out[f"{name}_bleu"] = corpus_bleu(hyps, refs)
    return out


def child(args: argparse.Namespace) -> dict:
    """One model: train, then decode the test set; runs in the subprocess."""
    torch.set_num_threads(args.threads)
    config = load_config(
        ROOT / "configs" / f"{args.child}.yaml",
        [
            *args.set,
            f"data.dir={args.data}",
            "training.device=cpu",
            f"training.num_threads={args.threads}",
        ],
    )
    seed_everything(config.training.seed)
    data = load_training_data(config.data)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, data, Path(run_dir), DistEnv(), torch.device("cpu"))
        load = load_average()
        batch_tokens = args.batch_tokens or BATCH_TOKENS[config.training.batching]
        result = train(trainer, args.updates, batch_tokens, config.training.seed)
        result["batch_tokens"] = batch_tokens
        trainer.model.eval()
        translator = Translator.from_encoders(trainer.model, data.encoders, config)
        sources = (args.data / "test.src").read_text(encoding="utf-8").splitlines()
        refs = (args.data / "test.trg").read_text(encoding="utf-8").splitlines()
        result |= decode(translator, sources, refs, args.repeat)
    params = sum(p.numel() for p in trainer.model.parameters())
    return {"parameters": params, "load_before": load, "load_after": load_average(), **result}


def run_child(name: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", name, "--data", str(args.data)]
    for option in ("threads", "updates", "batch_tokens", "repeat"):
        if getattr(args, option) is not None:
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    for override in args.set:
        command += ["--set", override]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measured_joeynmt(path: Path) -> dict[str, dict]:
    """JoeyNMT's figures from the JSON of benchmarks/joeynmt_side.py, by model name."""
    results = json.loads(path.read_text(encoding="utf-8"))["results"]
    return {
        name: {
            "tokens_per_s": r["tokens_per_s"],
            "greedy_s": r["greedy_s"],
            "beam5_s": r["beam5_s"],
            "bleu": f"{r['greedy_bleu']:.1f}/{r['beam5_bleu']:.1f}",
        }
        for name, r in results.items()
        if "error" not in r
    }


def table(results: dict[str, dict], threads: int, joeynmt: dict[str, dict], source: str) -> Table:
    out = Table(
        title=f"reverse task, {threads} CPU thread(s); (x) = ratio to JoeyNMT 2.3 ({source})"
    )
    columns = ["model", "params", "train tok/s", "greedy s", "beam5 s", "BLEU greedy/beam", "load"]
    for column in columns:
        out.add_column(column, justify="left" if column == "model" else "right")
    for name, r in results.items():
        if "error" in r:
            out.add_row(name, "error", r["error"], "", "", "", "")
            continue
        ref = joeynmt.get(name)

        def ratio(key: str, faster_is_bigger: bool, r: dict = r, ref: dict | None = ref) -> str:
            if ref is None:
                return ""
            x = r[key] / ref[key] if faster_is_bigger else ref[key] / r[key]
            return f" ({x:.1f}x)"

        out.add_row(
            name,
            f"{r['parameters']:,}",
            f"{r['tokens_per_s']:,.0f}{ratio('tokens_per_s', True)}",
            f"{r['greedy_s']:.2f}{ratio('greedy_s', False)}",
            f"{r['beam5_s']:.2f}{ratio('beam5_s', False)}",
            f"{r['greedy_bleu']:.1f} / {r['beam5_bleu']:.1f}"
            + (f" (Joey {ref['bleu']})" if ref else ""),
            f"{r['load_before'].split()[0]}->{r['load_after'].split()[0]}",
        )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--joeynmt", type=Path, help="JSON of benchmarks/joeynmt_side.py (default: no ratios)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--models", nargs="*", default=["gru-bahdanau", "transformer-small"])
    parser.add_argument("--updates", type=int, default=471, help="training updates")
    parser.add_argument(
        "--batch-tokens", type=int, help="padded positions a batch (default: about 64 sentences)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="decoding runs (best is reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out", help="data goes here")
    parser.add_argument("--data", type=Path, help="a reverse-task folder (default OUT/reverse)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    if args.data is None:
        args.data = args.out / "reverse"
        make_reverse_task(args.data)
    console = Console(width=140)
    results = {}
    for name in args.models:
        console.print(f"[dim]{name}: {args.updates} updates, then decoding ...[/dim]")
        results[name] = run_child(name, args)
    joeynmt = measured_joeynmt(args.joeynmt) if args.joeynmt else {}
    source = f"measured: {args.joeynmt}" if args.joeynmt else "none given: --joeynmt FILE"
    console.print(table(results, args.threads, joeynmt, source))
    if args.json:
        report = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "openmp": openmp_settings(),
            "joeynmt_reference": joeynmt,
        }
        args.json.write_text(json.dumps({**report, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
