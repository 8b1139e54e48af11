"""One decoding engine in its own process, for realistic.py: `python realistic_decode.py SPEC`.

SPEC (JSON) names the engine ("attnlab" with a checkpoint, or "ctranslate2" with an exported
model folder and a compute type), the threads, the batches file written by realistic.py and
the searches. Both engines get the same batches in the same order: source pieces (already
tokenized and length-sorted) and one length limit L per batch. For each search: one warm-up
batch, then `repeat` timed passes over every batch; prints one JSON line with the best time, all
times and the last pass's outputs (target pieces, no </s>).

Length limit L of a batch and what each engine does at it:
  attnlab       `max_lengths` = L for every sentence: steps 0..L-1 choose freely, step L may only
                choose </s>, so at most L tokens (and one more decoder step).
  CTranslate2   `max_decoding_length=L`: at most L steps; a hypothesis still open after step L-1
                ends there without </s> being scored. Greedy outputs are therefore the same
                tokens; a beam hypothesis cut at the limit may score differently.
  Both: `min_decoding_length=0` (CTranslate2's default is 1; ours allows </s> at once).

Stopping rules (num_hypotheses / n_best = 1):
  greedy        both: a sentence ends at its </s> (or the limit).
  beam, alpha 0 attnlab: a sentence stops when its best finished hypothesis scores at least its
                best live one (exact: log-probabilities only fall). CTranslate2 (early exit): when
                the best of the top-2K candidates of a step is a finished one. Both keep the
                first K non-</s> candidates live; both return the best finished hypothesis.
  beam, alpha 1 attnlab: the same rule on GNMT-normalised scores, log P / ((5 + |Y|) / 6)^alpha,
                |Y| counting </s> (the live one at its current length: a heuristic). CTranslate2
                (no early exit with a penalty): when K hypotheses have finished, then the best
                of log P / |Y|^alpha, |Y| without </s>. Outputs may differ.

Only the attnlab engine imports torch (two OpenMP runtimes in one process slow each other).
Left out: n-best lists, sampling, CTranslate2's own re-batching (`max_batch_size`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


class AttnlabEngine:
    """greedy_search / beam_search on a checkpoint's model, the pieces mapped with its vocab."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import torch

        from attnlab.translate import Translator

        torch.set_num_threads(spec["threads"])
        self.torch = torch
        self.translator = Translator.from_checkpoint(Path(spec["checkpoint"]), device="cpu")
        self.model: Any = self.translator.model

    def decode(self, batch: dict[str, Any], beam: int, alpha: float) -> list[list[str]]:
        from attnlab.data.batching import collate_source
        from attnlab.search import beam_search, greedy_search

        t = self.translator
        src, src_mask = collate_source([t.src_vocab.encode(s) for s in batch["tokens"]])
        limits = self.torch.full((src.size(0),), batch["limit"], dtype=self.torch.long)
        if beam == 1:
            hyps = greedy_search(self.model, src, src_mask, limits)
        else:
            hyps = beam_search(self.model, src, src_mask, limits, beam, 1, alpha)
        return [t.trg_vocab.decode(h[0].tokens) for h in hyps]

    def profile(self, batches: list[dict], beam: int, alpha: float) -> dict[str, Any]:
        """Time by group (realistic_profile.py) over one pass of `batches`."""
        from realistic_profile import ScopedModel, cpu_profile, group_times, scoped_transformer

        model, self.model = self.model, ScopedModel(self.model)
        try:
            with scoped_transformer(model), cpu_profile() as prof:
                steps = sum(len(self.decode(b, beam, alpha)) for b in batches)
        finally:
            self.model = model
        return {"sentences": steps, **group_times(prof, decoding=True)}


class CTranslate2Engine:
    """ctranslate2.Translator.translate_batch on one batch at a time (no re-batching)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import ctranslate2

        self.model = ctranslate2.Translator(
            spec["model_dir"],
            device="cpu",
            compute_type=spec["compute_type"],
            inter_threads=1,
            intra_threads=spec["threads"],
        )

    def decode(self, batch: dict[str, Any], beam: int, alpha: float) -> list[list[str]]:
        results = self.model.translate_batch(
            batch["tokens"],
            max_batch_size=0,
            beam_size=beam,
            num_hypotheses=1,
            length_penalty=alpha,
            max_decoding_length=batch["limit"],
            min_decoding_length=0,
            max_input_length=0,
        )
        return [r.hypotheses[0] for r in results]


def time_search(engine: Any, batches: list[dict], beam: int, alpha: float, repeat: int) -> dict:
    """A warm-up batch, then `repeat` passes over all batches; best time and last outputs."""
    engine.decode(batches[0], beam, alpha)
    times, outputs = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        outputs = [out for batch in batches for out in engine.decode(batch, beam, alpha)]
        times.append(time.perf_counter() - start)
    return {"s": min(times), "times": times, "outputs": outputs}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    batches = json.loads(Path(spec["batches"]).read_text(encoding="utf-8"))["batches"]
    engine = AttnlabEngine(spec) if spec["engine"] == "attnlab" else CTranslate2Engine(spec)
    out: dict[str, Any] = {"searches": {}}
    for name, (beam, alpha) in spec["searches"].items():
        out["searches"][name] = time_search(engine, batches, beam, alpha, spec["repeat"])
    if isinstance(engine, AttnlabEngine) and spec["profile_batches"]:
        head = batches[: spec["profile_batches"]]
        out["profile"] = {
            name: engine.profile(head, beam, alpha)
            for name, (beam, alpha) in spec["searches"].items()
            if name in spec["profile_searches"]
        }
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(json.dumps(run(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))))
