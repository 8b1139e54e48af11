"""benchmarks/joeynmt_bible.py: JoeyNMT's configs follow the recipes, both toolkits get the same
SentencePiece pieces, JoeyNMT's log is read right, and (slow, where JoeyNMT 2.3 installs) a
smoke budget runs end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sentencepiece as spm

from attnlab.checkpoint import load_checkpoint
from attnlab.config import Config, load_config
from attnlab.translate import Translator
from tests.benchmark_runs import joeynmt_installable, make_bible_slice, run_benchmark
from tests.tiny_models import train_tiny

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "benchmarks"))  # the scripts import their siblings by name

import joeynmt_bible as bench  # noqa: E402
import joeynmt_side  # noqa: E402


def recipe(name: str, data: Path):
    return load_config(bench.RECIPES[name], [f"data.dir={data}"])


def test_joey_config_follows_the_gru_recipe(tmp_path: Path) -> None:
    cfg = recipe("gru-bahdanau", tmp_path)
    sp = {f"{s}_{k}": tmp_path / f"{s}.{k}" for s in ("src", "trg") for k in ("model", "vocab")}
    joey = bench.joey_train_config(cfg, tmp_path, sp, tmp_path / "m", freq=400, seed=7)
    t, data, model = joey["training"], joey["data"], joey["model"]
    assert (t["learning_rate"], t["learning_rate_warmup"]) == (
        cfg.training.lr,
        cfg.training.warmup_steps,
    )
    assert (t["batch_size"], t["batch_type"]) == (cfg.training.batch_tokens, "token")
    assert t["label_smoothing"] == cfg.training.label_smoothing
    assert t["validation_freq"] == 400 and t["logging_freq"] == 50
    assert "updates" not in t and joey["random_seed"] == 7
    for side in ("src", "trg"):
        assert data[side]["max_length"] == cfg.data.max_len == 100
        assert data[side]["tokenizer_cfg"]["model_file"] == str(tmp_path / f"{side}.model")
        assert data[side]["voc_file"] == str(tmp_path / f"{side}.vocab")
    assert (
        model["encoder"]["hidden_size"] == model["decoder"]["hidden_size"] == cfg.model.hidden_size
    )
    assert model["encoder"]["embeddings"]["embedding_dim"] == cfg.model.embedding_size
    assert model["encoder"]["bidirectional"] is cfg.model.bidirectional
    assert model["decoder"]["attention"] == "bahdanau"
    assert model["decoder"]["hidden_dropout"] == cfg.model.dropout


def test_joey_model_follows_the_lstm_luong_recipe_and_refuses_other_luong_variants(
    tmp_path: Path,
) -> None:
    cfg = recipe("lstm-luong", tmp_path)
    model = bench.joey_model(cfg)
    encoder, decoder = model["encoder"], model["decoder"]
    assert encoder["rnn_type"] == decoder["rnn_type"] == "lstm"
    assert (decoder["attention"], decoder["input_feeding"]) == ("luong", True)
    assert encoder["hidden_size"] == decoder["hidden_size"] == cfg.model.hidden_size
    assert encoder["bidirectional"] is cfg.model.bidirectional
    for setting in ("model.luong_mode=local-p", "model.input_feeding=false"):
        other = load_config(bench.RECIPES["lstm-luong"], [f"data.dir={tmp_path}", setting])
        with pytest.raises(SystemExit, match="no JoeyNMT equivalent"):
            bench.joey_model(other)


def test_joey_config_follows_the_transformer_recipe(tmp_path: Path) -> None:
    cfg = recipe("transformer", tmp_path)
    sp = {f"{s}_{k}": tmp_path / f"{s}.{k}" for s in ("src", "trg") for k in ("model", "vocab")}
    model = bench.joey_train_config(cfg, tmp_path, sp, tmp_path / "m", freq=5, seed=1)["model"]
    assert cfg.data.joint_vocab and cfg.model.tie_embeddings
    assert model["tied_embeddings"] is True and model["tied_softmax"] is True
    for stack in ("encoder", "decoder"):
        side = model[stack]
        assert side["num_layers"] == cfg.model.num_layers and side["num_heads"] == cfg.model.heads
        assert (side["hidden_size"], side["ff_size"]) == (cfg.model.hidden_size, cfg.model.ff_size)
        assert side["dropout"] == cfg.model.dropout and side["layer_norm"] == cfg.model.norm


@pytest.mark.parametrize("joint", [False, True])
def test_sentencepiece_files_cut_the_pieces_attnlab_cuts(tmp_path: Path, joint: bool) -> None:
    settings = ["data.tokenizer=sentencepiece", "data.sp_vocab_size=20"]
    ckpt = train_tiny(tmp_path, "spm", 2, [*settings, f"data.joint_vocab={str(joint).lower()}"])
    files = bench.write_sentencepiece(bench.checkpoint_tokenizers(ckpt), tmp_path / "sp")
    translator = Translator.from_checkpoint(ckpt, device="cpu")
    if joint:
        assert files["src_model"].read_bytes() == files["trg_model"].read_bytes()
    line = (tmp_path / "data" / "test.src").read_text(encoding="utf-8").splitlines()[0]
    for side, tokenizer in (("src", translator.src_tokenizer), ("trg", translator.trg_tokenizer)):
        processor = spm.SentencePieceProcessor(model_file=str(files[f"{side}_model"]))
        assert processor.encode(line, out_type=str) == tokenizer.encode(line)
        pieces = files[f"{side}_vocab"].read_text(encoding="utf-8").splitlines()
        # every piece but <unk>, <s>, </s>, which JoeyNMT brings itself
        assert len(pieces) == processor.get_piece_size() - 3
        assert not {"<unk>", "<s>", "</s>"} & set(pieces)


@pytest.mark.parametrize("joint", [False, True])
def test_pieces_fitted_before_a_run_are_the_ones_the_run_fits(tmp_path: Path, joint: bool) -> None:
    """--side-by-side gives JoeyNMT the pieces fitted before attnlab's run starts."""
    settings = ["data.tokenizer=sentencepiece", "data.sp_vocab_size=20"]
    ckpt = train_tiny(tmp_path, "spm", 2, [*settings, f"data.joint_vocab={str(joint).lower()}"])
    config = Config.model_validate(load_checkpoint(ckpt)["config"])
    fitted, trained = bench.fitted_tokenizers(config), bench.checkpoint_tokenizers(ckpt)
    assert [t.model_proto for t in fitted] == [t.model_proto for t in trained]


def test_joey_log_gives_parameters_last_step_and_mean_rate() -> None:
    log = "\n".join(
        [
            "2026-01-01 10:00:00,000 - INFO - joeynmt.model - Total params: 1234",
            "2026-01-01 10:00:01,000 - INFO - joeynmt.training - EPOCH 1",
            "... - Epoch   1, Step:       50, Batch Loss:     5.1, Batch Acc: 0.1, "
            "Tokens per Sec:     1000, Lr: 0.001",
            "... - Epoch   1, Step:      100, Batch Loss:     4.2, Batch Acc: 0.2, "
            "Tokens per Sec:     3000, Lr: 0.002",
            "... - Epoch   1, Step:      150, Batch Loss:     3.9, Batch Acc: 0.2, "
            "Tokens per Sec:     2000, Lr: 0.002",
        ]
    )
    # the first window (start-up) is left out, as on attnlab's side
    assert bench.parse_joey_log(log) == {"parameters": 1234, "steps": 150, "tokens_per_s": 2500.0}
    first = log.rsplit("\n", 2)[0]
    assert bench.parse_joey_log(first)["tokens_per_s"] == 1000.0


@pytest.mark.slow
@pytest.mark.parametrize("side_by_side", [False, True])
def test_smoke_budget_runs_both_toolkits_end_to_end(tmp_path: Path, side_by_side: bool) -> None:
    if not joeynmt_installable(tmp_path / "wheel"):
        pytest.skip(f"{joeynmt_side.JOEYNMT} cannot be downloaded here (no PyPI)")
    data = tmp_path / "bible"
    make_bible_slice(data, train=3000)
    report = run_benchmark(
        "joeynmt_bible.py",
        [
            *("--minutes", "0.2", "--threads", "1", "--validation-freq", "5"),
            *("--data", str(data), "--out", str(tmp_path / "runs")),
            *(["--side-by-side"] if side_by_side else []),
        ],
        tmp_path / "result.json",
    )
    assert report["side_by_side"] is side_by_side
    assert report["validation_freq"] == 5 and report["minutes"] == 0.2
    for name in bench.RECIPES:
        result = report["results"][name]
        for toolkit in ("attnlab", "joeynmt"):
            side = result[toolkit]
            assert side["steps"] >= 5 and side["parameters"] > 100_000
            assert 0.0 <= side["test_bleu"] <= 100.0 and side["tokens_per_s"] > 0
            assert side["minutes"] >= 0.2  # each stops at the budget, not before
        folder = Path(result["joeynmt"]["run"]).parent
        for hyps in ("attnlab-test.hyp", "joeynmt-test.test"):
            assert len((folder / hyps).read_text(encoding="utf-8").splitlines()) == 40
