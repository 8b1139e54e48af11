"""How many PyTorch ops a decoding step dispatches: counts, not timings (issue 18).

    python benchmarks/step_ops.py [--d-model 256] [--layers 3] [--heads 4] [--ff 1024]
        [--vocab 8000] [--kernels fast] [--json F]

A randomly initialised Transformer of the given size (`build_model`, tied embeddings) decodes 8
random source sentences of 20 and 15 tokens, greedy and beam 5 (length penalty 0), every
sentence to its limit of 10 tokens; under torch.profiler every aten / mkldnn op is counted,
nested ones included (an op's own calls to other ops count too), inside `model.step` and
outside it (search's bookkeeping and the encoder), per decoding step. Each op costs a few
microseconds of dispatch whatever its size, so at one row a step's time is mostly this count;
the counts do not depend on the machine's load, so two commits compare in any sitting
(PYTHONPATH=OTHER/src python benchmarks/step_ops.py runs another checkout's model).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from common import write_report
from rich.console import Console
from rich.table import Table
from torch.profiler import ProfilerActivity, profile, record_function

from attnlab.config import ModelConfig
from attnlab.models.build import build_model
from attnlab.search import beam_search, greedy_search

STEP = "step_ops:step"
SENTENCES, LONG, SHORT, LIMIT = 8, 20, 15, 10


class CountedSteps:
    """The model's encode and step, each step inside the profiler range STEP and counted."""

    def __init__(self, model: Any) -> None:
        self.model, self.steps = model, 0

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Any:
        return self.model.encode(src, src_mask)

    def step(self, memory: Any, state: Any, y_prev: torch.Tensor) -> Any:
        self.steps += 1
        with record_function(STEP):
            return self.model.step(memory, state, y_prev)


def _inside_step(event: Any) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name == STEP:
            return True
        parent = parent.cpu_parent
    return False


def count_ops(model: Any, search: str, vocab: int) -> dict[str, float]:
    """Ops a step of `search` ("greedy" or "beam5") dispatches, inside `step` and outside it,
    on random sources over a source vocabulary of `vocab`."""
    generator = torch.Generator().manual_seed(0)
    src = torch.randint(4, vocab, (SENTENCES, LONG), generator=generator)
    mask = torch.ones(SENTENCES, LONG, dtype=torch.bool)
    mask[SENTENCES // 2 :, SHORT:] = False  # half the batch padded
    limits = torch.full((SENTENCES,), LIMIT)
    counted = CountedSteps(model)

    def run() -> None:
        if search == "greedy":
            greedy_search(counted, src, mask, limits)
        else:
            beam_search(counted, src, mask, limits, 5, 1, 0.0)

    run()  # warm-up: first calls build caches
    counted.steps = 0
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    ops = [e for e in prof.events() if e.name.startswith(("aten::", "mkldnn::"))]
    inside = sum(1 for e in ops if _inside_step(e))
    return {
        "steps": counted.steps,
        "ops_in_step": inside / counted.steps,
        "ops_outside_step": (len(ops) - inside) / counted.steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--ff", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--kernels", choices=["fast", "reference"], default="fast")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/step_ops.json"))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = ModelConfig(
        type="transformer",
        hidden_size=args.d_model,
        num_layers=args.layers,
        heads=args.heads,
        ff_size=args.ff,
        tie_embeddings=True,
        kernels=args.kernels,
    )
    model = build_model(cfg, args.vocab, args.vocab).eval()
    results = {search: count_ops(model, search, args.vocab) for search in ("greedy", "beam5")}
    table = Table(title=f"ops a decoding step, d_model {args.d_model}, kernels {args.kernels}")
    for column in ("search", "steps", "in step", "outside step"):
        table.add_column(column, justify="left" if column == "search" else "right")
    for search, r in results.items():
        table.add_row(
            search, str(r["steps"]), f"{r['ops_in_step']:.0f}", f"{r['ops_outside_step']:.0f}"
        )
    Console().print(table)
    write_report(args.json, "step_ops", {"model": cfg.model_dump(mode="json"), "results": results})


if __name__ == "__main__":
    main()
