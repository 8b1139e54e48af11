"""Checkpoints: atomic writes, safe loading with one-line errors, averaging."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
