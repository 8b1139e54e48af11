"""`attnlab data make`: write a synthetic task or an embedded corpus as
DIR/{train,dev,test}.{src,trg} and, where the task knows them, DIR/{train,dev,test}.align
(Pharaoh format).

A user's file is never overwritten: a file that already holds exactly what would be written is left
alone (so re-running a command is harmless); any other existing file stops the command before
anything is written. Each file is written to a temporary file in DIR and then renamed into place.
The embedded corpora live in `attnlab.data.builtin`, imported only when one is asked for.
"""

from __future__ import annotations

from pathlib import Path

from attnlab.atomic import write_text_atomic
from attnlab.data.tasks import SPLITS, TASKS, Splits, format_links
from attnlab.errors import UserError


def _builtin_corpora() -> dict[str, str]:
    """Name -> description of the embedded corpora; none while `attnlab.data.builtin` is absent."""
    try:
        from attnlab.data.builtin import BUILTIN_CORPORA
    except ImportError:  # the corpora are an optional part of an installation
        return {}
    return BUILTIN_CORPORA


def make_command(folder: Path) -> str:
    """The command that writes the data a config expects in `folder`, for an error message:
    `attnlab data make reverse --out data/reverse` (TASK when the folder's name is no task)."""
    known = folder.name in TASKS or folder.name in _builtin_corpora()
    return f"attnlab data make {folder.name if known else 'TASK'} --out {folder}"


def _validate(
    task: str, out: Path, sizes: dict[str, int], min_len: int, max_len: int, builtin: dict[str, str]
) -> None:
    if task not in TASKS and task not in builtin:
        choices = ", ".join([*TASKS, *builtin])
        raise UserError("TASK", f"unknown task {task!r}; choose from {choices}")
    if out.exists() and not out.is_dir():
        raise UserError("--out", f"{out} exists and is not a folder")
    if task in builtin:
        return  # sizes and lengths come from the corpus
    for option, n in sizes.items():
        if n < 1:
            raise UserError(option, f"must be at least 1 (got {n})")
    if min_len < 1:
        raise UserError("--min-len", f"must be at least 1 (got {min_len})")
    if min_len > max_len:
        raise UserError("--min-len", f"{min_len} is greater than --max-len {max_len}")


def _render(splits: Splits) -> dict[str, str]:
    """File name -> file text: one sentence (or alignment) a line, tokens separated by spaces."""
    files = {}
    for split in SPLITS:
        examples = splits[split]
        files[f"{split}.src"] = "".join(" ".join(ex.src) + "\n" for ex in examples)
        files[f"{split}.trg"] = "".join(" ".join(ex.trg) + "\n" for ex in examples)
        files[f"{split}.align"] = "".join(format_links(ex.links) + "\n" for ex in examples)
    return files


def _unchanged(path: Path, text: str) -> bool:
    """True if `path` already holds `text`, False if it does not exist; UserError otherwise."""
    if not path.exists():
        return False
    try:
        same = path.is_file() and path.read_bytes() == text.encode("utf-8")
    except OSError as exc:
        raise UserError(str(path), f"cannot read it: {exc.strerror}") from exc
    if not same:
        raise UserError(str(path), "exists with other content; choose another --out or remove it")
    return True


def make_dataset(
    task: str,
    out: Path,
    n_train: int,
    n_dev: int,
    n_test: int,
    min_len: int,
    max_len: int,
    seed: int,
) -> str:
    """Write `task` (a synthetic task of `attnlab.data.tasks.TASKS` or an embedded corpus) to `out`
    and return a one-line summary. For an embedded corpus the sizes and lengths are ignored."""
    out = Path(out)
    builtin = _builtin_corpora()
    sizes = {"--n-train": n_train, "--n-dev": n_dev, "--n-test": n_test}
    _validate(task, out, sizes, min_len, max_len, builtin)
    if task in builtin:
        from attnlab.data.builtin import write_builtin

        return write_builtin(task, out)

    files = _render(TASKS[task](n_train, n_dev, n_test, min_len, max_len, seed))
    todo = {name: text for name, text in files.items() if not _unchanged(out / name, text)}
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError("--out", f"cannot write {out}: {exc.strerror or exc}") from exc
    for name, text in todo.items():
        write_text_atomic(out / name, text)  # a failure: a WriteError naming the file
    kept = f", {len(files) - len(todo)} already there" if len(todo) < len(files) else ""
    return (
        f"wrote {task} to {out}: {n_train} train, {n_dev} dev, {n_test} test pairs, source lengths "
        f"{min_len}-{max_len}, seed {seed} ({len(todo)} files written{kept})"
    )
