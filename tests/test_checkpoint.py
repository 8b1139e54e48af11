"""Checkpoints: atomic writes, format versions and digests, safe loading with one-line errors,
averaging."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
import torch

from attnlab import __version__
from attnlab.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    average_checkpoints,
    load_checkpoint,
    save_atomic,
)
from attnlab.errors import UserError


def fake_checkpoint(weight: float, hidden: int = 4) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": {"model": {"hidden_size": hidden}},
        "model": {"w": torch.full((2, hidden), weight), "step": torch.tensor(3)},
        "optimizer": {"state": {}},
        "progress": {"step": 1},
    }


def test_save_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "a.pt"
    save_atomic(fake_checkpoint(1.0), path)
    save_atomic(fake_checkpoint(2.0), path)
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]
    assert load_checkpoint(path)["model"]["w"][0, 0] == 2.0


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: None, "no such checkpoint"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"not a zip at all"), "not a readable checkpoint"),
        (lambda p: torch.save({"weights": torch.zeros(1)}, p), "not an attnlab checkpoint"),
    ],
)
def test_bad_checkpoints_give_one_line(tmp_path: Path, make, fragment: str) -> None:
    path = tmp_path / "x.pt"
    make(path)
    with pytest.raises(UserError) as info:
        load_checkpoint(path)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    save_atomic(fake_checkpoint(1.0), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_pickled_code_is_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "x": Path("/")}, path)
    with pytest.raises(UserError, match="pickled Python objects") as info:
        load_checkpoint(path)
    assert "weights_only=False" not in str(info.value)  # not torch's advice to unpickle it


def test_average_is_the_mean_and_drops_resume_state(tmp_path: Path) -> None:
    paths = []
    for i, w in enumerate([1.0, 2.0, 6.0]):
        paths.append(tmp_path / f"{i}.pt")
        save_atomic(fake_checkpoint(w), paths[-1])
    out = tmp_path / "avg.pt"
    average_checkpoints(paths, out)
    avg = load_checkpoint(out)
    assert torch.equal(avg["model"]["w"], torch.full((2, 4), 3.0))
    assert avg["model"]["step"].dtype == torch.int64
    assert "optimizer" not in avg and "progress" not in avg


def test_average_refuses_other_architectures_and_overwriting_inputs(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    save_atomic(fake_checkpoint(1.0), a)
    save_atomic(fake_checkpoint(1.0, hidden=8), b)
    with pytest.raises(UserError, match="another architecture"):
        average_checkpoints([a, b], tmp_path / "out.pt")
    with pytest.raises(UserError, match="must not be one of"):
        average_checkpoints([a, a], a)


def test_average_accepts_checkpoints_that_differ_only_in_how_the_run_started(
    tmp_path: Path,
) -> None:
    """A run resumed across the introduction of model.output_bias has checkpoints without the
    field and with it: the same weights' layout, so they average."""
    before, after = fake_checkpoint(1.0), fake_checkpoint(3.0)
    after["config"] = {"model": {"hidden_size": 4, "output_bias": "unigram"}}
    paths = [tmp_path / "before.pt", tmp_path / "after.pt"]
    for ckpt, path in zip([before, after], paths, strict=True):
        save_atomic(ckpt, path)
    assert torch.equal(
        average_checkpoints(paths, tmp_path / "avg.pt")["w"], torch.full((2, 4), 2.0)
    )


# --- format versions --------------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
# What the fixture model (tests/fixtures/README.md) gives with beam 2; pinned when it was written.
FIXTURE_TRANSLATIONS = [
    ("w1 w2 w3", " ".join(["<unk>"] * 14), -8.633200645446777),
    ("w0 w5", "w1", -3.561553955078125),
    ("w4", "w1 w0 " + " ".join(["<unk>"] * 9), -8.346006393432617),
]


@pytest.mark.parametrize("version", [1, 2])
def test_checkpoints_of_every_supported_format_load_and_translate_as_when_written(
    version: int,
) -> None:
    from attnlab.translate import Translator

    path = FIXTURES / f"checkpoint-v{version}.pt"
    with path.open("rb") as handle:  # the file really is in that format
        assert torch.load(handle, weights_only=True)["format_version"] == version
    translator = Translator.from_checkpoint(path, "cpu")
    lines = [line for line, _, _ in FIXTURE_TRANSLATIONS]
    for t, (_, text, score) in zip(
        translator.translate(lines, beam_size=2), FIXTURE_TRANSLATIONS, strict=True
    ):
        assert t.text == text and t.score == pytest.approx(score, abs=1e-5)
    assert load_checkpoint(path)["progress"]["step"] == 3  # resume state is there too


def test_a_checkpoint_records_its_version_and_the_sha256_of_its_payload(tmp_path: Path) -> None:
    path = tmp_path / "a.pt"
    save_atomic(fake_checkpoint(1.0), path)
    envelope = torch.load(path, weights_only=True)
    assert envelope["format_version"] == FORMAT_VERSION == 2
    payload = envelope["payload"].numpy().tobytes()
    assert hashlib.sha256(payload).hexdigest() == envelope["sha256"]
    inner = torch.load(io.BytesIO(payload), weights_only=True)
    assert torch.equal(inner["model"]["w"], torch.full((2, 4), 1.0))


def test_a_changed_payload_byte_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "a.pt"
    save_atomic(fake_checkpoint(1.0), path)
    envelope = torch.load(path, weights_only=True)
    payload = envelope["payload"].clone()
    payload[-200] ^= 0x01  # one bit of the weights, which torch.load alone would not notice
    torch.save({**envelope, "payload": payload}, path)
    with pytest.raises(UserError, match="corrupt: the payload's SHA-256 does not match"):
        load_checkpoint(path)


def test_a_newer_format_says_which_attnlab_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "a.pt"
    save_atomic(fake_checkpoint(1.0), path)
    envelope = torch.load(path, weights_only=True)
    torch.save({**envelope, "format_version": 3, "written_by": "0.7.2"}, path)
    with pytest.raises(UserError) as info:
        load_checkpoint(path)
    assert str(info.value) == (
        f"{path}: written by attnlab 0.7.2 (checkpoint format 3); this attnlab "
        f"({__version__}) reads formats up to 2: upgrade attnlab"
    )


def test_a_zip_bomb_is_refused_before_torch_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\0" * 20_000_000)  # 20 MB in about 20 KB
    assert path.stat().st_size < 100_000
    with pytest.raises(UserError, match="a compressed entry"):
        load_checkpoint(path)
    with zipfile.ZipFile(path, "w") as archive:  # stored, but lying about its size
        archive.writestr("archive/data.pkl", b"\0" * 1000)
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10**9).to_bytes(4, "little")  # uncompressed size
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="its entries are larger than the file"):
        load_checkpoint(path)
