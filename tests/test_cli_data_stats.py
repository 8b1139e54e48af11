"""`attnlab data stats` end to end: JSON and tables out, exit 2 and one line for bad data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attnlab.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def pair(tmp_path: Path, src: bytes, trg: bytes) -> tuple[Path, Path]:
    (tmp_path / "d.src").write_bytes(src)
    (tmp_path / "d.trg").write_bytes(trg)
    return tmp_path / "d.src", tmp_path / "d.trg"


def assert_one_line_error(err: str, where: str, *words: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"attnlab: error: {where}: "), lines[0]
    for word in words:
        assert word in lines[0]


def test_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, trg = pair(tmp_path, b"\xef\xbb\xbfa b\r\nc\r\n", b"x\r\ny z w\r\n")
    code, out, err = run(
        ["data", "stats", "--src", str(src), "--trg", str(trg), "--max-len", "2", "--json"], capsys
    )
    assert code == 0 and err == ""
    stats = json.loads(out)
    assert stats["pairs"] == 2 and stats["src_tokens"] == 3 and stats["trg_tokens"] == 4
    assert stats["over_max_len"] == 0.5 and stats["max_len"] == 2
    assert stats["histogram"] == [{"range": "1-10", "src": 2, "trg": 2}]


def test_tables(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, trg = pair(tmp_path, b"a b\nc\n", b"x\ny z\n")
    code, out, _ = run(["data", "stats", "--src", str(src), "--trg", str(trg)], capsys)
    assert code == 0 and "2 sentence pairs" in out and "1-10" in out


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, _ = pair(tmp_path, b"a\n", b"b\n")
    missing = tmp_path / "missing.trg"
    code, _, err = run(["data", "stats", "--src", str(src), "--trg", str(missing)], capsys)
    assert code == 2
    assert_one_line_error(err, str(missing), "no such file")


def test_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _, trg = pair(tmp_path, b"a\n", b"b\n")
    code, _, err = run(["data", "stats", "--src", str(tmp_path), "--trg", str(trg)], capsys)
    assert code == 2
    assert_one_line_error(err, str(tmp_path), "directory")


def test_invalid_utf8_with_line_number(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, trg = pair(tmp_path, b"a\nb\n", b"x\ny\nz \xe9t\xe9\n")
    code, _, err = run(["data", "stats", "--src", str(src), "--trg", str(trg)], capsys)
    assert code == 2
    assert_one_line_error(err, f"{trg}:3", "UTF-8")


def test_mismatched_line_counts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, trg = pair(tmp_path, b"a\nb\nc\n", b"x\ny\n")
    code, _, err = run(["data", "stats", "--src", str(src), "--trg", str(trg)], capsys)
    assert code == 2
    assert_one_line_error(err, str(trg), str(src), "2 lines", "has 3")


def test_subprocess_exit_status_and_stderr(tmp_path: Path) -> None:
    src, trg = pair(tmp_path, b"a\nb\n", b"x\n")
    result = subprocess.run(
        [sys.executable, "-m", "attnlab", "data", "stats", "--src", str(src), "--trg", str(trg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert_one_line_error(result.stderr, str(trg), "1 lines", "has 2")
