"""Quality per book of an embedded corpus's held-out splits: where a dev/test gap comes from.

    python benchmarks/per_book.py runs/x/best.pt --corpus bible-en-fr --splits dev test \
        --json benchmarks/results/per_book.json

Each split (dev = Judges; test = Daniel and Romans for the Bibles) is cut by book, the USFM code
of each pair's reference (src/attnlab/data/builtin/README.md), and `attnlab evaluate` scores
every book on its own and the whole split with the checkpoint's beam. Beside the scores, what
could explain them: the lines, the mean source words a line, and the share of the reference's
words never seen in the training targets (words: runs of letters, lowercased). A translation
does not depend on the other sentences of its batch (search.py), so a book's hypotheses are
those of its split's.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import attnlab, load_average, write_report

from attnlab.data.builtin import BUILTIN_CORPORA, split_books, write_builtin

WORD = re.compile(r"[^\W\d_]+")


def words(line: str) -> list[str]:
    return WORD.findall(line.lower())


def unseen_share(references: list[str], known: set[str]) -> float:
    """Share of the reference words (tokens) whose type never occurs in `known`."""
    tokens = [word for line in references for word in words(line)]
    return sum(word not in known for word in tokens) / max(len(tokens), 1)


def score(checkpoint: Path, src: list[str], ref: list[str], folder: Path) -> dict[str, Any]:
    """`attnlab evaluate --json` on these lines (written into `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "src").write_text("".join(line + "\n" for line in src), encoding="utf-8")
    (folder / "ref").write_text("".join(line + "\n" for line in ref), encoding="utf-8")
    args = ["--src", str(folder / "src"), "--ref", str(folder / "ref"), "--json"]
    return json.loads(attnlab("evaluate", str(checkpoint), *args))


def split_rows(
    checkpoint: Path, corpus: Path, name: str, split: str, known: set[str], work: Path
) -> list[dict[str, Any]]:
    """One row per book of `split`, then one for the whole split."""
    src = (corpus / f"{split}.src").read_text(encoding="utf-8").splitlines()
    ref = (corpus / f"{split}.trg").read_text(encoding="utf-8").splitlines()
    lines_of: dict[str, list[int]] = defaultdict(list)
    for number, book in enumerate(split_books(name, split)):
        lines_of[book].append(number)
    parts = [(book, chosen) for book, chosen in lines_of.items()]
    if len(parts) > 1:
        parts.append(("all", list(range(len(src)))))
    rows = []
    for book, chosen in parts:
        book_src, book_ref = [src[i] for i in chosen], [ref[i] for i in chosen]
        scores = score(checkpoint, book_src, book_ref, work / split / book)
        rows.append(
            {
                "split": split,
                "book": book,
                "lines": len(chosen),
                "source_words_a_line": sum(len(line.split()) for line in book_src) / len(chosen),
                "reference_words_unseen_in_train": unseen_share(book_ref, known),
                "bleu": scores["bleu"],
                "chrf": scores["chrf"],
                "signature": scores["signature"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--corpus", choices=sorted(BUILTIN_CORPORA), default="bible-en-fr")
    parser.add_argument("--splits", nargs="+", choices=["dev", "test"], default=["dev", "test"])
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/per_book.json"))
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        write_builtin(args.corpus, work / "corpus")
        train = (work / "corpus" / "train.trg").read_text(encoding="utf-8")
        known = set(words(train))
        rows = [
            row
            for split in args.splits
            for row in split_rows(args.checkpoint, work / "corpus", args.corpus, split, known, work)
        ]
    print(f"{'split':<6}{'book':<6}{'lines':>6}{'src words':>10}", end="")
    print(f"{'unseen':>8}{'BLEU':>7}{'chrF':>7}")
    for row in rows:
        print(
            f"{row['split']:<6}{row['book']:<6}{row['lines']:>6}"
            f"{row['source_words_a_line']:>10.1f}{row['reference_words_unseen_in_train']:>8.2%}"
            f"{row['bleu']:>7.2f}{row['chrf']:>7.2f}"
        )
    write_report(
        args.json,
        "per_book",
        {
            "checkpoint": str(args.checkpoint),
            "corpus": args.corpus,
            "load_average_before": load_before,
            "load_average_after": load_average(),
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
