"""The Trainer end to end on a tiny reverse task: run folder, determinism, kill-and-resume
bit-identity (a real SIGKILL), refusal to overwrite, and 2-process DDP against 1 process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from attnlab.checkpoint import load_checkpoint, save_atomic
from attnlab.config import load_config
from attnlab.data.batching import collate, make_batches
from attnlab.data.dataset import load_training_data, target_log_prior
from attnlab.data.vocab import EOS_ID
from attnlab.distributed import DistEnv
from attnlab.errors import UserError
from attnlab.models.build import build_model
from attnlab.seeding import seed_everything
from attnlab.train import Trainer, run_training
from tests.conftest import assert_one_line_error, log_less_timings, write_reverse_task

TINY = [
    "model.type=rnn",
    "model.cell=gru",
    "model.context=bahdanau",
    "model.embedding_size=16",
    "model.hidden_size=32",
    "model.dropout=0.1",
    "training.batch_tokens=160",
    "training.lr=0.005",
    "training.num_threads=1",
    "decoding.beam_size=1",
]


def config_file(tmp_path: Path, extra: list[str]) -> Path:
    data = write_reverse_task(tmp_path / "data", max_len=8)
    lines = [f"data:\n  dir: {data}\n"]
    path = tmp_path / "tiny.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    config = load_config(path, TINY + extra)
    path.write_text(config.to_yaml(), encoding="utf-8")
    return path


def weights(run: Path, name: str = "last.pt") -> dict[str, torch.Tensor]:
    return load_checkpoint(run / name)["model"]


def log_entries(run: Path, kind: str) -> list[dict]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def test_training_writes_the_run_folder_and_learns(tmp_path: Path) -> None:
    path = config_file(tmp_path, ["training.max_steps=60", "training.eval_every=30"])
    out = tmp_path / "run"
    summary = run_training(load_config(path), out)
    assert {"config.yaml", "log.jsonl", "last.pt", "best.pt"} <= {p.name for p in out.iterdir()}
    assert (out / "tensorboard").is_dir()
    train = log_entries(out, "train")
    assert train[-1]["loss"] < train[0]["loss"]
    assert [e["step"] for e in log_entries(out, "dev")] == [30, 60]
    assert summary["step"] == 60
    assert load_config(out / "config.yaml") == load_config(path)


@pytest.mark.parametrize("batching", ["length", "random"])
def test_training_batching_picks_how_batches_are_cut(
    tmp_path: Path, batching: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """training.batching reaches make_batches: one length a batch, or mixed lengths."""
    seen: list[bool] = []

    def recording(*args: Any, **kwargs: Any) -> list[list[int]]:
        seen.append(kwargs.get("by_length", True))
        return make_batches(*args, **kwargs)

    monkeypatch.setattr("attnlab.train.make_batches", recording)
    extra = ["training.max_steps=4", "training.eval_every=4", f"training.batching={batching}"]
    run_training(load_config(config_file(tmp_path, extra)), tmp_path / "run")
    assert seen[0] == (batching == "length")  # the first call cuts the training epoch


TINY_TRANSFORMER = [
    "model.type=transformer",
    "model.hidden_size=32",
    "model.heads=4",
    "model.ff_size=64",
    "model.num_layers=1",
    "training.lr=0.003",
]


@pytest.mark.parametrize("model", [[], TINY_TRANSFORMER], ids=["gru-bahdanau", "transformer"])
def test_bf16_amp_runs_the_linear_layers_in_bf16_keeps_float32_weights_and_learns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: list[str]
) -> None:
    seen: set[torch.dtype] = set()

    def watched_model(*args: Any, **kwargs: Any) -> torch.nn.Module:
        built = build_model(*args, **kwargs)
        for module in built.modules():
            if isinstance(module, torch.nn.Linear):
                module.register_forward_hook(lambda _m, _x, y: seen.add(y.dtype))
        return built

    monkeypatch.setattr("attnlab.train.build_model", watched_model)
    extra = ["training.amp=bf16", "training.max_steps=60", "training.eval_every=60", *model]
    run_training(load_config(config_file(tmp_path, extra)), tmp_path / "run")
    assert torch.bfloat16 in seen
    train = log_entries(tmp_path / "run", "train")
    assert train[-1]["loss"] < 0.8 * train[0]["loss"]
    assert all(w.dtype == torch.float32 for w in weights(tmp_path / "run").values())


def test_fp16_amp_without_cuda_is_a_one_line_error(tmp_path: Path, cli) -> None:
    path = config_file(tmp_path, ["training.amp=fp16", "training.device=cpu"])
    assert_one_line_error(cli("train", str(path), "--out", str(tmp_path / "run")), "training.amp")
    assert not (tmp_path / "run").exists()


def test_same_seed_gives_identical_weights(tmp_path: Path) -> None:
    path = config_file(tmp_path, ["training.max_steps=15", "training.eval_every=15"])
    run_training(load_config(path), tmp_path / "a")
    run_training(load_config(path), tmp_path / "b")
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_after_sigkill_ends_bit_identical(tmp_path: Path) -> None:
    extra = ["training.max_steps=300", "training.eval_every=20", "training.eval_bleu=false"]
    path = config_file(tmp_path, extra)
    run_training(load_config(path), tmp_path / "straight")

    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "attnlab", "train", str(path), "--out", str(killed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (killed / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # land somewhere between checkpoints, mid-step or mid-write
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step_at_kill = load_checkpoint(killed / "last.pt")["progress"]["step"]
    assert step_at_kill < 300, "the run finished before it could be killed; make it longer"

    subprocess.run([*cmd, "--resume"], check=True, capture_output=True)
    a, b = weights(tmp_path / "straight"), weights(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [e["step"] for e in log_entries(killed, "train")]
    assert steps == sorted(set(steps)), "the resumed log repeats or reorders steps"


def test_fresh_run_never_overwrites_a_run(tmp_path: Path, cli) -> None:
    path = config_file(tmp_path, ["training.max_steps=5", "training.eval_every=5"])
    out = tmp_path / "run"
    run_training(load_config(path), out)
    before = (out / "last.pt").read_bytes()
    assert_one_line_error(cli("train", path, "--out", out), "holds a run already", "--resume")
    assert (out / "last.pt").read_bytes() == before


def test_resume_refuses_another_architecture_and_missing_runs(tmp_path: Path) -> None:
    path = config_file(tmp_path, ["training.max_steps=5", "training.eval_every=5"])
    out = tmp_path / "run"
    run_training(load_config(path), out)
    with pytest.raises(UserError, match=r"another config \(model.hidden_size: 32 -> 48\)"):
        run_training(load_config(path, ["model.hidden_size=48"]), out, resume=True)
    with pytest.raises(UserError, match=r"no last\.pt to resume from"):
        run_training(load_config(path), tmp_path / "nothing", resume=True)


def test_corrupt_checkpoint_on_resume_is_one_line(tmp_path: Path, cli) -> None:
    path = config_file(tmp_path, ["training.max_steps=5", "training.eval_every=5"])
    out = tmp_path / "run"
    run_training(load_config(path), out)
    data = (out / "last.pt").read_bytes()
    (out / "last.pt").unlink()  # a hard link: write a new file, leave the step checkpoint alone
    (out / "last.pt").write_bytes(data[:1000])
    assert_one_line_error(cli("train", path, "--out", out, "--resume"), "last.pt", "corrupt")


@pytest.mark.parametrize("accumulate", [1, 2])
def test_two_process_ddp_matches_one_process(tmp_path: Path, accumulate: int) -> None:
    extra = [
        "training.max_steps=40",
        "training.eval_every=40",
        "training.eval_bleu=false",
        "training.log_every=4",
        f"training.accumulate={accumulate}",
    ]
    path = config_file(tmp_path, extra)
    one = tmp_path / "one"
    run_training(load_config(path, ["training.batch_tokens=320"]), one)
    two = tmp_path / "two"
    # --standalone: a rendezvous on a free local port (a fixed one may be taken)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd = [
        *torchrun,
        "--nproc-per-node",
        "2",
        "-m",
        "attnlab",
        "train",
        str(path),
        "--out",
        str(two),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-6000:]
    # Same global batch (2 x 160 tokens vs 1 x 320, times `accumulate` batches an update),
    # different composition: close, not equal. The training loss every 4 steps (all-reduced
    # over the ranks) within 8% (measured: 2-3.5%), and the final dev loss within 15%.
    curve_one = [e["loss"] for e in log_entries(one, "train")]
    curve_two = [e["loss"] for e in log_entries(two, "train")]
    assert len(curve_one) == len(curve_two) == 10
    assert curve_one[-1] < 0.8 * curve_one[0]  # it learned
    gaps = [abs(a - b) / a for a, b in zip(curve_one, curve_two, strict=True)]
    assert max(gaps) < 0.08, (curve_one, curve_two)
    loss_one = log_entries(one, "dev")[-1]["dev_loss"]
    loss_two = log_entries(two, "dev")[-1]["dev_loss"]
    assert abs(loss_one - loss_two) / loss_one < 0.15, (loss_one, loss_two)


def _trainer(path: Path, extra: list[str], out: Path) -> Trainer:
    config = load_config(path, ["model.dropout=0.0", *extra])
    seed_everything(config.training.seed)  # the same initial weights for every trainer
    return Trainer(config, load_training_data(config.data), out, DistEnv(), torch.device("cpu"))


def test_accumulated_batches_make_the_update_of_one_batch_of_all_of_them(tmp_path: Path) -> None:
    """sum(loss) / sum(tokens) over two batches, one at a time, equals one batch holding both."""
    path = config_file(tmp_path, [])
    accumulating = _trainer(path, ["training.accumulate=2"], tmp_path / "a")
    whole = _trainer(path, [], tmp_path / "b")
    ids = accumulating.data.train_ids
    halves = [collate(ids[:5]), collate(ids[5:12])]
    loss_a, tokens_a = accumulating.train_step(halves)
    loss_b, tokens_b = whole.train_step([collate(ids[:12])])
    assert tokens_a == tokens_b == sum(b.n_trg_tokens for b in halves)
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    a, b = accumulating.model.state_dict(), whole.model.state_dict()
    # Adam's first step moves each weight by lr g / (|g| + eps), about lr (0.005) whatever the
    # size of g: for the smallest g the rounding of the summation order shows, up to ~5e-6
    assert all(torch.allclose(a[k], b[k], atol=2e-5) for k in a)
    assert not torch.allclose(
        a["decoder.output.weight"],
        _trainer(path, [], tmp_path / "c").model.state_dict()["decoder.output.weight"],
    )


def test_accumulate_counts_updates_as_steps_and_reads_that_many_batches(tmp_path: Path) -> None:
    extra = ["training.max_steps=12", "training.eval_every=12", "training.eval_bleu=false"]
    path = config_file(tmp_path, extra)
    run_training(load_config(path), tmp_path / "one")
    run_training(load_config(path, ["training.accumulate=3"]), tmp_path / "three")
    one = load_checkpoint(tmp_path / "one" / "last.pt")["progress"]
    three = load_checkpoint(tmp_path / "three" / "last.pt")["progress"]
    assert one["step"] == three["step"] == 12
    # three batches an update (fewer only at an epoch's end): about three times the tokens
    assert 2.5 * one["tokens"] < three["tokens"] <= 3.5 * one["tokens"]
    assert (three["epoch"], three["batch_in_epoch"]) > (one["epoch"], one["batch_in_epoch"])


class _Killed(Exception):
    """Stands for a SIGKILL at one chosen moment of a run."""


def test_a_run_killed_just_after_a_checkpoint_write_resumes_with_the_whole_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint's evaluation is in log.jsonl before the checkpoint is on disk, so a kill
    right after the write loses no record on resume."""
    extra = [
        "training.max_steps=12",
        "training.eval_every=4",
        "training.log_every=2",
        "training.eval_bleu=false",
    ]
    path = config_file(tmp_path, extra)
    run_training(load_config(path), tmp_path / "straight", quiet=True)

    save = Trainer.save

    def save_then_die(trainer: Trainer, improved: bool) -> None:
        save(trainer, improved)
        if trainer.progress.step == 8:
            raise _Killed

    killed = tmp_path / "killed"
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "save", save_then_die)
        with pytest.raises(_Killed):
            run_training(load_config(path), killed, quiet=True)
    assert load_checkpoint(killed / "last.pt")["progress"]["step"] == 8
    run_training(load_config(path), killed, resume=True, quiet=True)
    assert log_less_timings(killed) == log_less_timings(tmp_path / "straight")


def test_resume_with_accumulation_continues_the_same_run(tmp_path: Path) -> None:
    extra = ["training.accumulate=3", "training.eval_every=6", "training.eval_bleu=false"]
    path = config_file(tmp_path, extra)
    run_training(load_config(path, ["training.max_steps=12"]), tmp_path / "straight")
    run_training(load_config(path, ["training.max_steps=6"]), tmp_path / "halted")
    run_training(load_config(path, ["training.max_steps=12"]), tmp_path / "halted", resume=True)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "halted")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_max_minutes_stops_the_run_and_resume_keeps_the_budget(tmp_path: Path) -> None:
    """A wall-clock budget ends the run with a checkpoint, as max_steps does; the time is saved
    with the run, so resuming with the same budget trains no further and a larger one goes on."""
    extra = [
        "training.max_steps=100000",
        "training.max_minutes=0.01",
        "training.log_every=1",
        "training.eval_every=100000",
        "training.eval_bleu=false",
        "training.schedule=cosine",
    ]
    path = config_file(tmp_path, extra)
    out = tmp_path / "run"
    summary = run_training(load_config(path), out)
    progress = load_checkpoint(out / "last.pt")["progress"]
    assert 0 < summary["step"] == progress["step"] < 100000
    assert progress["seconds"] >= 0.6
    # cosine decays over the time budget here, not over the 100,000 steps (which would leave the
    # rate at ~0.005 after a few steps); the last step lands late in the budget, how late
    # depends on the machine's speed, so the bound is loose
    assert log_entries(out, "train")[-1]["lr"] < 0.5 * 0.005
    assert [e["step"] for e in log_entries(out, "dev")] == [summary["step"]]

    again = run_training(load_config(path), out, resume=True)
    assert again["step"] == summary["step"]
    longer = run_training(load_config(path, ["training.max_minutes=0.03"]), out, resume=True)
    assert longer["step"] > summary["step"]
    assert load_checkpoint(out / "last.pt")["progress"]["seconds"] >= 1.8


def test_average_last_averages_the_kept_checkpoints(tmp_path: Path) -> None:
    extra = [
        "training.max_steps=30",
        "training.eval_every=10",
        "training.keep_last=3",
        "training.average_last=3",
    ]
    out = tmp_path / "run"
    summary = run_training(load_config(config_file(tmp_path, extra)), out)
    steps = [weights(out, f"ckpt-{step:07d}.pt") for step in (10, 20, 30)]
    averaged = weights(out, "averaged.pt")
    for key, value in averaged.items():
        mean = sum(s[key].double() for s in steps) / 3
        assert torch.allclose(value.double(), mean, atol=1e-6)
    (entry,) = log_entries(out, "average")
    assert entry["averaged"] == [f"ckpt-{step:07d}.pt" for step in (10, 20, 30)]
    assert entry["improved"] == summary["averaged"]["improved"]
    assert (out / "best.pt").samefile(out / "averaged.pt") == entry["improved"]
    best_dev = max(e["dev_bleu"] for e in log_entries(out, "dev"))
    assert entry["improved"] == (entry["dev_bleu"] > best_dev)

    # resuming the finished run averages again: the log keeps one average record, as it was
    finished = log_less_timings(out)
    again = run_training(load_config(out / "config.yaml"), out, resume=True)
    assert again["averaged"] == summary["averaged"]
    assert log_less_timings(out) == finished


def test_average_last_beyond_keep_last_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="average_last"):
        load_config(None, ["training.keep_last=2", "training.average_last=3"])


def test_joint_vocabulary_with_tied_embeddings_trains_and_reloads_three_way_tied(
    tmp_path: Path,
) -> None:
    from attnlab.translate import Translator

    extra = [
        *TINY_TRANSFORMER,
        "model.tie_embeddings=true",
        "data.joint_vocab=true",
        "training.max_steps=10",
        "training.eval_every=10",
    ]
    out = tmp_path / "run"
    run_training(load_config(config_file(tmp_path, extra)), out)
    translator = Translator.from_checkpoint(out / "best.pt")
    model = translator.model
    assert translator.src_vocab.itos == translator.trg_vocab.itos
    assert model.src_embed.tokens.weight is model.trg_embed.tokens.weight
    assert model.generator.weight is model.trg_embed.tokens.weight


def test_target_log_prior_is_the_add_one_smoothed_target_unigram() -> None:
    """Targets [4, 4] and [5] with </s> (id 3) each: counts 4:2, 5:1, 3:2 of N = 5, V = 6, so
    p(4) = 3/11, p(5) = 2/11, p(</s>) = 3/11 and 1/11 for the three ids never seen."""
    assert EOS_ID == 3
    prior = target_log_prior([([7], [4, 4]), ([8, 9], [5])], vocab_size=6)
    expected = torch.tensor([1, 1, 1, 3, 3, 2], dtype=torch.float64) / 11
    torch.testing.assert_close(prior, expected.log().float())


@pytest.mark.parametrize(
    ("model", "bias"),
    [
        ([], "decoder.output.bias"),  # the fused GRU Bahdanau decoder
        (["model.context=luong"], "decoder.output.bias"),
        (["model.context=fixed", "model.kernels=reference"], "decoder.output.bias"),
        (["model.context=fixed", "model.tie_embeddings=true"], "decoder.output.2.bias"),  # readout
        (["model.type=transformer", "model.heads=2"], "generator.bias"),
    ],
)
def test_output_bias_starts_at_the_log_prior_of_the_training_targets(
    tmp_path: Path, model: list[str], bias: str
) -> None:
    trainer = _trainer(config_file(tmp_path, model), [], tmp_path / "run")
    prior = target_log_prior(trainer.data.train_ids, len(trainer.data.encoders.trg_vocab))
    torch.testing.assert_close(trainer.model.state_dict()[bias], prior)
    default = _trainer(config_file(tmp_path, model), ["model.output_bias=default"], tmp_path / "r")
    assert not torch.allclose(default.model.state_dict()[bias], prior)


def test_resume_keeps_how_the_run_started_and_reads_an_older_run_as_pytorchs_bias(
    tmp_path: Path,
) -> None:
    path = config_file(tmp_path, ["training.max_steps=4", "training.eval_every=4"])
    out = tmp_path / "run"
    run_training(load_config(path), out)
    ckpt = load_checkpoint(out / "last.pt")
    del ckpt["config"]["model"]["output_bias"]  # a run made before the field existed
    (out / "last.pt").unlink()  # a hard link: write a new file
    save_atomic(ckpt, out / "last.pt")
    summary = run_training(load_config(path, ["training.max_steps=6"]), out, resume=True)
    assert summary["step"] == 6
    assert load_checkpoint(out / "last.pt")["config"]["model"]["output_bias"] == "default"
    # only the first weights depend on it: a resume that names the other setting goes on as begun
    run_training(
        load_config(path, ["training.max_steps=8", "model.output_bias=unigram"]), out, True
    )
    assert load_checkpoint(out / "last.pt")["config"]["model"]["output_bias"] == "default"
