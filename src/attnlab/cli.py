"""The `attnlab` command line: one thin function per command, no logic of its own.

Exit status 0 on success, 2 on bad input (config, data, arguments, checkpoint), 1 on any other
failure; errors are one line on stderr, `attnlab: error: <where>: <what>`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

try:  # recent typer vendors its own copy of click and raises that copy's exceptions
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions

from attnlab.errors import AttnlabError, UserError, WriteError

INTERRUPTED = 130  # exit status after Ctrl-C (128 + SIGINT), as shells report it

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Where does information get lost in a sequence model, and how does attention stop it?",
)
data_app = typer.Typer(no_args_is_help=True, help="Make and inspect parallel data.")
config_app = typer.Typer(no_args_is_help=True, help="Validate configs.")
model_app = typer.Typer(no_args_is_help=True, help="Inspect models.")
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
app.add_typer(model_app, name="model")

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value: --set model.hidden_size=64 (repeatable)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
LengthPenaltyOption = Annotated[
    float | None,
    typer.Option(
        "--length-penalty",
        help="Beam search's GNMT alpha, >= 0 (0: none); default decoding.length_penalty.",
    ),
]
StoppingOption = Annotated[
    str | None,
    typer.Option(
        "--stopping", help="Beam search's stopping rule, heuristic | exact; default the config's."
    ),
]


def _decoding_options(length_penalty: float | None, stopping: str | None) -> dict[str, object]:
    """The decoding settings given on the command line, to replace the checkpoint's."""
    given = {"length_penalty": length_penalty, "stopping": stopping}
    return {key: value for key, value in given.items() if value is not None}


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


# --- data ---------------------------------------------------------------------------------------


@data_app.command("make")
def data_make(
    task: Annotated[
        str,
        typer.Argument(
            help="copy | reverse | sort | translation | bible-en-fr | bible-en-de | nt-grc-en"
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write {train,dev,test}.{src,trg}.")],
    n_train: Annotated[int, typer.Option("--n-train", min=1)] = 10000,
    n_dev: Annotated[int, typer.Option("--n-dev", min=1)] = 500,
    n_test: Annotated[int, typer.Option("--n-test", min=1)] = 500,
    min_len: Annotated[int, typer.Option("--min-len", min=1)] = 5,
    max_len: Annotated[int, typer.Option("--max-len", min=1)] = 40,
    seed: Annotated[int, typer.Option("--seed")] = 1,
) -> None:
    """Write a synthetic task or an embedded corpus in the layout of the design."""
    from attnlab.data.make import make_dataset

    summary = make_dataset(task, out, n_train, n_dev, n_test, min_len, max_len, seed)
    typer.echo(summary)


@data_app.command("stats")
def data_stats(
    src: Annotated[Path, typer.Option("--src", help="Source file, one sentence a line.")],
    trg: Annotated[Path, typer.Option("--trg", help="Target file, aligned by line.")],
    max_len: Annotated[int, typer.Option("--max-len", min=1, help="Length limit to report.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Pairs, tokens, length histogram, vocabulary sizes, type/token ratio."""
    from attnlab.data.stats import corpus_stats, render_stats

    stats = corpus_stats(src, trg, max_len)
    if as_json:
        _print_json(stats)
    else:
        render_stats(stats)


# --- config and model ---------------------------------------------------------------------------


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="YAML config.")], overrides: SetOption = None
) -> None:
    """Validate a config and print it in full, defaults included (an empty file is valid: all
    defaults, with a note on stderr)."""
    from attnlab.config import empty_config_note, load_config

    typer.echo(load_config(file, overrides).to_yaml(), nl=False)
    note = empty_config_note(file)
    if note:
        sys.stderr.write(f"attnlab: note: {note}\n")


@model_app.command("summary")
def model_summary(
    config: Annotated[Path, typer.Argument(help="YAML config.")], overrides: SetOption = None
) -> None:
    """Architecture and parameter count (vocabulary sizes from the config's training data)."""
    from attnlab.config import load_config
    from attnlab.models.build import summarize

    typer.echo(summarize(load_config(config, overrides)))


# --- train, translate, evaluate, average --------------------------------------------------------


@app.command("train")
def train(
    config: Annotated[Path, typer.Argument(help="YAML config.")],
    out: Annotated[Path | None, typer.Option("--out", help="Run folder.")] = None,
    overrides: SetOption = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
) -> None:
    """Train a model; writes config.yaml, log.jsonl, last.pt and best.pt into the run folder."""
    from attnlab.config import load_config
    from attnlab.train import run_training

    run_training(load_config(config, overrides), out or Path("runs") / config.stem, resume=resume)


@app.command("translate")
def translate(
    ckpt: Annotated[Path, typer.Argument(help="Checkpoint (.pt).")],
    input: Annotated[
        Path | None, typer.Option("--input", help="Input file; stdin if absent.")
    ] = None,
    beam: Annotated[
        int | None, typer.Option("--beam", min=1, help="Beam size; 1 = greedy.")
    ] = None,
    n_best: Annotated[
        int | None,
        typer.Option("--n-best", min=1, help="Hypotheses per line; default decoding.n_best."),
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    length_penalty: LengthPenaltyOption = None,
    stopping: StoppingOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Translate one line out per line in, in order (streams stdin)."""
    from attnlab.translate import translate_stream

    decoding = _decoding_options(length_penalty, stopping)
    translate_stream(ckpt, input, beam, n_best, batch_size, as_json, decoding=decoding)


@app.command("evaluate")
def evaluate(
    ckpt: Annotated[Path, typer.Argument(help="Checkpoint (.pt).")],
    src: Annotated[Path, typer.Option("--src", help="Source file.")],
    ref: Annotated[Path, typer.Option("--ref", help="Reference translations.")],
    align: Annotated[Path | None, typer.Option("--align", help="Gold Pharaoh alignments.")] = None,
    buckets: Annotated[
        str, typer.Option("--buckets", help="Bucket upper bounds.")
    ] = "10,20,30,40,50",
    beam: Annotated[
        int | None, typer.Option("--beam", min=1, help="Beam size; 1 = greedy.")
    ] = None,
    length_penalty: LengthPenaltyOption = None,
    stopping: StoppingOption = None,
    as_json: JsonFlag = False,
) -> None:
    """BLEU and chrF (sacreBLEU), per source-length bucket, and AER against gold alignments."""
    from attnlab.evaluate import evaluate_checkpoint, render_evaluation
    from attnlab.metrics import parse_buckets

    decoding = _decoding_options(length_penalty, stopping)
    result = evaluate_checkpoint(ckpt, src, ref, align, parse_buckets(buckets), beam, decoding)
    if as_json:
        _print_json(result)
    else:
        render_evaluation(result)


@app.command("average")
def average(
    ckpts: Annotated[list[Path], typer.Argument(help="Checkpoints to average.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the average.")],
) -> None:
    """Average the parameters of several checkpoints of one run into one checkpoint."""
    from attnlab.checkpoint import average_checkpoints

    average_checkpoints(ckpts, out)
    typer.echo(f"wrote {out} (average of {len(ckpts)} checkpoints)")


# --- the lab ------------------------------------------------------------------------------------


@app.command("lab")
def lab(
    experiments: Annotated[
        list[str] | None, typer.Argument(help="Experiments; all if none.")
    ] = None,
    budget: Annotated[str, typer.Option("--budget", help="quick | full")] = "quick",
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("lab-out"),
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", min=1, help="Experiments side by side (default: one per core)."),
    ] = None,
    reuse: Annotated[
        Path | None,
        typer.Option("--reuse", help="Measure models trained there: DIR/<corpus>/<run>/best.pt."),
    ] = None,
) -> None:
    """Run the lab's experiments and build DIR/report.html."""
    from attnlab.lab import run_lab

    run_lab(experiments or [], budget, out, jobs, reuse)


@app.command("report")
def report(directory: Annotated[Path, typer.Argument(help="A lab output folder.")]) -> None:
    """Rebuild the HTML report from the results.json files in DIR."""
    from attnlab.lab import EXPERIMENTS
    from attnlab.report.html import build_report

    typer.echo(f"wrote {build_report(directory, list(EXPERIMENTS))}")


# --- the explorer and export -------------------------------------------------------------------


@app.command("export")
def export(
    ckpt: Annotated[Path, typer.Argument(help="Transformer checkpoint (.pt).")],
    to: Annotated[str, typer.Option("--to", help="Target engine: ctranslate2.")],
    out: Annotated[Path, typer.Option("--out", help="New folder to write the model into.")],
) -> None:
    """Write a Transformer for an inference engine, with its vocabularies and tokenizers."""
    from attnlab.export import export_checkpoint

    typer.echo(f"wrote {export_checkpoint(ckpt, to, out)} (see README.txt there)")


@app.command("serve")
def serve(
    ckpts: Annotated[list[Path], typer.Argument(help="Checkpoints to explore (.pt).")],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """The attention explorer: a local web page to translate and see the attention."""
    from attnlab.serve import serve as run_server

    run_server(ckpts, host, port)


# --- entry point --------------------------------------------------------------------------------


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"attnlab: error: {message}\n")
    sys.exit(code)


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that output which could not be written is not retried (and
    reported again) when Python flushes stdout at exit."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every error becomes one line on stderr and an exit status."""
    try:
        status = app(args=argv, prog_name="attnlab", standalone_mode=False)
        sys.stdout.flush()  # a full disk under a redirected stdout shows here, not at exit
    except click_exceptions.NoArgsIsHelpError as exc:
        exc.show()  # click prints the help; nothing went wrong beyond a missing command
        sys.exit(2)
    except click_exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "attnlab"
        _fail(f"{command}: {exc.format_message()}", 2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("interrupted", INTERRUPTED)
    except UserError as exc:
        _fail(str(exc), exc.exit_code)
    except AttnlabError as exc:
        _fail(str(exc), exc.exit_code)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (e.g. `| head`); not an error of ours
        sys.exit(0)
    except OSError as exc:  # files name themselves; an unnamed write is to stdout
        if os.environ.get("ATTNLAB_DEBUG"):
            raise
        _discard_stdout()
        error = WriteError(exc.filename or "<stdout>", exc)
        _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", INTERRUPTED)
    except Exception as exc:
        if os.environ.get("ATTNLAB_DEBUG"):
            raise
        _fail(f"internal: {type(exc).__name__}: {exc} (set ATTNLAB_DEBUG=1 for a traceback)", 1)
    # Outside standalone mode, click returns an exit status instead of raising: 130 for Ctrl-C
    # (it turns KeyboardInterrupt into Abort), a code for typer.Exit. Our commands return None.
    if status == INTERRUPTED:
        _fail("interrupted", INTERRUPTED)
    if isinstance(status, int) and status:
        sys.exit(status)


if __name__ == "__main__":
    main()
