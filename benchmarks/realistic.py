"""Speed at the sizes people train (issue 18): decoding against CTranslate2, training tokens/s
against the matmul peak, and where the time goes.

    pip install 'attnlab[export]'     # ctranslate2
    python benchmarks/realistic.py [--steps 300] [--from transformer-256=RUN ...] [--json F]
    python benchmarks/realistic.py --quick          # tiny sizes, a smoke test (~1-2 minutes)

Models (the full sizes; `--quick` shrinks everything):
  transformer-256   d_model 256, 3+3 layers, 4 heads, FFN 1024, pre-LN, embeddings tied three
                    ways, one SentencePiece (unigram) vocabulary of 8,000 for both sides
  transformer-512   the same with d_model 512, 8 heads, FFN 2048 (Transformer-base widths,
                    3+3 layers)
  gru-bahdanau      configs/bible-en-fr/gru-bahdanau.yaml as it is (its own SentencePiece 2,000
                    per side); training only: CTranslate2 has no RNN decoder
  lstm-luong        configs/bible-en-fr/lstm-luong.yaml as it is; training only
  lstm-luong-reference  the same with model.kernels=reference: what its fused loops give
Both Transformers start from configs/bible-en-fr/transformer.yaml (lr, schedule, batch_tokens
3,000, max_len 100) and are trained `--steps` updates on the embedded bible-en-fr (`attnlab
data make bible-en-fr`) with `attnlab train`'s code, warm-up steps/5 then cosine, dev loss only,
so that their outputs are not degenerate; `--from NAME=RUN` uses RUN/best.pt instead, and a
run left in WORK/runs/NAME by an earlier invocation is reused. Each is written for CTranslate2
with attnlab's exporter (`attnlab export --to ctranslate2`).

Decoding, identical for both engines: the first `--sentences` test verses (empty ones skipped),
tokenized once, truncated to the position table, sorted by length (stable), cut into batches of
`--batch-size`; the batches are written once to a file that both engines read, and go in the
same order. Each batch has one length limit, L = int(ratio * longest source) + offset
(decoding.max_len_ratio / max_len_offset of the checkpoint, 1.5 and 10), at most
max_positions - 1. Searches: greedy, beam 5 with length penalty 0 and with length penalty 1;
realistic_decode.py states what each engine does at the limit and when each stops a beam. Each
engine runs in its own process, `--threads` threads (CTranslate2: intra_threads, inter_threads
1), float32 (CTranslate2 int8 as a reference row); a warm-up batch, then best of `--repeat`;
with `--rounds` > 1 the processes alternate and the best of all rounds is kept. Reported:
seconds, ratio attnlab / CTranslate2 fp32, output tokens/s (target pieces, </s> not counted),
the share of sentences with identical output, and test BLEU of each engine's output.

Training (realistic_train.py): target tokens/s over `--measure-steps` fixed batches after
`--warmup` (the whole update), the matmul FLOPs of those steps, and their fraction of the
2-thread float32 torch.mm peak measured in the same process. Profiles (realistic_profile.py):
self CPU time by group of a training step and of greedy and beam-5 (alpha 0) decoding, per
Transformer.

Threads: the children inherit the OpenMP spin setting that `import attnlab` made here
(GOMP_SPINCOUNT=3000 unless set; benchmarks/README.md); the JSON records it and the load average.
Left out: GPUs, bf16, CTranslate2's per-op profile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from common import load_average, openmp_settings
from realistic_profile import GROUPS
from rich.console import Console
from rich.table import Table

from attnlab.checkpoint import load_checkpoint
from attnlab.config import Config, load_config
from attnlab.data.dataset import Encoders
from attnlab.data.make import make_dataset
from attnlab.export import export_checkpoint
from attnlab.metrics import corpus_bleu
from attnlab.train import run_training

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
TRANSFORMER_RECIPE = ROOT / "configs" / "bible-en-fr" / "transformer.yaml"
RNN_RECIPES = {  # name -> (config, overrides); training speed only
    "gru-bahdanau": (ROOT / "configs" / "bible-en-fr" / "gru-bahdanau.yaml", []),
    "lstm-luong": (ROOT / "configs" / "bible-en-fr" / "lstm-luong.yaml", []),
    "lstm-luong-reference": (
        ROOT / "configs" / "bible-en-fr" / "lstm-luong.yaml",
        ["model.kernels=reference"],
    ),
}
SEARCHES = {"greedy": (1, 0.0), "beam5-lp0": (5, 0.0), "beam5-lp1": (5, 1.0)}
PROFILED_SEARCHES = ("greedy", "beam5-lp0")
ENGINES = {  # name -> the decode child's engine settings
    "attnlab": {"engine": "attnlab"},
    "ct2-fp32": {"engine": "ctranslate2", "compute_type": "float32"},
    "ct2-int8": {"engine": "ctranslate2", "compute_type": "int8"},
}

QUICK_WORDS = 12  # the quick mode's longest verse, in words: well within max_positions 64
PRESETS: dict[str, dict[str, Any]] = {
    "full": {
        "transformers": {
            "transformer-256": {"hidden_size": 256, "num_layers": 3, "heads": 4, "ff_size": 1024},
            "transformer-512": {"hidden_size": 512, "num_layers": 3, "heads": 8, "ff_size": 2048},
        },
        "sp_vocab_size": 8000,
        "rnn": [],
        "data_sizes": None,
        "steps": 300,
        "sentences": 320,
        "batch_size": 64,
        "repeat": 3,
        "warmup": 3,
        "measure_steps": 20,
        "profile_steps": 3,
        "profile_batches": 2,
        "peak_size": 2048,
    },
    "quick": {
        "transformers": {
            "transformer-tiny": {
                "hidden_size": 32,
                "num_layers": 1,
                "heads": 2,
                "ff_size": 80,
                "max_positions": 64,
            },
        },
        "sp_vocab_size": 400,
        "rnn": [
            "data.sp_vocab_size=300",
            "model.embedding_size=16",
            "model.hidden_size=24",
            "training.batch_tokens=600",
        ],
        "data_sizes": {"train": 1500, "dev": 50, "test": 40},
        "steps": 20,
        "sentences": 16,
        "batch_size": 8,
        "repeat": 1,
        "warmup": 1,
        "measure_steps": 2,
        "profile_steps": 1,
        "profile_batches": 1,
        "peak_size": 256,
    },
}


def prepare_data(work: Path, sizes: dict[str, int] | None) -> Path:
    """`attnlab data make bible-en-fr` into WORK/bible-en-fr; with `sizes` (the quick mode), the
    first pairs of each split of at most QUICK_WORDS words a side into WORK/bible-en-fr-small."""
    full = work / "bible-en-fr"
    make_dataset("bible-en-fr", full, 0, 0, 0, 0, 0, seed=0)
    if sizes is None:
        return full
    small = work / "bible-en-fr-small"
    small.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        sides = [
            (full / f"{split}.{side}").read_text(encoding="utf-8").splitlines()
            for side in ("src", "trg")
        ]
        pairs = [
            p for p in zip(*sides, strict=True) if max(len(x.split()) for x in p) <= QUICK_WORDS
        ]
        for side, lines in zip(("src", "trg"), zip(*pairs[:n], strict=True), strict=True):
            (small / f"{split}.{side}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return small


def transformer_config(sizes: dict[str, int], data: Path, preset: dict, args: Any) -> Config:
    """The Bible Transformer recipe at `sizes`, trained a fixed number of steps (docstring)."""
    steps = args.steps if args.steps is not None else preset["steps"]
    overrides = [f"model.{key}={value}" for key, value in sizes.items()]
    overrides += [
        f"data.dir={data}",
        f"data.sp_vocab_size={preset['sp_vocab_size']}",
        f"training.max_steps={steps}",
        "training.max_minutes=null",
        f"training.warmup_steps={max(1, steps // 5)}",
        f"training.eval_every={steps}",
        "training.eval_bleu=false",
        "training.average_last=null",
        "training.keep_last=1",
        f"training.num_threads={args.threads}",
        "training.device=cpu",
    ]
    return load_config(TRANSFORMER_RECIPE, overrides)


def trained_checkpoint(name: str, config: Config, work: Path, given: dict[str, Path]) -> Path:
    """RUN/best.pt of `--from NAME=RUN`, else of WORK/runs/NAME: trained here unless an earlier
    invocation left it there with the same model and steps."""
    if name in given:
        if not (given[name] / "best.pt").exists():
            raise SystemExit(f"realistic.py: error: --from {name}={given[name]}: no best.pt there")
        return given[name] / "best.pt"
    run = work / "runs" / name
    if (run / "best.pt").exists():
        saved = Config.model_validate(load_checkpoint(run / "best.pt")["config"])
        if (saved.model, saved.training.max_steps) != (config.model, config.training.max_steps):
            raise SystemExit(
                f"realistic.py: error: {run} holds another model or step count; remove it"
            )
        return run / "best.pt"
    Console(stderr=True).print(f"[dim]{name}: training {config.training.max_steps} steps[/]")
    run_training(config, run, quiet=True)
    return run / "best.pt"


def write_batches(ckpt_path: Path, data: Path, n: int, batch_size: int, out: Path) -> list[int]:
    """The decoding batches both engines read (module docstring); returns the verse indices in
    batch order."""
    ckpt = load_checkpoint(ckpt_path)
    config = Config.model_validate(ckpt["config"])
    tokenizer = Encoders.from_state(ckpt).src_tokenizer
    lines = (data / "test.src").read_text(encoding="utf-8").splitlines()[:n]
    limit = config.model.max_positions
    tokens = {i: tokenizer.encode(line)[:limit] for i, line in enumerate(lines)}
    order = sorted((i for i, t in tokens.items() if t), key=lambda i: len(tokens[i]))
    d, batches = config.decoding, []
    for start in range(0, len(order), batch_size):
        chunk = [tokens[i] for i in order[start : start + batch_size]]
        longest = max(len(t) for t in chunk)
        cap = int(d.max_len_ratio * longest) + d.max_len_offset
        batches.append({"tokens": chunk, "limit": min(cap, limit - 1)})
    out.write_text(json.dumps({"batches": batches}), encoding="utf-8")
    return order


def run_child(script: str, spec: dict[str, Any], spec_path: Path) -> dict[str, Any]:
    """Run benchmarks/SCRIPT on `spec` (written to `spec_path`) in a fresh interpreter; its
    last line of output, parsed."""
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(HERE / script), str(spec_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"realistic.py: error: {script} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class DecodeSettings:
    threads: int
    repeat: int  # timed passes in each process
    rounds: int  # processes of each engine, alternately
    profile_batches: int  # batches profiled by the attnlab process (0: no profile)


def decode_engines(ckpt: Path, ct2_dir: Path, batches: Path, settings: DecodeSettings) -> dict:
    """Every engine in its own process, `rounds` times alternately; the best time of each
    search over the rounds, the outputs of the first."""
    common = {"batches": str(batches), "searches": SEARCHES, "profile_searches": PROFILED_SEARCHES}
    common |= {"checkpoint": str(ckpt), "model_dir": str(ct2_dir)} | asdict(settings)
    best: dict[str, dict] = {}
    for _ in range(settings.rounds):
        for engine, engine_spec in ENGINES.items():
            spec_path = batches.with_suffix(".spec")
            result = run_child("realistic_decode.py", common | engine_spec, spec_path)
            if engine not in best:
                best[engine] = result
                continue
            for name, r in result["searches"].items():
                kept = best[engine]["searches"][name]
                kept |= {"s": min(kept["s"], r["s"]), "times": kept["times"] + r["times"]}
    return best


def summarise_decoding(best: dict, order: list[int], refs: list[str], detok: Any) -> dict:
    """Per search: seconds, output tokens/s, BLEU of each engine; ratios and identical outputs
    against CTranslate2 fp32."""
    refs_in_order = [refs[i] for i in order]
    out: dict[str, Any] = {}
    for name in SEARCHES:
        ct2 = best["ct2-fp32"]["searches"][name]
        row: dict[str, Any] = {}
        for engine in ENGINES:
            r = best[engine]["searches"][name]
            n_tokens = sum(len(o) for o in r["outputs"])
            same = sum(a == b for a, b in zip(r["outputs"], ct2["outputs"], strict=True))
            row[engine] = {
                "s": r["s"],
                "times": r["times"],
                "output_tokens": n_tokens,
                "output_tokens_per_s": n_tokens / r["s"],
                "bleu": corpus_bleu([detok(o) for o in r["outputs"]], refs_in_order),
                "identical_to_ct2_fp32": same / len(order),
            }
        row["ratio_attnlab_to_ct2_fp32"] = row["attnlab"]["s"] / row["ct2-fp32"]["s"]
        out[name] = row
    return out


def measure_training(name: str, config: Config, ckpt: Path | None, preset: dict, args: Any) -> dict:
    """realistic_train.py on `config` (the tokenizers of `ckpt`, else fitted there)."""
    spec = {
        "config": config.model_dump(mode="json"),
        "checkpoint": str(ckpt) if ckpt else None,
        "threads": args.threads,
        "warmup": preset["warmup"],
        "steps": args.measure_steps or preset["measure_steps"],
        "profile_steps": preset["profile_steps"],
        "peak_size": preset["peak_size"],
    }
    return run_child("realistic_train.py", spec, args.work / f"train-{name}.spec.json")


def run_transformer(name: str, sizes: dict, data: Path, preset: dict, args: Any) -> dict:
    """Train (or reuse), export, decode with every engine, measure training: one model."""
    config = transformer_config(sizes, data, preset, args)
    ckpt = trained_checkpoint(name, config, args.work, dict(args.given))
    saved = load_checkpoint(ckpt)
    saved_config = Config.model_validate(saved["config"])
    # the run's own data folder may be a path relative to where it was trained
    data_section = saved_config.data.model_copy(update={"dir": data})
    saved_config = saved_config.model_copy(update={"data": data_section})
    ct2_dir = args.work / "ct2" / name
    shutil.rmtree(ct2_dir, ignore_errors=True)
    export_checkpoint(ckpt, "ctranslate2", ct2_dir)
    batches = args.work / f"batches-{name}.json"
    n, size = args.sentences or preset["sentences"], args.batch_size or preset["batch_size"]
    order = write_batches(ckpt, data, n, size, batches)
    refs = (data / "test.trg").read_text(encoding="utf-8").splitlines()
    tokenizer = Encoders.from_state(saved).trg_tokenizer
    repeat = args.repeat or preset["repeat"]
    settings = DecodeSettings(args.threads, repeat, args.rounds, preset["profile_batches"])
    best = decode_engines(ckpt, ct2_dir, batches, settings)
    return {
        "checkpoint": str(ckpt),
        "trained_steps": saved["progress"]["step"],
        "model": saved_config.model.model_dump(mode="json"),
        "sentences": len(order),
        "batches": [
            {
                "sentences": len(b["tokens"]),
                "longest": max(map(len, b["tokens"])),
                "limit": b["limit"],
            }
            for b in json.loads(batches.read_text(encoding="utf-8"))["batches"]
        ],
        "decoding": summarise_decoding(best, order, refs, tokenizer.decode),
        "decoding_profile": best["attnlab"].get("profile", {}),
        "training": measure_training(name, saved_config, ckpt, preset, args),
    }


def run_rnn(name: str, data: Path, preset: dict, args: Any) -> dict:
    """A recurrent recipe of RNN_RECIPES: training speed only."""
    path, recipe_overrides = RNN_RECIPES[name]
    overrides = [f"data.dir={data}", "training.device=cpu", f"training.num_threads={args.threads}"]
    config = load_config(path, overrides + recipe_overrides + preset["rnn"])
    return {
        "model": config.model.model_dump(mode="json"),
        "training": measure_training(name, config, None, preset, args),
    }


def decoding_table(results: dict, threads: int) -> Table:
    out = Table(title=f"decoding, same weights and batches, {threads} threads (s: best of runs)")
    columns = ["model", "search", "attnlab s", "CT2 fp32 s", "attnlab/CT2", "CT2 int8 s"]
    columns += ["out tok/s ours / CT2", "identical", "BLEU ours / CT2"]
    for column in columns:
        out.add_column(column, justify="left" if column in ("model", "search") else "right")
    for name, r in results.items():
        for search, row in r.get("decoding", {}).items():
            ours, ct2, int8 = row["attnlab"], row["ct2-fp32"], row["ct2-int8"]
            out.add_row(
                name,
                search,
                f"{ours['s']:.3f}",
                f"{ct2['s']:.3f}",
                f"{row['ratio_attnlab_to_ct2_fp32']:.2f}x",
                f"{int8['s']:.3f}",
                f"{ours['output_tokens_per_s']:,.0f} / {ct2['output_tokens_per_s']:,.0f}",
                f"{ours['identical_to_ct2_fp32']:.1%}",
                f"{ours['bleu']:.1f} / {ct2['bleu']:.1f}",
            )
    return out


def training_table(results: dict, threads: int) -> Table:
    out = Table(title=f"training, whole updates on fixed batches, {threads} threads, fp32")
    columns = ["model", "params", "target tok/s", "GFLOP/step", "GFLOP/s", "mm peak", "of peak"]
    for column in columns:
        out.add_column(column, justify="left" if column == "model" else "right")
    for name, r in results.items():
        t = r["training"]
        out.add_row(
            name,
            f"{t['parameters']:,}",
            f"{t['tokens_per_s']:,.0f}",
            f"{t['gflop_per_step']:.2f}",
            f"{t['gflop_per_s']:.1f}",
            f"{t['peak_gflop_per_s']:.1f}",
            f"{t['fraction_of_peak']:.0%}",
        )
    return out


def profile_table(results: dict) -> Table:
    """Share of self CPU time by group: a training step, greedy and beam-5 decoding."""
    out = Table(title="where the time goes (share of self CPU time, torch.profiler)")
    out.add_column("group")
    profiles = {}
    for name, r in results.items():
        if "profile" in r["training"]:
            profiles[f"{name} train"] = r["training"]["profile"]
        for search, p in r.get("decoding_profile", {}).items():
            profiles[f"{name} {search}"] = p
    for column in profiles:
        out.add_column(column, justify="right")
    for group in GROUPS:
        out.add_row(group, *(f"{p['groups'][group]['share']:.0%}" for p in profiles.values()))
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--steps", type=int, help="training updates for the weights (300)")
    parser.add_argument(
        "--from",
        dest="given",
        action="append",
        default=[],
        type=named_run,
        metavar="NAME=RUN",
        help="use RUN/best.pt (an `attnlab train` folder) for model NAME",
    )
    parser.add_argument(
        "--work", type=Path, help="data, runs, exports (default bench-out/realistic[-quick])"
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="default benchmarks/results/realistic.json (--quick: WORK/realistic-quick.json)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sentences", type=int, help="test verses decoded (320)")
    parser.add_argument("--batch-size", type=int, help="sentences a decoding batch (64)")
    parser.add_argument("--repeat", type=int, help="timed decoding passes in each process (3)")
    parser.add_argument("--rounds", type=int, default=1, help="processes of each engine")
    parser.add_argument("--measure-steps", type=int, help="timed training steps (20)")
    parser.add_argument("--only", nargs="*", help="model names (default: all of the preset)")
    return parser.parse_args(argv)


def named_run(text: str) -> tuple[str, Path]:
    name, sep, run = text.partition("=")
    if not sep or not name or not run:
        raise argparse.ArgumentTypeError(f"expected NAME=RUN, got {text!r}")
    return name, Path(run)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preset = PRESETS["quick" if args.quick else "full"]
    args.work = args.work or ROOT / "bench-out" / ("realistic-quick" if args.quick else "realistic")
    args.work.mkdir(parents=True, exist_ok=True)
    default_json = (
        args.work / "realistic-quick.json" if args.quick else HERE / "results" / "realistic.json"
    )
    json_path = args.json or default_json
    console = Console(width=160)
    import ctranslate2

    started, load_before = time.time(), load_average()
    data = prepare_data(args.work, preset["data_sizes"])
    names = [*preset["transformers"], *RNN_RECIPES]
    results: dict[str, Any] = {}
    for name in args.only or names:
        console.print(f"[dim]{name} ...[/dim]")
        if name in RNN_RECIPES:
            results[name] = run_rnn(name, data, preset, args)
        else:
            results[name] = run_transformer(name, preset["transformers"][name], data, preset, args)
    report = {
        "quick": args.quick,
        "threads": args.threads,
        "load_before": load_before,
        "load_after": load_average(),
        "seconds": time.time() - started,
        "openmp": openmp_settings(),
        "ct2_env": {k: v for k, v in os.environ.items() if k.startswith("CT2_")},
        "versions": {"torch": torch.__version__, "ctranslate2": ctranslate2.__version__},
        "searches": {name: {"beam": b, "length_penalty": a} for name, (b, a) in SEARCHES.items()},
        "args": {k: str(v) for k, v in vars(args).items()},
        "results": results,
    }
    console.print(decoding_table(results, args.threads))
    console.print(training_table(results, args.threads))
    console.print(profile_table(results))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    console.print(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
