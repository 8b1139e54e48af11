"""Forward+backward speed and peak memory of every architecture in configs/*.yaml.

    python benchmarks/models.py [--json out.json] [--threads 2] [--only gru-bahdanau ...]

Each architecture runs in its own subprocess (so that one model's memory does not hide
another's), on the same batches: the reverse task (vocabulary 100 words + 4 specials), source
lengths 5-40 drawn uniformly, cut into token-budget batches by `attnlab.data.batching`
(`--batch-tokens`, default 3000 padded positions, about 2,700 target tokens). The model is built
from the YAML's `model` section exactly as `attnlab train` builds it.

What is measured:
  tokens/s    target tokens (non-pad, </s> included) per second of wall time through
              forward + loss + backward (no optimizer step: see throughput.py for whole updates).
              The timed pass over the batches is repeated `--repeat` times; the best pass is the
              headline (load from other processes only ever slows a pass down), the median is
              also written.
  cpu_s       process CPU seconds of the best pass: on a busy machine wall time includes waiting
              for a core, CPU time does not (with 2 threads it includes OpenMP spin-waiting).
  peak memory CPU: the growth of the process's peak resident set size (`resource.getrusage`
              ru_maxrss) from just before the first training step to the end; that is the
              activations and gradients of the largest step plus allocator slack, not the
              weights or the data (tracemalloc does not see torch's allocations). CUDA:
              torch.cuda.max_memory_allocated over the timed passes.

Threads: the children inherit the OpenMP spin setting that `import attnlab` made here
(GOMP_SPINCOUNT=3000 unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set; README.md); the JSON
records it.

Letters: none beyond DESIGN's. Left out: optimizer state memory, mixed precision.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from common import load_average, openmp_settings
from rich.console import Console
from rich.table import Table

from attnlab.config import Config, load_config
from attnlab.data.batching import Batch, collate, make_batches
from attnlab.models.build import build_model
from attnlab.train import sequence_loss

ROOT = Path(__file__).resolve().parent.parent
N_WORDS = 100  # the reverse task's vocabulary: w00 ... w99
N_SPECIALS = 4  # <pad> <unk> <s> </s>


def reverse_batches(
    n_sentences: int, min_len: int, max_len: int, batch_tokens: int, seed: int
) -> list[Batch]:
    """Reverse-task batches (target = source reversed), ids 4..103, token-budget batches."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n_sentences):
        src = [rng.randrange(N_WORDS) + N_SPECIALS for _ in range(rng.randint(min_len, max_len))]
        pairs.append((src, src[::-1]))
    lengths = [(len(s), len(t)) for s, t in pairs]
    return [
        collate([pairs[i] for i in index])
        for index in make_batches(lengths, batch_tokens, seed, 0, shuffle=True)
    ]


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(config: Config, args: argparse.Namespace) -> dict:
    """Time forward+backward of `config.model` on the reverse batches; runs in the subprocess."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    vocab = N_WORDS + N_SPECIALS
    model = build_model(config.model, vocab, vocab).to(device).train()
    batches = [
        b.to(device)
        for b in reverse_batches(args.sentences, 5, 40, args.batch_tokens, seed=1)[: args.steps]
    ]
    n_tokens = sum(b.n_trg_tokens for b in batches)

    def one_pass() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            logits, _ = model(batch)
            (sequence_loss(logits, batch, 0.0) / batch.n_trg_tokens).backward()
            model.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - wall, time.process_time() - cpu

    rss_before = peak_rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    one_pass()  # warm-up: allocator, MKL/oneDNN kernels
    passes = [one_pass() for _ in range(args.repeat)]
    best_wall, best_cpu = min(passes)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
        memory_kind = "cuda max_memory_allocated"
    else:
        peak = peak_rss_mib() - rss_before
        memory_kind = "ru_maxrss growth"
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "batches": len(batches),
        "target_tokens": n_tokens,
        "tokens_per_s": n_tokens / best_wall,
        "tokens_per_s_median": n_tokens / statistics.median(w for w, _ in passes),
        "wall_s": best_wall,
        "cpu_s": best_cpu,
        "peak_memory_mib": peak,
        "memory": memory_kind,
        "threads": args.threads,
        "device": str(device),
    }


def run_one_in_subprocess(name: str, args: argparse.Namespace) -> dict:
    """Run `measure` for configs/NAME.yaml in a fresh interpreter; return its JSON line."""
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--threads",
        str(args.threads),
        "--steps",
        str(args.steps),
        "--repeat",
        str(args.repeat),
        "--batch-tokens",
        str(args.batch_tokens),
        "--sentences",
        str(args.sentences),
        "--device",
        args.device,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict[str, dict], load: str) -> Table:
    out = Table(title=f"forward+backward, target tokens/s (load average {load})")
    for column in ("config", "params", "tokens/s", "median", "cpu s", "peak MiB"):
        out.add_column(column, justify="left" if column == "config" else "right")
    for name, r in results.items():
        if "error" in r:
            out.add_row(name, "error", r["error"], "", "", "")
            continue
        out.add_row(
            name,
            f"{r['parameters']:,}",
            f"{r['tokens_per_s']:,.0f}",
            f"{r['tokens_per_s_median']:,.0f}",
            f"{r['cpu_s']:.2f}",
            f"{r['peak_memory_mib']:.0f}",
        )
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--only", nargs="*", help="config names (default: every configs/*.yaml)")
    parser.add_argument("--steps", type=int, default=12, help="batches per timed pass")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (best is reported)")
    parser.add_argument("--batch-tokens", type=int, default=3000)
    parser.add_argument("--sentences", type=int, default=2000, help="sentences to batch from")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        config = load_config(ROOT / "configs" / f"{args.child}.yaml")
        print(json.dumps(measure(config, args)))
        return 0
    names = args.only or sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    console = Console(width=140)
    load_before = load_average()
    results = {}
    for name in names:
        console.print(f"[dim]{name} ...[/dim]")
        results[name] = run_one_in_subprocess(name, args)
    load = f"{load_before} -> {load_average()}"
    console.print(table(results, load))
    if args.json:
        report = {
            "load_average": load,
            "openmp": openmp_settings(),
            "args": {k: str(v) for k, v in vars(args).items()},
        }
        args.json.write_text(json.dumps({**report, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
