"""The shipped corpora: layout, counts, cleanliness, alignment indices, book splits, and that
`write_builtin` never overwrites a user's file."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path

import pytest

from attnlab.cli import main
from attnlab.data.builtin import BUILTIN_CORPORA, _read_rows, write_builtin
from attnlab.errors import UserError

SPLITS = ("train", "dev", "test")
EXPECTED_PAIRS = {
    "bible-en-fr": {"train": 29694, "dev": 618, "test": 790},
    "bible-en-de": {"train": 29693, "dev": 618, "test": 790},
    "nt-grc-en": {"train": 7053, "dev": 437, "test": 429},
}
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_builtin.py"


def lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return text[:-1].split("\n")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every corpus written once into its own folder."""
    root = tmp_path_factory.mktemp("builtin")
    for name in BUILTIN_CORPORA:
        write_builtin(name, root / name)
    return {name: root / name for name in BUILTIN_CORPORA}


def test_names_match_the_shipped_files() -> None:
    assert set(BUILTIN_CORPORA) == set(EXPECTED_PAIRS)


@pytest.mark.parametrize("name", sorted(EXPECTED_PAIRS))
def test_layout_and_counts(name: str, written: dict[str, Path]) -> None:
    out = written[name]
    columns = ("src", "trg", "align") if name == "nt-grc-en" else ("src", "trg")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{s}.{c}" for s in SPLITS for c in columns
    )
    for split in SPLITS:
        counts = {len(lines(out / f"{split}.{c}")) for c in columns}
        assert counts == {EXPECTED_PAIRS[name][split]}, (split, counts)


def test_summary_reports_pairs_per_split(tmp_path: Path) -> None:
    summary = write_builtin("nt-grc-en", tmp_path)
    assert summary == f"nt-grc-en: 7,053 train, 437 dev, 429 test pairs in {tmp_path}"
    assert "\n" not in summary


@pytest.mark.parametrize("name", sorted(EXPECTED_PAIRS))
def test_lines_are_clean_natural_text(name: str, written: dict[str, Path]) -> None:
    apparatus = re.compile(r"\(\d+:\d+|[\[\]`*\t]|\s-$")
    for path in sorted(written[name].iterdir()):
        for number, line in enumerate(lines(path), 1):
            where = f"{path.name}:{number}"
            assert line, where
            assert line == " ".join(line.split()), where
            if path.suffix != ".align":
                assert not apparatus.search(line), f"{where}: {line}"


def test_bible_keeps_supplied_words_and_apostrophes(written: dict[str, Path]) -> None:
    fr = written["bible-en-fr"]
    english = (fr / "train.src").read_text(encoding="utf-8")
    assert "first-fruits you shall offer them to Yahweh" in english  # was "first -[fruits]"
    assert "God's Spirit was hovering" in english  # was "God`s"
    french = lines(fr / "train.trg")
    assert french[0] == "Au commencement, Dieu créa les cieux et la terre."
    assert "Psaume de David. A l'occasion de sa fuite devant Absalom" in "\n".join(french)


def test_alignment_indices_in_range_and_sure(written: dict[str, Path]) -> None:
    out = written["nt-grc-en"]
    total = 0
    for split in SPLITS:
        src, trg, align = (lines(out / f"{split}.{c}") for c in ("src", "trg", "align"))
        for number, (s, t, a) in enumerate(zip(src, trg, align, strict=True), 1):
            n_src, n_trg = len(s.split()), len(t.split())
            links = a.split()
            assert links, f"{split}.align:{number}"
            for link in links:
                assert re.fullmatch(r"\d+-\d+", link), f"{split}.align:{number}: {link}"
                i, j = map(int, link.split("-"))
                assert i < n_src and j < n_trg, f"{split}.align:{number}: {link}"
            total += len(links)
    assert total == 189927


def test_alignment_points_at_the_right_words(written: dict[str, Path]) -> None:
    """Indices count punctuation tokens: an off-by-one would break these."""
    out = written["nt-grc-en"]
    src = lines(out / "train.src")[0].split()  # Matthew 1:1
    trg = lines(out / "train.trg")[0].split()
    pairs = {
        (src[int(i)], trg[int(j)])
        for i, j in (x.split("-") for x in lines(out / "train.align")[0].split())
    }
    assert {("Ἀβραάμ", "Abraham"), ("Δαυὶδ", "David"), ("Ἰησοῦ", "Jesus")} <= pairs
    assert not any(word in {",", ":"} for _, word in pairs)

    jesus = Counter()
    for split in SPLITS:
        for s, t, a in zip(
            *(lines(out / f"{split}.{c}") for c in ("src", "trg", "align")), strict=True
        ):
            s_words, t_words = s.split(), t.split()
            for link in a.split():
                i, j = map(int, link.split("-"))
                if s_words[i].startswith("Ἰησο"):
                    jesus[t_words[j]] += 1
    assert jesus["Jesus"] > 0.8 * sum(jesus.values())


@pytest.mark.parametrize("name", sorted(EXPECTED_PAIRS))
def test_splits_share_no_book(name: str, written: dict[str, Path]) -> None:
    books: dict[str, set[str]] = {}
    for split, ref, *_ in _read_rows(name):
        books.setdefault(ref.split()[0], set()).add(split)
    assert all(len(splits) == 1 for splits in books.values())
    assert {s for splits in books.values() for s in splits} == set(SPLITS)

    # Content check on the written files: verses repeated elsewhere in the Bible (about 2% of
    # lines in train) would show up here if a book were split across train and test.
    out = written[name]
    train = set(lines(out / "train.src"))
    for split in ("dev", "test"):
        shared = [line for line in lines(out / f"{split}.src") if line in train]
        assert len(shared) <= 2, shared


def test_rewriting_identical_files_leaves_them(tmp_path: Path) -> None:
    write_builtin("nt-grc-en", tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    (tmp_path / "dev.src").unlink()
    write_builtin("nt-grc-en", tmp_path)
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert after.keys() == before.keys()
    assert all(after[n] == before[n] for n in before if n != "dev.src")


def test_refuses_to_overwrite_other_content(tmp_path: Path) -> None:
    mine = tmp_path / "test.trg"
    mine.write_text("my own reference\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        write_builtin("bible-en-fr", tmp_path)
    assert err.value.where == str(mine)
    assert "exists with other content" in err.value.what
    assert mine.read_text(encoding="utf-8") == "my own reference\n"
    assert [p.name for p in tmp_path.iterdir()] == ["test.trg"]  # nothing else written


def test_refuses_a_directory_in_the_way_and_a_file_as_out(tmp_path: Path) -> None:
    (tmp_path / "train.align").mkdir()
    with pytest.raises(UserError, match="exists with other content"):
        write_builtin("nt-grc-en", tmp_path)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x", encoding="utf-8")
    with pytest.raises(UserError) as err:
        write_builtin("nt-grc-en", not_a_dir)
    assert err.value.where == str(not_a_dir)


def test_unknown_name_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        write_builtin("bible-en-xx", tmp_path / "out")
    assert err.value.where == "bible-en-xx"
    assert all(name in err.value.what for name in BUILTIN_CORPORA)
    assert not (tmp_path / "out").exists()


def test_build_script_cleaning() -> None:
    spec = importlib.util.spec_from_file_location("build_builtin", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    clean = script.clean_verse
    assert clean("(7:26) L'Éternel dit à Moïse: Va.") == "L'Éternel dit à Moïse: Va."
    assert clean("(3:1) Psaume. (3:2) O Éternel!") == "Psaume. O Éternel!"
    assert clean("(5:21 Lorsque quelqu'un") == "Lorsque quelqu'un"
    assert clean("(63:19b) Oh! si tu") == "Oh! si tu"
    assert clean("of first -[fruits] you") == "of first-fruits you"
    assert clean("he shall offer, [even]  an offering") == "he shall offer, even an offering"
    assert clean("You won`t surely die") == "You won't surely die"
    assert clean("auf ewig. * * *") == "auf ewig."
    assert clean("und er starb. -") == "und er starb."
    assert clean("(*)") == ""
    assert clean("(the same is Zoar).") == "(the same is Zoar)."  # real parentheses stay


def test_cli_writes_and_refuses_with_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(args: list[str]) -> int:
        try:
            main(args)
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    assert run(["data", "make", "nt-grc-en", "--out", str(tmp_path)]) == 0
    assert len(lines(tmp_path / "test.align")) == EXPECTED_PAIRS["nt-grc-en"]["test"]
    capsys.readouterr()
    (tmp_path / "dev.src").write_text("edited\n", encoding="utf-8")
    assert run(["data", "make", "nt-grc-en", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        err == f"attnlab: error: {tmp_path / 'dev.src'}: exists with other content; "
        "choose another --out or remove it\n"
    )
