"""`attnlab data make`: files written, reproducible bytes, no overwriting, one-line CLI errors."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from attnlab import atomic
from attnlab.cli import main
from attnlab.data.make import make_dataset
from attnlab.errors import UserError, WriteError

FILES = sorted(f"{s}.{e}" for s in ("train", "dev", "test") for e in ("src", "trg", "align"))


def read_all(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    assert err.startswith("attnlab: error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_writes_every_file_with_matching_lines(tmp_path: Path) -> None:
    summary = make_dataset("reverse", tmp_path / "a" / "b", 7, 3, 2, 2, 5, 0)
    files = read_all(tmp_path / "a" / "b")
    assert sorted(files) == FILES  # and no temporary file left behind
    for split, n in (("train", 7), ("dev", 3), ("test", 2)):
        src = files[f"{split}.src"].decode().splitlines()
        trg = files[f"{split}.trg"].decode().splitlines()
        align = files[f"{split}.align"].decode().splitlines()
        assert len(src) == len(trg) == len(align) == n
        for s, t, a in zip(src, trg, align, strict=True):
            assert t.split() == s.split()[::-1] and 2 <= len(s.split()) <= 5
            n_words = len(s.split())
            assert a.split() == [f"{i}-{n_words - 1 - i}" for i in range(n_words)]
    assert "reverse" in summary and "\n" not in summary


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    for name, seed in (("one", 3), ("two", 3), ("three", 4)):
        make_dataset("translation", tmp_path / name, 20, 5, 5, 3, 30, seed)
    assert read_all(tmp_path / "one") == read_all(tmp_path / "two")
    other = read_all(tmp_path / "three")
    assert all(other[name] != data for name, data in read_all(tmp_path / "one").items())


def test_same_bytes_under_another_hash_seed(tmp_path: Path) -> None:
    """Nothing may depend on set or dict order, which PYTHONHASHSEED changes between runs."""
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = tmp_path / hash_seed
        args = ["data", "make", "translation", "--out", str(out), "--n-train", "30", "--seed", "5"]
        result = subprocess.run(
            [sys.executable, "-m", "attnlab", *args], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
    assert read_all(tmp_path / "1") == read_all(tmp_path / "2")


def test_rerun_is_harmless_and_conflict_writes_nothing(tmp_path: Path) -> None:
    make_dataset("copy", tmp_path, 5, 2, 2, 1, 4, 1)
    before = read_all(tmp_path)
    assert "9 already there" in make_dataset("copy", tmp_path, 5, 2, 2, 1, 4, 1)
    assert read_all(tmp_path) == before

    (tmp_path / "train.src").unlink()
    (tmp_path / "test.trg").write_text("mine\n")
    with pytest.raises(UserError) as info:
        make_dataset("copy", tmp_path, 5, 2, 2, 1, 4, 1)
    assert info.value.where == str(tmp_path / "test.trg")
    assert not (tmp_path / "train.src").exists()  # checked everything before writing anything
    assert (tmp_path / "test.trg").read_text() == "mine\n"


def test_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(WriteError) as info:
        make_dataset("sort", tmp_path, 3, 1, 1, 2, 3, 0)
    assert Path(info.value.where).parent == tmp_path and "not writable" in info.value.what
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (("copy", 0, 1, 1, 1, 2), "--n-train"),
        (("copy", 1, 1, 1, 0, 2), "--min-len"),
        (("sort", 1, 1, 1, 5, 4), "--min-len"),
        (("nope", 1, 1, 1, 1, 2), "TASK"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: tuple, where: str) -> None:
    task, *numbers = args
    with pytest.raises(UserError) as info:
        make_dataset(task, tmp_path / "out", *numbers, 0)
    assert info.value.where == where
    assert not (tmp_path / "out").exists()


def fake_builtin(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path]]:
    calls: list[tuple[str, Path]] = []

    def write_builtin(name: str, out: Path) -> str:
        calls.append((name, out))
        return f"wrote {name}"

    module = types.ModuleType("attnlab.data.builtin")
    module.BUILTIN_CORPORA = {"bible-en-fr": "Bible, English-French"}
    module.write_builtin = write_builtin
    monkeypatch.setitem(sys.modules, "attnlab.data.builtin", module)
    return calls


def test_builtin_corpus_is_dispatched_and_ignores_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_builtin(monkeypatch)
    assert make_dataset("bible-en-fr", tmp_path, 1, 1, 1, 9, 3, 0) == "wrote bible-en-fr"
    assert calls == [("bible-en-fr", tmp_path)]
    with pytest.raises(UserError) as info:
        make_dataset("bible-xx", tmp_path, 1, 1, 1, 1, 3, 0)
    assert "bible-en-fr" in info.value.what and "translation" in info.value.what


def test_without_builtin_module_only_synthetic_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "attnlab.data.builtin", None)  # import raises ImportError
    with pytest.raises(UserError) as info:
        make_dataset("bible-en-fr", tmp_path, 1, 1, 1, 1, 3, 0)
    assert info.value.where == "TASK" and "copy, reverse, sort, translation" in info.value.what


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    args = ["data", "make", "sort", "--out", str(out), "--n-train", "12", "--n-dev", "3"]
    code, stdout, err = run_cli(
        [*args, "--n-test", "4", "--min-len", "2", "--max-len", "6"], capsys
    )
    assert code == 0 and err == ""
    assert stdout.count("\n") == 1 and "sort" in stdout
    assert sorted(p.name for p in out.iterdir()) == FILES
    assert len((out / "test.src").read_text().splitlines()) == 4
    for line in (out / "train.src").read_text().splitlines():
        assert 2 <= len(line.split()) <= 6


def test_cli_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["data", "make", "shuffle", "--out", str(tmp_path / "x")], capsys)
    assert_one_line_error(code, err, "TASK", "'shuffle'", "copy, reverse, sort, translation")

    args = ["data", "make", "copy", "--out", str(tmp_path / "x"), "--min-len", "9"]
    code, _, err = run_cli([*args, "--max-len", "3"], capsys)
    assert_one_line_error(code, err, "--min-len", "--max-len")

    a_file = tmp_path / "file.txt"
    a_file.write_text("hello\n")
    code, _, err = run_cli(["data", "make", "copy", "--out", str(a_file)], capsys)
    assert_one_line_error(code, err, "--out", "not a folder")

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "dev.align").write_text("0-0\n")
    code, _, err = run_cli(["data", "make", "copy", "--out", str(tmp_path / "d")], capsys)
    assert_one_line_error(code, err, "dev.align", "exists with other content")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["dev.align"]
