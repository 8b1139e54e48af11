"""The first steps of a recipe with the output bias at PyTorch's initialisation and at the log
unigram prior (`model.output_bias`): training loss, how saturated Luong's h~ = tanh(W_c [c; h])
is, and how much gradient reaches the decoder RNN and the encoder.

    python benchmarks/output_bias.py configs/bible-en-fr/short/lstm-luong.yaml --steps 150 \
        --set data.dir=data/bible-en-fr --json benchmarks/results/output-bias/lstm-luong.json

Both settings start from the same seed (the same weights but the bias, the same dropout draws)
and read the same batches (length-sorted, the training order of epoch 0), with plain Adam at the
config's learning rate after its linear warm-up, no label smoothing (the config's optimiser,
schedule, label smoothing and `training.batching` are not read). "saturated" is the fraction of
h~'s pre-activations beyond |2.5| (tanh' < 0.03) at the real target positions of the step's
batch, -1 for a model without Luong's combine layer; the gradient norms are -1 for the
Transformer.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from common import load_average

from attnlab.config import load_config
from attnlab.data.batching import collate, make_batches
from attnlab.data.dataset import load_training_data
from attnlab.models.build import build_model
from attnlab.seeding import seed_everything
from attnlab.train import initialise_output_bias, sequence_loss

SATURATED = 2.5  # |pre-activation| beyond which tanh' = 1 - tanh^2 < 0.03


def grad_norm(module: torch.nn.Module) -> float:
    return float(sum(p.grad.norm() ** 2 for p in module.parameters() if p.grad is not None) ** 0.5)


def first_steps(config: Any, data: Any, steps: int, every: int) -> list[dict[str, float]]:
    """Train `steps` steps from the config's seed; a record every `every` steps."""
    seed_everything(config.training.seed)
    model = build_model(
        config.model, len(data.encoders.src_vocab), len(data.encoders.trg_vocab),
        shared_vocab=config.data.joint_vocab,
    )  # fmt: skip
    initialise_output_bias(model, config.model, data)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.training.lr)
    lengths = [(len(s), len(t)) for s, t in data.train_ids]
    batches = make_batches(lengths, config.training.batch_tokens, config.training.seed, 0)
    recurrent = hasattr(model.decoder, "rnn")  # the Transformer's has none
    combine = getattr(model.decoder, "combine", None)  # Luong's W_c
    pre_activations: list[torch.Tensor] = []
    if combine is not None:
        combine.register_forward_hook(lambda m, i, o: pre_activations.append(o.detach()))
    model.train()
    records = []
    for step in range(1, steps + 1):
        pre_activations.clear()
        batch = collate([data.train_ids[i] for i in batches[(step - 1) % len(batches)]])
        logits, _ = model(batch)
        loss = sequence_loss(logits, batch, 0.0) / batch.n_trg_tokens
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step % every == 0 or step == 1:
            saturated = -1.0
            if pre_activations:
                h_pre = torch.cat(pre_activations, dim=1)[batch.trg_mask]  # (N real, H)
                saturated = float(h_pre.abs().gt(SATURATED).float().mean())
            records.append({
                "step": step,
                "loss": float(loss.detach()),
                "saturated": saturated,
                "grad_decoder_rnn": grad_norm(model.decoder.rnn) if recurrent else -1.0,
                "grad_encoder": grad_norm(model.encoder) if recurrent else -1.0,
            })  # fmt: skip
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.training.clip_norm)
        for group in optimizer.param_groups:
            group["lr"] = config.training.lr * min(1.0, step / max(1, config.training.warmup_steps))
        optimizer.step()
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--every", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = load_config(args.config, args.overrides)
    data = load_training_data(base.data)
    found: dict[str, Any] = {
        "config": str(args.config), "overrides": args.overrides, "load_before": load_average(),
    }  # fmt: skip
    for setting in ("default", "unigram"):
        config = load_config(args.config, [*args.overrides, f"model.output_bias={setting}"])
        found[setting] = first_steps(config, data, args.steps, args.every)
    found["load_after"] = load_average()
    side = "{:>12} {:>9} {:>13}"
    print(f"{'step':>5} | " + side.format("loss default", "saturated", "dec. RNN grad") + " | "
          + side.format("loss unigram", "saturated", "dec. RNN grad"))  # fmt: skip
    for d, u in zip(found["default"], found["unigram"], strict=True):
        row = [
            f"{r['loss']:.3f} {r['saturated']:.2f} {r['grad_decoder_rnn']:.3f}".split()
            for r in (d, u)
        ]
        print(f"{d['step']:5d} | " + side.format(*row[0]) + " | " + side.format(*row[1]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
