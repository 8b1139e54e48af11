"""Reading parallel text: encodings, line ends, every error naming FILE:LINE, pair filtering."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attnlab.data.corpus import FilterReport, filter_pairs, read_lines, read_parallel, read_split
from attnlab.errors import UserError


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_read_lines_strips_only_the_line_end(tmp_path: Path) -> None:
    f = write(tmp_path / "a.txt", "  two  spaces \n\tтаб\u2028x\nlast".encode())
    assert read_lines(f) == ["  two  spaces ", "\tтаб\u2028x", "last"]


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    f = write(tmp_path / "a.txt", b"\xef\xbb\xbfhello world\r\nsecond\r\n")
    assert read_lines(f) == ["hello world", "second"]


def test_final_newline_and_empty_lines(tmp_path: Path) -> None:
    assert read_lines(write(tmp_path / "e", b"")) == []
    assert read_lines(write(tmp_path / "n", b"\n")) == [""]
    assert read_lines(write(tmp_path / "m", b"a\n\nb\n")) == ["a", "", "b"]


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.src", b"ok\nstill ok\nbad \xff byte\nok\n")
    with pytest.raises(UserError) as err:
        read_lines(f)
    assert err.value.where == f"{f}:3"
    assert "UTF-8" in err.value.what and "0xff" in err.value.what and "column 5" in err.value.what


def test_invalid_utf8_on_first_line(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.src", b"\xc3(\n")
    with pytest.raises(UserError) as err:
        read_lines(f)
    assert err.value.where == f"{f}:1"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        read_lines(tmp_path / "nope.src")
    assert err.value.where == str(tmp_path / "nope.src")
    assert "no such file" in err.value.what


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        read_lines(tmp_path)
    assert err.value.where == str(tmp_path) and "directory" in err.value.what


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path: Path) -> None:
    f = write(tmp_path / "locked.src", b"a\n")
    f.chmod(0)
    try:
        with pytest.raises(UserError) as err:
            read_lines(f)
        assert err.value.where == str(f) and "permission" in err.value.what
    finally:
        f.chmod(0o644)


def test_line_count_mismatch_names_both_files_and_counts(tmp_path: Path) -> None:
    src = write(tmp_path / "x.src", b"a\nb\nc\n")
    trg = write(tmp_path / "x.trg", b"A\nB\n")
    with pytest.raises(UserError) as err:
        read_parallel(src, trg)
    message = str(err.value)
    assert str(src) in message and str(trg) in message
    assert "3" in message and "2 lines" in message


def test_read_split_appends_suffixes_and_never_changes_files(tmp_path: Path) -> None:
    src = write(tmp_path / "train.v1.src", b"a b\r\nc\r\n")
    trg = write(tmp_path / "train.v1.trg", b"\xef\xbb\xbfA B\nC")
    before = (src.read_bytes(), trg.read_bytes())
    assert read_split(tmp_path / "train.v1") == [("a b", "A B"), ("c", "C")]
    assert (src.read_bytes(), trg.read_bytes()) == before


def test_filter_pairs_counts_what_it_drops() -> None:
    pairs = [
        (["a"], ["b"]),  # kept
        ([], ["b"]),  # empty source
        (["a"], []),  # empty target
        ([], []),  # empty both: counted once
        (["a"] * 4, ["b"]),  # source too long
        (["a"], ["b"] * 4),  # target too long
        (["a"] * 3, ["b"] * 3),  # exactly max_len: kept
    ]
    kept, report = filter_pairs(pairs, max_len=3)
    assert kept == [0, 6]
    assert report == FilterReport(total=7, kept=2, empty=3, too_long=2, max_len=3)
    assert report.describe() == "kept 2 of 7 pairs (3 empty, 2 over 3 tokens)"


def test_filter_pairs_rejects_a_bad_limit() -> None:
    with pytest.raises(UserError):
        filter_pairs([(["a"], ["b"])], max_len=0)
