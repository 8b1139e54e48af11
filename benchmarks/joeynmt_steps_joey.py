"""JoeyNMT 2.3's training step on given batches, for joeynmt_steps.py (run by the venv's python).

    python joeynmt_steps_joey.py SPEC      SPEC (JSON): batches file, model section, label
                                           smoothing, lr, clip norm, vocabulary size, joint,
                                           threads, warm-up steps, seed, peak_size

Imports torch, joeynmt and matmul_peak.py (torch only). The step is JoeyNMT's train loop
written out for one batch (joeynmt/training.py, `_train_step` and the update after it):
batch.sort_by_src_length(), the model's loss (return_type="loss": log-softmax and XentLoss
summed), divided by the batch's target tokens (normalization "tokens"), backward,
clip_grad_norm, Adam's step, zero_grad. The joeynmt.batch.Batch is made before the clock
starts, as JoeyNMT's data loader makes it.
Prints one JSON line: target tokens and wall seconds of the timed steps, and the matmul FLOPs
of those steps (run again after the clock; torch's recurrent layers not counted) with the
matmul peak of this process (matmul_peak.py, measured before the steps).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from joeynmt.batch import Batch
from joeynmt.builders import build_gradient_clipper
from joeynmt.model import build_model
from joeynmt.vocabulary import Vocabulary
from matmul_peak import counted_flops, matmul_peak, peak_fields

# attnlab's ids -> JoeyNMT's: attnlab has <pad> 0, <unk> 1, JoeyNMT <unk> 0, <pad> 1; <s> 2
# and </s> 3 in both
UNK, PAD, BOS, EOS = 0, 1, 2, 3


def vocabulary(size: int) -> Vocabulary:
    """A JoeyNMT vocabulary of `size` entries: its four specials and size - 4 placeholders."""
    specials = SimpleNamespace(
        unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>",
        sep_token=None, lang_tags=[], unk_id=UNK, pad_id=PAD, bos_id=BOS, eos_id=EOS,
    )  # fmt: skip
    return Vocabulary([f"piece{i}" for i in range(size - 4)], specials)


def to_joey(ids: torch.Tensor) -> torch.Tensor:
    """attnlab's ids with <pad> and <unk> swapped to JoeyNMT's."""
    swapped = ids.clone()
    swapped[ids == 0], swapped[ids == 1] = PAD, UNK
    return swapped


def joey_batch(src: torch.Tensor, trg_out: torch.Tensor) -> Batch:
    """JoeyNMT's Batch of one attnlab batch: trg = <s> y </s> (JoeyNMT cuts trg_input and trg
    from it: trg_input = <s> y, trg = y </s>, attnlab's trg_in and trg_out)."""
    src, trg_out = to_joey(src), to_joey(trg_out)
    bos = torch.full((trg_out.size(0), 1), BOS, dtype=trg_out.dtype)
    return Batch(
        src=src,
        src_length=(src != PAD).sum(dim=1),
        src_prompt_mask=None,
        trg=torch.cat([bos, trg_out], dim=1),
        trg_prompt_mask=None,
        indices=torch.arange(src.size(0)),
        device=torch.device("cpu"),
        pad_index=PAD,
        eos_index=EOS,
    )


def main(spec: dict) -> dict:
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(spec["seed"])
    saved = torch.load(spec["batches"], weights_only=True)
    src_vocab = vocabulary(spec["src_vocab"])
    trg_vocab = src_vocab if spec["joint"] else vocabulary(spec["trg_vocab"])
    model = build_model(spec["model"], src_vocab, trg_vocab)
    model.loss_function = ("crossentropy", spec["label_smoothing"])
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"])
    clip = build_gradient_clipper({"clip_grad_val": None, "clip_grad_norm": spec["clip_norm"]})
    batches = [joey_batch(s, t) for s, t in zip(saved["src"], saved["trg_out"], strict=True)]
    warmup, timed = batches[: spec["warmup"]], batches[spec["warmup"] :]
    peak = matmul_peak(spec["peak_size"])
    model.train()
    model.zero_grad()

    def steps(chosen: list[Batch]) -> float:
        """Wall seconds of one JoeyNMT training step per batch."""
        seconds = 0.0
        for batch in chosen:
            start = time.perf_counter()
            batch.sort_by_src_length()
            loss = model(return_type="loss", **vars(batch))[0]
            (loss / batch.ntokens).backward()
            clip(parameters=model.parameters())
            optimizer.step()
            model.zero_grad()
            seconds += time.perf_counter() - start
        return seconds

    steps(warmup)
    seconds = steps(timed)
    flops = counted_flops(lambda: steps(timed))
    tokens = sum(int(batch.ntokens) for batch in timed)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": len(timed),
        "target_tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        **peak_fields(flops, seconds, len(timed), peak),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))))
