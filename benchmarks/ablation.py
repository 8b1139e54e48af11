"""Ablation of a low-resource recipe: what each of its switches gives on dev.

    python benchmarks/ablation.py configs/bible-en-fr/gru-bahdanau.yaml --minutes 30 \
        --seeds 1 2 --jobs 2 --json benchmarks/results/ablation-bible-en-fr-gru-bahdanau.json

Each row is the recipe with one switch changed (ROWS, or a subset with --rows); every run trains
for `--minutes` of wall clock (training.max_minutes) on one thread, `--jobs` runs at a time, and
is read from its log.jsonl: the best greedy dev BLEU of its evaluations, and the dev BLEU of the
averaged checkpoints where the recipe averages (training.average_last). A run folder in `--runs`
that an earlier invocation trained to its end is read again, not retrained, so that an
ablation can be finished, or rows added, in later sittings (runs compared in one table should
share a quiet machine: the JSON keeps each run's steps and tokens/s). Rows named in
--headline get every seed, the others the first. The test split is never read: the rows choose
a recipe, and the recipe's test figure is measured once by real_quality.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import attnlab, load_average, write_report
from real_quality import ensure_data, summarise_run

ROWS: dict[str, list[str]] = {
    "recipe": [],
    "no word dropout": ["model.word_dropout=0"],
    "no label smoothing": ["training.label_smoothing=0"],
    "hidden dropout 0.1": ["model.dropout=0.1"],
    "PyTorch's output bias": ["model.output_bias=default"],
    "joint vocabulary, tied embeddings": ["data.joint_vocab=true", "model.tie_embeddings=true"],
    "vocabulary 4,000": ["data.sp_vocab_size=4000"],
    "batches of 1,200 tokens, lr 0.004": ["training.batch_tokens=1200", "training.lr=0.004"],
}


def plan(rows: list[str], seeds: list[int], headline: list[str]) -> list[tuple[str, int]]:
    """(row, seed) of every run: all seeds for the headline rows, the first for the others."""
    return [(row, seed) for row in rows for seed in (seeds if row in headline else seeds[:1])]


def finished(run: Path) -> bool:
    """Whether `run` holds a run that trained to its end: its log ends with the averaging of
    its last checkpoints (the recipes average; a run without averaging is never reused)."""
    log = run / "log.jsonl"
    if not log.exists():
        return False
    lines = log.read_text(encoding="utf-8").splitlines()
    return bool(lines) and json.loads(lines[-1])["kind"] == "average"


def train_row(
    config: Path, row: str, seed: int, minutes: float, runs: Path, extra: list[str]
) -> dict[str, Any]:
    """One run of the ablation: the recipe with `row`'s switches and `extra` overrides; a run
    that an earlier invocation finished in `runs` is read, not trained again."""
    switches = ROWS[row] + extra
    slug = row.replace(",", "").replace("'", "").replace(" ", "-")
    run = runs / f"{config.stem}-{slug}-seed{seed}"
    overrides = [f"training.seed={seed}", f"training.max_minutes={minutes}"]
    overrides += ["training.num_threads=1", *switches]
    if not finished(run):
        sets = (a for o in overrides for a in ("--set", o))
        attnlab("train", str(config), "--out", str(run), *sets)
    return {"row": row, "seed": seed, "switches": ROWS[row], **summarise_run(run)}


def table(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per row: the dev BLEU of each seed, their mean, and the difference from the recipe's mean
    over the seeds both share (the recipe row must have run them)."""
    by_row: dict[str, dict[int, dict[str, Any]]] = {}
    for r in runs:
        by_row.setdefault(r["row"], {})[r["seed"]] = r
    recipe = by_row.get("recipe", {})
    out = []
    for row, seeds in by_row.items():
        dev = {seed: r["best_dev_bleu"] for seed, r in sorted(seeds.items())}
        shared = [s for s in dev if s in recipe]
        delta = (
            statistics.fmean(dev[s] - recipe[s]["best_dev_bleu"] for s in shared)
            if shared and row != "recipe"
            else None
        )
        first = next(iter(seeds.values()))
        out.append(
            {
                "row": row,
                "switches": first["switches"],
                "dev_bleu": dev,
                "mean_dev_bleu": statistics.fmean(dev.values()),
                "delta_vs_recipe": delta,
                "averaged_dev_bleu": {s: r["averaged_dev_bleu"] for s, r in seeds.items()},
                "steps": {s: r["steps"] for s, r in seeds.items()},
                "parameters": first["parameters"],
            }
        )
    return out


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| row | seeds | dev BLEU | mean | vs recipe | steps |")
    print("|---|---|---|---:|---:|---|")
    for r in rows:
        dev = ", ".join(f"{v:.2f}" for v in r["dev_bleu"].values())
        delta = "" if r["delta_vs_recipe"] is None else f"{r['delta_vs_recipe']:+.2f}"
        steps = ", ".join(str(v) for v in r["steps"].values())
        seeds = ", ".join(str(s) for s in r["dev_bleu"])
        print(f"| {r['row']} | {seeds} | {dev} | {r['mean_dev_bleu']:.2f} | {delta} | {steps} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--minutes", type=float, required=True, help="training.max_minutes a run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--headline", nargs="+", choices=list(ROWS), default=["recipe"])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    parser.add_argument("--runs", type=Path, default=Path("bench-out/ablation"))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/ablation.json"))
    parser.add_argument("--set", action="append", default=[], help="key.path=value, every run")
    args = parser.parse_args()
    if "recipe" not in args.rows:
        parser.error("--rows must include 'recipe': every row is compared with it")
    ensure_data(args.config, args.set)  # once, before runs in parallel could race to make it
    load_before = load_average()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(train_row, args.config, row, seed, args.minutes, args.runs, args.set)
            for row, seed in plan(args.rows, args.seeds, args.headline)
        ]
        runs = [f.result() for f in futures]
    rows = table(runs)
    print_table(rows)
    fields = {
        "config_file": str(args.config),
        "minutes": args.minutes,
        "jobs": args.jobs,
        "overrides": args.set,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "rows": rows,
        "runs": runs,
    }
    write_report(args.json, "ablation", fields)


if __name__ == "__main__":
    main()
