"""Training tokens/s of attnlab and JoeyNMT 2.3 on identical batches at the Bible recipe sizes
(issue 18, item 3).

    python benchmarks/joeynmt_steps.py [--recipes gru-bahdanau lstm-luong transformer] [--threads 2]
        [--warmup 5] [--steps 30] [--rounds 2] [--data DIR] [--out DIR] [--json F]
        [--venv DIR] [--wheel F] [--plain-env] [--smoke]

For each recipe, configs/bible-en-fr/NAME.yaml (data.dir = `--data`, made by `attnlab data
make bible-en-fr` when missing):
  1. The batches, once (untimed): the recipe's tokenizers fitted as `attnlab train` fits them,
     and the first `--warmup` + `--steps` batches of its epoch 0 (its batch_tokens and
     batching, seed = training.seed; realistic_train.fixed_batches), written to
     OUT/NAME/batches.pt (src and trg_out of each batch) with the tokenizers. Later attnlab
     rounds read the tokenizers back, make the batches again and stop unless they equal the
     saved ones; JoeyNMT reads the saved ones.
  2. Rounds: attnlab and JoeyNMT, `--rounds` times (attnlab first in odd rounds, JoeyNMT
     first in even ones), each in its own process on `--threads`
     threads, every process under `flock bench-out/cpu.lock` (joeynmt_side.run_locked):
     - attnlab: `Trainer.train_step` on each batch (forward, loss with the recipe's label
       smoothing, backward, clipping, Adam (torch's fused implementation), zero_grad, the
       schedule's step);
     - JoeyNMT (joeynmt_steps_joey.py, in the venv of joeynmt_side.ensure_venv): the recipe's
       nearest JoeyNMT model (joeynmt_bible.joey_model) with vocabularies of the same sizes,
       and the step of JoeyNMT's train loop on the same tensors (<pad> and <unk> swapped to
       its ids; Adam, torch's default implementation, as JoeyNMT builds it), its batch object
       made before the clock.
     Both time the steps after the first `--warmup`; tokens/s = target tokens (non-pad, </s>
     included) / wall seconds of those steps. Every round must count the same target tokens
     (the batches are the same), or the script stops. Reported: the best
     round of each side and their ratio; every round is in the JSON.
  3. Against the matmul peak (matmul_peak.py): each process measures the float32 torch.mm peak
     (n = 2,048) on its threads before its steps, and counts the matmul FLOPs of its timed
     steps by running them again after the clock. Reported per side: the best round's
     fraction of its peak; and the fraction of attnlab's peak that 2x JoeyNMT's best tokens/s
     would take at attnlab's FLOPs per target token (above 1: out of reach for kernels in
     float32 at these sizes; only fewer FLOPs or lower precision would reach it). JoeyNMT's
     recurrent layers (nn.GRU / nn.LSTM) are not counted, so its RNN fractions are lower
     bounds; attnlab's fast kernels run every product as mm / bmm, all counted.

Not matched: the model differences listed in joeynmt_side.py's docstring (the GRU decoder's
order, input feeding and readout; the Transformer's output bias); word dropout (gru-bahdanau's
0.1 runs on attnlab's side only, JoeyNMT has none); the source's </s> (JoeyNMT's own data
loader appends one to every source, attnlab's sources have none, and both sides get attnlab's
here: JoeyNMT encodes one token a sentence fewer than in its own trainer); the learning-rate
schedule (attnlab's cosine steps, JoeyNMT's is not run: its lr stays at the recipe's peak,
which costs nothing). Recipes must use Adam without weight decay (the script stops otherwise).
`--smoke` runs tiny models (every recipe at d 32) for a test of the plumbing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from common import attnlab, load_average, write_report
from joeynmt_bible import joey_model
from joeynmt_side import BENCH, ROOT, child_env, ensure_venv, run_locked
from matmul_peak import counted_flops, matmul_peak, peak_fields
from realistic_train import fixed_batches, timed_steps
from rich.console import Console
from rich.table import Table

from attnlab.config import Config, load_config
from attnlab.data.dataset import Encoders, load_training_data
from attnlab.distributed import DistEnv
from attnlab.seeding import seed_everything
from attnlab.train import Trainer

RECIPES = ("gru-bahdanau", "lstm-luong", "transformer")
SMOKE = [
    "model.embedding_size=32", "model.hidden_size=32", "model.ff_size=64", "model.heads=2",
    "data.sp_vocab_size=300", "training.batch_tokens=400",
]  # fmt: skip


def recipe_config(name: str, data: Path, smoke: bool) -> Config:
    overrides = [f"data.dir={data}", *(SMOKE if smoke else [])]
    return load_config(ROOT / "configs" / "bible-en-fr" / f"{name}.yaml", overrides)


def attnlab_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One attnlab round (module docstring, 2.); the first also writes the batches (1.)."""
    torch.set_num_threads(spec["threads"])
    config = Config.model_validate(spec["config"])
    seed_everything(config.training.seed)
    batches_file = Path(spec["batches"])
    saved = torch.load(batches_file, weights_only=True) if batches_file.exists() else None
    encoders = None if saved is None else Encoders.from_state(saved["encoders"])
    data = load_training_data(config.data, encoders)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, data, Path(run_dir), DistEnv(), torch.device("cpu"))
        batches = fixed_batches(trainer, spec["warmup"] + spec["steps"])
        if saved is not None:  # a later round: the very batches of the first
            pairs = zip(batches, saved["src"], saved["trg_out"], strict=True)
            if not all(torch.equal(b.src, s) and torch.equal(b.trg_out, t) for b, s, t in pairs):
                raise RuntimeError(f"{batches_file}: this round made other batches")
        else:
            torch.save(
                {
                    "encoders": data.encoders.to_state(),
                    "src": [b.src for b in batches],
                    "trg_out": [b.trg_out for b in batches],
                },
                batches_file,
            )
        warmup, timed = batches[: spec["warmup"]], batches[spec["warmup"] :]
        peak = matmul_peak(spec["peak_size"])
        timed_steps(trainer, warmup)
        seconds, tokens = timed_steps(trainer, timed)
        flops = counted_flops(lambda: timed_steps(trainer, timed))
        return {
            "parameters": sum(p.numel() for p in trainer.model.parameters()),
            "vocab": [len(data.encoders.src_vocab), len(data.encoders.trg_vocab)],
            "steps": len(timed),
            "target_tokens": tokens,
            "seconds": seconds,
            "tokens_per_s": tokens / seconds,
            **peak_fields(flops, seconds, len(timed), peak),
        }


def child(
    side: str, command: list[str], spec: dict[str, Any], out: Path, env: dict[str, str]
) -> dict:
    """Run `command SPEC` under the CPU lock; -> its JSON line, with the load average."""
    spec_file = out / f"{side}-spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    log, load, _ = run_locked([*command, str(spec_file)], env, out / f"{side}.out")
    return json.loads(log.strip().splitlines()[-1]) | {"load_before": load}


def compare(name: str, args: argparse.Namespace, env: dict[str, str], console: Console) -> dict:
    """Both sides of one recipe, `--rounds` times (module docstring)."""
    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)
    batches = out / "batches.pt"
    batches.unlink(missing_ok=True)  # made anew by the first attnlab round
    config = recipe_config(name, args.data, args.smoke)
    steps = {
        "threads": args.threads,
        "warmup": args.warmup,
        "steps": args.steps,
        "peak_size": 256 if args.smoke else 2048,
    }
    attnlab_spec = {"config": config.model_dump(mode="json"), "batches": str(batches), **steps}
    here = Path(__file__).resolve().parent
    ours = [sys.executable, str(here / "joeynmt_steps.py"), "--child"]
    joey = [str(args.venv / "bin" / "python"), str(here / "joeynmt_steps_joey.py")]
    training = config.training
    if training.optimizer != "adam" or training.weight_decay:
        raise SystemExit(f"{name}: the JoeyNMT side runs Adam without weight decay only")
    rounds: dict[str, list[dict]] = {"attnlab": [], "joeynmt": []}

    def run(side: str, k: int) -> None:
        console.print(f"[dim]{name}: round {k + 1}, {side} ...[/dim]")
        if side == "attnlab":
            rounds[side].append(child(side, ours, attnlab_spec, out, env))
        else:
            rounds[side].append(child(side, joey, joey_spec, out, env))

    run("attnlab", 0)  # writes the batches, and gives the vocabulary sizes
    src_vocab, trg_vocab = rounds["attnlab"][0]["vocab"]
    joey_spec = {
        "batches": str(batches),
        "model": joey_model(config),
        "src_vocab": src_vocab,
        "trg_vocab": trg_vocab,
        "joint": config.data.joint_vocab,
        "label_smoothing": training.label_smoothing,
        "lr": training.lr,
        "clip_norm": training.clip_norm,
        "seed": training.seed,
        **steps,
    }
    run("joeynmt", 0)
    for k in range(1, args.rounds):
        for side in ("joeynmt", "attnlab") if k % 2 else ("attnlab", "joeynmt"):
            run(side, k)
    counts = {r["target_tokens"] for runs in rounds.values() for r in runs}
    if len(counts) != 1:  # the batches were not the same on both sides
        raise RuntimeError(f"{name}: the rounds counted different target tokens: {counts}")
    rates = {side: [r["tokens_per_s"] for r in runs] for side, runs in rounds.items()}
    fastest = {side: max(runs, key=lambda r: r["tokens_per_s"]) for side, runs in rounds.items()}
    best = {side: r["tokens_per_s"] for side, r in fastest.items()}
    ours = fastest["attnlab"]
    gflop_per_token = ours["gflop_per_step"] * ours["steps"] / ours["target_tokens"]
    return {
        "rounds": rounds,
        "best_tokens_per_s": best,
        "median_tokens_per_s": {side: statistics.median(v) for side, v in rates.items()},
        "ratio_best": best["attnlab"] / best["joeynmt"],
        "fraction_of_peak_best": {side: r["fraction_of_peak"] for side, r in fastest.items()},
        "attnlab_fraction_of_peak_at_2x": (
            2 * best["joeynmt"] * gflop_per_token / ours["peak_gflop_per_s"]
        ),
        "parameters": {side: runs[0]["parameters"] for side, runs in rounds.items()},
        "target_tokens_per_round": rounds["attnlab"][0]["target_tokens"],
    }


def table(results: dict[str, dict], threads: int) -> Table:
    out = Table(title=f"training on identical batches, {threads} threads, fp32")
    columns = (
        "recipe", "attnlab tokens/s", "JoeyNMT tokens/s", "ratio", "attnlab of peak",
        "JoeyNMT of peak", "2x needs", "parameters",
    )  # fmt: skip
    for column in columns:
        out.add_column(column, justify="left" if column == "recipe" else "right")
    for name, r in results.items():
        best, params, peak = r["best_tokens_per_s"], r["parameters"], r["fraction_of_peak_best"]
        out.add_row(
            name,
            f"{best['attnlab']:,.0f}",
            f"{best['joeynmt']:,.0f}",
            f"{r['ratio_best']:.2f}x",
            f"{peak['attnlab']:.0%}",
            f"{peak['joeynmt']:.0%}",
            f"{r['attnlab_fraction_of_peak_at_2x']:.0%}",
            f"{params['attnlab']:,} / {params['joeynmt']:,}",
        )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bible-en-fr")
    parser.add_argument("--out", type=Path, default=BENCH / "joeynmt-steps")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/joeynmt_steps.json")
    parser.add_argument("--venv", type=Path, default=BENCH / "joey-venv")
    parser.add_argument("--wheel", type=Path)
    parser.add_argument("--plain-env", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny models: the plumbing only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    versions = ensure_venv(args.venv, args.wheel, console)
    if not (args.data / "train.src").exists():
        attnlab("data", "make", "bible-en-fr", "--out", str(args.data))
    env = child_env(args.threads, args.plain_env)
    load_before = load_average()
    results = {name: compare(name, args, env, console) for name in args.recipes}
    Console().print(table(results, args.threads))
    fields = {
        "versions": versions,
        "threads": args.threads,
        "warmup": args.warmup,
        "steps": args.steps,
        "rounds": args.rounds,
        "smoke": args.smoke,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "results": results,
    }
    write_report(args.json, "joeynmt_steps", fields)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":  # one attnlab round, from compare()
        print(json.dumps(attnlab_child(json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")))))
    else:
        sys.exit(main())
