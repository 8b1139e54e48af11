"""Training speed of one model in its own process, for realistic.py (`realistic_train.py SPEC`).

SPEC (JSON): a full attnlab config (model, data, training), the checkpoint whose tokenizers and
vocabularies to use (none: fitted here, as `attnlab train` does), threads, warm-up / timed /
profiled steps and the size of the peak matmul. Prints one JSON line.

  batches      the first warm-up + timed batches of epoch 0 (`make_batches` with the config's
               batch_tokens and batching, seed = training.seed): fixed, the same in every run
  tokens/s     target tokens (</s> included, padding not) of the timed steps / their wall seconds,
               each step a whole `Trainer.train_step` (forward, loss, backward, clipping, Adam)
  FLOPs        the matrix products of the timed steps run again (matmul_peak.counted_flops:
               forward and backward, elementwise work not counted). For the Transformer (fast
               kernels, the default) this is exactly `transformer_flops`: 6 (N_s (L_e (4 d^2 +
               2 d f) + 2 L_d d^2) + N_t (L_d (6 d^2 + 2 d f) + d V)) + 12 d (L_e sum S^2 + L_d
               sum (T^2 + T S)), sums over the sentences at the batch's padded lengths S, T (N_s,
               N_t real source / target tokens, rounded up to a multiple of 64 by the real-token
               path)
  peak         matmul_peak.matmul_peak(peak_size), same threads, same process, before the steps
  fraction     (FLOPs / timed seconds) / peak

The profile (Transformers only) runs `profile_steps` more steps under torch.profiler
(realistic_profile.py).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from matmul_peak import counted_flops, matmul_peak, peak_fields

from attnlab.checkpoint import load_checkpoint
from attnlab.config import Config, ModelConfig
from attnlab.data.batching import Batch, collate, make_batches
from attnlab.data.dataset import Encoders, load_training_data
from attnlab.distributed import DistEnv
from attnlab.models.fast.transformer import ROWS_MULTIPLE
from attnlab.seeding import seed_everything
from attnlab.train import Trainer


def transformer_flops(model: ModelConfig, vocab: int, batch: Batch) -> int:
    """The matmul FLOPs of one training step of the Transformer on `batch` (module docstring).

    The fast kernels run position-wise layers on the real tokens, rounded up to a multiple of
    ROWS_MULTIPLE rows; attention runs on the padded (B, heads, L, L) layout.
    """
    d, f, layers = model.hidden_size, model.ff_size, model.num_layers
    b, s = batch.src.shape
    t = batch.trg_in.size(1)
    rows = ROWS_MULTIPLE
    n_s, n_t = (-(-int(m.sum()) // rows) * rows for m in (batch.src_mask, batch.trg_mask))
    positionwise = n_s * layers * (4 * d * d + 2 * d * f + 2 * d * d)
    positionwise += n_t * (layers * (6 * d * d + 2 * d * f) + d * vocab)
    return 6 * positionwise + 12 * d * layers * b * (s * s + t * t + t * s)


def fixed_batches(trainer: Trainer, n: int) -> list[Batch]:
    cfg = trainer.cfg
    indices = make_batches(
        trainer.lengths, cfg.batch_tokens, cfg.seed, 0, True, cfg.batching == "length"
    )
    return [collate([trainer.data.train_ids[i] for i in index]) for index in indices[:n]]


def timed_steps(trainer: Trainer, batches: list[Batch]) -> tuple[float, int]:
    """Wall seconds and target tokens of one train_step per batch."""
    seconds, tokens = 0.0, 0
    for batch in batches:
        start = time.perf_counter()
        _, n_tokens = trainer.train_step([batch])
        seconds += time.perf_counter() - start
        tokens += n_tokens
    return seconds, tokens


def profile_steps(trainer: Trainer, batches: list[Batch]) -> dict[str, Any]:
    from realistic_profile import cpu_profile, group_times, scoped_transformer

    with scoped_transformer(trainer.model), cpu_profile() as prof:
        for batch in batches:
            trainer.train_step([batch])
    return {"steps": len(batches), **group_times(prof, decoding=False)}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(spec["threads"])
    config = Config.model_validate(spec["config"])
    seed_everything(config.training.seed)
    encoders = None
    if spec.get("checkpoint"):
        encoders = Encoders.from_state(load_checkpoint(Path(spec["checkpoint"])))
    data = load_training_data(config.data, encoders)
    peak = matmul_peak(spec["peak_size"])
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, data, Path(run_dir), DistEnv(), torch.device("cpu"))
        batches = fixed_batches(trainer, spec["warmup"] + spec["steps"])
        warmup, timed = batches[: spec["warmup"]], batches[spec["warmup"] :]
        timed_steps(trainer, warmup)
        seconds, tokens = timed_steps(trainer, timed)
        flops = counted_flops(lambda: timed_steps(trainer, timed))
        out = {
            "parameters": sum(p.numel() for p in trainer.model.parameters()),
            "vocab": [len(data.encoders.src_vocab), len(data.encoders.trg_vocab)],
            "steps": len(timed),
            "target_tokens": tokens,
            "seconds": seconds,
            "tokens_per_s": tokens / seconds,
            **peak_fields(flops, seconds, len(timed), peak),
            "peak_size": spec["peak_size"],
        }
        if config.model.type == "transformer" and config.model.kernels == "fast":
            vocab = len(data.encoders.trg_vocab)
            analytic = sum(transformer_flops(config.model, vocab, b) for b in timed)
            out["analytic_gflop_per_step"] = analytic / len(timed) / 1e9
        if spec["profile_steps"] and config.model.type == "transformer":
            out["profile"] = profile_steps(trainer, batches[: spec["profile_steps"]])
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))))
