"""The bad inputs of the generated suite, as data: each `Case` is a command line, the files it
reads and what its one-line error must name. `test_bad_inputs.py` runs them.

The cases come from the config schema (every key of every section: a misspelt key, a wrong type,
each bound and choice broken) and from a seeded generator over corpora, checkpoints, arguments
and stdin, so the count grows with the schema and a run is the same every time.

In a case, "{d}" stands for the case's own folder and "{ckpt}" for a good checkpoint; file
contents are bytes, or a function of the good checkpoint's bytes.
"""

from __future__ import annotations

import io
import random
import typing
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import annotated_types
import torch

from attnlab.config import Config

Content = bytes | Callable[[bytes], bytes]


@dataclass(frozen=True)
class Case:
    """`attnlab ARGV` with FILES in the case folder (and STDIN) must fail with exit 2 and one line
    `attnlab: error: ...` holding every fragment."""

    kind: str  # the family, for the figures: config, --set, corpus, checkpoint, argument, stdin
    name: str
    argv: tuple[str, ...]
    fragments: tuple[str, ...]
    files: dict[str, Content] = field(default_factory=dict)
    stdin: bytes | None = None

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"


def _case(kind: str, name: str, argv: str, *fragments: str, **extra: typing.Any) -> Case:
    return Case(kind, name, tuple(argv.split()), fragments, **extra)


# --- configs, from the schema ---------------------------------------------------------------------

SECTIONS = {name: f.annotation for name, f in Config.model_fields.items()}
CONFIG_COMMANDS = (
    "config check {d}/c.yaml",
    "model summary {d}/c.yaml",
    "train {d}/c.yaml --out {d}/run",
)


def _typo(name: str, rng: random.Random, taken: set[str]) -> str:
    """`name` with one letter changed, dropped or doubled; never another valid key."""
    while True:
        i = rng.randrange(len(name))
        edit = rng.choice(["change", "drop", "double"])
        if edit == "change":
            typo = name[:i] + rng.choice("abcdefghijklmnopqrstuvwxyz") + name[i + 1 :]
        elif edit == "drop" and len(name) > 2:
            typo = name[:i] + name[i + 1 :]
        else:
            typo = name[:i] + name[i] + name[i:]
        if typo not in taken and typo != name:
            return typo


def _broken_bounds(metadata: list[typing.Any], is_float: bool) -> Iterator[tuple[str, str]]:
    """(value, message fragment) that break each bound of a field."""
    for bound in metadata:
        if isinstance(bound, annotated_types.Gt):
            yield str(bound.gt), f"must be > {bound.gt}"
        elif isinstance(bound, annotated_types.Ge):
            yield str(bound.ge - (0.5 if is_float else 1)), f"must be >= {bound.ge}"
        elif isinstance(bound, annotated_types.Lt):
            yield str(bound.lt), f"must be < {bound.lt}"


def config_cases(rng: random.Random) -> Iterator[Case]:
    n = 0

    def config(name: str, text: str, *fragments: str) -> Case:
        nonlocal n
        command = CONFIG_COMMANDS[n % len(CONFIG_COMMANDS)]  # every command reads configs
        n += 1
        files = {"c.yaml": text.encode("utf-8")}
        return _case("config", name, command, "{d}/c.yaml", *fragments, files=files)

    for section, model in SECTIONS.items():
        names = set(model.model_fields)
        typo = _typo(section, rng, set(SECTIONS))
        yield config(f"{typo}", f"{typo}:\n  x: 1\n", f"{typo}: unknown key")
        yield config(f"{section}-scalar", f"{section}: 3\n", f"{section}: input should be")
        for key, info in model.model_fields.items():
            dotted = f"{section}.{key}"
            typo = _typo(key, rng, names)
            yield config(
                f"{section}.{typo}", f"{section}:\n  {typo}: 1\n", f"{section}.{typo}: unknown key"
            )
            yield config(f"{dotted}-mapping", f"{section}:\n  {key}: {{a: 1}}\n", f"{dotted}: ")
            args = typing.get_args(info.annotation)
            base = next((a for a in (info.annotation, *args) if a in (int, float)), None)
            for value, fragment in _broken_bounds(info.metadata, base is float):
                yield config(
                    f"{dotted}={value}", f"{section}:\n  {key}: {value}\n", f"{dotted}: {fragment}"
                )
            if typing.get_origin(info.annotation) is typing.Literal:
                yield config(
                    f"{dotted}=nope", f"{section}:\n  {key}: nope\n", f"{dotted}: must be one of"
                )
            if base is not None:
                yield config(
                    f"{dotted}=text", f"{section}:\n  {key}: many\n", f"{dotted}: input should be"
                )

    yield config("list", "- model\n- training\n", "a config must be a mapping")
    yield config("number", "3\n", "a config must be a mapping")
    yield config("text", "just some words\n", "a config must be a mapping")
    yield config("bool", "true\n", "a config must be a mapping")
    yield config(
        "unknown-top", "models:\n  hidden_size: 3\n", "models: unknown key", "did you mean 'model'?"
    )
    bomb = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    yield config(
        "alias-bomb", "l0: &l0 [lol]\n" + bomb + "model:\n  hidden_size: *l9\n", "model.hidden_size"
    )
    laughs = ["&a0 [lol]"] + [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    yield config(
        "alias-bomb-in-a-value",  # 9**9 items if anything expanded it (a repr in the message)
        f"model:\n  hidden_size: [{', '.join(laughs)}]\n",
        "model.hidden_size: input should be a valid integer",
    )
    syntax = {
        "unclosed": "model: [1, 2\n",
        "indent": "model:\n  hidden_size: 3\n   cell: gru\n",
        "tab": "model:\n\thidden_size: 3\n",
        "quote": "model:\n  cell: 'gru\n",
        "python-tag": "model: !!python/object/apply:os.system ['true']\n",
        "nul": "model:\n  cell: gr\0u\n",
    }
    for name, text in syntax.items():
        yield config(f"yaml-{name}", text, "invalid YAML")
    yield config(
        "transformer-heads",
        "model:\n  type: transformer\n  hidden_size: 30\n  heads: 4\n",
        "must be divisible by model.heads (4)",
    )
    yield config(
        "n-best",
        "decoding:\n  n_best: 6\n",
        "decoding.n_best (6) must be <= decoding.beam_size (5)",
    )
    yield config(
        "dir-and-train",
        "data:\n  dir: d\n  train: t\n",
        "give either data.dir or data.train/dev/test",
    )

    big = ("# " + "x" * 98 + "\n") * 20_000  # 2 MB of comments
    for name, data, fragment in [
        ("huge", big.encode(), "a config is a few KB"),
        ("invalid-utf8", b"model:\n  cell: \xff\xfe\n", "not valid UTF-8"),
        ("binary", bytes(rng.randrange(256) for _ in range(4096)) + b"\xff", "{d}/c.yaml"),
    ]:
        yield _case(
            "config",
            name,
            "config check {d}/c.yaml",
            "{d}/c.yaml",
            fragment,
            files={"c.yaml": data},
        )
    yield _case("config", "directory", "config check {d}", "{d}: is a directory")
    yield _case("config", "missing", "config check {d}/none.yaml", "{d}/none.yaml: no such file")


def override_cases(rng: random.Random) -> Iterator[Case]:
    ok = {"c.yaml": b"model:\n  hidden_size: 32\n"}

    def override(name: str, setting: str, *fragments: str) -> Case:
        argv = ("config", "check", "{d}/c.yaml", "--set", setting)
        return Case("--set", name, argv, fragments, files=ok)

    for malformed in ["model.hidden_size", "=3", "model..x=3", ".x=1", "model.=1", "", "=", "..=1"]:
        yield override(f"malformed{malformed!r}", malformed, "--set: expected key.path=value")
    yield override(
        "into-a-value",
        "model.hidden_size.x=3",
        "--set: model.hidden_size.x: 'hidden_size' is not a section",
    )
    yield override("section-as-value", "model=3", "model: input should be")
    for section, model in SECTIONS.items():
        fields = list(model.model_fields.items())
        for key, info in rng.sample(fields, min(3, len(fields))):
            dotted = f"{section}.{key}"
            yield override(
                f"{dotted}-typo",
                f"{section}.{_typo(key, rng, set(model.model_fields))}=1",
                "unknown key",
            )
            yield override(f"{dotted}-mapping", f"{dotted}={{a: 1}}", f"{dotted}: ")
            for value, fragment in _broken_bounds(
                info.metadata, float in (info.annotation, *typing.get_args(info.annotation))
            ):
                yield override(f"{dotted}={value}", f"{dotted}={value}", f"{dotted}: {fragment}")


# --- corpora --------------------------------------------------------------------------------------


def _lines(rng: random.Random, n: int) -> list[bytes]:
    return [
        " ".join(f"w{rng.randrange(12)}" for _ in range(rng.randint(1, 6))).encode()
        for _ in range(n)
    ]


def good_corpus(rng: random.Random) -> dict[str, bytes]:
    """A small reverse task, {train,dev}.{src,trg}, 20 lines each, the target reversed."""
    files = {}
    for split in ("train", "dev"):
        src = _lines(rng, 20)
        files[f"data/{split}.src"] = b"".join(line + b"\n" for line in src)
        files[f"data/{split}.trg"] = b"".join(b" ".join(line.split()[::-1]) + b"\n" for line in src)
    return files


TINY_RUN = (
    b"data:\n  dir: {d}/data\nmodel:\n  hidden_size: 8\n  embedding_size: 8\n"
    b"training:\n  max_steps: 1\n  device: cpu\n  num_threads: 1\n"
)


def _corrupt_text(text: bytes, fault: str, line: int, rng: random.Random) -> tuple[bytes, str, str]:
    """`text` with a fault at (1-based) `line`; returns it, the ":LINE: " the error names after
    the file and what it says. Binary noise names whichever line its first bad byte is on."""
    lines = text.split(b"\n")[:-1]
    if fault == "binary":
        return bytes(rng.randrange(256) for _ in range(2048)) + b"\xff\xfe", ":", "UTF-8"
    if fault == "utf8":
        lines[line - 1] += b" caf\xe9"
        what = "UTF-8"
    elif fault == "nul":
        lines[line - 1] = b"w1 \0 w2"
        what = "NUL byte at column 4"
    else:
        lines[line - 1] = b"w1 " * 3_500_000  # 10.5 MB on one line
        what = "one sentence a line"
    return b"".join(x + b"\n" for x in lines), f":{line}: ", what


TEXT_FAULTS = ("utf8", "nul", "long-line", "binary")


def corpus_cases(rng: random.Random) -> Iterator[Case]:
    corpus = good_corpus(rng)
    run = "train {d}/c.yaml --out {d}/run"
    for name in ("train.src", "train.trg", "dev.src", "dev.trg"):
        path = f"data/{name}"
        for fault in TEXT_FAULTS:
            line = rng.randint(1, 20)
            text, where, what = _corrupt_text(corpus[path], fault, line, rng)
            files = {**corpus, path: text, "c.yaml": TINY_RUN}
            yield _case(
                "corpus",
                f"train-{name}-{fault}-line{line}",
                run,
                f"{{d}}/{path}{where}",
                what,
                files=files,
            )
        files = {**corpus, "c.yaml": TINY_RUN}
        short = b"".join(x + b"\n" for x in corpus[path].split(b"\n")[:-2])
        mismatched = f"{{d}}/data/{name.split('.')[0]}.trg: "  # the target side is named
        for variant, text in [("one-line-less", short), ("empty", b"")]:
            changed = {**files, path: text}
            yield _case(
                "corpus", f"train-{name}-{variant}", run, mismatched, "lines, but", files=changed
            )
        del files[path]
        yield _case(
            "corpus", f"train-{name}-missing", run, f"{{d}}/{path}: no such file", files=files
        )
    both_empty = {**corpus, "data/train.src": b"", "data/train.trg": b"", "c.yaml": TINY_RUN}
    yield _case(
        "corpus",
        "train-both-empty",
        run,
        "{d}/data/train: the training split is empty",
        files=both_empty,
    )
    blank = {
        **corpus,
        "data/train.src": b"\n" * 20,
        "data/train.trg": b"\n" * 20,
        "c.yaml": TINY_RUN,
    }
    yield _case(
        "corpus", "train-all-blank-lines", run, "{d}/data/train: no training pair left", files=blank
    )

    src, ref = corpus["data/dev.src"], corpus["data/dev.trg"]
    evaluate = "evaluate {ckpt} --src {d}/src.txt --ref {d}/ref.txt"
    for role in ("src", "ref"):
        for fault in TEXT_FAULTS:
            line = rng.randint(1, 20)
            text, where, what = _corrupt_text(src if role == "src" else ref, fault, line, rng)
            files = {"src.txt": src, "ref.txt": ref, f"{role}.txt": text}
            yield _case(
                "corpus",
                f"evaluate-{role}-{fault}-line{line}",
                evaluate,
                f"{{d}}/{role}.txt{where}",
                what,
                files=files,
            )
        files = {"src.txt": src, "ref.txt": ref}
        del files[f"{role}.txt"]
        yield _case(
            "corpus",
            f"evaluate-{role}-missing",
            evaluate,
            f"{{d}}/{role}.txt: no such file",
            files=files,
        )
    yield _case(
        "corpus",
        "evaluate-ref-short",
        evaluate,
        "{d}/ref.txt: 19 lines, but",
        files={"src.txt": src, "ref.txt": b"\n".join(ref.split(b"\n")[1:])},
    )
    yield _case(
        "corpus",
        "evaluate-both-empty",
        evaluate,
        "{d}/src.txt: no lines to evaluate",
        files={"src.txt": b"", "ref.txt": b""},
    )
    aligned = evaluate + " --align {d}/gold.align"
    good_align = b"".join(b"0-0\n" for _ in range(20))
    for name, line_text, fragment in [
        ("letters", b"a-b", "bad link 'a-b'"),
        ("colon", b"0:1", "bad link '0:1'"),
        ("negative", b"-1-2", "negative index"),
        ("out-of-range", b"0-99", "link 0-99 is outside the sentence pair"),
        ("trailing-dash", b"1-", "bad link '1-'"),
        ("nul", b"0-0 \0", "NUL byte"),
    ]:
        line = rng.randint(1, 20)
        lines = good_align.split(b"\n")[:-1]
        lines[line - 1] = line_text
        files = {"src.txt": src, "ref.txt": ref, "gold.align": b"".join(x + b"\n" for x in lines)}
        yield _case(
            "corpus",
            f"align-{name}-line{line}",
            aligned,
            f"{{d}}/gold.align:{line}: {fragment}",
            files=files,
        )
    yield _case(
        "corpus",
        "align-short",
        aligned,
        "{d}/gold.align: 19 lines",
        files={"src.txt": src, "ref.txt": ref, "gold.align": good_align[4:]},
    )

    translate = "translate {ckpt} --input {d}/in.txt"
    for fault in TEXT_FAULTS:
        line = rng.randint(1, 20)
        text, where, what = _corrupt_text(src, fault, line, rng)
        yield _case(
            "corpus",
            f"translate-input-{fault}-line{line}",
            translate,
            f"{{d}}/in.txt{where}",
            what,
            files={"in.txt": text},
        )
    yield _case("corpus", "translate-input-missing", translate, "{d}/in.txt: No such file")
    yield _case(
        "corpus", "translate-input-directory", "translate {ckpt} --input {d}", "{d}: is a directory"
    )

    stats = "data stats --src {d}/a.src --trg {d}/a.trg"
    for fault in TEXT_FAULTS:
        line = rng.randint(1, 20)
        text, where, what = _corrupt_text(src, fault, line, rng)
        yield _case(
            "corpus",
            f"stats-{fault}-line{line}",
            stats,
            f"{{d}}/a.src{where}",
            what,
            files={"a.src": text, "a.trg": ref},
        )
    yield _case(
        "corpus",
        "stats-mismatch",
        stats,
        "{d}/a.trg: 19 lines, but",
        files={"a.src": src, "a.trg": b"\n".join(ref.split(b"\n")[1:])},
    )
    yield _case(
        "corpus",
        "stats-directory",
        "data stats --src {d} --trg {d}/a.trg",
        "{d}: is a directory",
        files={"a.trg": ref},
    )


# --- checkpoints --------------------------------------------------------------------------------


class Evil:
    """Pickles as a call to os.system: what a malicious checkpoint holds."""

    def __reduce__(self) -> tuple[typing.Any, ...]:
        import os

        return (os.system, ("touch pwned",))


def _saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _payload(good: bytes) -> dict[str, typing.Any]:
    """The checkpoint dict inside a good format-2 file."""
    envelope = torch.load(io.BytesIO(good), weights_only=True)
    return torch.load(io.BytesIO(envelope["payload"].numpy().tobytes()), weights_only=True)


def _resaved(change: Callable[[dict[str, typing.Any]], None]) -> Callable[[bytes], bytes]:
    """A good checkpoint, changed and saved again properly (a correct SHA-256)."""

    def make(good: bytes) -> bytes:
        from attnlab.checkpoint import serialize

        ckpt = _payload(good)
        change(ckpt)
        return serialize(ckpt)

    return make


def _envelope(change: Callable[[dict[str, typing.Any]], None]) -> Callable[[bytes], bytes]:
    def make(good: bytes) -> bytes:
        envelope = torch.load(io.BytesIO(good), weights_only=True)
        change(envelope)
        return _saved(envelope)

    return make


def _transformer_weights(ckpt: dict[str, typing.Any]) -> None:
    from attnlab.config import ModelConfig
    from attnlab.models.build import build_model

    cfg = ModelConfig(type="transformer", hidden_size=8, heads=2, ff_size=8, num_layers=1)
    ckpt["model"] = build_model(cfg, len(ckpt["src_vocab"]), len(ckpt["trg_vocab"])).state_dict()


def _zip(compression: int, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        archive.writestr("archive/data.pkl", data)
    return buffer.getvalue()


def _evil_payload(good: bytes) -> bytes:
    """A format-2 file whose payload (with a correct SHA-256) pickles a call to os.system."""
    import hashlib

    inner = _saved({"format": "attnlab-checkpoint", "evil": Evil()})
    envelope = torch.load(io.BytesIO(good), weights_only=True)
    envelope["payload"] = torch.frombuffer(bytearray(inner), dtype=torch.uint8)
    envelope["sha256"] = hashlib.sha256(inner).hexdigest()
    return _saved(envelope)


def _set(path: str, value: typing.Any) -> Callable[[dict[str, typing.Any]], None]:
    """Set a dotted path of a checkpoint dict (e.g. config.model.hidden_size), or delete it when
    `value` is DELETE."""

    def change(ckpt: dict[str, typing.Any]) -> None:
        *parents, leaf = path.split(".")
        for part in parents:
            ckpt = ckpt[part]
        if value is DELETE:
            del ckpt[leaf]
        else:
            ckpt[leaf] = value

    return change


DELETE = object()

CHECKPOINT_COMMANDS = (
    "translate {d}/x.pt --input {d}/in.txt",
    "evaluate {d}/x.pt --src {d}/in.txt --ref {d}/in.txt",
    "average {d}/x.pt {ckpt} --out {d}/avg.pt",
)


def checkpoint_cases(rng: random.Random) -> Iterator[Case]:
    bad: dict[str, tuple[Content, str]] = {}
    for tenth in range(10):
        bad[f"truncated-{tenth * 10}%"] = (
            lambda good, t=tenth: good[: len(good) * t // 10],
            "not a readable checkpoint",
        )
    bad |= {
        "zip-bomb": (_zip(zipfile.ZIP_DEFLATED, b"\0" * 50_000_000), "a compressed entry"),
        "plain-zip": (_zip(zipfile.ZIP_STORED, b"hello"), "not a readable checkpoint"),
        "text": (b"model: gru\n", "not a zip archive"),
        "random": (bytes(rng.randrange(256) for _ in range(5000)), "not a zip archive"),
        "raw-pickle": (__import__("pickle").dumps(Evil()), "not a zip archive"),
        "pickled-object": (
            _saved({"format": "attnlab-checkpoint", "x": Evil()}),
            "pickled Python objects",
        ),
        "pickled-in-payload": (_evil_payload, "pickled Python objects"),
        "a-tensor": (_saved(torch.zeros(3)), "not an attnlab checkpoint"),
        "other-format": (_saved({"format": "fairseq", "model": {}}), "not an attnlab checkpoint"),
        "newer-format": (_envelope(_set("format_version", 7)), "upgrade attnlab"),
        "version-text": (
            _envelope(_set("format_version", "2")),
            "checkpoint format '2' is not supported",
        ),
        "no-payload": (_envelope(_set("payload", DELETE)), "no payload"),
        "payload-floats": (_envelope(_set("payload", torch.zeros(4))), "no payload"),
        "changed-payload": (
            _envelope(lambda e: e["payload"].__setitem__(-100, 7)),
            "corrupt: the payload's SHA-256",
        ),
        "other-digest": (_envelope(_set("sha256", "0" * 64)), "corrupt"),
        "transformer-weights": (_resaved(_transformer_weights), "weights do not fit the model"),
        "wider-model": (
            _resaved(_set("config.model.hidden_size", 24)),
            "weights do not fit the model",
        ),
        "no-config": (_resaved(_set("config", DELETE)), "no config or no model weights"),
        "no-weights": (_resaved(_set("model", DELETE)), "no config or no model weights"),
        "weights-not-tensors": (
            _resaved(_set("model", {"w": [1.0]})),
            "model weights are not tensors",
        ),
        "invalid-config": (
            _resaved(_set("config.model.hidden_size", -1)),
            "not a usable checkpoint",
        ),
        "no-vocab": (_resaved(_set("src_vocab", DELETE)), "not a usable checkpoint"),
        "bad-vocab": (_resaved(_set("trg_vocab", ["a", "b"])), "not a usable checkpoint"),
        "no-tokenizer": (_resaved(_set("src_tokenizer", DELETE)), "not a usable checkpoint"),
    }
    text = b"w1 w2 w3\nw4\n"
    for i, (name, (content, fragment)) in enumerate(bad.items()):
        command = CHECKPOINT_COMMANDS[i % len(CHECKPOINT_COMMANDS)]
        files = {"x.pt": content, "in.txt": text}
        if command.startswith("average") and name in (
            "transformer-weights",
            "wider-model",
            "bad-vocab",
        ):
            fragment = "cannot average"  # it loads; the good checkpoint is found unlike it
        yield _case(
            "checkpoint", f"{name}-{command.split()[0]}", command, "{d}/x.pt", fragment, files=files
        )
    for name in ("truncated-50%", "changed-payload", "pickled-in-payload", "transformer-weights"):
        # and as the last.pt of a run to resume (the run's config is the good checkpoint's)
        files = {"run/last.pt": bad[name][0], "c.yaml": b"", "in.txt": text}
        yield _case(
            "checkpoint",
            f"{name}-resume",
            "train {d}/c.yaml --out {d}/run --resume",
            "{d}/run/last.pt",
            files=files,
        )
    yield _case("checkpoint", "directory", "translate {d}", "{d}: is a directory")
    yield _case(
        "checkpoint", "missing", "evaluate {d}/no.pt --src {d}/a --ref {d}/a", "{d}/a: no such file"
    )
    yield _case(
        "checkpoint", "missing-translate", "translate {d}/no.pt", "{d}/no.pt: no such checkpoint"
    )


# --- arguments and stdin ------------------------------------------------------------------------

ARGUMENTS = [
    ("", ""),  # no command: the help, exit 2 (checked apart: it is not one line)
    ("nosuchcommand", "No such command"),
    ("train", "Missing argument"),
    ("translate", "Missing argument"),
    ("evaluate {ckpt}", "Missing option '--src'"),
    ("evaluate {ckpt} --src {d}/a", "Missing option '--ref'"),
    ("translate {ckpt} --beam 0", "--beam"),
    ("translate {ckpt} --beam -3", "--beam"),
    ("translate {ckpt} --beam many", "--beam"),
    ("translate {ckpt} --n-best 0", "--n-best"),
    ("translate {ckpt} --batch-size 0", "--batch-size"),
    ("translate {ckpt} --batch-size 1e9", "--batch-size"),
    ("translate {ckpt} --input {d}/a --n-best 4 --beam 2", "--n-best: must be <= the beam size"),
    ("translate {ckpt} --bogus", "No such option: --bogus"),
    ("translate {ckpt} extra-argument", "unexpected extra argument"),
    ("evaluate {ckpt} --src {d}/a --ref {d}/a --buckets ten", "--buckets"),
    ("evaluate {ckpt} --src {d}/a --ref {d}/a --buckets 20,10", "--buckets"),
    ("evaluate {ckpt} --src {d}/a --ref {d}/a --buckets 0", "--buckets"),
    ("evaluate {ckpt} --src {d}/a --ref {d}/a --buckets ,", "--buckets"),
    ("evaluate {ckpt} --src {d}/a --ref {d}/a --buckets -5", "--buckets"),
    ("evaluate {ckpt} --src {d}/a --ref {d}/a --beam 0", "--beam"),
    ("data make nosuchtask --out {d}/m", "unknown task 'nosuchtask'"),
    ("data make reverse --out {d}/m --n-train 0", "--n-train"),
    ("data make reverse --out {d}/m --min-len 9 --max-len 3", "--min-len"),
    ("data make reverse --out {d}/a", "--out"),
    ("data make reverse", "Missing option '--out'"),
    ("data stats --src {d}/a", "Missing option '--trg'"),
    ("data stats --src {d}/a --trg {d}/a --max-len 0", "--max-len"),
    ("average --out {d}/avg.pt", "Missing argument"),
    ("average {ckpt} {ckpt} --out {ckpt}", "--out must not be one of"),
    ("lab nosuchexperiment --out {d}/lab", "nosuchexperiment"),
    ("lab --budget enormous --out {d}/lab", "enormous"),
    ("lab --jobs 0 --out {d}/lab", "--jobs"),
    ("report {d}/nolab", "{d}/nolab"),
    ("config check", "Missing argument"),
    ("model summary {d}/a --set", "--set"),
    ("train {d}/a --resume --out", "--out"),
]


def argument_cases(rng: random.Random) -> Iterator[Case]:
    for argv, fragment in ARGUMENTS[1:]:
        name = argv.replace(" ", "_").replace("{ckpt}", "CKPT").replace("{d}/", "") or "none"
        yield _case("argument", name, argv, fragment, files={"a": b"w1 w2\n"})


class Endless(io.RawIOBase):
    """A stream that never ends a line: `yes | tr -d '\\n'`."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: typing.Any) -> int:
        buffer[:] = b"w" * len(buffer)
        return len(buffer)


ENDLESS = b"<endless>"  # the stdin marker for an Endless stream


def stdin_cases(rng: random.Random) -> Iterator[Case]:
    translate = "translate {ckpt}"
    good = b"w1 w2\nw3\nw4 w5 w6\n"
    streams = {
        "binary": (bytes(rng.randrange(256) for _ in range(4096)) + b"\xff", "<stdin>:"),
        "utf8-line3": (good[:-1] + b" \xe9\n", "<stdin>:3: invalid UTF-8"),
        "latin1": ("caf\u00e9 na\u00efve\n".encode("latin-1"), "<stdin>:1: invalid UTF-8"),
        "utf16": ("w1 w2\n".encode("utf-16"), "<stdin>:1: invalid UTF-8"),
        "nul-line2": (b"w1\nw2 \0\n", "<stdin>:2: NUL byte at column 4"),
        "long-line": (b"w1\n" + b"w2 " * 400_000 + b"\n", "<stdin>:2: a line of over"),
        "endless-line": (ENDLESS, "<stdin>:1: a line of over"),
    }
    for name, (data, fragment) in streams.items():
        yield _case("stdin", name, translate, fragment, stdin=data)
        yield _case("stdin", f"{name}-json", translate + " --json --beam 2", fragment, stdin=data)


def all_cases() -> list[Case]:
    rng = random.Random(17)  # the number: the same cases every run
    families = [
        config_cases,
        override_cases,
        corpus_cases,
        checkpoint_cases,
        argument_cases,
        stdin_cases,
    ]
    return [case for family in families for case in family(rng)]
