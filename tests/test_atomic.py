"""attnlab.atomic: a file is replaced whole or not at all, and nothing temporary is left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attnlab.atomic import link_atomic, replace_atomically, write_text_atomic
from attnlab.errors import WriteError


def test_write_text_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("old\n", encoding="utf-8")
    write_text_atomic(path, "nouveau\n")
    assert path.read_bytes() == b"nouveau\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("kept\n", encoding="utf-8")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half", encoding="utf-8")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_atomically(path, half_then_fail)
    assert path.read_text(encoding="utf-8") == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl"]


def test_an_os_error_is_a_write_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "train.src"

    def disk_full(tmp: Path) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError) as caught:
        replace_atomically(path, disk_full)
    assert caught.value.where == str(path) and "disk full" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(WriteError):  # no such folder: not even a temporary file can be made
        write_text_atomic(tmp_path / "missing" / "x", "")


def test_link_makes_another_name_of_the_target(tmp_path: Path) -> None:
    first, second, link = tmp_path / "ckpt-1.pt", tmp_path / "ckpt-2.pt", tmp_path / "last.pt"
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    link_atomic(first, link)
    link_atomic(second, link)  # replaces the earlier link
    assert os.path.samefile(link, second) and link.read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-1.pt", "ckpt-2.pt", "last.pt"]
