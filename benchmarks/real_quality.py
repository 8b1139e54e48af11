"""Real-language quality per minute: train corpus recipes for a wall-clock budget, score the test
split once, and write the learning curves and test figures as JSON.

    python benchmarks/real_quality.py configs/bible-en-fr/gru-bahdanau.yaml --minutes 60 \
        --seeds 1 2 --json benchmarks/results/real_quality-bible-en-fr.json

For each config and seed: `attnlab data make` if the config's data folder is missing (embedded
corpora only), `attnlab train CONFIG --set training.seed=S --set training.max_minutes=M`, then
`attnlab evaluate best.pt` on the test split (sacreBLEU on detokenised output, the config's beam).
With --tune-decoding, the beam size and length penalty are chosen on dev first
(decoding_sweep.py: beams 5 and 10, alphas 0, 1, 1.5 and 2; the highest dev BLEU, the earlier
setting on a tie), and test is scored once, with that setting; the JSON keeps the sweep.
The JSON holds the machine, the load average before and after each run, the dev curve (dev BLEU
against training seconds, from log.jsonl), the test BLEU/chrF with sacreBLEU's signature, the
parameter count and the training throughput. Test scores are read once per run and never used to
choose anything.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from common import attnlab, load_average, write_report
from decoding_sweep import settings, sweep

from attnlab.config import load_config
from attnlab.data.builtin import BUILTIN_CORPORA
from attnlab.translate import Translator


def ensure_data(config: Path, overrides: list[str]) -> Path:
    """The data folder of the config with its --set overrides (the one training reads), made
    with `attnlab data make` if it is an embedded corpus."""
    data = load_config(config, overrides).data.dir
    if data is None:
        sys.exit(f"{config}: the benchmark reads data.dir configs only")
    if not (data / "train.src").exists():
        if data.name not in BUILTIN_CORPORA:
            sys.exit(f"{data}: missing, and not an embedded corpus ({', '.join(BUILTIN_CORPORA)})")
        attnlab("data", "make", data.name, "--out", str(data))
    return data


def log_entries(run: Path, kind: str) -> list[dict[str, Any]]:
    lines = (run / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [entry for entry in map(json.loads, lines) if entry["kind"] == kind]


def summarise_run(run: Path) -> dict[str, Any]:
    """A finished run folder as figures: its config, dev curve, best dev BLEU, throughput."""
    config = load_config(run / "config.yaml")
    model = Translator.from_checkpoint(run / "best.pt").model
    train, dev = log_entries(run, "train"), log_entries(run, "dev")
    averaged = log_entries(run, "average")
    return {
        "run": str(run),
        "config": config.model_dump(mode="json"),
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": dev[-1]["step"],
        "train_seconds": dev[-1].get("seconds"),
        "tokens_per_s": sum(e["tokens_per_s"] for e in train[1:]) / max(1, len(train) - 1),
        "dev_curve": [
            {"step": e["step"], "seconds": e.get("seconds"), "dev_bleu": e.get("dev_bleu")}
            for e in dev
        ],
        "best_dev_bleu": max((e.get("dev_bleu") or 0.0) for e in dev),
        "averaged_dev_bleu": averaged[-1].get("dev_bleu") if averaged else None,
    }


TUNED_BEAMS, TUNED_ALPHAS = [5, 10], [0.0, 1.0, 1.5, 2.0]


def chosen_decoding(run: Path, data: Path) -> dict[str, Any]:
    """The dev sweep of best.pt and the setting it chooses (module docstring)."""
    rows = sweep(run / "best.pt", data, "dev", settings(TUNED_BEAMS, TUNED_ALPHAS))
    best = max(rows, key=lambda row: row["bleu"])  # max keeps the first of equal scores
    chosen = {key: best[key] for key in ("beam", "alpha", "stopping")}
    return chosen | {"dev_sweep": rows}


def measure(
    config: Path, seed: int, minutes: float | None, runs: Path, extra: list[str], tune: bool
) -> dict[str, Any]:
    """Train one recipe and seed (with `extra` key=value overrides), score best.pt on test
    (with `tune`, at the decoding setting chosen on dev)."""
    data = ensure_data(config, extra)
    run = runs / f"{data.name}-{config.stem}-seed{seed}"  # data: the folder this run reads
    overrides = ["--set", f"training.seed={seed}"]
    for item in extra:
        overrides += ["--set", item]
    if minutes is not None:
        overrides += ["--set", f"training.max_minutes={minutes}"]
    load_before = load_average()
    start = time.perf_counter()
    attnlab("train", str(config), "--out", str(run), *overrides)
    wall = time.perf_counter() - start
    load_after = load_average()
    test = ["--src", str(data / "test.src"), "--ref", str(data / "test.trg"), "--json"]
    decoding = chosen_decoding(run, data) if tune else None
    if decoding is not None:
        test += ["--beam", str(decoding["beam"]), "--length-penalty", str(decoding["alpha"])]
        test += ["--stopping", decoding["stopping"]]
    scores = json.loads(attnlab("evaluate", str(run / "best.pt"), *test))
    return {
        "config_file": str(config),
        "seed": seed,
        "max_minutes": minutes,
        "overrides": extra,
        **summarise_run(run),
        "command_seconds": wall,
        "test_bleu": scores["bleu"],
        "test_chrf": scores["chrf"],
        "signature": scores["signature"],
        "tuned_decoding": decoding,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", type=Path)
    parser.add_argument("--minutes", type=float, help="training.max_minutes (default: config's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--runs", type=Path, default=Path("bench-out/real_quality"))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/real_quality.json"))
    parser.add_argument("--set", action="append", default=[], help="key.path=value, as for train")
    parser.add_argument(
        "--from-runs",
        type=Path,
        nargs="+",
        default=[],
        help="summarise finished run folders (dev figures only, no test scoring): the ablations",
    )
    parser.add_argument(
        "--tune-decoding",
        action="store_true",
        help="choose beam size and length penalty on dev, then score test with them",
    )
    args = parser.parse_args()
    results = [summarise_run(run) for run in args.from_runs]
    for row in results:
        print(f"{row['run']:<44} {row['parameters']:>10,} params  dev {row['best_dev_bleu']:5.2f}")
    for config in args.configs:
        for seed in args.seeds:
            tune = args.tune_decoding
            results.append(measure(config, seed, args.minutes, args.runs, args.set, tune))
            row = results[-1]
            print(
                f"{row['config_file']:<44} seed {seed:>3}  {row['train_seconds'] / 60:5.1f} min  "
                f"{row['parameters']:>10,} params  dev {row['best_dev_bleu']:5.2f}  "
                f"test BLEU {row['test_bleu']:5.2f}  chrF {row['test_chrf']:5.2f}",
                flush=True,
            )
    write_report(args.json, "real_quality", {"runs": results})


if __name__ == "__main__":
    main()
